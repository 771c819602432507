//! The one integration-test binary: scenarios against the real hubcache binary, a fake Hub
//! and a fake CDN, all on loopback with ephemeral ports and temp dirs.

// clippy.toml steers the crate to fs_err so its errors name files; a test's own file
// operations unwrap with the scenario's context, so std::fs is fine here.
#![allow(clippy::disallowed_methods)]

mod api;
mod cache;
mod clients;
mod content;
mod fake_hub;
mod fleet;
mod fleet_routing;
mod fleet_tasks;
mod hardening;
mod memory;
mod metrics;
mod parallel_fills;
mod postgres_state;
mod prewarm;
mod pulp_clients;
mod state_cli;
mod support;
mod sync;
