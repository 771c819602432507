//! `/pulp/api/v3/tasks/`: list, read, cancel (`PATCH {"state": "canceled"}`), delete, and
//! `purge/` (`docs/pulp-api.md` "Tasks"). Every change goes through the registry writer and
//! is saved before the answer, like the other writes.

pub(crate) mod query;
pub(crate) mod response;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_changes;

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, Uri};
use serde_json::Value;
use uuid::Uuid;

use super::auth::Authenticated;
use super::error::{json_response, ApiError};
use super::handlers::{reply, write, Handled};
use super::json::{parse_body, py_type, Given};
use super::list::ListQuery;
use super::ApiDeps;
use crate::registry::Snapshot;
use crate::tasks::{self, names, ProgressReport, Refused, Task, TaskState, MAX_FINISHED_TASKS};

pub(crate) use query::parse_datetime;
pub(crate) use response::{to_map, AsyncOperationResponse, TaskResponse};

/// Request headers that may carry a correlation id (pulpcore's django-guid reads the first).
const CID_HEADERS: [&str; 2] = ["correlation-id", "x-request-id"];
/// States `purge/` accepts (pulpcore `TASK_FINAL_STATES`; hubcache never has `skipped` tasks).
const FINAL_STATES: [&str; 4] = ["skipped", "completed", "failed", "canceled"];
/// Days before now that `purge/` defaults its `finished_before` to (pulpcore).
const PURGE_DEFAULT_DAYS: i64 = 30;

