//! A repository's versions: `<repository>versions/` (list), `…/versions/<n>/` (read,
//! delete). Version `n ≥ 1` is the `n`-th completed sync, kept while `retain_repo_versions`
//! retains it; version 0 is pulpcore's empty version, shown only while there is no other
//! (so `latest_version_href` always resolves). `DELETE` removes a version (202 + completed
//! task, as pulpcore); the files it alone pinned are released.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use http::{HeaderMap, StatusCode, Uri};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{apply_pins, version_href};
use crate::api::auth::Authenticated;
use crate::api::error::{json_response, ApiError};
use crate::api::handlers::{find_writable, reply, write, Handled};
use crate::api::json::timestamp;
use crate::api::list::{query_pairs, ListQuery};
use crate::api::resource::{href, Common, Kind};
use crate::api::tasks::{accepted, logging_cid};
use crate::api::ApiDeps;
use crate::model::{Repository, RepositoryVersion};
use crate::registry::Snapshot;
use crate::tasks::{self, Task, MAX_FINISHED_TASKS};

/// Filters of the version list (numbers only).
pub(crate) const FILTERS: &[&str] = &[
    "number",
    "number__gt",
    "number__gte",
    "number__lt",
    "number__lte",
];
/// Its ordering fields (`-number`, newest first, by default as pulpcore).
pub(crate) const ORDERING: &[&str] = &["number", "pulp_created"];
/// The task name of a version delete (pulpcore's).
pub(crate) const DELETE_TASK: &str = "pulpcore.app.tasks.repository.delete_version";

/// pulpcore's content summary; hubcache has no content units, so its maps are empty.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[schema(as = ContentSummaryResponse)]
pub(crate) struct ContentSummary {
    added: BTreeMap<String, BTreeMap<String, Value>>,
    removed: BTreeMap<String, BTreeMap<String, Value>>,
    present: BTreeMap<String, BTreeMap<String, Value>>,
}

/// A version as answered (`RepositoryVersionResponse`), with hubcache's sync facts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RepositoryVersionResponse)]
pub(crate) struct VersionResponse {
    #[serde(flatten)]
    common: Common,
    /// 0 (empty), then 1, 2, … in sync order.
    #[schema(read_only, format = Int64)]
    number: u64,
    /// The repository's href.
    #[schema(format = Uri, read_only)]
    repository: String,
    /// Always `null`.
    #[schema(format = Uri)]
    base_version: Option<String>,
    /// Empty maps: no content units.
    #[schema(read_only)]
    content_summary: ContentSummary,
    /// Always `null`.
    #[schema(read_only)]
    vuln_report: Option<String>,
    /// The commit synced (`null` for version 0).
    #[schema(read_only)]
    commit: Option<String>,
    /// The revision asked for then (`null` for version 0).
    #[schema(read_only)]
    revision: Option<String>,
    /// How many files it holds.
    #[schema(read_only, format = Int64)]
    files: u64,
    /// Their total bytes.
    #[schema(read_only, format = Int64)]
    bytes: u64,
}

/// `(href, prn)` of version `number` of repository `repo`: what a sync task lists in
/// `created_resources` / `created_resource_prns` when it records the version.
pub(crate) fn created(repo: Uuid, number: u64) -> (String, String) {
    (
        version_href(repo, number),
        crate::sync::run::version::version_prn(repo, number),
    )
}

/// The JSON of version `v` of `repo`; `None`: the empty version 0.
pub(crate) fn render(repo: &Repository, v: Option<&RepositoryVersion>) -> Map<String, Value> {
    let id = repo.meta.id;
    let number = v.map_or(0, |v| v.number);
    let at = timestamp(v.map_or(repo.meta.created, |v| v.created));
    let (pulp_href, prn) = created(id, number);
    crate::api::resource::to_fields(&VersionResponse {
        common: Common {
            pulp_href,
            prn,
            pulp_created: at.clone(),
            pulp_last_updated: at,
        },
        number,
        repository: href::<Repository>(id),
        base_version: None,
        content_summary: ContentSummary::default(),
        vuln_report: None,
        commit: v.map(|v| v.commit.clone()),
        revision: v.map(|v| v.revision.clone()),
        files: v.map_or(0, |v| v.files.len() as u64),
        bytes: v.map_or(0, RepositoryVersion::bytes),
    })
}

