//! `RequestCtx`: what one content request learned on its way through the proxy phases,
//! grouped by the step that writes it (route, answer, fetch), so a reader sees at a glance
//! which phase can have changed a field. `observe.rs` reads all of it for the access log and
//! the metrics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use super::route::Routing;
use crate::origin::{FileTarget, Permit};

/// Per-request state shared by the `ProxyHttp` phases.
#[derive(Debug)]
pub struct RequestCtx {
    /// When the request arrived.
    pub started: Instant,
    /// Time to the first response byte (set by whichever phase writes the response header).
    pub ttfb: Option<Duration>,
    /// Written by `route`: distribution, remote, Hub path.
    pub routing: Routing,
    /// Written by `answer`: how the Hub's metadata was obtained.
    pub answer: Answered,
    /// The file being served: set by `answer`, its target replaced by a `fetch` re-resolve.
    pub file: FileCtx,
    /// Written by `fetch` (the Pingora upstream phases): the body's upstream.
    pub upstream: UpstreamCtx,
    /// Written by `owner`: the fleet node the body is asked of.
    pub fleet: super::owner::FleetCtx,
}

/// What the `answer` step observed of the Hub's metadata.
#[derive(Debug, Default)]
pub struct Answered {
    /// How the metadata (and, for files, the bytes) were obtained.
    pub lookup: Option<crate::origin::Lookup>,
    /// Time spent waiting on the Hub for metadata.
    pub upstream_time: Option<Duration>,
    /// Whether the body was a disk-cache hit answered from memory in `request_filter`.
    pub memory_hit: bool,
}

/// A `resolve` GET on its way to the disk cache or the upstream.
#[derive(Debug, Default)]
pub struct FileCtx {
    /// Where the bytes are and what they are (`None`: not a file body).
    pub target: Option<FileTarget>,
    /// The remote's credentials fingerprint, told to the fill this request may start.
    pub credentials: Option<crate::cache::Credentials>,
    /// The etag whose stored blob may be served to this request (its credentials proved they
    /// can serve it); a hit of any other blob is turned into a fill of its own.
    pub shared_etag: Option<crate::hub::Etag>,
    /// Whether the disk cache was enabled for this request (`caching::enable`).
    pub cache_enabled: bool,
    /// Whether this request started a parallel fill (`parallel::start`): served from it like
    /// a joined request, but a miss.
    pub parallel_fill: bool,
}

impl FileCtx {
    /// Whether the stored blob of `etag` may be served to this request.
    pub fn may_share(&self, etag: &str) -> bool {
        self.shared_etag
            .as_ref()
            .is_some_and(|e| e.as_str() == etag)
    }
}

/// The body's upstream, as the `fetch` phases saw it.
#[derive(Debug, Default)]
pub struct UpstreamCtx {
    /// The address `file.target.url` resolved to.
    pub peer_addr: Option<SocketAddr>,
    /// A `download_concurrency` slot, held until the upstream body ends.
    pub permit: Option<Permit>,
    /// How many times the target was re-resolved after a CDN refusal (expired URL).
    pub re_resolved: u8,
    /// Set when the CDN refused the signed URL: `upstream_peer` resolves again.
    pub need_re_resolve: bool,
    /// Connect attempts to the file's host retried so far.
    pub connect_retries: u32,
    /// When Pingora started fetching the file body upstream.
    pub started: Option<Instant>,
    /// How long the body's upstream took to answer with headers.
    pub headers_after: Option<Duration>,
    /// The body upstream's status.
    pub status: Option<u16>,
}

impl RequestCtx {
    /// A context for a request that arrived now.
    pub fn new() -> Self {
        RequestCtx {
            started: Instant::now(),
            ttfb: None,
            routing: Routing::default(),
            answer: Answered::default(),
            file: FileCtx::default(),
            upstream: UpstreamCtx::default(),
            fleet: Default::default(),
        }
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}
