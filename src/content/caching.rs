//! The pingora-cache side of a `resolve` GET: when to enable the disk cache, the key, what
//! is cacheable, and the per-request headers put back on hits. Bytes are content-addressed
//! by the Hub etag; a request only reaches them through its own remote's resolution.

use std::time::{Duration, SystemTime};

use pingora::cache::{
    CacheKey, CacheMeta, ForcedFreshness, HitHandler, NoCacheReason, RespCacheable,
};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::reply::insert_file_headers;
use super::{ContentProxy, RequestCtx};
use crate::cache::{key_for_etag, DiskCache, MemoryHit};
use crate::model::Remote;
use crate::origin::FileTarget;

/// A range starting this far past what a fill in flight has written goes straight upstream
/// as a ranged request instead of waiting for the fill to get there (clients time out after
/// 10 s without bytes). A range on a cold object always goes upstream uncached.
pub const FAR_RANGE: u64 = 16 * 1024 * 1024;

/// Pingora's lock is held only until the writer has headers (streaming partial writes).
pub fn lock_age_timeout() -> Duration {
    Duration::from_secs(60)
}

/// The first byte a `Range: bytes=N-…` asks for; `None` for no or other ranges.
fn range_start(session: &Session) -> Option<u64> {
    let value = session
        .req_header()
        .headers
        .get(http::header::RANGE)?
        .to_str()
        .ok()?;
    let spec = value.trim().strip_prefix("bytes=")?;
    let first = spec.split(',').next()?.trim();
    let (start, _) = first.split_once('-')?;
    start.trim().parse().ok()
}

/// Enables the cache for this request when the remote stores (`on_demand`), the object fits
/// the budget, and no range far ahead of the stored bytes is asked for.
pub fn enable(proxy: &ContentProxy, session: &mut Session, ctx: &mut RequestCtx) {
    let Some(disk) = storing_disk(proxy, ctx) else {
        return;
    };
    let Some(target) = &ctx.file.target else {
        return;
    };
    if session
        .req_header()
        .headers
        .contains_key(http::header::RANGE)
    {
        // A suffix (`bytes=-N`) or unparsable range counts as far ahead.
        let start = range_start(session).unwrap_or(u64::MAX);
        if !disk.contains(&target.etag) {
            match disk.fill_progress(&target.etag) {
                // A range joins a fill in flight when its bytes are (nearly) there.
                Some(p) if start <= p.written.saturating_add(FAR_RANGE) => {}
                // Cold, or far ahead of the fill: a ranged request straight upstream, uncached.
                // (Pingora 0.9.1 cannot answer a range from the response it is itself filling:
                // it would send the whole body after a 206's Content-Length.)
                _ => return,
            }
        }
    }
    let mut overrides = pingora::cache::CacheOptionOverrides::default();
    overrides.wait_timeout = Some(Duration::from_secs(30));
    session
        .cache
        .enable(disk, None, None, Some(proxy.cache_lock), Some(overrides));
    // A miss's own client is served from the partial object like any joiner (streaming
    // partial writes), but without the cancel-safe write path pingora awaits each write to
    // that client inside the loop that also reads the upstream: a slow client would pace the
    // fill, and every client joined to it. With it, pingora queues one write at a time and
    // keeps reading the upstream into the fill while the write waits; a client that falls
    // behind reads the bytes back from disk.
    session.set_proxy_tasks_enabled(true);
    ctx.file.cache_enabled = true;
}

/// The disk cache, when this request's file body may be stored there: the remote stores
/// (`on_demand`), the object fits the budget, its etag is a digest, and this node owns it.
pub fn storing_disk(proxy: &ContentProxy, ctx: &RequestCtx) -> Option<&'static DiskCache> {
    let (Some(target), Some(remote), Some(disk)) =
        (&ctx.file.target, &ctx.routing.remote, proxy.disk)
    else {
        return None;
    };
    // Asked of the owner node: its disk keeps the bytes, not this one's.
    if ctx.fleet.owner.is_some() {
        return None;
    }
    if !remote.policy.stores() || target.size > disk.stats().max_size {
        return None;
    }
    // Only digests are shared across remotes: an etag that is not a sha1 or sha256 cannot be
    // verified, so such a body is streamed, never stored under a shared key.
    if !target.etag.is_digest() {
        return None;
    }
    Some(disk)
}

