//! The five operations every object kind shares — list, create, read, update (PUT/PATCH),
//! delete — written once over the [`Kind`] trait that remotes, distributions and guards implement.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, Uri};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::{json_response, ApiError};
use super::json::{parse_body, timestamp, Input, Mode};
use super::list::{request_origin, ListQuery, Row};
use super::{auth, ApiDeps};
use crate::model::{Meta, Origin};
use crate::registry::Snapshot;
use crate::state;

/// Read-only fields of every object: ignored when sent in a body (DRF).
pub(crate) const COMMON_READ_ONLY: [&str; 5] = [
    "pulp_href",
    "prn",
    "pulp_created",
    "pulp_last_updated",
    "hidden_fields",
];

/// One kind of API object and how it maps to Pulp's JSON.
pub(crate) trait Kind: Clone + Send + Sync + 'static {
    /// Collection path, e.g. `/pulp/api/v3/remotes/hugging_face/hugging-face/`.
    const COLLECTION: &'static str;
    /// `prn` prefix, e.g. `prn:hugging_face.huggingfaceremote:`.
    const PRN: &'static str;
    /// Fields a body may set (some only as `null`).
    const WRITABLE: &'static [&'static str];
    /// Read-only fields beyond [`COMMON_READ_ONLY`]; ignored when sent.
    const READ_ONLY: &'static [&'static str];
    /// List filters beyond the always-accepted parameters.
    const FILTERS: &'static [&'static str];
    /// Fields `ordering` accepts.
    const ORDERING: &'static [&'static str];

    /// The objects of this kind in `snap`.
    fn all(snap: &Snapshot) -> &Vec<Arc<Self>>;
    /// The same, to change.
    fn all_mut(snap: &mut Snapshot) -> &mut Vec<Arc<Self>>;
    /// Identity and timestamps.
    fn meta(&self) -> &Meta;
    /// Identity and timestamps, to stamp an update.
    fn meta_mut(&mut self) -> &mut Meta;
    /// What filters and ordering look at.
    fn row(&self) -> Row<'_>;
    /// The kind-specific JSON fields (the common ones are added by [`render`]).
    fn fields(&self, snap: &Snapshot, content_origin: &str) -> Map<String, Value>;
    /// Validates `input` against `snap` and returns the new object (`current` for updates).
    fn build(
        input: Input,
        current: Option<&Self>,
        mode: Mode,
        snap: &Snapshot,
    ) -> Result<Self, ApiError>;
    /// Before `self` is removed from `snap`: refuse, or fix what pointed at it.
    fn on_delete(&self, snap: &mut Snapshot) -> Result<(), ApiError>;

    /// The object's name.
    fn name(&self) -> &str {
        self.row().name
    }
}

/// `/pulp/api/v3/…/<uuid>/` of an object.
pub(crate) fn href<K: Kind>(id: Uuid) -> String {
    format!("{}{id}/", K::COLLECTION)
}

/// `prn:…:<uuid>` of an object.
pub(crate) fn prn<K: Kind>(id: Uuid) -> String {
    format!("{}{id}", K::PRN)
}

/// The full JSON of `obj`: common fields plus the kind's.
pub(crate) fn render<K: Kind>(
    obj: &K,
    snap: &Snapshot,
    content_origin: &str,
) -> Map<String, Value> {
    let meta = obj.meta();
    let mut map = obj.fields(snap, content_origin);
    map.insert("pulp_href".into(), json!(href::<K>(meta.id)));
    map.insert("prn".into(), json!(prn::<K>(meta.id)));
    map.insert("pulp_created".into(), json!(timestamp(meta.created)));
    map.insert("pulp_last_updated".into(), json!(timestamp(meta.updated)));
    map
}

/// Is `name` free among the objects of kind `K` (other than `except`)?
pub(crate) fn name_is_free<K: Kind>(snap: &Snapshot, name: &str, except: Option<Uuid>) -> bool {
    !K::all(snap)
        .iter()
        .any(|o| o.name() == name && Some(o.meta().id) != except)
}

/// `content_origin`, else the request's `X-Forwarded-Proto` + `Host`.
fn content_origin(deps: &ApiDeps, headers: &HeaderMap, uri: &Uri) -> String {
    match &deps.content_origin {
        Some(origin) => origin.trim_end_matches('/').to_string(),
        None => request_origin(headers, uri),
    }
}