/// Every version `repo` shows, oldest first (version 0 only when there is no other).
fn shown(repo: &Repository) -> Vec<Option<&RepositoryVersion>> {
    if repo.versions.is_empty() {
        vec![None]
    } else {
        repo.versions.iter().map(Some).collect()
    }
}

fn repository<'a>(snap: &'a Snapshot, id: &str) -> Result<&'a Arc<Repository>, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    snap.repositories
        .iter()
        .find(|r| r.meta.id == id)
        .ok_or_else(ApiError::not_found)
}

/// Does version `number` pass the number filters of `pairs`?
fn passes(pairs: &[(String, String)], number: u64) -> Result<bool, ApiError> {
    for (k, v) in pairs {
        if !FILTERS.contains(&k.as_str()) || v.is_empty() {
            continue;
        }
        let want: u64 = v
            .trim()
            .parse()
            .map_err(|_| ApiError::field(k, "Enter a number."))?;
        let ok = match k.split_once("__").map_or("", |(_, l)| l) {
            "gt" => number > want,
            "gte" => number >= want,
            "lt" => number < want,
            "lte" => number <= want,
            _ => number == want,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET <repository>versions/`: newest first unless `ordering` says `number`/`pulp_created`.
pub(crate) async fn list(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Handled {
    let parsed = ListQuery::parse(query.as_deref(), FILTERS, ORDERING)?;
    let pairs = query_pairs(query.as_deref());
    let snap = deps.registry.snapshot();
    let repo = repository(&snap, &id)?;
    let mut kept = Vec::new();
    for v in shown(repo) {
        if passes(&pairs, v.map_or(0, |v| v.number))? {
            kept.push(v);
        }
    }
    // Number and creation time grow together: one order serves both fields.
    let ascending = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "ordering")
        .and_then(|(_, v)| v.split(',').map(str::trim).find(|t| !t.is_empty()))
        .is_some_and(|first| !first.starts_with('-'));
    if !ascending {
        kept.reverse();
    }
    let rendered = kept.into_iter().map(|v| render(repo, v)).collect();
    reply(json_response(
        StatusCode::OK,
        &parsed.page(rendered, &uri, &headers),
    ))
}

/// `GET <repository>versions/<n>/` (`fields`/`exclude_fields` apply).
pub(crate) async fn read(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path((id, number)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Handled {
    let snap = deps.registry.snapshot();
    let repo = repository(&snap, &id)?;
    let number: u64 = number.parse().map_err(|_| ApiError::not_found())?;
    let v = shown(repo)
        .into_iter()
        .find(|v| v.map_or(0, |v| v.number) == number)
        .ok_or_else(ApiError::not_found)?;
    let body = ListQuery::shaping(query.as_deref()).shape(render(repo, v));
    reply(json_response(StatusCode::OK, &body))
}

/// `DELETE <repository>versions/<n>/`: 202 + a completed task; version 0 cannot go (400,
/// pulpcore's message).
pub(crate) async fn delete(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path((id, number)): Path<(String, String)>,
    headers: HeaderMap,
) -> Handled {
    let number: u64 = number.parse().map_err(|_| ApiError::not_found())?;
    let cid = logging_cid(&headers);
    let (repo_id, task_href) = write(&deps, move |snap| {
        let index = find_writable::<Repository>(snap, &id)?;
        let current = Repository::all(snap)[index].clone();
        if number == 0 {
            return Err(ApiError::bad_request(
                "Cannot delete repository version. Repositories must have at least one repository version.",
            ));
        }
        if !current.versions.iter().any(|v| v.number == number) {
            return Err(ApiError::not_found());
        }
        let mut repo = current.as_ref().clone();
        repo.versions.retain(|v| v.number != number);
        let repo_id = repo.meta.id;
        snap.repositories[index] = Arc::new(repo);
        let task = Task::completed(
            DELETE_TASK,
            cid,
            vec![version_href(repo_id, number), href::<Repository>(repo_id)],
        );
        let task_href = task.href();
        tasks::record(snap, task, MAX_FINISHED_TASKS);
        Ok((repo_id, task_href))
    })
    .await?;
    let after = deps.clone();
    tokio::task::spawn_blocking(move || apply_pins(&after, repo_id))
        .await
        .map_err(|e| ApiError::Internal(format!("after the write: {e}")))?;
    accepted(task_href)
}
