//! The `fetch` step: the Pingora upstream phases of a `resolve` GET — the peer for the target
//! URL (Hub `resolve-cache` or CDN), the upstream request (token on the remote's origin only),
//! and the response headers rebuilt from the first Hub hop. Writes `ctx.upstream`.

use std::time::Duration;

use http::StatusCode;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::reply::insert_file_headers;
use super::{ContentProxy, RequestCtx};
use crate::model::Remote;
use crate::origin::FileAnswer;
use crate::origin::{Download, FileTarget};

/// The file being fetched and where its bytes are; an internal error if either is missing
/// (the upstream phases run only for a resolved file with a download URL).
fn download_of(ctx: &RequestCtx) -> Result<(&FileTarget, &Download)> {
    let target = ctx
        .file
        .target
        .as_ref()
        .ok_or_else(|| internal("no target"))?;
    let download = target
        .download
        .as_ref()
        .ok_or_else(|| internal("no download URL"))?;
    Ok((target, download))
}

fn internal(msg: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, msg)
}

/// Resolves the target's address (before any cache lookup, so a miss can go straight on).
async fn prepare(ctx: &mut RequestCtx) -> Result<()> {
    let target = ctx
        .file
        .target
        .as_ref()
        .ok_or_else(|| internal("no target"))?;
    let Some(download) = &target.download else {
        // Remembered metadata, bytes on disk: no upstream unless the cache misses after all.
        return Ok(());
    };
    let addr = tokio::net::lookup_host((download.host(), download.port()))
        .await
        .map_err(|e| Error::because(ErrorType::ConnectNoRoute, "resolving the upstream host", e))?
        .next()
        .ok_or_else(|| {
            Error::explain(
                ErrorType::ConnectNoRoute,
                "the upstream host has no address",
            )
        })?;
    ctx.upstream.peer_addr = Some(addr);
    Ok(())
}

/// The peer for `ctx.file.target`, re-resolving first if the CDN refused the previous URL.
pub async fn upstream_peer(proxy: &ContentProxy, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    ctx.upstream
        .started
        .get_or_insert_with(std::time::Instant::now);
    // A remembered target has no URL: the bytes were expected on disk but are gone (evicted
    // since), so ask the Hub for a fresh one.
    let no_url = ctx
        .file
        .target
        .as_ref()
        .is_some_and(|t| t.download.is_none());
    if ctx.upstream.need_re_resolve || no_url {
        ctx.upstream.need_re_resolve = false;
        if !no_url {
            ctx.upstream.re_resolved += 1;
        }
        ctx.file.target = Some(re_resolve(proxy, ctx).await?);
        ctx.upstream.peer_addr = None;
    }
    // Only requests that really go upstream take a `download_concurrency` slot and a
    // `rate_limit` start; hits never wait on the remote's limits.
    if ctx.upstream.permit.is_none() {
        if let Some(remote) = &ctx.routing.remote {
            ctx.upstream.permit = Some(proxy.memory.hub().limits().acquire(remote).await);
        }
    }
    if ctx.upstream.peer_addr.is_none() {
        prepare(ctx).await?;
    }
    let (_, download) = download_of(ctx)?;
    let addr = ctx
        .upstream
        .peer_addr
        .ok_or_else(|| internal("no peer address"))?;
    let mut peer = HttpPeer::new(addr, download.tls(), download.host().to_string());
    if let Some(remote) = &ctx.routing.remote {
        peer.options.connection_timeout = Some(remote.connect_timeout());
        peer.options.read_timeout = Some(remote.read_timeout());
        peer.options.verify_cert = remote.tls_validation;
        peer.options.verify_hostname = remote.tls_validation;
        if download.tls() && download.is_same_origin() {
            if let Some(ca) = remote.ca_cert.as_deref().and_then(pingora_ca) {
                peer.options.ca = Some(ca);
            }
        }
    }
    peer.options.idle_timeout = Some(Duration::from_secs(60));
    Ok(Box::new(peer))
}

