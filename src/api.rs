//! The Pulp-compatible admin API under `/pulp/api/v3/` (conventions in `docs/pulp-api.md`).
//!
//! # Endpoints
//!
//! | Path | Methods | Auth |
//! |---|---|---|
//! | `/pulp/api/v3/remotes/hugging_face/hugging-face/` | GET (list), POST (201) | basic |
//! | `/pulp/api/v3/remotes/hugging_face/hugging-face/<uuid>/` | GET, PUT, PATCH (202 task), DELETE (202 task) | basic |
//! | `/pulp/api/v3/distributions/hugging_face/hugging-face/` | GET (list), POST (202 task) | basic |
//! | `/pulp/api/v3/distributions/hugging_face/hugging-face/<uuid>/` | GET, PUT, PATCH (202 task), DELETE (202 task) | basic |
//! | `/pulp/api/v3/contentguards/core/header/` | GET (list), POST (201) | basic |
//! | `/pulp/api/v3/contentguards/core/header/<uuid>/` | GET, PUT, PATCH (200), DELETE (204) | basic |
//! | `/pulp/api/v3/repositories/hugging_face/hugging-face/` | GET (list), POST (201) | basic |
//! | `/pulp/api/v3/repositories/hugging_face/hugging-face/<uuid>/` | GET, PUT, PATCH (202 task), DELETE (202 task) | basic |
//! | `<repository href>sync/` | POST (202, a running sync task; one unfinished → 409) | basic |
//! | `<repository href>versions/`, `…/versions/<n>/` | GET (list), GET, DELETE (202 task) | basic |
//! | `<remote, distribution or repository href>set_label/`, `…/unset_label/` | POST (remotes and repositories 201, distributions 200: `{key, value}`) | basic |
//! | `/pulp/api/v3/remotes/`, `distributions/`, `contentguards/`, `repositories/` | GET (generic list) | basic |
//! | `/pulp/api/v3/users/`, `/pulp/api/v3/users/<id>/` | GET | basic |
//! | `/pulp/api/v3/` | GET (API root) | none |
//! | `/pulp/api/v3/tasks/` | GET (list) | basic |
//! | `/pulp/api/v3/tasks/<uuid>/` | GET, PATCH (cancel: 200, finished → 409), DELETE (204, unfinished → 409) | basic |
//! | `/pulp/api/v3/tasks/purge/` | POST (202 task) | basic |
//! | `/pulp/api/v3/status/` | GET | none |
//! | `/pulp/api/v3/docs/api.json`, `/pulp/api/v3/docs/api.yaml` | GET (the OpenAPI document) | none |
//!
//! The Pulp routes are built from the operation table of the OpenAPI document
//! (`openapi/ops.rs`): each route is one documented operation.
//!
//! Anything else → 404 `{"detail": "Not found."}`, except a GET or HEAD for a path without its
//! trailing slash whose slashed form is a route → 301 there (Django's `APPEND_SLASH`); a wrong
//! method → 405 with `Allow`; a body over [`MAX_BODY_BYTES`] → 413.
//!
//! # Logins
//!
//! Basic auth. Password checks run off the proxy's worker threads on a small pool (busy for
//! too long → 503 with `Retry-After`); too many failures from one client address → 429 with
//! `Retry-After`, without checking; a right password is remembered for a minute (as a keyed
//! digest, in memory only).
//!
//! # Writes
//!
//! Each write answers with the status and body pulpcore sends for it (`docs/pulp-api.md`
//! "Writes"), declared per kind by the `*_REPLY` consts of `resource::Kind`: the object (201,
//! 200) or nothing (204), or 202 `{"task": "/pulp/api/v3/tasks/<uuid>/"}`. Either way the write
//! is done before the answer: it runs under the registry's writer lock, and a 202's task is
//! recorded already `completed` in the same snapshot, so one save to `state.path`
//! ([`crate::state::save`]) persists the change and its task before anything is published or
//! answered. A bad body (400) or a failed save (500, logged) changes nothing and records no task.
//!
//! # Tasks
//!
//! Kept in the registry snapshot and the state file ([`crate::tasks`]): at most
//! [`crate::tasks::MAX_FINISHED_TASKS`] finished ones, the oldest finished dropped first; a task
//! left unfinished by a restart is `failed` ("interrupted by a restart"). `logging_cid` is the
//! request's `Correlation-ID` or `X-Request-Id` when sane, else a fresh uuid.
//!
//! # Objects declared in the configuration file
//!
//! They are listed and readable like any other, but read-only here: PUT, PATCH and DELETE
//! answer 400 `{"detail": "'<name>' is declared in the configuration file"}` (the file is
//! their source of truth; an API change would be lost or contradict it at the next start).
//! Their names and base paths are taken, so creating a clashing object is the usual 400.
//! API-made objects may point at declared ones (a distribution serving a declared remote).
//!
//! # Secrets
//!
//! `hf_token`, the remote's other write-only Pulp fields (`client_key`, proxy and basic
//! credentials) and guard `header_value` are write-only: responses show only `hidden_fields`
//! (`{"name", "is_set"}`) and a guard's `header_value` as `"**********"` (sending that back
//! keeps the stored value); no error message echoes a submitted value. Users never show a
//! password.

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::{get, MethodRouter};
use axum::Router;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode, Uri};
use tower::ServiceExt;

