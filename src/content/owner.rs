//! The content side of owner routing (`docs/fleet.md` "Owner routing"): which node streams a
//! `resolve` GET's bytes, and the upstream phases when that node is a peer. A GET this node
//! does not own, cannot serve from its own disk and is not filling already is proxied to the
//! owner on the peer path (not stored here); an owner that fails before the first byte is
//! replaced by the next node on the ring, and when none is left the file comes straight from
//! the Hub (streamed, not stored). A request that came from a peer is never forwarded again.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::{ContentProxy, RequestCtx};
use crate::fleet::{peer, Owner};
use crate::origin::FileTarget;

/// How long connecting to a peer may take before the next node is tried.
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What owner routing decided for one request.
#[derive(Debug, Default)]
pub struct FleetCtx {
    /// The owner the body is being asked of (`None`: this node's cache, or the Hub).
    pub owner: Option<SocketAddr>,
    /// Owners that failed this request, in order.
    pub tried: Vec<SocketAddr>,
}

/// A target sent by the peer that forwarded this request (`None`: not a peer request, or no
/// usable target: the file is resolved here as for any client).
pub fn peer_target(session: &Session, ctx: &RequestCtx) -> Option<FileTarget> {
    if !ctx.routing.from_peer {
        return None;
    }
    peer::decode_target(
        &session.req_header().headers,
        ctx.routing.remote.as_deref()?,
    )
}

/// Decides who streams the body of `ctx.file.target`: sets `ctx.fleet.owner` when it is a peer.
pub fn choose(proxy: &ContentProxy, ctx: &mut RequestCtx) {
    let (Some(fleet), Some(disk), Some(target), Some(remote)) = (
        &proxy.fleet,
        proxy.disk,
        &ctx.file.target,
        &ctx.routing.remote,
    ) else {
        return;
    };
    // Only what a node would store is owned: a streamed remote, an unverifiable etag or an
    // object over the budget is fetched where it is asked for.
    if ctx.routing.from_peer
        || !remote.policy.stores()
        || !target.etag.is_digest()
        || target.size > disk.stats().max_size
    {
        return;
    }
    let etag = target.etag.as_str();
    // Already here (stored, and this request may have it), or being filled here.
    if (ctx.file.may_share(etag) && disk.contains(etag)) || disk.fill_progress(etag).is_some() {
        return;
    }
    if let Owner::Peer(addr) = fleet.owner(etag, &[]) {
        ctx.fleet.owner = Some(addr);
    }
}

/// The owner as Pingora's upstream, if the body is asked of one.
pub fn upstream_peer(ctx: &mut RequestCtx) -> Option<Box<HttpPeer>> {
    let owner = ctx.fleet.owner?;
    let mut peer = HttpPeer::new(owner, false, String::new());
    peer.options.connection_timeout = Some(PEER_CONNECT_TIMEOUT);
    // The owner may be waiting on the Hub itself: the remote's read timeout applies.
    peer.options.read_timeout = ctx.routing.remote.as_ref().map(|r| r.read_timeout());
    peer.options.idle_timeout = Some(Duration::from_secs(60));
    Some(Box::new(peer))
}

/// The request to the owner, if the body is asked of one.
pub fn request(
    proxy: &ContentProxy,
    session: &Session,
    ctx: &RequestCtx,
) -> Option<Result<RequestHeader>> {
    let owner = ctx.fleet.owner?;
    let fleet = proxy.fleet.as_ref()?;
    let build = || {
        let internal = |m: &'static str| Error::explain(ErrorType::InternalError, m);
        let remote = ctx
            .routing
            .remote
            .as_ref()
            .ok_or_else(|| internal("no remote"))?;
        let target = ctx
            .file
            .target
            .as_ref()
            .ok_or_else(|| internal("no target"))?;
        peer::owner_request(
            &fleet.access,
            remote.meta.id,
            &ctx.routing.upstream_path,
            target,
            owner,
            &session.req_header().headers,
        )
    };
    Some(build())
}

/// Checks the owner's answer. `None`: not asked of an owner. An answer for other bytes, a 5xx
/// or a 4xx other than 416 means the owner failed: the next node is chosen and the request
/// retried. A 304 passes as it is; anything else is rebuilt as for a Hub answer.
pub fn response(
    proxy: &ContentProxy,
    upstream: &mut ResponseHeader,
    ctx: &mut RequestCtx,
) -> Option<Result<()>> {
    let owner = ctx.fleet.owner?;
    proxy
        .metrics
        .observe_fleet("to_owner", upstream.status.as_u16());
    let checked = match &ctx.file.target {
        Some(target) => check_answer(upstream, target),
        None => Err(Error::explain(ErrorType::InternalError, "no target")),
    };
    Some(checked.map_err(|mut e| {
        if fail_over(proxy, ctx, owner) {
            e.set_retry(true);
        }
        e
    }))
}

/// The owner's answer for `target`, rebuilt for the client; an error if the owner failed.
fn check_answer(upstream: &mut ResponseHeader, target: &FileTarget) -> Result<()> {
    let status = upstream.status;
    let failed = status.is_server_error()
        || (status.is_client_error() && status != StatusCode::RANGE_NOT_SATISFIABLE)
        || status.is_informational()
        || (status.is_redirection() && status != StatusCode::NOT_MODIFIED)
        || !peer::same_file(&upstream.headers, target);
    if failed {
        return Err(Error::explain(
            ErrorType::HTTPStatus(502),
            "the owner node failed",
        ));
    }
    if status != StatusCode::NOT_MODIFIED {
        *upstream = super::fetch::file_answer(upstream, target)?;
    }
    Ok(())
}

/// After a connect failure or an error before the client got anything: the next node (or the
/// Hub), and a retry. `false`: not asked of an owner, or too late to retry.
pub fn failed(proxy: &ContentProxy, session: &Session, ctx: &mut RequestCtx, e: &mut Error) {
    let Some(owner) = ctx.fleet.owner else {
        return;
    };
    if session.response_written().is_some() {
        return;
    }
    if !matches!(e.etype(), ErrorType::HTTPStatus(_)) {
        proxy.metrics.observe_fleet("to_owner", 0);
    }
    if fail_over(proxy, ctx, owner) {
        e.set_retry(true);
    }
}

/// Marks `owner` failed and picks the next node: another peer, or (this node being next)
/// the Hub directly. `false` when nothing is left to try.
fn fail_over(proxy: &ContentProxy, ctx: &mut RequestCtx, owner: SocketAddr) -> bool {
    let (Some(fleet), Some(target)) = (&proxy.fleet, &ctx.file.target) else {
        return false;
    };
    if !ctx.fleet.tried.contains(&owner) {
        ctx.fleet.tried.push(owner);
    }
    ctx.fleet.owner = match fleet.owner(target.etag.as_str(), &ctx.fleet.tried) {
        Owner::Peer(next) => Some(next),
        Owner::Me => None,
    };
    tracing::warn!(
        owner = %owner,
        next = %ctx.fleet.owner.map_or_else(|| "the Hub".to_string(), |a| a.to_string()),
        "the owner node failed before the first byte; trying the next"
    );
    true
}
