//! The one door to a remote's Hub: everything hubcache asks a remote's upstream goes through
//! here, and so does everything it remembers of the answers.
//!
//! - `client`: [`HubClient`], the metadata exchanges (resolve HEADs, `api/…` JSON, ranged
//!   samples), redirects followed server-side.
//! - `credentials`: the one rule for which of a remote's secrets go on a request.
//! - `memory`: [`HubMemory`], the memory of Hub answers (revisions, file metadata, API JSON,
//!   refusals) in front of the client, with single-flight; `memory/store.rs` keeps it on disk.
//! - `limits`: a remote's `download_concurrency` and `rate_limit`.
//! - `target`: [`FileTarget`], where a file's bytes are.
//! - `error`: [`UpstreamError`] and its one mapping to 502/503/504.
//!
//! File bodies are streamed by Pingora (`content/fetch.rs`), which asks `credentials` and
//! `limits` here too.

mod client;
mod credentials;
mod error;
mod limits;
mod memory;
mod target;

#[cfg(test)]
pub(crate) use client::authorize as authorize_for_test;
pub use client::{Fetched, HubClient, Resolution, UpstreamObserver, USER_AGENT};
#[cfg(test)]
pub(crate) use credentials::table as credentials_table;
pub use credentials::{is_remote_origin, upstream_headers};
pub use error::UpstreamError;
pub use limits::{Permit, RemoteLimits};
pub use memory::{
    FileAnswer, HubMemory, KnownFile, Lookup, MetaStore, Remembered, StoredAnswer, StoredFile,
    Value,
};
pub use target::{Download, FileTarget};