/// A fresh download URL for the request's file, through the same memory and single-flight
/// as the first resolve (`need_url`: a remembered answer, which has no URL, is not enough).
/// Anything but a target with a URL — a refusal, a failure, the remembered answer the memory
/// falls back on — is a 502: the file was there a moment ago.
async fn re_resolve(proxy: &ContentProxy, ctx: &RequestCtx) -> Result<FileTarget> {
    let routing = &ctx.routing;
    let remote = routing
        .remote
        .as_ref()
        .ok_or_else(|| internal("no remote"))?;
    let route = routing.route.as_ref().ok_or_else(|| internal("no route"))?;
    let remember = remote.policy.stores();
    match proxy
        .memory
        .resolve(remote, route, &routing.upstream_path, remember, true)
        .await
    {
        Ok(FileAnswer::Found(known)) if known.target.download.is_some() => Ok(known.target),
        _ => Err(Error::explain(
            ErrorType::HTTPStatus(502),
            "re-resolving the file failed",
        )),
    }
}

/// The remote's extra trust anchors in Pingora's form (validated when the remote was saved).
fn pingora_ca(pem: &str) -> Option<std::sync::Arc<pingora::protocols::tls::CaType>> {
    use pingora::utils::tls::{parse_x509, WrappedX509};
    let ders = crate::rules::pem_certificates(pem).ok()?;
    let certs: Vec<WrappedX509> = ders
        .into_iter()
        .map(|der| WrappedX509::new(der, parse_x509))
        .collect();
    Some(std::sync::Arc::from(certs.into_boxed_slice()))
}

/// Builds the upstream request from scratch: nothing of the client's goes upstream but
/// `Range`/`If-Range` (when the response is not being stored).
pub fn rewrite_request(
    session: &Session,
    upstream: &mut RequestHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    let (_, download) = download_of(ctx)?;
    let client = (!session.cache.enabled()).then(|| &session.req_header().headers);
    *upstream = body_request(download, ctx.routing.remote.as_deref(), client)?;
    Ok(())
}

/// The body's upstream request for `download`: path, `Host`, `User-Agent`,
/// `Accept-Encoding: identity`, the client's `Range`/`If-Range` when `client` is given (a
/// response not being stored), and `remote`'s credentials by the one rule.
pub(crate) fn body_request(
    download: &Download,
    remote: Option<&Remote>,
    client: Option<&http::HeaderMap>,
) -> Result<RequestHeader> {
    let mut req = RequestHeader::build(
        http::Method::GET,
        download.path_and_query().as_bytes(),
        None,
    )?;
    req.insert_header("host", download.host_header())?;
    req.insert_header("user-agent", crate::origin::USER_AGENT)?;
    req.insert_header("accept-encoding", "identity")?;
    if let Some(client) = client {
        for name in ["range", "if-range"] {
            if let Some(v) = client.get(name) {
                req.insert_header(name, v.clone())?;
            }
        }
    }
    if let Some(remote) = remote {
        for (name, value) in crate::origin::upstream_headers(remote, download.url()) {
            req.insert_header(name, value)?;
        }
    }
    Ok(req)
}

#[cfg(test)]
mod tests;

fn content_length(resp: &ResponseHeader) -> Option<u64> {
    crate::hub::headers::content_length(&resp.headers)
}