/// Request headers that make a hit more than "send the whole body" (a range, a conditional):
/// pingora-cache answers those.
pub const PARTIAL_OR_CONDITIONAL: [http::header::HeaderName; 6] = [
    http::header::RANGE,
    http::header::IF_RANGE,
    http::header::IF_NONE_MATCH,
    http::header::IF_MATCH,
    http::header::IF_MODIFIED_SINCE,
    http::header::IF_UNMODIFIED_SINCE,
];

/// The whole body of `target` when the disk cache holds it in memory and this plain GET may
/// be answered with it at once (as pingora-cache would answer the hit, without its lookup).
pub fn memory_hit(
    proxy: &ContentProxy,
    session: &Session,
    remote: &Remote,
    target: &FileTarget,
) -> Option<MemoryHit> {
    let disk = proxy.disk?;
    let headers = &session.req_header().headers;
    if !remote.policy.stores()
        || !target.etag.is_digest()
        || PARTIAL_OR_CONDITIONAL
            .iter()
            .any(|h| headers.contains_key(h))
    {
        return None;
    }
    disk.memory_hit(&target.etag)
        .filter(|hit| hit.body.len() as u64 == target.size)
}

/// The key: the file's etag.
pub fn key(ctx: &RequestCtx) -> Result<CacheKey> {
    let target = ctx.file.target.as_ref().ok_or_else(|| {
        pingora::Error::explain(
            pingora::ErrorType::InternalError,
            "no target for the cache key",
        )
    })?;
    Ok(key_for_etag(&target.etag))
}

/// Only a whole 200 of exactly the file's size is stored; it is immutable (content-addressed).
pub fn cacheable(resp: &ResponseHeader, ctx: &RequestCtx) -> RespCacheable {
    let Some(target) = &ctx.file.target else {
        return RespCacheable::Uncacheable(NoCacheReason::InternalError);
    };
    let length = resp
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if resp.status != http::StatusCode::OK || length != Some(target.size) {
        return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
    }
    let now = SystemTime::now();
    let forever = now + Duration::from_secs(100 * 365 * 24 * 3600);
    let mut header = resp.clone();
    if let Some(who) = &ctx.file.credentials {
        // Read (and dropped) by the storage: the blob is proven for these credentials once
        // the fill has verified what their upstream sent.
        if header
            .insert_header(crate::cache::FILLED_BY, hex::encode(who))
            .is_err()
        {
            return RespCacheable::Uncacheable(NoCacheReason::InternalError);
        }
    }
    RespCacheable::Cacheable(CacheMeta::new(forever, now, 0, 0, header))
}

/// A stored or filling blob found for a request whose credentials have not shown they can
/// serve it is not served: the request fills it from its own upstream instead (verified
/// against the etag like any fill). A fill by the same credentials may be joined, and a
/// proof learned since `request_filter` (a fill that has just published) counts.
pub async fn hit_filter(
    proxy: &ContentProxy,
    hit: &HitHandler,
    ctx: &RequestCtx,
) -> Option<ForcedFreshness> {
    let (Some(disk), Some(who), Some(target)) =
        (proxy.disk, &ctx.file.credentials, &ctx.file.target)
    else {
        return Some(ForcedFreshness::ForceMiss);
    };
    if ctx.file.may_share(&target.etag) {
        return None;
    }
    if DiskCache::hit_reads_fill_by(hit, who) || disk.is_proven(&target.etag, who).await {
        return None;
    }
    Some(ForcedFreshness::ForceMiss)
}

/// On every answer (hits included): the stored header describes whichever request filled
/// the blob; this request's commit and metadata are put back.
pub fn restore_headers(resp: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
    let Some(target) = &ctx.file.target else {
        return Ok(());
    };
    // Whatever status Pingora built from the stored header (200, 206, 416, 304), nothing of
    // the filling request's metadata may remain.
    for name in [
        crate::cache::FILLED_BY,
        "x-repo-commit",
        "x-linked-etag",
        "x-linked-size",
        "etag",
        "content-disposition",
    ] {
        resp.remove_header(name);
    }
    let ok =
        resp.status == http::StatusCode::OK || resp.status == http::StatusCode::PARTIAL_CONTENT;
    if !ok {
        resp.insert_header("x-repo-commit", target.commit.as_str())?;
        return Ok(());
    }
    let multipart = resp
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/byteranges"));
    insert_file_headers(resp, target, !multipart)
}