use crate::model::Secret;
use crate::registry::Registry;

mod auth;
mod distributions;
mod error;
mod generic;
mod guards;
mod handlers;
mod json;
mod labels;
mod list;
mod openapi;
mod remote_fields;
mod remotes;
pub(crate) mod repositories;
mod request;
mod resource;
mod status;
mod tasks;
mod users;

#[cfg(test)]
mod list_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_flows;
#[cfg(test)]
mod tests_generic;
#[cfg(test)]
mod tests_input;

pub use auth::insecure_default;
pub use error::{ApiError, FieldErrors};
pub use request::{read_body, request};

/// Largest request body accepted; larger → 413 (from [`Api::handle`], for both listeners).
/// [`read_body`] stops reading after `MAX_BODY_BYTES + 1` bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Someone allowed to use the API (converted from the configuration's `users:`).
#[derive(Clone)]
pub struct ApiUser {
    /// Basic-auth username.
    pub username: String,
    /// Plain password, compared in constant time (takes precedence over the hash).
    pub password: Option<Secret>,
    /// An argon2 PHC string (`$argon2id$…`).
    pub password_hash: Option<String>,
    /// The password is the shipped default (see [`insecure_default`]).
    pub uses_default_password: bool,
}

impl std::fmt::Debug for ApiUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the password nor its hash belongs in a log line.
        f.debug_struct("ApiUser")
            .field("username", &self.username)
            .field("has_password", &self.password.is_some())
            .field("has_password_hash", &self.password_hash.is_some())
            .field("uses_default_password", &self.uses_default_password)
            .finish()
    }
}

/// The address of the client that sent an API request, put in the request's extensions by
/// the listener: failed logins are limited per address (see `auth.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Cache figures for `/pulp/api/v3/status/`, read on every status request.
#[derive(Debug, Clone, Default)]
pub struct StatusFigures {
    /// `cache.max_size` in bytes.
    pub cache_max_size: u64,
    /// Bytes stored now.
    pub cache_size: u64,
    /// Objects stored now.
    pub cache_objects: u64,
    /// Of `cache_size`: bytes of pinned objects.
    pub cache_pinned: u64,
    /// Fills running now.
    pub fills_in_flight: u64,
    /// Evictions since start.
    pub evictions: u64,
    /// `cache.dir`, for the filesystem figures only (the path itself is never shown).
    pub cache_dir: PathBuf,
}

/// What the API needs from the rest of the server.
pub struct ApiDeps {
    /// The live objects; the API is their only writer.
    pub registry: Arc<Registry>,
    /// Who may use the API.
    pub users: Vec<ApiUser>,
    /// Where API-made objects are saved (`state.path` or `state.postgres`).
    pub state: crate::state::Store,
    /// `content_origin` from the configuration: the origin of `base_url`; `None`: the request's.
    pub content_origin: Option<String>,
    /// Current cache figures for the status endpoint.
    pub status: Arc<dyn Fn() -> StatusFigures + Send + Sync>,
    /// What repository syncs run with (`None`: `sync/` is refused, e.g. in unit tests).
    pub sync: Option<Arc<crate::sync::run::SyncDeps>>,
}

impl std::fmt::Debug for ApiDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDeps")
            .field("users", &self.users)
            .field("state", &self.state)
            .field("content_origin", &self.content_origin)
            .finish_non_exhaustive()
    }
}

