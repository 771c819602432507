//! The `route` step: what a content-listener request asks for, decided from its method, path,
//! query, headers and the registry snapshot alone (no I/O, no session), so every refusal can
//! be tested as a table.
//!
//! The checks run in a fixed order, and the order is part of the behaviour: a client without
//! the guard's header learns that a base path exists (403) before it learns anything about
//! the Hub path (400/404/405), and nothing about a distribution's remote.

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};
use subtle::ConstantTimeEq;

use super::reply::Reply;
use crate::hub::route::{parse_hub_path, HubRoute, RouteError};
use crate::model::{ContentGuard, Distribution, Remote};
use crate::registry::{Matched, Snapshot};
use crate::sync::KeyedPath;

/// Longest request path accepted.
const MAX_PATH: usize = 8 * 1024;

/// What routing learned about the request, kept in the request's context for the later
/// phases and the access log — refused requests included (their distribution is logged).
#[derive(Debug, Default)]
pub struct Routing {
    /// The matched distribution, once known.
    pub distribution: Option<Arc<Distribution>>,
    /// Its remote, once known.
    pub remote: Option<Arc<Remote>>,
    /// The Hub path after the base path (raw), for the access log.
    pub hub_path: String,
    /// The Hub path and query sent upstream (to resolve and re-resolve).
    pub upstream_path: String,
    /// The parsed Hub route, once known (a re-resolve asks for it again).
    pub route: Option<HubRoute>,
    /// The request came from a node of this fleet (it carried the fleet secret on the peer
    /// path): its file is served here, never forwarded again (`docs/fleet.md`).
    pub from_peer: bool,
}

/// A request for one distribution's remote, past every check.
#[derive(Debug, Clone)]
pub struct HubRequest {
    /// The matched distribution.
    pub distribution: Arc<Distribution>,
    /// Its remote.
    pub remote: Arc<Remote>,
    /// The parsed Hub route.
    pub route: HubRoute,
    /// The Hub path and query sent upstream.
    pub upstream_path: String,
}

/// What the request is.
#[derive(Debug)]
pub enum Decision {
    /// `/pulp/api/…`: the admin API answers it whole.
    AdminApi,
    /// `GET`/`HEAD /pulp/content/`: the index of distributions.
    Listing,
    /// A `resolve` GET or HEAD: metadata, and for a GET the file's bytes.
    File(HubRequest),
    /// Any other forwarded Hub route (`api/…`; POST only for `paths-info`): relayed.
    HubApi(HubRequest),
    /// Refused before anything reaches the Hub.
    Refuse(Refusal),
}

/// Why a request is refused without asking the Hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request path is over [`MAX_PATH`] bytes.
    TooLong,
    /// Not under `/pulp/content/` (nor `/pulp/api/`).
    NotContent,
    /// No distribution's base path prefixes the path.
    UnknownBasePath,
    /// A method the path does not take (only GET and HEAD; POST only on `paths-info`).
    MethodNotAllowed,
    /// The distribution's guard header is missing or wrong.
    Denied,
    /// The distribution serves no remote.
    NoRemote,
    /// The Hub path is malformed, unknown or not forwarded.
    Route(RouteError),
    /// `xet-read-token`: Xet would move the client off the proxy (see the message).
    Xet,
}

impl Refusal {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::TooLong => StatusCode::URI_TOO_LONG,
            Refusal::NotContent | Refusal::UnknownBasePath | Refusal::NoRemote | Refusal::Xet => {
                StatusCode::NOT_FOUND
            }
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Denied => StatusCode::FORBIDDEN,
            Refusal::Route(err) => err.status(),
        }
    }

    /// The message for the body and `X-Error-Message`.
    pub fn message(&self) -> String {
        match self {
            Refusal::TooLong => "Request path too long.".into(),
            Refusal::NotContent => {
                "Not found: content is served under /pulp/content/<base_path>/.".into()
            }
            Refusal::UnknownBasePath => "No distribution serves this base path.".into(),
            Refusal::MethodNotAllowed => "Only GET and HEAD are allowed here.".into(),
            Refusal::Denied => "Access denied.".into(),
            Refusal::NoRemote => "This distribution has no remote.".into(),
            Refusal::Route(err) => err.to_string(),
            // hubcache serves every file over HTTP instead, so this token endpoint is
            // deliberately not proxied.
            Refusal::Xet => "Xet is disabled by hubcache: files are served over HTTP through the proxy. Set HF_HUB_DISABLE_XET=1 and clear trees/*.json written by a direct download.".into(),
        }
    }

    /// The whole answer (a 405 also names what is allowed).
    pub fn reply(&self) -> Reply {
        let reply = Reply::plain(self.status(), &self.message());
        match self {
            Refusal::MethodNotAllowed => reply.with("allow", "GET, HEAD"),
            _ => reply,
        }
    }
}

