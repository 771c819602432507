//! The one integration-test binary: scenarios against the real hubcache binary, a fake Hub
//! and a fake CDN, all on loopback with ephemeral ports and temp dirs.

mod api;
mod cache;
mod clients;
mod content;
mod fake_hub;
mod hardening;
mod memory;
mod metrics;
mod support;
