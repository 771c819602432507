//! hubcache: a pull-through cache for the Hugging Face Hub, built on Pingora.
//!
//! # Layout
//! - `config`: the YAML file, parsed and validated (every problem with its YAML path).
//! - `model`, `rules`, `registry`: remotes, distributions, guards; the live snapshot the
//!   proxy reads per request and the API writes.
//! - `hub`: Hub protocol rules, pure (routes, header and JSON rewriting, digests).
//! - `origin`: the one door to a remote's Hub: the metadata client, the credentials rule,
//!   the memory of Hub answers, limits, file targets, upstream errors.
//! - `content`: the Pingora `ProxyHttp` service for `/pulp/content/`: each request goes
//!   `route` (pure: what it asks for, or a typed refusal) → `answer` (everything answered
//!   without Pingora's upstream) → `fetch` (the upstream phases of a file body).
//! - `cache`: `DiskCache`, our pingora-cache `Storage` (the only pingora-cache user besides
//!   `content/caching.rs`).
//! - `metrics`, `access_log`: Prometheus families, the /metrics /healthz /readyz listener, one
//!   log event per request.
//! - `api`, `state`, `tasks`: the Pulp-style admin API, its persisted state, and the tasks
//!   its writes answer with (kept in the state). `api` also reads its requests off either
//!   listener (one body cap, one conversion to `http` types).
//! - `downstream`: what every listener enforces before Pingora parses a request (request-head
//!   deadline and size cap) and the open-file limit.
//! - `fleet`: several nodes as one cache — the Ketama ring of nodes and what travels between
//!   them (`docs/fleet.md` "Owner routing"); `content/owner.rs` is its request-path side.
//! - `services`: Pingora services and `build_server`.
//! - `cli`, `logging`: the binary's command line and log setup.
//! - `prewarm`: `hubcache prewarm`, a client of a running server's API that syncs a Hub
//!   repository revision into the cache and follows the task (progress bar or plain lines).
//! - `sync`: the server side of a repository sync: its key to the content path, its loopback
//!   Hub client and the `snapshot_download` patterns (`docs/prewarm.md`).
pub mod access_log;
pub mod api;
pub mod atomic;
pub mod cache;
pub mod cli;
pub mod config;
pub mod content;
pub mod downstream;
pub mod fleet;
pub mod hub;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod origin;
pub mod prewarm;
pub mod registry;
pub mod rules;
pub mod services;
pub mod state;
pub mod sync;
pub mod tasks;
