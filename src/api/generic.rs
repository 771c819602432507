//! The generic, read-only lists pulpcore serves beside the typed ones (`docs/pulp-api.md`
//! "Generic endpoints"): `/pulp/api/v3/remotes/`, `distributions/`, `contentguards/` and
//! `repositories/`, each listing every object of every type under it, rendered with the typed
//! JSON restricted to the base serializer's fields (pulpcore lists them with
//! `GenericRemoteSerializer`, `DistributionSerializer`, `ContentGuardSerializer`,
//! `RepositorySerializer`). Same envelope, filters and ordering as the typed lists; a POST is
//! 405 with `Allow: GET, HEAD`. Also the API root, `GET /pulp/api/v3/`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value};

use super::auth::Authenticated;
use super::error::json_response;
use super::handlers::{content_origin, Handled};
use super::list::{request_origin, ListQuery, Row};
use super::resource::{render, Kind, COMMON_ORDERING, NAME_FILTERS};
use super::ApiDeps;
use crate::model::{ContentGuard, Distribution, Remote, Repository};
use crate::registry::Snapshot;

/// One generic list: where it is, which fields its objects show, and where the rows come from.
pub(crate) trait Generic: Send + Sync + 'static {
    /// The list's path.
    const PATH: &'static str;
    /// The base serializer's fields: the typed JSON keeps only these.
    const FIELDS: &'static [&'static str];
    /// Filters beyond [`NAME_FILTERS`].
    const FILTERS: &'static [&'static str] = &[];
    /// Ordering fields beyond [`COMMON_ORDERING`].
    const ORDERING: &'static [&'static str] = &[];
    /// Every object of every type under this list, rendered in full.
    fn rows<'a>(snap: &'a Snapshot, origin: &str) -> Vec<(Row<'a>, Map<String, Value>)>;
}

/// The rows of one typed kind, for [`Generic::rows`].
pub(crate) fn typed<'a, K: Kind>(
    snap: &'a Snapshot,
    origin: &str,
) -> Vec<(Row<'a>, Map<String, Value>)> {
    K::all(snap)
        .iter()
        .map(|o| (o.row(), render(o.as_ref(), snap, origin)))
        .collect()
}

/// The fields every generic object shows.
macro_rules! with_common {
    ($($field:literal),* $(,)?) => {
        &["pulp_href", "prn", "pulp_created", "pulp_last_updated", $($field),*]
    };
}

/// `/pulp/api/v3/remotes/` (`GenericRemoteResponse`: no `hf_hub_url`, no plugin field).
pub(crate) struct AllRemotes;
impl Generic for AllRemotes {
    const PATH: &'static str = "/pulp/api/v3/remotes/";
    const FIELDS: &'static [&'static str] = with_common!(
        "name",
        "url",
        "ca_cert",
        "client_cert",
        "tls_validation",
        "proxy_url",
        "pulp_labels",
        "download_concurrency",
        "max_retries",
        "policy",
        "total_timeout",
        "connect_timeout",
        "sock_connect_timeout",
        "sock_read_timeout",
        "headers",
        "rate_limit",
        "hidden_fields",
    );
    const FILTERS: &'static [&'static str] = &["pulp_label_select"];
    fn rows<'a>(snap: &'a Snapshot, origin: &str) -> Vec<(Row<'a>, Map<String, Value>)> {
        typed::<Remote>(snap, origin)
    }
}

/// `/pulp/api/v3/distributions/` (`DistributionResponse`: no `remote`, no `publication`).
pub(crate) struct AllDistributions;
impl Generic for AllDistributions {
    const PATH: &'static str = "/pulp/api/v3/distributions/";
    const FIELDS: &'static [&'static str] = with_common!(
        "base_path",
        "base_url",
        "content_guard",
        "content_guard_prn",
        "hidden",
        "pulp_labels",
        "name",
        "repository",
        "repository_version",
        "no_content_change_since",
    );
    const FILTERS: &'static [&'static str] =
        &["pulp_label_select", "base_path", "base_path__contains"];
    const ORDERING: &'static [&'static str] = &["base_path"];
    fn rows<'a>(snap: &'a Snapshot, origin: &str) -> Vec<(Row<'a>, Map<String, Value>)> {
        typed::<Distribution>(snap, origin)
    }
}

/// `/pulp/api/v3/contentguards/` (`ContentGuardResponse`): every guard type; today header
/// guards only.
pub(crate) struct AllGuards;
impl Generic for AllGuards {
    const PATH: &'static str = "/pulp/api/v3/contentguards/";
    const FIELDS: &'static [&'static str] = with_common!("name", "description");
    fn rows<'a>(snap: &'a Snapshot, origin: &str) -> Vec<(Row<'a>, Map<String, Value>)> {
        typed::<ContentGuard>(snap, origin)
    }
}

/// `/pulp/api/v3/repositories/` (`RepositoryResponse`): the Hugging Face repositories.
pub(crate) struct AllRepositories;
impl Generic for AllRepositories {
    const PATH: &'static str = "/pulp/api/v3/repositories/";
    const FIELDS: &'static [&'static str] = with_common!(
        "versions_href",
        "pulp_labels",
        "latest_version_href",
        "name",
        "description",
        "retain_repo_versions",
        "remote",
    );
    const FILTERS: &'static [&'static str] = &["pulp_label_select"];
    fn rows<'a>(snap: &'a Snapshot, origin: &str) -> Vec<(Row<'a>, Map<String, Value>)> {
        typed::<Repository>(snap, origin)
    }
}

/// `GET` on a generic list.
pub(crate) async fn list<G: Generic>(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Handled {
    let query = ListQuery::parse(
        query.as_deref(),
        &[&NAME_FILTERS[..], G::FILTERS].concat(),
        &[&COMMON_ORDERING[..], G::ORDERING].concat(),
    )?;
    let snap = deps.registry.snapshot();
    let origin = content_origin(&deps, &headers, &uri);
    let mut rendered = query.select(G::rows(&snap, &origin))?;
    for obj in &mut rendered {
        obj.retain(|k, _| G::FIELDS.contains(&k.as_str()));
    }
    let body = query.page(rendered, &uri, &headers);
    Ok(json_response(StatusCode::OK, &body).map(axum::body::Body::from))
}

/// The collections the API root lists, as pulpcore's router names them.
const ROOT: [&str; 9] = [
    "contentguards",
    "contentguards/core/header",
    "distributions",
    "distributions/hugging_face/hugging-face",
    "remotes",
    "remotes/hugging_face/hugging-face",
    "repositories",
    "repositories/hugging_face/hugging-face",
    "users",
];

/// `GET /pulp/api/v3/`: DRF's API root, `{"<prefix>": "<absolute URL>"}` for every collection;
/// no login needed (pulpcore's `PulpAPIRootView` has no authentication).
pub(crate) async fn root(headers: HeaderMap, uri: Uri) -> Handled {
    let origin = request_origin(&headers, &uri);
    let body: Map<String, Value> = ROOT
        .iter()
        .map(|p| (p.to_string(), format!("{origin}/pulp/api/v3/{p}/").into()))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Object(body)).map(axum::body::Body::from))
}
