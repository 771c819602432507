//! The sync task: resolve, list, check the pin fits, fetch what is missing, record the version
//! (`docs/prewarm.md` "The runner").
//!
//! * `flow`: the steps, the concurrency of the downloads, the cancel watch;
//! * [`progress`]: the counters behind the two progress reports;
//! * [`version`]: the version recorded on success, its href and prn, what the pin holds.

mod flow;
pub mod progress;
mod takeover;
#[cfg(test)]
mod tests;
pub mod version;

pub use takeover::Takeover;

use std::sync::Arc;

use uuid::Uuid;

use super::access::SyncAccess;
use super::hub::RepoRef;
use super::patterns::Patterns;
use crate::cache::DiskCache;
use crate::metrics::Metrics;
use crate::model::Remote;
use crate::registry::Registry;
use crate::tasks::{TaskHandle, TaskState, Tasks};

/// What every sync needs from the server.
#[derive(Clone)]
pub struct SyncDeps {
    /// Tasks, kept and saved with the state.
    pub tasks: Tasks,
    /// The live objects (the repository's versions are recorded here).
    pub registry: Arc<Registry>,
    /// The disk cache (pins, what is already stored); `None`: nothing is stored.
    pub disk: Option<&'static DiskCache>,
    /// The key to the content path.
    pub access: SyncAccess,
    /// `http://<addr>` of this process's content listener, reachable from itself.
    pub content_base: String,
    /// Prometheus families.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for SyncDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncDeps")
            .field("content_base", &self.content_base)
            .finish_non_exhaustive()
    }
}

/// One sync, validated by the API.
#[derive(Debug, Clone)]
pub struct SyncJob {
    /// The repository being synced.
    pub repository: Uuid,
    /// The remote it syncs through (the body's, else the repository's).
    pub remote: Arc<Remote>,
    /// The Hub repository.
    pub repo: RepoRef,
    /// Branch, tag or commit.
    pub revision: String,
    /// Which files.
    pub patterns: Patterns,
    /// Pin the result (the repository's `pinned`).
    pub pinned: bool,
}

/// Runs `job` in the background, reporting through `handle` (already `running` and saved):
/// the one way a sync task starts, whether the API accepted it here or it was taken over
/// from a node that stopped ([`Takeover`]).
pub fn spawn(deps: Arc<SyncDeps>, job: SyncJob, handle: TaskHandle) {
    tokio::spawn(run(deps, job, handle));
}

/// The whole task: the sync under watch, then its one saved ending (the version with the
/// completion), then the pin as the saved versions say.
pub async fn run(deps: Arc<SyncDeps>, job: SyncJob, handle: TaskHandle) {
    let started = std::time::Instant::now();
    let counters = progress::Counters::default();
    let task = handle.id();
    let result = flow::watch(&handle, &counters, flow::sync(&deps, &job, &counters)).await;
    let (state, outcome) = match result {
        Ok(synced) => {
            let (id, revision) = (job.repository, job.revision.clone());
            let commit = synced.commit.clone();
            let change = move |snap: &mut crate::registry::Snapshot| {
                version::record(snap, id, &commit, &revision, synced.files)
            };
            (TaskState::Completed, Ok((change, synced.commit)))
        }
        Err(flow::Stop::Canceled) => (TaskState::Canceled, Err("canceled".to_string())),
        Err(flow::Stop::Failed(description)) => (TaskState::Failed, Err(description)),
    };
    handle.progress(counters.reports(state));
    let commit = outcome.as_ref().ok().map(|(_, c)| c.clone());
    let description = outcome.as_ref().err().cloned();
    // The save writes the state file: off the async workers.
    let saved = tokio::task::spawn_blocking(move || {
        handle
            .finish_with(outcome.map(|(change, _)| change))
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("the save panicked: {e}")));
    if let Err(err) = &saved {
        tracing::error!(%task, error = %err, "saving the end of a sync task");
    }
    // Whatever happened, the pin is what the saved versions say (a failed or canceled sync
    // gives back the pins it set before fetching).
    if let Some(disk) = deps.disk {
        let snap = deps.registry.snapshot();
        let pins = snap
            .repositories
            .iter()
            .find(|r| r.meta.id == job.repository)
            .map(|r| r.pinned_files())
            .unwrap_or_default();
        disk.set_pins(job.repository, pins);
    }
    tracing::info!(
        %task,
        repository = %job.repository,
        hub_repo = %job.repo.repo_id,
        commit = commit.as_deref().unwrap_or("-"),
        fetched_bytes = counters.fetched(),
        completed = saved.unwrap_or(false),
        error = description.as_deref().unwrap_or("-"),
        took_ms = started.elapsed().as_millis() as u64,
        "sync ended"
    );
}
