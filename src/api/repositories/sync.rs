//! `POST <repository>sync/` `{"remote": <href>?, "mirror": <bool>?}` → 202 `{"task": …}`: the
//! prewarm (`docs/prewarm.md`). Checked before any task exists: the repository, the body, a
//! remote (the body's, else the repository's), and `repo_id`. `mirror` is accepted and
//! ignored: a sync only adds files to the cache. While a sync of the repository is unfinished,
//! another is refused with 409 naming it (pulpcore would queue it behind the first).

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use uuid::Uuid;

use super::{href_field, running_syncs, SYNC_TASK};
use crate::api::auth::Authenticated;
use crate::api::error::ApiError;
use crate::api::handlers::Handled;
use crate::api::json::{parse_body, Given};
use crate::api::resource::{href, Kind};
use crate::api::tasks::{accepted, logging_cid};
use crate::api::ApiDeps;
use crate::model::{Remote, Repository};
use crate::registry::Snapshot;
use crate::sync::hub::RepoRef;
use crate::sync::patterns::Patterns;
use crate::sync::run::{spawn, SyncJob};

/// What pulpcore answers when neither the body nor the repository names a remote.
pub(crate) const NO_REMOTE: &str =
    "This field is required since a remote is not set on the repository.";
/// What a sync of a repository without `repo_id` answers.
pub(crate) const NO_REPO_ID: &str = "This field is required to sync.";

/// One sync start at a time: the "already running" check and the task's creation are one step.
static STARTING: Mutex<()> = Mutex::new(());

/// The checked request: what the task will run.
fn job(deps: &ApiDeps, id: &str, headers: &HeaderMap, body: &[u8]) -> Result<SyncJob, ApiError> {
    let snap = deps.registry.snapshot();
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    let repo = snap
        .repositories
        .iter()
        .find(|r| r.meta.id == id)
        .ok_or_else(ApiError::not_found)?;
    let mut input = parse_body(headers, body, &["remote", "mirror"], &[])?;
    let remote = match href_field(&mut input, "remote", Remote::COLLECTION, |id| {
        snap.remote(id).is_some()
    }) {
        Given::Value(id) => Some(id),
        Given::Null => {
            input.errors.push("remote", "This field may not be null.");
            None
        }
        Given::Absent => None,
    };
    // Accepted and ignored (see the module docs).
    let _mirror = input.boolean("mirror");
    input.errors.into_result()?;
    job_for(&snap, repo, remote)
}

/// What a sync of `repo` through `remote` (else the repository's own) runs, as the stored
/// objects say now: used by the API and when a node takes a sync over from a node that is
/// gone (`docs/fleet.md` "Tasks").
pub(crate) fn job_for(
    snap: &Snapshot,
    repo: &Repository,
    remote: Option<Uuid>,
) -> Result<SyncJob, ApiError> {
    let remote = remote
        .or(repo.remote)
        .and_then(|id| snap.remote(id).cloned())
        .ok_or_else(|| ApiError::field("remote", NO_REMOTE))?;
    let repo_id = repo
        .repo_id
        .clone()
        .ok_or_else(|| ApiError::field("repo_id", NO_REPO_ID))?;
    let patterns = Patterns::new(&repo.allow_patterns, &repo.ignore_patterns)
        .map_err(|e| ApiError::field("allow_patterns", e.0))?;
    Ok(SyncJob {
        repository: repo.meta.id,
        remote,
        repo: RepoRef {
            repo_type: repo.repo_type.as_str().into(),
            repo_id,
        },
        revision: repo.revision.clone(),
        patterns,
        pinned: repo.pinned,
    })
}

/// The reserved resources of a sync of `repository` through `remote`: the repository, and
/// the remote shared (pulpcore's). A takeover reads the remote back from them.
pub(crate) fn reserved(repository: Uuid, remote: Uuid) -> Vec<String> {
    vec![
        href::<Repository>(repository),
        format!("shared:{}", href::<Remote>(remote)),
    ]
}

/// The repository and remote a sync task named in its reserved resources.
pub(crate) fn reserved_ids(reserved: &[String]) -> (Option<Uuid>, Option<Uuid>) {
    let id_in = |s: &str, collection: &str| {
        s.strip_prefix(collection)
            .and_then(|rest| Uuid::parse_str(rest.trim_end_matches('/')).ok())
    };
    let repository = reserved
        .iter()
        .find_map(|s| id_in(s, Repository::COLLECTION));
    let remote = reserved
        .iter()
        .filter_map(|s| s.strip_prefix("shared:"))
        .find_map(|s| id_in(s, Remote::COLLECTION));
    (repository, remote)
}

/// `POST <repository>sync/`.
pub(crate) async fn sync(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Handled {
    let job = job(&deps, &id, &headers, &body)?;
    let Some(sync) = deps.sync.clone() else {
        return Err(ApiError::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "sync is not available",
        ));
    };
    let cid = logging_cid(&headers);
    let server = deps.clone();
    let tasks = sync.tasks.clone();
    let repository = job.repository;
    let remote = job.remote.meta.id;
    let handle = tokio::task::spawn_blocking(move || {
        let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let snap = server.registry.snapshot();
        if !snap.repositories.iter().any(|r| r.meta.id == repository) {
            return Err(ApiError::not_found());
        }
        if let Some(running) = running_syncs(&snap, repository).first() {
            return Err(ApiError::detail(
                StatusCode::CONFLICT,
                format!(
                    "A sync of this repository is already running: {}",
                    crate::tasks::href(*running)
                ),
            ));
        }
        let reserved = reserved(repository, remote);
        tasks
            .start(SYNC_TASK, cid, reserved)
            .map_err(|e| ApiError::Internal(format!("starting the sync task: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("starting the sync task: {e}")))??;
    let task_href = crate::tasks::href(handle.id());
    spawn(sync, job, handle);
    accepted(task_href)
}

#[cfg(test)]
mod takeover_tests {
    use super::*;

    #[test]
    fn a_sync_names_its_repository_and_remote_in_its_reserved_resources() {
        let (repository, remote) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            reserved_ids(&reserved(repository, remote)),
            (Some(repository), Some(remote))
        );
        assert_eq!(reserved_ids(&[]), (None, None));
    }
}
