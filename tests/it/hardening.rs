//! Hardening scenarios: what a hostile client, a careless operator and a failing machine can
//! do, each through the real binary and the fake Hub (issue 10: one scenario per item).

mod disk;
mod fill;
mod input;
mod limits;
mod tenants;
