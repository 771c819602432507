//! Repository sync: prewarming the cache with one Hub repository revision, and pinning it
//! (`docs/prewarm.md`).
//!
//! * [`access`]: the key that lets the runner reach any remote through the content listener;
//! * [`hub`]: the runner's client of that path (revision, tree, HEAD, GET);
//! * [`patterns`]: `allow_patterns` / `ignore_patterns` as `snapshot_download` reads them;
//! * [`run`]: the sync task itself.

pub mod access;
pub mod hub;
pub mod patterns;
pub mod run;

pub use access::{KeyedPath, SyncAccess};
