//! `RequestCtx`: what one content request learned on its way through the proxy phases.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::model::{Distribution, Remote};
use crate::origin::{FileTarget, Permit};

/// Per-request state shared by the `ProxyHttp` phases.
#[derive(Debug)]
pub struct RequestCtx {
    /// When the request arrived.
    pub started: Instant,
    /// The matched distribution, once known.
    pub distribution: Option<Arc<Distribution>>,
    /// Its remote, once known.
    pub remote: Option<Arc<Remote>>,
    /// The Hub path after the base path (raw), for the access log.
    pub hub_path: String,
    /// For a `resolve` GET going upstream: where the bytes are and what they are.
    pub target: Option<FileTarget>,
    /// The address `target.url` resolved to.
    pub peer_addr: Option<SocketAddr>,
    /// A `download_concurrency` slot, held until the response ends.
    pub permit: Option<Permit>,
    /// The Hub path and query sent upstream (to re-resolve).
    pub upstream_path: String,
    /// How many times the target was re-resolved after a CDN refusal (expired URL).
    pub re_resolved: u8,
    /// Set when the CDN refused the signed URL: `upstream_peer` resolves again.
    pub need_re_resolve: bool,
    /// How the metadata (and, for files, the bytes) were obtained.
    pub lookup: Option<crate::origin::Lookup>,
    /// Connect attempts to the file's host retried so far.
    pub connect_retries: u32,
    /// Whether the disk cache was enabled for this request.
    pub cache_enabled: bool,
    /// The remote's credentials fingerprint, told to the fill this request may start.
    pub credentials: Option<crate::cache::Credentials>,
    /// The etag whose stored blob may be served to this request (its credentials proved they
    /// can serve it); a hit of any other blob is turned into a fill of its own.
    pub shared_etag: Option<String>,
    /// Whether the body was a disk-cache hit answered from memory in `request_filter`.
    pub memory_hit: bool,
    /// Time to the first response byte (set when the response header goes out).
    pub ttfb: Option<std::time::Duration>,
    /// When Pingora started fetching the file body upstream.
    pub body_upstream_started: Option<std::time::Instant>,
    /// How long the body's upstream took to answer with headers.
    pub body_upstream_headers: Option<std::time::Duration>,
    /// The body upstream's status.
    pub body_upstream_status: Option<u16>,
    /// Time spent waiting on the Hub for metadata and first bytes.
    pub upstream_time: Option<std::time::Duration>,
}

impl RequestCtx {
    /// A context for a request that arrived now.
    pub fn new() -> Self {
        RequestCtx {
            started: Instant::now(),
            distribution: None,
            remote: None,
            hub_path: String::new(),
            target: None,
            peer_addr: None,
            permit: None,
            upstream_path: String::new(),
            re_resolved: 0,
            need_re_resolve: false,
            lookup: None,
            connect_retries: 0,
            cache_enabled: false,
            credentials: None,
            shared_etag: None,
            memory_hit: false,
            ttfb: None,
            body_upstream_started: None,
            body_upstream_headers: None,
            body_upstream_status: None,
            upstream_time: None,
        }
    }
}

impl RequestCtx {
    /// Whether the stored blob of `etag` may be served to this request.
    pub fn may_share(&self, etag: &str) -> bool {
        self.shared_etag.as_deref() == Some(etag)
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}
