//! The `answer` step: everything hubcache answers itself, without Pingora's upstream — route
//! refusals, `resolve` metadata (HEAD, and GETs of a blob held in memory), Hub refusals and
//! upstream failures, the `/pulp/content/` listing and the admin API hand-off. The `api/…`
//! relay is in [`relay`]. A `resolve` GET whose bytes must be streamed is handed on to the
//! `fetch` phases with its target in the context.

mod relay;

use bytes::Bytes;
use http::{Method, StatusCode};
use pingora::proxy::Session;
use pingora::Result;

pub use relay::hub_api;

use super::reply::{send_file, send_file_head, Reply};
use super::route::{HubRequest, Refusal};
use super::{ContentProxy, RequestCtx};
use crate::origin::FileAnswer;
use crate::origin::UpstreamError;

/// What answering a `resolve` request left to do.
pub enum FileOutcome {
    /// A whole response was written.
    Answered,
    /// A GET to stream: `ctx.file.target` is set, Pingora's cache and upstream phases follow.
    Fetch,
}

/// Writes a routing refusal.
pub async fn refuse(session: &mut Session, refusal: &Refusal) -> Result<()> {
    refusal.reply().send(session).await
}

/// A `resolve` GET or HEAD: the metadata from memory or the Hub. A HEAD is answered with
/// the file's headers; a GET of a blob held in memory (and shareable with this request's
/// credentials) is answered whole; any other GET goes on to `fetch`.
pub async fn file(
    proxy: &ContentProxy,
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &HubRequest,
) -> Result<FileOutcome> {
    let HubRequest {
        remote,
        route,
        upstream_path,
        ..
    } = req;
    let is_get = session.req_header().method == Method::GET;
    let remember = remote.policy.stores();
    let started = std::time::Instant::now();
    // A peer that forwarded this GET resolved it already (`docs/fleet.md` "Node to node").
    let mut answer = match super::owner::peer_target(session, ctx).filter(|_| is_get) {
        Some(target) => Ok(FileAnswer::Found(crate::origin::KnownFile {
            target,
            source: crate::origin::Lookup::Hit,
        })),
        None => {
            proxy
                .memory
                .resolve(remote, route, upstream_path, remember, false)
                .await
        }
    };
    if is_get {
        if let Ok(FileAnswer::Found(known)) = &mut answer {
            let who = proxy.memory.credentials_of(remote);
            ctx.file.credentials = Some(who);
            if super::proof::may_share(proxy, remote, who, known, route, upstream_path).await {
                ctx.file.shared_etag = Some(known.target.etag.clone());
            }
            let hit = ctx
                .file
                .may_share(&known.target.etag)
                .then(|| super::caching::memory_hit(proxy, session, remote, &known.target))
                .flatten();
            if let Some(hit) = hit {
                ctx.answer.upstream_time = Some(started.elapsed());
                ctx.answer.lookup = Some(known.source);
                ctx.answer.memory_hit = true;
                ctx.file.target = Some(known.target.clone());
                ctx.ttfb = Some(ctx.started.elapsed());
                send_file(session, &known.target, hit).await?;
                return Ok(FileOutcome::Answered);
            }
            // A remembered answer has no download URL: fine when the bytes are stored (and
            // may be shared); otherwise ask the Hub for a fresh URL.
            if known.target.download.is_none()
                && !servable_from_disk(proxy, ctx, &known.target.etag)
            {
                answer = proxy
                    .memory
                    .resolve(remote, route, upstream_path, remember, true)
                    .await;
            }
        }
    }
    ctx.answer.upstream_time = Some(started.elapsed());
    match answer {
        Err(err) => {
            upstream_failure(session, &err).await?;
            Ok(FileOutcome::Answered)
        }
        Ok(FileAnswer::Refused(fetched, source)) => {
            ctx.answer.lookup = Some(source);
            relay::refusal(session, &fetched).await?;
            Ok(FileOutcome::Answered)
        }
        Ok(FileAnswer::Found(known)) if !is_get => {
            ctx.answer.lookup = Some(known.source);
            send_file_head(session, &known.target).await?;
            Ok(FileOutcome::Answered)
        }
        Ok(FileAnswer::Found(known)) => {
            if known.target.download.is_none()
                && !servable_from_disk(proxy, ctx, &known.target.etag)
            {
                // The Hub is unreachable and the bytes were never stored.
                upstream_failure(session, &UpstreamError::Connect).await?;
                return Ok(FileOutcome::Answered);
            }
            ctx.answer.lookup = Some(known.source);
            ctx.file.target = Some(known.target);
            super::owner::choose(proxy, ctx);
            Ok(FileOutcome::Fetch)
        }
    }
}

/// Are the bytes of `etag` stored, and may this request be served them?
fn servable_from_disk(proxy: &ContentProxy, ctx: &RequestCtx, etag: &str) -> bool {
    ctx.file.may_share(etag) && proxy.has_body(etag)
}

/// Upstream unreachable, timed out or 5xx: 502/503/504 with a short message, never 401/404.
pub async fn upstream_failure(session: &mut Session, err: &UpstreamError) -> Result<()> {
    Reply::plain(err.status(), &format!("Upstream error: {err}."))
        .send(session)
        .await
}

/// `GET /pulp/content/`: a small HTML index of the non-hidden distributions.
pub async fn listing(proxy: &ContentProxy, session: &mut Session) -> Result<()> {
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

/// `/pulp/api/…` on the content listener: the admin API answers the whole request (read and
/// converted by `api`, as on its own listener).
pub async fn admin_api(proxy: &ContentProxy, session: &mut Session) -> Result<()> {
    let Some(api) = proxy.api.clone() else {
        return Reply::plain(StatusCode::NOT_FOUND, "Not found.")
            .send(session)
            .await;
    };
    let body = crate::api::read_body(session).await?;
    let response = api.handle(crate::api::request(session, body)).await;
    let (parts, body) = response.into_parts();
    let mut headers = Vec::new();
    for (name, value) in parts.headers.iter() {
        // `Reply` sets the length of what it sends.
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