/// The `logging_cid` of a task started by a request: its `Correlation-ID` or `X-Request-Id`
/// when sane (≤ 64 characters of `[A-Za-z0-9-]`), else a fresh uuid in hex.
pub(crate) fn logging_cid(headers: &HeaderMap) -> String {
    CID_HEADERS
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .map(str::trim)
        .find(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(String::from)
        .unwrap_or_else(|| {
            uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .simple()
                .to_string()
        })
}

/// The 202 of a write done by task `href`.
pub(crate) fn accepted(href: String) -> Handled {
    let body = Value::Object(to_map(&AsyncOperationResponse { task: href }));
    reply(json_response(StatusCode::ACCEPTED, &body))
}

/// The JSON of `task`.
fn render(task: &Task) -> serde_json::Map<String, Value> {
    to_map(&TaskResponse::from(task))
}

/// The id of an existing task, else 404.
fn existing(snap: &Snapshot, id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .ok()
        .filter(|id| snap.task(*id).is_some())
        .ok_or_else(ApiError::not_found)
}

/// A refusal of the task rules as an answer.
fn refused(r: Refused, conflict: &str) -> ApiError {
    match r {
        Refused::NotFound => ApiError::not_found(),
        Refused::Conflict => ApiError::detail(StatusCode::CONFLICT, conflict),
    }
}

/// `GET /pulp/api/v3/tasks/`.
pub(crate) async fn list(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Handled {
    let page = ListQuery::parse(raw.as_deref(), &query::FILTERS, &query::ORDERING)?;
    let selection = query::TaskQuery::parse(raw.as_deref())?;
    let snap = deps.registry.snapshot();
    let rendered = selection
        .select(&snap.tasks)
        .into_iter()
        .map(render)
        .collect();
    reply(json_response(
        StatusCode::OK,
        &page.page(rendered, &uri, &headers),
    ))
}

/// `GET /pulp/api/v3/tasks/<uuid>/` (`fields`/`exclude_fields` apply).
pub(crate) async fn read(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Handled {
    let snap = deps.registry.snapshot();
    let id = existing(&snap, &id)?;
    let task = snap.task(id).ok_or_else(ApiError::not_found)?;
    let body = ListQuery::shaping(raw.as_deref()).shape(render(task));
    reply(json_response(StatusCode::OK, &body))
}

/// `PATCH /pulp/api/v3/tasks/<uuid>/` with `{"state": "canceled"}`: 200 with the task
/// (`canceling` or `canceled`); a finished task is 409 with the task, as pulpcore answers.
pub(crate) async fn cancel(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Handled {
    let id = existing(&deps.registry.snapshot(), &id)?;
    let input = parse_body(&headers, &body, &["state"], &[])?;
    let wanted = match input.raw("state") {
        Given::Absent => Some("'state' must be provided with the request."),
        Given::Value(Value::String(s)) if s == "canceled" => None,
        _ => Some("The only acceptable value for 'state' is 'canceled'."),
    };
    input.errors.into_result()?;
    if let Some(message) = wanted {
        return Err(ApiError::List(vec![message.into()]));
    }
    if let Some(task) = deps.registry.snapshot().task(id) {
        if task.state.is_final() {
            return reply(json_response(
                StatusCode::CONFLICT,
                &Value::Object(render(task)),
            ));
        }
    }
    let task = write(&deps, move |snap| {
        tasks::cancel(snap, id, SystemTime::now()).map_err(|r| refused(r, "The task is finished."))
    })
    .await?;
    reply(json_response(StatusCode::OK, &Value::Object(render(&task))))
}

/// `DELETE /pulp/api/v3/tasks/<uuid>/`: 204; a task not finished is 409.
pub(crate) async fn delete(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
) -> Handled {
    let id = existing(&deps.registry.snapshot(), &id)?;
    write(&deps, move |snap| {
        tasks::delete(snap, id).map_err(|r| {
            refused(
                r,
                "The task must be finished or canceled before it can be deleted.",
            )
        })
    })
    .await?;
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    reply(resp)
}

/// `POST /pulp/api/v3/tasks/purge/` `{"finished_before"?, "states"?}`: removes the finished
/// tasks in `states` (default `["completed"]`) that finished before `finished_before`
/// (default: midnight UTC 30 days ago) and answers 202 with its own `completed` task, whose
/// progress reports count what went (pulpcore `purge.tasks.*` codes).
pub(crate) async fn purge(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Handled {
    let mut input = parse_body(&headers, &body, &["finished_before", "states"], &[])?;
    let before = match input.raw("finished_before") {
        Given::Absent => Some(default_finished_before()),
        Given::Value(Value::String(s)) => parse_datetime(s),
        Given::Null | Given::Value(_) => None,
    };
    if before.is_none() {
        let message = match input.raw("finished_before") {
            Given::Null => "This field may not be null.",
            _ => "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        };
        input.errors.push("finished_before", message);
    }
    let states = purge_states(&mut input);
    input.errors.into_result()?;
    let (Some(before), Some(states)) = (before, states) else {
        return Err(ApiError::Internal("purge body checked".into()));
    };
    let cid = logging_cid(&headers);
    let href = write(&deps, move |snap| {
        let gone = tasks::purge(snap, before, &states);
        let mut task = Task::completed(names::PURGE, cid, Vec::new());
        task.progress_reports = purge_reports(&gone);
        let href = task.href();
        tasks::record(snap, task, MAX_FINISHED_TASKS);
        Ok(href)
    })
    .await?;
    accepted(href)
}

/// `states` of a purge body (DRF `MultipleChoiceField` messages); `None` when refused.
fn purge_states(input: &mut super::json::Input) -> Option<Vec<TaskState>> {
    let items = match input.raw("states") {
        Given::Absent => return Some(vec![TaskState::Completed]),
        Given::Value(Value::Array(items)) => items.clone(),
        Given::Null => {
            return input
                .fail("states", "This field may not be null.")
                .into_option()
        }
        Given::Value(other) => {
            let message = format!(
                "Expected a list of items but got type \"{}\".",
                py_type(other)
            );
            return input.fail("states", message).into_option();
        }
    };
    let mut states = Vec::new();
    for item in &items {
        let name = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !FINAL_STATES.contains(&name.as_str()) {
            input
                .errors
                .push("states", format!("\"{name}\" is not a valid choice."));
        }
        states.extend(TaskState::parse(&name).filter(|s| s.is_final()));
    }
    (!input.errors.has("states")).then_some(states)
}

/// pulpcore's default `finished_before`: the date 30 days ago (midnight UTC).
fn default_finished_before() -> SystemTime {
    let day = (time::OffsetDateTime::now_utc() - time::Duration::days(PURGE_DEFAULT_DAYS)).date();
    SystemTime::from(day.midnight().assume_utc())
}

/// The progress reports of a purge that removed `gone` (pulpcore counts the rows a task
/// takes with it: its progress reports and created-resource records).
fn purge_reports(gone: &[Arc<Task>]) -> Vec<ProgressReport> {
    let tasks = gone.len() as u64;
    let reports: u64 = gone.iter().map(|t| t.progress_reports.len() as u64).sum();
    let created: u64 = gone.iter().map(|t| t.created_resources.len() as u64).sum();
    let key = |model: &str, n| {
        ProgressReport::completed(
            format!("Purged task-objects of type {model}"),
            format!("purge.tasks.key.{model}"),
            n,
        )
    };
    let mut out = vec![
        ProgressReport::completed(
            "Purged task-related-objects total",
            "purge.tasks.total",
            tasks + reports + created,
        ),
        key("core.Task", tasks),
        ProgressReport::completed("Tasks failed to purge", "purge.tasks.error", 0),
    ];
    if reports > 0 {
        out.push(key("core.ProgressReport", reports));
    }
    if created > 0 {
        out.push(key("core.CreatedResource", created));
    }
    out
}
