//! The `logging` phase: one access-log line and the request's metrics. Labels are names
//! (distribution, remote), never a path or a secret.

use std::net::SocketAddr;

use pingora::cache::CachePhase;
use pingora::proxy::Session;
use pingora::Error;

use super::{ContentProxy, RequestCtx};
use crate::access_log::{self, AccessRecord};
use crate::metrics::Source;
use crate::origin::Lookup;

/// The cache result of this request for `hubcache_cache_lookups_total`: for file bodies the
/// disk cache phase (a hit on bytes whose metadata was stale counts as stale), otherwise how
/// the metadata was obtained. `None`: no lookup happened (errors, listings, the API).
fn lookup_result(session: &Session, ctx: &RequestCtx) -> Option<&'static str> {
    let stale_meta = ctx.answer.lookup == Some(Lookup::Stale);
    if ctx.answer.memory_hit {
        return Some(if stale_meta { "stale" } else { "hit" });
    }
    if ctx.file.parallel_fill {
        // Served from the fill it started: the body came from upstream.
        return Some("miss");
    }
    if ctx.file.cache_enabled {
        return Some(match session.cache.phase() {
            CachePhase::Hit if stale_meta => "stale",
            CachePhase::Hit => "hit",
            CachePhase::Stale | CachePhase::StaleUpdating => "stale",
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => "revalidated",
            CachePhase::Miss | CachePhase::Expired => "miss",
            _ => "bypass",
        });
    }
    if ctx.file.target.is_some() {
        // A file body that did not go through the disk cache (streamed remote, far range).
        return Some("bypass");
    }
    ctx.answer.lookup.map(Lookup::as_str)
}

/// Records the finished request.
pub fn record(
    proxy: &ContentProxy,
    session: &mut Session,
    error: Option<&Error>,
    ctx: &RequestCtx,
) {
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or_else(|| error.map(|e| super::failure::classify(e).0).unwrap_or(0));
    let method = session.req_header().method.clone();
    let distribution = ctx.routing.distribution.as_ref().map(|d| d.name.as_str());
    let bytes = session.as_downstream().body_bytes_sent() as u64;
    let total = ctx.started.elapsed();
    let result = lookup_result(session, ctx);
    let dist_label = distribution.unwrap_or("-");

    proxy
        .metrics
        .observe_request(dist_label, &method, status, ctx.ttfb.unwrap_or(total));
    if let Some(result) = result {
        proxy.metrics.observe_lookup(dist_label, result);
    }
    if bytes > 0 && distribution.is_some() {
        let from_cache = match result {
            Some("hit") | Some("stale") => true,
            _ => ctx.file.target.is_none() && matches!(ctx.answer.lookup, Some(Lookup::Hit)),
        };
        let source = if ctx.fleet.owner.is_some() {
            Source::Peer
        } else if from_cache {
            Source::Cache
        } else {
            Source::Upstream
        };
        proxy.metrics.add_response_bytes(dist_label, source, bytes);
    }
    if ctx.routing.from_peer {
        proxy.metrics.observe_fleet("from_peer", status);
    }
    // A body asked of an owner node is counted by `owner` (hubcache_fleet_requests_total), not
    // as a request to the remote.
    if ctx.fleet.owner.is_none() {
        observe_upstream(proxy, error, ctx);
    }

    let client: Option<SocketAddr> = session
        .as_downstream()
        .client_addr()
        .and_then(|a| a.as_inet().copied());
    let upstream_ms = ctx.answer.upstream_time.map(|d| d.as_millis() as u64);
    let path = if ctx.routing.hub_path.is_empty() {
        session.req_header().uri.path().to_string()
    } else {
        ctx.routing.hub_path.clone()
    };
    access_log::log(&AccessRecord {
        method: &method,
        distribution,
        hub_path: &path,
        status,
        cache: result.unwrap_or("-"),
        bytes,
        upstream_ms,
        total_ms: total.as_millis() as u64,
        client,
    });
}

/// The remote's upstream figures of this request's body (or of its failure).
fn observe_upstream(proxy: &ContentProxy, error: Option<&Error>, ctx: &RequestCtx) {
    if let (Some(remote), Some(up_status), Some(started)) = (
        &ctx.routing.remote,
        ctx.upstream.status,
        ctx.upstream.started,
    ) {
        proxy.metrics.observe_upstream(
            &remote.name,
            up_status,
            ctx.upstream.headers_after.unwrap_or(started.elapsed()),
        );
    } else if let (Some(remote), Some(started), true) =
        (&ctx.routing.remote, ctx.upstream.started, error.is_some())
    {
        proxy
            .metrics
            .observe_upstream(&remote.name, 0, started.elapsed());
    }
}