/// The admin API, callable with plain `http` types from any listener.
#[derive(Debug, Clone)]
pub struct Api {
    router: Router,
    /// Every route's path pattern, for the trailing-slash redirect.
    patterns: Arc<Vec<String>>,
}

impl Api {
    /// Builds the API over `deps`.
    pub fn new(deps: ApiDeps) -> Self {
        let (router, patterns) = router(Arc::new(deps));
        Api {
            router,
            patterns: Arc::new(patterns),
        }
    }

    /// Answers one request under `/pulp/api/v3/` (any other path is a 404). Never panics on input.
    /// The listener puts the client's [`ClientAddr`] in the request's extensions when known.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        if req.body().len() > MAX_BODY_BYTES {
            let detail = format!("Request body is larger than {MAX_BODY_BYTES} bytes.");
            return ApiError::detail(StatusCode::PAYLOAD_TOO_LARGE, detail).into_response();
        }
        let method = req.method().clone();
        if let Some(redirect) = append_slash(&self.patterns, &method, req.uri()) {
            return redirect;
        }
        let resp = match self
            .router
            .clone()
            .oneshot(req.map(axum::body::Body::from))
            .await
        {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        let (mut parts, body) = resp.into_parts();
        if parts.status == StatusCode::METHOD_NOT_ALLOWED {
            // axum answers an empty 405 with `Allow`; give it DRF's body, keep `Allow`.
            let mut drf =
                ApiError::detail(parts.status, format!("Method \"{method}\" not allowed."))
                    .into_response();
            if let Some(allow) = parts.headers.remove(header::ALLOW) {
                drf.headers_mut().insert(header::ALLOW, allow);
            }
            return drf;
        }
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => {
                if parts.status == StatusCode::NO_CONTENT {
                    parts.headers.remove(header::CONTENT_TYPE);
                }
                Response::from_parts(parts, bytes)
            }
            Err(e) => ApiError::Internal(format!("reading the API response: {e}")).into_response(),
        }
    }
}

/// The router and every path pattern it serves (for the trailing-slash redirect). The Pulp
/// routes come from the operation table the OpenAPI document is built from
/// (`openapi/ops.rs`); the API root and the document itself are not Pulp operations.
fn router(deps: Arc<ApiDeps>) -> (Router, Vec<String>) {
    let logins = Arc::new(auth::Logins::new(&deps.users));
    let users = Arc::new(users::Users::new(
        deps.users.iter().map(|u| u.username.clone()).collect(),
    ));
    let mut patterns = Vec::new();
    let mut router = Router::new();
    let extra: [(&str, MethodRouter<Arc<ApiDeps>>); 3] = [
        ("/pulp/api/v3/", get(generic::root)),
        (openapi::JSON_PATH, get(openapi::json)),
        (openapi::YAML_PATH, get(openapi::yaml)),
    ];
    for (route, handler) in extra
        .into_iter()
        .map(|(r, h)| (r.to_string(), h))
        .chain(openapi::ops::routes())
    {
        router = router.route(&route, handler);
        patterns.push(route);
    }
    let router = router
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::Extension(logins))
        .layer(axum::Extension(users))
        .with_state(deps);
    (router, patterns)
}

/// Does `path` match one of the route `patterns` (`{id}` matches one non-empty segment)?
fn is_route(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|pattern| {
        let (mut want, mut have) = (pattern.split('/'), path.split('/'));
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some(w), Some(h)) if w == h || (w.starts_with('{') && !h.is_empty()) => {}
                _ => return false,
            }
        }
    })
}

/// Django's `APPEND_SLASH` (pulpcore runs `CommonMiddleware`): a GET or HEAD for a path
/// without its trailing slash that is no route while the slashed path is one → 301 there, the
/// query kept. Other methods get the usual 404 (a redirected POST would lose its body).
fn append_slash(patterns: &[String], method: &Method, uri: &Uri) -> Option<Response<Bytes>> {
    let path = uri.path();
    if !(method == Method::GET || method == Method::HEAD)
        || path.ends_with('/')
        || is_route(patterns, path)
        || !is_route(patterns, &format!("{path}/"))
    {
        return None;
    }
    let location = match uri.query() {
        Some(q) => format!("{path}/?{q}"),
        None => format!("{path}/"),
    };
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let location = http::HeaderValue::from_str(&location).ok()?;
    resp.headers_mut().insert(header::LOCATION, location);
    Some(resp)
}
