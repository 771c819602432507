//! The five operations every object kind shares — list, create, read, update (PUT/PATCH),
//! delete — written once over the [`Kind`] trait that remotes, distributions and guards implement.
//! A write answers as its kind declares ([`Reply`]): with the object, or with 202 and a task
//! recorded `completed` in the same registry update (so saved before the answer leaves).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, Uri};
use serde_json::Value;
use uuid::Uuid;

use super::auth::Authenticated;
use super::error::{json_response, ApiError};
use super::json::{parse_body, Input, Mode};
use super::list::{request_origin, ListQuery};
use super::resource::{
    href, prn, render, Kind, Reply, COMMON_ORDERING, COMMON_READ_ONLY, NAME_FILTERS,
};
use super::tasks::{accepted, logging_cid};
use super::ApiDeps;
use crate::model::Origin;
use crate::registry::Snapshot;
use crate::tasks::{self, names, Task, MAX_FINISHED_TASKS};

/// `content_origin`, else the request's `X-Forwarded-Proto` + `Host`.
pub(crate) fn content_origin(deps: &ApiDeps, headers: &HeaderMap, uri: &Uri) -> String {
    match &deps.content_origin {
        Some(origin) => origin.trim_end_matches('/').to_string(),
        None => request_origin(headers, uri),
    }
}

/// Runs `change` under the registry's writer lock and persists the state before publishing,
/// off the async threads (the state file is fsynced). With a shared database `change` may run
/// again on another node's newer state ([`crate::registry::Registry::update_stored`]), and a
/// database that cannot be reached answers 503 ([`state_error`]).
pub(crate) async fn write<T: Send + 'static>(
    deps: &Arc<ApiDeps>,
    change: impl FnOnce(&mut Snapshot) -> Result<T, ApiError> + Clone + Send + 'static,
) -> Result<T, ApiError> {
    let deps = deps.clone();
    tokio::task::spawn_blocking(move || {
        deps.registry
            .update_stored(change, &deps.state, state_error)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("state writer task: {e}")))?
}

/// How long a client is asked to wait when the state database is unavailable.
const DATABASE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// A failed save as the API answers it: 503 with `Retry-After` when the state database cannot
/// be reached or keeps moving (`docs/fleet.md`), 500 otherwise. No message holds a secret.
pub(crate) fn state_error(e: crate::state::StateError) -> ApiError {
    use crate::state::StateError;
    match e {
        StateError::Database(reason) => ApiError::throttled(
            StatusCode::SERVICE_UNAVAILABLE,
            DATABASE_RETRY_AFTER,
            format!("The state database is unavailable: {reason}"),
        ),
        StateError::Stale => ApiError::throttled(
            StatusCode::SERVICE_UNAVAILABLE,
            std::time::Duration::from_secs(1),
            "The state changed on another node meanwhile; try again.",
        ),
        e => ApiError::Internal(format!("saving the API state: {e}")),
    }
}

/// A write of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    /// How kind `K` answers this operation.
    fn reply<K: Kind>(self) -> Reply {
        match self {
            Op::Create => K::CREATE_REPLY,
            Op::Update => K::UPDATE_REPLY,
            Op::Delete => K::DELETE_REPLY,
        }
    }
}

/// [`write()`]s `change`, which returns the object it stored (or removed), and answers as `K`
/// declares for `op`: the object as seen from `origin` (201, 200) or nothing (204); or 202
/// with the href of a task recorded `completed` in the same update, reserving the object (and
/// listing it as created by a create), with `logging_cid` from the request.
async fn store<K: Kind>(
    deps: &Arc<ApiDeps>,
    op: Op,
    headers: &HeaderMap,
    origin: String,
    change: impl FnOnce(&mut Snapshot) -> Result<K, ApiError> + Clone + Send + 'static,
) -> Handled {
    let reply_mode = op.reply::<K>();
    let cid = logging_cid(headers);
    let (id, body) = write(deps, move |snap| {
        let obj = change(snap)?;
        let id = obj.meta().id;
        let body = match reply_mode {
            Reply::Object if op == Op::Delete => None,
            Reply::Object => Some(Value::Object(render(&obj, snap, &origin))),
            Reply::Task => {
                let name = match op {
                    Op::Create => names::CREATE,
                    Op::Update => names::UPDATE,
                    Op::Delete => names::DELETE,
                };
                let mut task = Task::completed(name, cid, vec![href::<K>(id)]);
                if op == Op::Create {
                    task = task.with_created(href::<K>(id), prn::<K>(id));
                }
                let task_href = task.href();
                tasks::record(snap, task, MAX_FINISHED_TASKS);
                Some(Value::String(task_href))
            }
        };
        Ok((id, body))
    })
    .await?;
    let after = deps.clone();
    tokio::task::spawn_blocking(move || K::stored(&after, id))
        .await
        .map_err(|e| ApiError::Internal(format!("after the write: {e}")))?;
    match (reply_mode, body) {
        (Reply::Task, Some(Value::String(task_href))) => accepted(task_href),
        (_, Some(obj)) => {
            let status = match op {
                Op::Create => StatusCode::CREATED,
                _ => StatusCode::OK,
            };
            reply(json_response(status, &obj))
        }
        (_, None) => {
            let mut resp = Response::new(Bytes::new());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            reply(resp)
        }
    }
}

