//! `request_filter` work: route the request, match the distribution (longest `base_path`),
//! check its guard, and answer everything that is not a file body — HEAD metadata, `api/…`
//! JSON, errors, the `/pulp/content/` listing — without going through Pingora's upstream.

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use pingora::proxy::Session;
use pingora::Result;
use subtle::ConstantTimeEq;

use super::reply::{send_file, send_file_head, Reply};
use super::{ContentProxy, RequestCtx};
use crate::hub::route::{parse_hub_path, HubRoute};
use crate::model::{ContentGuard, Policy};
use crate::origin::FileAnswer;
use crate::origin::{Fetched, UpstreamError};

/// Largest request body accepted on the content side (`paths-info` forms, API JSON).
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest request path accepted.
const MAX_PATH: usize = 8 * 1024;

/// What `request_filter` decided.
pub enum Outcome {
    /// A whole response was written.
    Answered,
    /// A `resolve` GET: continue to Pingora's cache / upstream phases with `ctx.target` set.
    ProxyFile,
}

/// Routes one request. Never panics on input; every refusal is a clear 4xx.
pub async fn dispatch(
    proxy: &ContentProxy,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<Outcome> {
    let req = session.req_header();
    let path = req.uri.path().to_string();
    let query = req.uri.query().map(str::to_string);
    let method = req.method.clone();

    if path.len() > MAX_PATH {
        Reply::plain(StatusCode::URI_TOO_LONG, "Request path too long.")
            .send(session)
            .await?;
        return Ok(Outcome::Answered);
    }
    if path.starts_with("/pulp/api/") {
        return serve_api(proxy, session).await.map(|()| Outcome::Answered);
    }
    if path == "/pulp/content" || path == "/pulp/content/" {
        return listing(proxy, session, &method)
            .await
            .map(|()| Outcome::Answered);
    }
    let Some(rest) = path.strip_prefix("/pulp/content/") else {
        Reply::plain(
            StatusCode::NOT_FOUND,
            "Not found: content is served under /pulp/content/<base_path>/.",
        )
        .send(session)
        .await?;
        return Ok(Outcome::Answered);
    };
    let snapshot = proxy.registry.snapshot();
    let Some((matched, tail)) = snapshot.match_content(rest) else {
        Reply::plain(
            StatusCode::NOT_FOUND,
            "No distribution serves this base path.",
        )
        .send(session)
        .await?;
        return Ok(Outcome::Answered);
    };
    ctx.distribution = Some(matched.distribution.clone());
    ctx.hub_path = tail.to_string();
    if method != Method::GET && method != Method::HEAD && method != Method::POST {
        method_not_allowed().send(session).await?;
        return Ok(Outcome::Answered);
    }
    if let Some(guard) = &matched.guard {
        if !guard_permits(guard, session) {
            Reply::plain(StatusCode::FORBIDDEN, "Access denied.")
                .send(session)
                .await?;
            return Ok(Outcome::Answered);
        }
    }
    let Some(remote) = matched.remote.clone() else {
        Reply::plain(StatusCode::NOT_FOUND, "This distribution has no remote.")
            .send(session)
            .await?;
        return Ok(Outcome::Answered);
    };
    ctx.remote = Some(remote.clone());
    let route = match parse_hub_path(tail) {
        Ok(route) => route,
        Err(err) => {
            Reply::plain(err.status(), &err.to_string())
                .send(session)
                .await?;
            return Ok(Outcome::Answered);
        }
    };
    let upstream_path = match &query {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    ctx.upstream_path = upstream_path.clone();

    match route {
        HubRoute::XetReadToken { .. } => {
            // Xet would move the client off the proxy to the CAS host; hubcache serves every
            // file over HTTP instead, so this token endpoint is deliberately not proxied.
            Reply::plain(
                StatusCode::NOT_FOUND,
                "Xet is disabled by hubcache: files are served over HTTP through the proxy. Set HF_HUB_DISABLE_XET=1 and clear trees/*.json written by a direct download.",
            )
            .send(session)
            .await?;
            Ok(Outcome::Answered)
        }
        HubRoute::Resolve { .. } => {
            if method == Method::POST {
                method_not_allowed().send(session).await?;
                return Ok(Outcome::Answered);
            }
            let remember = remote.policy == Policy::OnDemand;
            let started = std::time::Instant::now();
            let mut answer = proxy
                .metadata
                .resolve(&remote, &route, &upstream_path, remember, false)
                .await;
            if method == Method::GET {
                if let Ok(FileAnswer::Found(known)) = &mut answer {
                    ctx.credentials = Some(proxy.metadata.credentials_of(&remote));
                    if super::proof::may_share(proxy, &remote, known, &route, &upstream_path).await
                    {
                        ctx.shared_etag = Some(known.target.etag.clone());
                    }
                    let hit = ctx
                        .may_share(&known.target.etag)
                        .then(|| super::caching::memory_hit(proxy, session, &remote, &known.target))
                        .flatten();
                    if let Some(hit) = hit {
                        ctx.upstream_time = Some(started.elapsed());
                        ctx.lookup = Some(known.source);
                        ctx.memory_hit = true;
                        ctx.target = Some(known.target.clone());
                        ctx.ttfb = Some(ctx.started.elapsed());
                        send_file(session, &known.target, hit).await?;
                        return Ok(Outcome::Answered);
                    }
                    // A remembered answer has no download URL: fine when the bytes are
                    // stored (and may be shared); otherwise ask the Hub for a fresh URL.
                    if known.target.url.is_empty()
                        && !(ctx.may_share(&known.target.etag)
                            && proxy.has_body(&known.target.etag))
                    {
                        answer = proxy
                            .metadata
                            .resolve(&remote, &route, &upstream_path, remember, true)
                            .await;
                    }
                }
            }
            ctx.upstream_time = Some(started.elapsed());
            match answer {
                Err(err) => {
                    upstream_failure(session, &err).await?;
                    Ok(Outcome::Answered)
                }
                Ok(FileAnswer::Refused(fetched, source)) => {
                    ctx.lookup = Some(source);
                    relay_refusal(session, &fetched).await?;
                    Ok(Outcome::Answered)
                }
                Ok(FileAnswer::Found(known)) if method == Method::HEAD => {
                    ctx.lookup = Some(known.source);
                    send_file_head(session, &known.target).await?;
                    Ok(Outcome::Answered)
                }
                Ok(FileAnswer::Found(known)) => {
                    if known.target.url.is_empty()
                        && !(ctx.may_share(&known.target.etag)
                            && proxy.has_body(&known.target.etag))
                    {
                        // The Hub is unreachable and the bytes were never stored.
                        upstream_failure(session, &UpstreamError::Connect).await?;
                        return Ok(Outcome::Answered);
                    }
                    ctx.lookup = Some(known.source);
                    ctx.target = Some(known.target);
                    Ok(Outcome::ProxyFile)
                }
            }
        }
        route => {
            let is_paths_info = matches!(route, HubRoute::PathsInfo { .. });
            if method == Method::POST && !is_paths_info {
                method_not_allowed().send(session).await?;
                return Ok(Outcome::Answered);
            }
            let body = if method == Method::POST {
                match read_body(session).await? {
                    Some(b) => Some((b, header_str(session, "content-type"))),
                    None => {
                        Reply::plain(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
                            .send(session)
                            .await?;
                        return Ok(Outcome::Answered);
                    }
                }
            } else {
                None
            };
            let started = std::time::Instant::now();
            let remember = remote.policy == Policy::OnDemand;
            let fetched = proxy
                .metadata
                .api(&remote, &route, method, &upstream_path, body, remember)
                .await;
            ctx.upstream_time = Some(started.elapsed());
            match fetched {
                Ok((fetched, source)) => {
                    ctx.lookup = Some(source);
                    let prefix = proxy.public_prefix(session, &matched.distribution.base_path);
                    relay_api(session, fetched, &remote.url, &prefix).await?
                }
                Err(err) => upstream_failure(session, &err).await?,
            }
            Ok(Outcome::Answered)
        }
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

/// 405 for anything but GET and HEAD (POST only reaches `paths-info`).
fn method_not_allowed() -> Reply {
    Reply::plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "Only GET and HEAD are allowed here.",
    )
    .with("allow", "GET, HEAD")
}

/// Reads the whole request body, or `None` when it exceeds [`MAX_BODY`]. A body that cannot
/// be read (bad chunk framing, cut short) is the client's error: 400, or nothing if it is gone.
pub async fn read_body(session: &mut Session) -> Result<Option<Bytes>> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = session
        .read_request_body()
        .await
        .map_err(pingora::Error::into_down)?
    {
        if buf.len() + chunk.len() > MAX_BODY {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

/// pulpcore's header guard, widened for stock Hub clients: the header must be present and
/// equal `header_value` raw (`Authorization: Bearer <HF_TOKEN>`) or base64-decoded (pulpcore).
fn guard_permits(guard: &ContentGuard, session: &Session) -> bool {
    let expected = guard.header_value.expose().as_bytes();
    session
        .req_header()
        .headers
        .get_all(guard.header_name.as_str())
        .iter()
        .any(|value| {
            let raw = value.as_bytes();
            if raw.is_empty() {
                return false;
            }
            let raw_ok: bool = raw.len() == expected.len() && bool::from(raw.ct_eq(expected));
            let decoded_ok =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, raw)
                    .map(|d| d.len() == expected.len() && bool::from(d.ct_eq(expected)))
                    .unwrap_or(false);
            raw_ok | decoded_ok
        })
}

/// Upstream unreachable, timed out or 5xx: 502/503/504 with a short message, never 401/404.
pub async fn upstream_failure(session: &mut Session, err: &UpstreamError) -> Result<()> {
    Reply::plain(err.status(), &format!("Upstream error: {err}."))
        .send(session)
        .await
}

/// A Hub 4xx on `resolve`: relay the status and the headers clients rely on
/// (`X-Error-Code`, `X-Error-Message`, `X-Repo-Commit`, rate-limit headers).
async fn relay_refusal(session: &mut Session, fetched: &Fetched) -> Result<()> {
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
    reply.send(session).await
}

/// Relays an `api/…` answer: 5xx mapped, foreign redirects refused, `Link`/`Location`
/// rewritten onto the proxy, Xet keys removed from JSON.
async fn relay_api(
    session: &mut Session,
    mut fetched: Fetched,
    upstream_origin: &str,
    prefix: &str,
) -> Result<()> {
    if fetched.status.is_server_error() {
        return upstream_failure(session, &UpstreamError::Status(fetched.status)).await;
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
            None => {
                return upstream_failure(
                    session,
                    &UpstreamError::Protocol("redirect away from the Hub"),
                )
                .await;
            }
        }
    }
    crate::hub::headers::strip_xet(&mut fetched.headers);
    crate::hub::headers::rewrite_links(&mut fetched.headers, &origin, prefix);
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
    Reply {
        status: fetched.status,
        headers,
        body,
    }
    .send(session)
    .await
}

/// `GET /pulp/content/`: a small HTML index of the non-hidden distributions.
async fn listing(proxy: &ContentProxy, session: &mut Session, method: &Method) -> Result<()> {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed().send(session).await;
    }
    let snapshot = proxy.registry.snapshot();
    let mut paths: Vec<&str> = snapshot
        .distributions
        .iter()
        .filter(|d| !d.hidden)
        .map(|d| d.base_path.as_str())
        .collect();
    paths.sort_unstable();
    let mut html = String::from("<!DOCTYPE html>\n<html><head><title>Index of /pulp/content/</title></head><body>\n<h1>Index of /pulp/content/</h1>\n<ul>\n");
    for p in paths {
        let p = html_escape(p);
        html.push_str(&format!("<li><a href=\"{p}/\">{p}/</a></li>\n"));
    }
    html.push_str("</ul>\n</body></html>\n");
    Reply {
        status: StatusCode::OK,
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: Bytes::from(html),
    }
    .send(session)
    .await
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `/pulp/api/…` on the content listener: hand the whole request to the admin API.
async fn serve_api(proxy: &ContentProxy, session: &mut Session) -> Result<()> {
    let Some(api) = proxy.api.clone() else {
        return Reply::plain(StatusCode::NOT_FOUND, "Not found.")
            .send(session)
            .await;
    };
    let body = match read_body(session).await? {
        Some(b) => b,
        None => {
            return Reply {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Bytes::from_static(b"{\"detail\":\"Request body too large.\"}"),
            }
            .send(session)
            .await;
        }
    };
    let client = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    let Ok(request) = api_request(session.req_header(), body, client) else {
        return Reply::plain(StatusCode::BAD_REQUEST, "Malformed request.")
            .send(session)
            .await;
    };
    let response = api.handle(request).await;
    let (parts, body) = response.into_parts();
    let mut headers = Vec::new();
    for (name, value) in parts.headers.iter() {
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(v) = value.to_str() {
            headers.push((name.to_string(), v.to_string()));
        }
    }
    Reply {
        status: parts.status,
        headers,
        body,
    }
    .send(session)
    .await
}

/// The admin API's view of a request: plain `http` types (shared by the content listener and
/// the `api.listen` service), with the client's address as a [`crate::api::ClientAddr`].
pub fn api_request(
    head: &pingora::http::RequestHeader,
    body: Bytes,
    client: Option<std::net::IpAddr>,
) -> Result<http::Request<Bytes>, http::Error> {
    let mut builder = http::Request::builder()
        .method(head.method.clone())
        .uri(head.uri.clone());
    for (name, value) in head.headers.iter() {
        builder = builder.header(name, value);
    }
    if let Some(ip) = client {
        builder = builder.extension(crate::api::ClientAddr(ip));
    }
    builder.body(body)
}