/// The parts of a request routing looks at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, raw (still percent-encoded).
    pub path: &'a str,
    /// The query, raw.
    pub query: Option<&'a str>,
    /// The headers (a guard's header).
    pub headers: &'a HeaderMap,
}

/// The keyed internal paths a request may use besides the distributions' base paths.
#[derive(Debug, Clone, Copy, Default)]
pub struct Internal<'a> {
    /// The sync runner's key (`/pulp/content/.hubcache-sync/`, [`crate::sync::SyncAccess`]).
    pub sync: Option<&'a KeyedPath>,
    /// The fleet secret (`/pulp/content/.hubcache-peer/`, [`crate::fleet::peer`]).
    pub peer: Option<&'a KeyedPath>,
}

/// Routes one request. Never panics on input; returns what was learned (for the context)
/// and the decision. A request carrying the key of one of the `internal` paths may name any
/// remote by id under that path.
pub fn route(req: Request<'_>, snapshot: &Snapshot, internal: Internal<'_>) -> (Routing, Decision) {
    let mut routing = Routing::default();
    let decision = decide(req, snapshot, internal, &mut routing);
    (routing, decision)
}

/// A request on a keyed internal path: the remote it names, served without a guard.
fn keyed_match<'a>(
    rest: &'a str,
    headers: &HeaderMap,
    snapshot: &Snapshot,
    access: Option<&KeyedPath>,
) -> Option<(Matched, &'a str)> {
    let (id, distribution, tail) = access?.split(rest, headers)?;
    let matched = Matched {
        distribution: Arc::new(distribution),
        remote: snapshot.remote(id).cloned(),
        guard: None,
    };
    Some((matched, tail))
}

fn decide(
    req: Request<'_>,
    snapshot: &Snapshot,
    internal: Internal<'_>,
    routing: &mut Routing,
) -> Decision {
    use Decision::Refuse;
    let Request {
        method,
        path,
        query,
        headers,
    } = req;
    if path.len() > MAX_PATH {
        return Refuse(Refusal::TooLong);
    }
    if path.starts_with("/pulp/api/") {
        return Decision::AdminApi;
    }
    if path == "/pulp/content" || path == "/pulp/content/" {
        if method != Method::GET && method != Method::HEAD {
            return Refuse(Refusal::MethodNotAllowed);
        }
        return Decision::Listing;
    }
    let Some(rest) = path.strip_prefix("/pulp/content/") else {
        return Refuse(Refusal::NotContent);
    };
    let peer = keyed_match(rest, headers, snapshot, internal.peer);
    routing.from_peer = peer.is_some();
    let found = peer
        .or_else(|| keyed_match(rest, headers, snapshot, internal.sync))
        .or_else(|| snapshot.match_content(rest));
    let Some((matched, tail)) = found else {
        return Refuse(Refusal::UnknownBasePath);
    };
    routing.distribution = Some(matched.distribution.clone());
    routing.hub_path = tail.to_string();
    if method != Method::GET && method != Method::HEAD && method != Method::POST {
        return Refuse(Refusal::MethodNotAllowed);
    }
    if let Some(guard) = &matched.guard {
        if !guard_permits(guard, headers) {
            return Refuse(Refusal::Denied);
        }
    }
    let Some(remote) = matched.remote.clone() else {
        return Refuse(Refusal::NoRemote);
    };
    routing.remote = Some(remote.clone());
    let route = match parse_hub_path(tail) {
        Ok(route) => route,
        Err(err) => return Refuse(Refusal::Route(err)),
    };
    let upstream_path = match query {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    routing.upstream_path = upstream_path.clone();
    routing.route = Some(route.clone());
    let post = method == Method::POST;
    // A peer asks only for file bodies (`docs/fleet.md` "Node to node").
    if routing.from_peer && !(method == Method::GET && matches!(route, HubRoute::Resolve { .. })) {
        return Refuse(Refusal::MethodNotAllowed);
    }
    let is_file = match &route {
        // Refused whatever the method: Xet is off, not merely this method.
        HubRoute::XetReadToken { .. } => return Refuse(Refusal::Xet),
        HubRoute::Resolve { .. } if post => return Refuse(Refusal::MethodNotAllowed),
        HubRoute::Resolve { .. } => true,
        HubRoute::PathsInfo { .. } => false,
        _ if post => return Refuse(Refusal::MethodNotAllowed),
        _ => false,
    };
    let request = HubRequest {
        distribution: matched.distribution,
        remote,
        route,
        upstream_path,
    };
    if is_file {
        Decision::File(request)
    } else {
        Decision::HubApi(request)
    }
}

/// pulpcore's header guard, widened for stock Hub clients: the header must be present and
/// equal `header_value` raw (`Authorization: Bearer <HF_TOKEN>`) or base64-decoded (pulpcore).
/// Both comparisons run in constant time, and both always run.
fn guard_permits(guard: &ContentGuard, headers: &HeaderMap) -> bool {
    let expected = guard.header_value.expose().as_bytes();
    headers
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

#[cfg(test)]
mod tests;
