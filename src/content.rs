//! `ContentProxy`: the Pingora `ProxyHttp` service behind `/pulp/content/<base_path>/…`.
//! Each phase delegates in a few lines. A request goes route → answer → fetch:
//! - `route`: what the request asks for, or why it is refused (pure, no I/O);
//! - `answer`: everything answered without Pingora's upstream (refusals, HEAD metadata, the
//!   `api/…` relay, the listing, the admin API hand-off); `dispatch` chains the two in
//!   `request_filter`;
//! - `fetch`: the upstream phases of a `resolve` GET (peer, request, response headers), with
//!   `caching` (the disk cache's side of the same phases) and `proof` (may a stored blob be
//!   shared with this request);
//! - `owner`: in a fleet, whether a GET's body comes from this node or is streamed from the
//!   node that owns it (`docs/fleet.md` "Owner routing"), and the upstream phases then.
//!
//! `ctx` is what the phases learn, grouped by the step that writes it; `observe` turns it into
//! the access log and the metrics; `failure` maps proxy errors to statuses; `reply` writes
//! whole responses.

mod answer;
mod caching;
mod ctx;
mod dispatch;
mod failure;
mod fetch;
mod observe;
mod owner;
mod parallel;
mod proof;
mod reply;
mod route;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::lock::CacheKeyLockImpl;
use pingora::cache::{CacheKey, CacheMeta, ForcedFreshness, HitHandler, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, Result};

pub use caching::{lock_age_timeout, PARTIAL_OR_CONDITIONAL};
pub use ctx::{Answered, FileCtx, RequestCtx, Routing, UpstreamCtx};

use crate::cache::DiskCache;
use crate::metrics::Metrics;
use crate::origin::HubMemory;
use crate::registry::Registry;
use crate::sync::SyncAccess;

/// The admin API as the content listener sees it (plain `http` types).
#[async_trait]
pub trait AdminApi: Send + Sync {
    /// Answers one `/pulp/api/…` request in full.
    async fn handle(&self, request: http::Request<Bytes>) -> http::Response<Bytes>;
}

/// The content service.
pub struct ContentProxy {
    /// Remotes, distributions and guards in force.
    pub registry: Arc<Registry>,
    /// What is remembered of the Hub, and the Hub client behind it (the one route to it:
    /// metadata, re-resolves, samples and the remotes' limits).
    pub memory: Arc<HubMemory>,
    /// The disk cache (`None`: nothing is stored, as for `streamed` remotes).
    pub disk: Option<&'static DiskCache>,
    /// Pingora's cache lock: one fill per key, joiners read the fill as it streams.
    pub cache_lock: &'static CacheKeyLockImpl,
    /// Prometheus families.
    pub metrics: Arc<Metrics>,
    /// The admin API, also served on this listener.
    pub api: Option<Arc<dyn AdminApi>>,
    /// `content_origin` from the config; `None`: from `Host` and `X-Forwarded-Proto`.
    pub content_origin: Option<String>,
    /// The sync runner's key to every remote (`None`: no sync path).
    pub sync: Option<SyncAccess>,
    /// This node's fleet (`None`: a single node): owner routing (`docs/fleet.md`).
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
}

impl ContentProxy {
    /// Are the bytes of this etag stored complete on disk?
    pub fn has_body(&self, etag: &str) -> bool {
        self.disk.is_some_and(|d| d.contains(etag))
    }

    /// `{origin}/pulp/content/{base_path}` as clients must see it (no trailing `/`).
    pub fn public_prefix(&self, session: &Session, base_path: &str) -> String {
        let origin = match &self.content_origin {
            Some(origin) => origin.trim_end_matches('/').to_string(),
            None => {
                let headers = &session.req_header().headers;
                let proto = headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .map(|p| p.split(',').next().unwrap_or("http").trim().to_string())
                    .filter(|p| p == "http" || p == "https")
                    .unwrap_or_else(|| "http".to_string());
                let host = headers
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .filter(|h| {
                        !h.is_empty()
                            && h.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
                    })
                    .unwrap_or("localhost");
                format!("{proto}://{host}")
            }
        };
        format!("{origin}/pulp/content/{base_path}")
    }
}

