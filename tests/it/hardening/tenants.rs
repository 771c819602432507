//! Tenants and secrets: a remote never reaches bytes or Hub APIs it could not reach itself.