/// Rebuilds the upstream answer for the client; see `ContentProxy::upstream_response_filter`.
pub fn rewrite_response(upstream: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    ctx.upstream.status = Some(upstream.status.as_u16());
    ctx.upstream.headers_after = ctx.upstream.started.map(|t| t.elapsed());
    let target: &FileTarget = ctx
        .file
        .target
        .as_ref()
        .ok_or_else(|| internal("no target"))?;
    let status = upstream.status;
    if status == StatusCode::FORBIDDEN && !target.is_same_origin() && ctx.upstream.re_resolved == 0
    {
        // Signed CDN URLs expire (~1 h): resolve again once, then give up.
        ctx.upstream.need_re_resolve = true;
        let mut e = Error::explain(ErrorType::HTTPStatus(502), "the CDN refused the signed URL");
        e.set_retry(true);
        return Err(e);
    }
    if status.is_server_error() {
        let code = match status.as_u16() {
            503 => 503,
            504 => 504,
            _ => 502,
        };
        return Err(Error::explain(
            ErrorType::HTTPStatus(code),
            "the upstream answered 5xx",
        ));
    }
    if !target.is_same_origin()
        && status.is_client_error()
        && status != StatusCode::RANGE_NOT_SATISFIABLE
        && status != StatusCode::TOO_MANY_REQUESTS
    {
        // The CDN refusing a URL the Hub just signed is an upstream failure, not the
        // client's: never relay its 401/403/404 (clients would take it as "no such file").
        return Err(Error::explain(
            ErrorType::HTTPStatus(502),
            "the CDN refused the download",
        ));
    }
    if status.is_redirection() || status.is_informational() {
        return Err(Error::explain(
            ErrorType::HTTPStatus(502),
            "unexpected redirect for the file body",
        ));
    }
    *upstream = file_answer(upstream, target)?;
    Ok(())
}

/// The client's answer for an upstream answer about `target` (200, 206, 416 or another
/// 4xx) rebuilt from the target: the first Hub hop's metadata, the upstream's length and range.
pub fn file_answer(upstream: &ResponseHeader, target: &FileTarget) -> Result<ResponseHeader> {
    let status = upstream.status;
    let mut resp = ResponseHeader::build(status, Some(10))?;
    match status {
        StatusCode::OK => {
            if let Some(len) = content_length(upstream) {
                if len != target.size {
                    return Err(Error::explain(
                        ErrorType::HTTPStatus(502),
                        "upstream length differs from the file size",
                    ));
                }
            }
            insert_file_headers(&mut resp, target, true)?;
            resp.insert_header("content-length", target.size.to_string())?;
        }
        StatusCode::PARTIAL_CONTENT => {
            let multipart = !upstream.headers.contains_key(http::header::CONTENT_RANGE);
            insert_file_headers(&mut resp, target, !multipart)?;
            if multipart {
                if let Some(v) = upstream.headers.get(http::header::CONTENT_TYPE) {
                    resp.insert_header(http::header::CONTENT_TYPE, v.clone())?;
                }
            }
            for name in [http::header::CONTENT_LENGTH, http::header::CONTENT_RANGE] {
                if let Some(v) = upstream.headers.get(&name) {
                    resp.insert_header(name, v.clone())?;
                }
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            resp.insert_header("content-range", format!("bytes */{}", target.size))?;
            resp.insert_header("accept-ranges", "bytes")?;
            resp.insert_header("x-repo-commit", target.commit.as_str())?;
            for name in [http::header::CONTENT_LENGTH, http::header::CONTENT_TYPE] {
                if let Some(v) = upstream.headers.get(&name) {
                    resp.insert_header(name, v.clone())?;
                }
            }
        }
        _ => {
            // Other 4xx (the Hub changed its mind between HEAD and GET): relay what clients use.
            for (name, value) in crate::hub::headers::error_headers(&upstream.headers) {
                resp.insert_header(name, value)?;
            }
            for name in [
                http::header::CONTENT_LENGTH,
                http::header::TRANSFER_ENCODING,
            ] {
                if let Some(v) = upstream.headers.get(&name) {
                    resp.insert_header(name, v.clone())?;
                }
            }
        }
    }
    Ok(resp)
}

/// Connect failures to the file's host are retried up to the remote's `max_retries`.
pub fn retry_connect(ctx: &mut RequestCtx, e: &mut Error) {
    let allowed = ctx
        .routing
        .remote
        .as_ref()
        .and_then(|r| r.max_retries)
        .unwrap_or(2);
    if ctx.upstream.connect_retries < allowed {
        ctx.upstream.connect_retries += 1;
        e.set_retry(true);
    }
}

/// Frees the remote's `download_concurrency` slot once the upstream body has ended: the
/// client of a fill may still be reading it from disk, long after the upstream is done.
pub fn body_ended(ctx: &mut RequestCtx) {
    ctx.upstream.permit = None;
}