#[async_trait]
impl ProxyHttp for ContentProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    /// Routes the request and answers everything but file bodies. `Ok(true)`: answered here;
    /// `Ok(false)`: a `resolve` GET whose target is in `ctx.file`, to be streamed from upstream.
    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        match dispatch::dispatch(self, session, ctx).await? {
            dispatch::Outcome::Answered => Ok(true),
            // The upstream address is looked up only if the cache misses (`upstream_peer`).
            dispatch::Outcome::ProxyFile => {
                // A cold large file: a parallel fill this request then joins in the lookup.
                parallel::start(self, session, ctx).await;
                Ok(false)
            }
        }
    }

    /// Enables the disk cache for a `resolve` GET of an `on_demand` remote (not for ranges
    /// far ahead of what is stored, nor for objects larger than the budget).
    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        caching::enable(self, session, ctx);
        Ok(())
    }

    /// The key is the file's etag: content-addressed, shared across revisions and repos.
    fn cache_key_callback(&self, _session: &Session, ctx: &mut RequestCtx) -> Result<CacheKey> {
        caching::key(ctx)
    }

    /// A hit is served only to credentials that proved they can serve the blob; otherwise
    /// `ForceMiss`: the request fills it from its own upstream.
    async fn cache_hit_filter(
        &self,
        _session: &mut Session,
        _meta: &CacheMeta,
        hit_handler: &mut HitHandler,
        _is_fresh: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<ForcedFreshness>> {
        Ok(caching::hit_filter(self, hit_handler, ctx).await)
    }

    /// Only a whole 200 of the file's exact size is stored.
    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<RespCacheable> {
        Ok(caching::cacheable(resp, ctx))
    }

    /// The Hub (`resolve-cache`) or CDN peer of `ctx.file.target`; re-resolves once if the CDN
    /// refused an expired signed URL.
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        if let Some(peer) = owner::upstream_peer(ctx) {
            return Ok(peer);
        }
        fetch::upstream_peer(self, ctx).await
    }

    /// A fresh upstream request: path of the target, `Host`, `Accept-Encoding: identity`, the
    /// client's `Range`, and the remote's token only on the remote's own origin. Nothing else
    /// of the client's request (least of all its `Authorization`) goes upstream.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(request) = owner::request(self, session, ctx) {
            *upstream = request?;
            return Ok(());
        }
        fetch::rewrite_request(session, upstream, ctx)
    }

    /// Rebuilds the response headers from the first Hub hop's metadata; refuses (502) an
    /// answer whose length cannot be the file's; asks for a re-resolve on a CDN 403.
    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(checked) = owner::response(self, upstream, ctx) {
            return checked;
        }
        fetch::rewrite_response(upstream, ctx)
    }

    /// Frees the remote's `download_concurrency` slot once the upstream body has ended: the
    /// client of a fill may still be reading it from disk, long after the upstream is done.
    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        if end_of_stream {
            fetch::body_ended(ctx);
        }
        Ok(None)
    }

    /// Puts this request's metadata (commit, etag) on the answer, hits included, and marks
    /// the time to first byte.
    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.ttfb = Some(ctx.started.elapsed());
        caching::restore_headers(resp, ctx)?;
        owner::mark_answer(resp, ctx)
    }

    /// Connect failures to the file's host are retried up to the remote's `max_retries`; an
    /// owner node that cannot be reached is replaced by the next node on the ring.
    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if ctx.fleet.owner.is_some() {
            owner::failed(self, session, ctx, &mut e);
        } else {
            fetch::retry_connect(ctx, &mut e);
        }
        e
    }

    /// Pingora's retry policy (idempotent requests; a reused connection's failure), and an
    /// owner node that fails before the client got anything is replaced by the next node.
    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if !session.req_header().method.is_idempotent() || session.as_ref().retry_buffer_truncated()
        {
            e.set_retry(false);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        if ctx.fleet.owner.is_some() && !e.retry() {
            owner::failed(self, session, ctx, &mut e);
        }
        e
    }

    /// Upstream failures become 502/503/504 with a short message; never 401 or 404.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        failure::fail_to_proxy(session, e, ctx.routing.from_peer).await
    }

    /// Client errors are logged by `fail_to_proxy` as such, not by Pingora as proxy failures.
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, e: &Error) -> bool {
        failure::is_client_error(e)
    }

    /// One access-log line and the request's metrics.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        observe::record(self, session, e, ctx);
    }
}
