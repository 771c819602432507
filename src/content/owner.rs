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
/// Beyond the remote's own timeouts, how long an owner may wait (a fill's lock, a
/// `download_concurrency` slot) before its first byte.
const OWNER_GRACE: Duration = Duration::from_secs(30);

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
    // The owner may be waiting on the Hub (connect, first byte) and on a fill's lock before
    // it answers: give it that long and more.
    peer.options.read_timeout = ctx
        .routing
        .remote
        .as_ref()
        .map(|r| r.connect_timeout() + r.read_timeout() + OWNER_GRACE);
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
        if e.retry() && !fail_over(proxy, ctx, owner) {
            e.set_retry(false);
        }
        e
    }))
}

/// The owner's answer for `target`, rebuilt for the client. The file (200, 206 with its
/// `ETag`), 304 and 416 pass; another status the owner marked as its own answer (the Hub's
/// 4xx, or its failure on the owner) is relayed without trying another node, which would only
/// ask the Hub again; anything else means the owner failed (`Err` with `failed_over`).
fn check_answer(upstream: &mut ResponseHeader, target: &FileTarget) -> Result<()> {
    let status = upstream.status;
    let owners_own = upstream.headers.contains_key(peer::ANSWER_HEADER);
    match status {
        StatusCode::OK | StatusCode::PARTIAL_CONTENT
            if peer::same_file(&upstream.headers, target) =>
        {
            *upstream = super::fetch::file_answer(upstream, target)?;
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            *upstream = super::fetch::file_answer(upstream, target)?;
        }
        StatusCode::NOT_MODIFIED => {
            let mut resp = ResponseHeader::build(StatusCode::NOT_MODIFIED, Some(8))?;
            super::reply::insert_file_headers(&mut resp, target, false)?;
            *upstream = resp;
        }
        s if s.is_client_error() && owners_own => {
            *upstream = super::fetch::file_answer(upstream, target)?;
        }
        s if s.is_server_error() && owners_own => {
            let code = if s == StatusCode::GATEWAY_TIMEOUT {
                504
            } else {
                502
            };
            return Err(Error::explain(
                ErrorType::HTTPStatus(code),
                "the owner node could not get the file",
            ));
        }
        _ => {
            let mut e = Error::explain(ErrorType::HTTPStatus(502), "the owner node failed");
            e.set_retry(true);
            return Err(e);
        }
    }
    Ok(())
}

/// On the owner: marks an answer to a peer as its own (`peer::ANSWER_HEADER`).
pub fn mark_answer(resp: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
    if ctx.routing.from_peer {
        resp.insert_header(peer::ANSWER_HEADER, "1")?;
    }
    Ok(())
}

/// After the owner could not be reached, or broke the connection before answering: the next
/// node (or the Hub), and a retry. Not after the client left (that is no node's failure: the
/// next node would only fetch the file too), not after the client got a byte, and not on a
/// read timeout (the owner took the request on and may be filling it: another node would
/// ask the Hub again).
pub fn failed(proxy: &ContentProxy, session: &Session, ctx: &mut RequestCtx, e: &mut Error) {
    let Some(owner) = ctx.fleet.owner else {
        return;
    };
    if session.response_written().is_some()
        || e.esource() != &pingora::ErrorSource::Upstream
        || matches!(e.etype(), ErrorType::ReadTimedout)
    {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Etag;

    fn target() -> FileTarget {
        FileTarget {
            commit: "a".repeat(40),
            etag: Etag::parse(&"b".repeat(64)),
            size: 10,
            content_type: "application/octet-stream".into(),
            content_disposition: None,
            download: None,
        }
    }

    /// What `check_answer` made of an owner's answer: the client's status, or the error's
    /// status and whether the next node is tried.
    type Outcome = Result<u16, (u16, bool)>;

    fn outcome(status: u16, etag: Option<&str>, owners_own: bool) -> Outcome {
        let mut resp = ResponseHeader::build(status, None).unwrap();
        if let Some(etag) = etag {
            resp.insert_header("etag", format!("\"{etag}\"")).unwrap();
        }
        if status == 200 {
            resp.insert_header("content-length", "10").unwrap();
        }
        if status == 206 {
            resp.insert_header("content-range", "bytes 0-1/10").unwrap();
        }
        if owners_own {
            resp.insert_header(peer::ANSWER_HEADER, "1").unwrap();
        }
        match check_answer(&mut resp, &target()) {
            Ok(()) => {
                assert!(!resp.headers.contains_key(peer::ANSWER_HEADER));
                Ok(resp.status.as_u16())
            }
            Err(e) => match e.etype() {
                ErrorType::HTTPStatus(code) => Err((*code, e.retry())),
                other => panic!("{other:?}"),
            },
        }
    }

    #[test]
    fn the_owners_answers_are_relayed_and_only_a_failed_owner_is_replaced() {
        let file = "b".repeat(64);
        let other = "c".repeat(64);
        let rows: &[(u16, Option<&str>, bool, Outcome)] = &[
            (200, Some(&file), true, Ok(200)),
            (206, Some(&file), true, Ok(206)),
            (304, None, true, Ok(304)),
            (416, None, true, Ok(416)),
            // The Hub's verdict, given by the owner: relayed, no other node asked.
            (429, None, true, Ok(429)),
            (404, None, true, Ok(404)),
            (502, None, true, Err((502, false))),
            (504, None, true, Err((504, false))),
            // Not the owner's considered answer: the next node.
            (404, None, false, Err((502, true))),
            (502, None, false, Err((502, true))),
            (200, Some(&other), true, Err((502, true))),
            (200, None, true, Err((502, true))),
            (302, None, true, Err((502, true))),
        ];
        for (status, etag, own, want) in rows {
            assert_eq!(
                &outcome(*status, *etag, *own),
                want,
                "{status} {etag:?} {own}"
            );
        }
    }
}
