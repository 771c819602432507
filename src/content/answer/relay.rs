//! Relaying the Hub's answers to clients: `api/…` routes (5xx mapped, foreign redirects
//! refused, `Link`/`Location` rewritten onto the proxy, Xet keys removed) and a Hub refusal of
//! a `resolve` (its status and the headers clients act on).

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use pingora::proxy::Session;
use pingora::Result;

use super::super::reply::Reply;
use super::super::route::HubRequest;
use super::super::{ContentProxy, RequestCtx};
use super::upstream_failure;
use crate::origin::{Fetched, UpstreamError};

/// Largest `paths-info` form forwarded to the Hub; larger → 413.
const MAX_FORM: usize = 1024 * 1024;

/// Response headers of an `api/…` answer that reach the client; the rest (cookies, Xet
/// endpoints, the Hub's caching headers) stay upstream.
const KEEP: [&str; 11] = [
    "content-type",
    "link",
    "x-error-code",
    "x-error-message",
    "x-repo-commit",
    "etag",
    "last-modified",
    "ratelimit",
    "ratelimit-policy",
    "retry-after",
    "x-total-count",
];

/// An `api/…` route (repo info, tree, refs, `paths-info`): asked of memory or the Hub,
/// relayed onto the proxy's own URLs.
pub async fn hub_api(
    proxy: &ContentProxy,
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &HubRequest,
) -> Result<()> {
    let method = session.req_header().method.clone();
    let body = if method == Method::POST {
        match read_form(session).await? {
            Some(b) => Some((b, header_str(session, "content-type"))),
            None => {
                return Reply::plain(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
                    .send(session)
                    .await;
            }
        }
    } else {
        None
    };
    let started = std::time::Instant::now();
    let remember = req.remote.policy.stores();
    let fetched = proxy
        .memory
        .api(
            &req.remote,
            &req.route,
            method,
            &req.upstream_path,
            body,
            remember,
        )
        .await;
    ctx.answer.upstream_time = Some(started.elapsed());
    match fetched {
        Ok((fetched, source)) => {
            ctx.answer.lookup = Some(source);
            let prefix = proxy.public_prefix(session, &req.distribution.base_path);
            relay_api(session, fetched, &req.remote.url, &prefix).await
        }
        Err(err) => upstream_failure(session, &err).await,
    }
}

fn header_str(session: &Session, name: &str) -> Option<String> {
    session
        .req_header()
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads the whole request body, or `None` when it exceeds [`MAX_FORM`]. A body that cannot
/// be read (bad chunk framing, cut short) is the client's error: 400, or nothing if it is gone.
async fn read_form(session: &mut Session) -> Result<Option<Bytes>> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = session
        .read_request_body()
        .await
        .map_err(pingora::Error::into_down)?
    {
        if buf.len() + chunk.len() > MAX_FORM {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

/// A Hub 4xx on `resolve`: relay the status and the headers clients rely on
/// (`X-Error-Code`, `X-Error-Message`, `X-Repo-Commit`, rate-limit headers).
pub async fn refusal(session: &mut Session, fetched: &Fetched) -> Result<()> {
    refusal_reply(fetched).send(session).await
}

fn refusal_reply(fetched: &Fetched) -> Reply {
    let message = fetched
        .headers
        .get("x-error-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| {
            fetched
                .status
                .canonical_reason()
                .unwrap_or("Refused by the Hub")
        })
        .to_string();
    let mut reply = Reply {
        status: fetched.status,
        headers: vec![],
        body: Bytes::from(format!("{message}\n")),
    };
    reply
        .headers
        .push(("content-type".into(), "text/plain; charset=utf-8".into()));
    for (name, value) in crate::hub::headers::error_headers(&fetched.headers) {
        if name == http::header::CONTENT_TYPE {
            continue;
        }
        if let Ok(v) = value.to_str() {
            reply.headers.push((name.to_string(), v.to_string()));
        }
    }
    reply
}

/// Relays an `api/…` answer: 5xx mapped, foreign redirects refused, `Link`/`Location`
/// rewritten onto the proxy, Xet keys removed from JSON.
async fn relay_api(
    session: &mut Session,
    fetched: Fetched,
    upstream_origin: &str,
    prefix: &str,
) -> Result<()> {
    match api_reply(fetched, upstream_origin, prefix) {
        Ok(reply) => reply.send(session).await,
        Err(err) => upstream_failure(session, &err).await,
    }
}

/// The client's answer for an `api/…` answer of the Hub; `Err`: an upstream failure.
fn api_reply(
    mut fetched: Fetched,
    upstream_origin: &str,
    prefix: &str,
) -> std::result::Result<Reply, UpstreamError> {
    if fetched.status.is_server_error() {
        return Err(UpstreamError::Status(fetched.status));
    }
    let origin = crate::rules::origin_of(upstream_origin).to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    if fetched.status.is_redirection() {
        let location = fetched
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match crate::hub::headers::rewrite_location(location, &origin, prefix) {
            Some(rewritten) => headers.push(("location".into(), rewritten)),
            None => return Err(UpstreamError::Protocol("redirect away from the Hub")),
        }
    }
    crate::hub::headers::strip_xet(&mut fetched.headers);
    crate::hub::headers::rewrite_links(&mut fetched.headers, &origin, prefix);
    for (name, value) in fetched.headers.iter() {
        if KEEP.contains(&name.as_str()) {
            if let Ok(v) = value.to_str() {
                headers.push((name.to_string(), v.to_string()));
            }
        }
    }
    let is_json = fetched
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let body = if is_json {
        crate::hub::json::strip_xet_bytes(&fetched.body)
            .map(Bytes::from)
            .unwrap_or(fetched.body)
    } else {
        fetched.body
    };
    Ok(Reply {
        status: fetched.status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests;