/// A create or update body, its fields checked against kind `K`'s.
fn input<K: Kind>(headers: &HeaderMap, body: &[u8]) -> Result<Input, ApiError> {
    parse_body(
        headers,
        body,
        &[K::WRITABLE, K::NULL_ONLY].concat(),
        &[&COMMON_READ_ONLY[..], K::READ_ONLY].concat(),
    )
}

/// The index of object `id` in `snap`.
fn position<K: Kind>(snap: &Snapshot, id: &str) -> Result<usize, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    K::all(snap)
        .iter()
        .position(|o| o.meta().id == id)
        .ok_or_else(ApiError::not_found)
}

/// The index of object `id` in `snap`, refusing config-declared objects.
pub(crate) fn find_writable<K: Kind>(snap: &Snapshot, id: &str) -> Result<usize, ApiError> {
    let index = position::<K>(snap, id)?;
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
pub(crate) type Handled = Result<axum::response::Response, ApiError>;

/// An answer for axum.
pub(crate) fn reply(resp: Response<Bytes>) -> Handled {
    Ok(resp.map(axum::body::Body::from))
}

/// `GET` on a collection.
pub(crate) async fn list<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Handled {
    let query = ListQuery::parse(
        query.as_deref(),
        &[&NAME_FILTERS[..], K::FILTERS].concat(),
        &[&COMMON_ORDERING[..], K::ORDERING].concat(),
    )?;
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

/// `POST` on a collection: 201 with the new object, or 202 with a task.
pub(crate) async fn create<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Handled {
    let input = input::<K>(&headers, &body)?;
    let origin = content_origin(&deps, &headers, &uri);
    let server = deps.clone();
    store(&deps, Op::Create, &headers, origin, move |snap| {
        let obj = K::build(input, None, Mode::Create, snap)?;
        obj.check_store(&server)?;
        K::all_mut(snap).push(Arc::new(obj.clone()));
        Ok(obj)
    })
    .await
}

/// `GET` on an object (`fields`/`exclude_fields` apply; other parameters are ignored).
pub(crate) async fn read<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Handled {
    let snap = deps.registry.snapshot();
    let obj = &K::all(&snap)[position::<K>(&snap, &id)?];
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
    _: Authenticated,
    id: Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Handled {
    update::<K>(state, id, headers, uri, body, Mode::Put).await
}

/// `PATCH` on an object.
pub(crate) async fn patch<K: Kind>(
    state: State<Arc<ApiDeps>>,
    _: Authenticated,
    id: Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Handled {
    update::<K>(state, id, headers, uri, body, Mode::Patch).await
}

async fn update<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
    mode: Mode,
) -> Handled {
    let origin = content_origin(&deps, &headers, &uri);
    let request_headers = headers.clone();
    let server = deps.clone();
    store(&deps, Op::Update, &request_headers, origin, move |snap| {
        let index = find_writable::<K>(snap, &id)?;
        let input = input::<K>(&headers, &body)?;
        let current = K::all(snap)[index].clone();
        let mut obj = K::build(input, Some(current.as_ref()), mode, snap)?;
        obj.check_store(&server)?;
        obj.meta_mut().updated = SystemTime::now().max(current.meta().updated);
        K::all_mut(snap)[index] = Arc::new(obj.clone());
        Ok(obj)
    })
    .await
}

/// `DELETE` on an object: 204, or 202 with a task.
pub(crate) async fn delete<K: Kind>(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Handled {
    store(&deps, Op::Delete, &headers, String::new(), move |snap| {
        let index = find_writable::<K>(snap, &id)?;
        let obj = K::all(snap)[index].clone();
        obj.on_delete(snap)?;
        K::all_mut(snap).retain(|o| o.meta().id != obj.meta().id);
        Ok(K::clone(&obj))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateError;

    #[test]
    fn a_database_error_is_a_503_with_retry_after_and_the_reason() {
        let resp = state_error(StateError::Database(
            "error connecting to server: Connection refused".into(),
        ))
        .into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[http::header::RETRY_AFTER], "5");
        let body: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(
            body["detail"],
            "The state database is unavailable: error connecting to server: Connection refused"
        );
        let stale = state_error(StateError::Stale).into_response();
        assert_eq!(stale.status(), StatusCode::SERVICE_UNAVAILABLE);
        let other = state_error(StateError::WrongKey).into_response();
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