/// Runs `change` under the registry's writer lock and persists the state before publishing,
/// off the async threads (the state file is fsynced).
async fn write<T: Send + 'static>(
    deps: &Arc<ApiDeps>,
    change: impl FnOnce(&mut Snapshot) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let deps = deps.clone();
    tokio::task::spawn_blocking(move || {
        deps.registry.update(change, |snap| {
            state::save(&deps.state_path, snap)
                .map_err(|e| ApiError::Internal(format!("saving the API state: {e}")))
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("state writer task: {e}")))?
}

/// The index of object `id` in `snap`, refusing config-declared objects.
fn find_writable<K: Kind>(snap: &Snapshot, id: &str) -> Result<usize, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    let index = K::all(snap)
        .iter()
        .position(|o| o.meta().id == id)
        .ok_or_else(ApiError::not_found)?;
    let obj = &K::all(snap)[index];
    if obj.meta().origin == Origin::Config {
        return Err(ApiError::bad_request(format!(
            "'{}' is declared in the configuration file",
            obj.name()
        )));
    }
    Ok(index)
}

/// The handlers' reply type.
pub(crate) type Reply = Result<axum::response::Response, ApiError>;

/// An answer for axum.
fn reply(resp: Response<Bytes>) -> Reply {
    Ok(resp.map(axum::body::Body::from))
}

/// `GET` on a collection.
pub(crate) async fn list<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    auth::authenticate(&headers, &deps.users)?;
    let query = ListQuery::parse(query.as_deref(), K::FILTERS, K::ORDERING)?;
    let snap = deps.registry.snapshot();
    let origin = content_origin(&deps, &headers, &uri);
    let rows = K::all(&snap).iter().map(|o| (o.row(), o));
    let selected = query.select(rows.collect())?;
    let rendered = selected
        .into_iter()
        .map(|o| render(o.as_ref(), &snap, &origin))
        .collect();
    reply(json_response(
        StatusCode::OK,
        &query.page(rendered, &uri, &headers),
    ))
}

/// `POST` on a collection: 201 with the new object.
pub(crate) async fn create<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Reply {
    auth::authenticate(&headers, &deps.users)?;
    let input = parse_body(
        &headers,
        &body,
        K::WRITABLE,
        &[&COMMON_READ_ONLY[..], K::READ_ONLY].concat(),
    )?;
    let origin = content_origin(&deps, &headers, &uri);
    let body = write(&deps, move |snap| {
        let obj = K::build(input, None, Mode::Create, snap)?;
        K::all_mut(snap).push(Arc::new(obj.clone()));
        Ok(render(&obj, snap, &origin))
    })
    .await?;
    reply(json_response(StatusCode::CREATED, &Value::Object(body)))
}

/// `GET` on an object (`fields`/`exclude_fields` apply; other parameters are ignored).
pub(crate) async fn read<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Reply {
    auth::authenticate(&headers, &deps.users)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let snap = deps.registry.snapshot();
    let obj = K::all(&snap)
        .iter()
        .find(|o| o.meta().id == id)
        .ok_or_else(ApiError::not_found)?;
    let shape = ListQuery::shaping(query.as_deref());
    let body = shape.shape(render(
        obj.as_ref(),
        &snap,
        &content_origin(&deps, &headers, &uri),
    ));
    reply(json_response(StatusCode::OK, &body))
}

/// `PUT` on an object.
pub(crate) async fn put<K: Kind>(
    state: State<Arc<ApiDeps>>,
    id: Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Reply {
    update::<K>(state, id, headers, uri, body, Mode::Put).await
}

/// `PATCH` on an object.
pub(crate) async fn patch<K: Kind>(
    state: State<Arc<ApiDeps>>,
    id: Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Reply {
    update::<K>(state, id, headers, uri, body, Mode::Patch).await
}

async fn update<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
    mode: Mode,
) -> Reply {
    auth::authenticate(&headers, &deps.users)?;
    let origin = content_origin(&deps, &headers, &uri);
    let body = write(&deps, move |snap| {
        let index = find_writable::<K>(snap, &id)?;
        let input = parse_body(
            &headers,
            &body,
            K::WRITABLE,
            &[&COMMON_READ_ONLY[..], K::READ_ONLY].concat(),
        )?;
        let current = K::all(snap)[index].clone();
        let mut obj = K::build(input, Some(current.as_ref()), mode, snap)?;
        obj.meta_mut().updated = SystemTime::now().max(current.meta().updated);
        K::all_mut(snap)[index] = Arc::new(obj.clone());
        Ok(render(&obj, snap, &origin))
    })
    .await?;
    reply(json_response(StatusCode::OK, &Value::Object(body)))
}

/// `DELETE` on an object: 204.
pub(crate) async fn delete<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Reply {
    auth::authenticate(&headers, &deps.users)?;
    write(&deps, move |snap| {
        let index = find_writable::<K>(snap, &id)?;
        let obj = K::all(snap)[index].clone();
        obj.on_delete(snap)?;
        K::all_mut(snap).retain(|o| o.meta().id != obj.meta().id);
        Ok(())
    })
    .await?;
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    reply(resp)
}
