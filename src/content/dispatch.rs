//! `request_filter` work: route → answer, handing a `resolve` GET on to the `fetch` phases.
//! `route` decides from the request alone; `answer` writes every response that needs no
//! Pingora upstream.

use pingora::proxy::Session;
use pingora::Result;

use super::answer::{self, FileOutcome};
use super::route::{self, Decision};
use super::{ContentProxy, RequestCtx};

/// What `request_filter` decided.
pub enum Outcome {
    /// A whole response was written.
    Answered,
    /// A `resolve` GET: continue to Pingora's cache / upstream phases with
    /// `ctx.file.target` set.
    ProxyFile,
}

/// Routes one request and answers it, or leaves it to the `fetch` phases. Never panics on
/// input; every refusal is a clear 4xx.
pub async fn dispatch(
    proxy: &ContentProxy,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<Outcome> {
    let snapshot = proxy.registry.snapshot();
    let head = session.req_header();
    let (routing, decision) = route::route(
        route::Request {
            method: &head.method,
            path: head.uri.path(),
            query: head.uri.query(),
            headers: &head.headers,
        },
        &snapshot,
        route::Internal {
            sync: proxy.sync.as_ref(),
            peer: proxy.fleet.as_ref().map(|f| &f.access),
        },
    );
    ctx.routing = routing;
    match decision {
        Decision::Refuse(refusal) => answer::refuse(session, &refusal).await?,
        Decision::AdminApi => answer::admin_api(proxy, session).await?,
        Decision::Listing => answer::listing(proxy, session).await?,
        Decision::HubApi(req) => answer::hub_api(proxy, session, ctx, &req).await?,
        Decision::File(req) => {
            return Ok(match answer::file(proxy, session, ctx, &req).await? {
                FileOutcome::Answered => Outcome::Answered,
                // The upstream address is looked up only if the cache misses (`upstream_peer`).
                FileOutcome::Fetch => Outcome::ProxyFile,
            });
        }
    }
    Ok(Outcome::Answered)
}
