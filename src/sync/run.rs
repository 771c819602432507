//! The sync task: resolve, list, check the pin fits, fetch what is missing, record the version
//! (`docs/prewarm.md`). STUB: the interface the API calls; the runner is being written.

use std::sync::Arc;

use uuid::Uuid;

use super::access::SyncAccess;
use super::hub::RepoRef;
use super::patterns::Patterns;
use crate::cache::DiskCache;
use crate::metrics::Metrics;
use crate::model::Remote;
use crate::registry::Registry;
use crate::tasks::{TaskHandle, Tasks};

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

/// Runs `job` in the background, reporting through `handle` (already `running` and saved).
pub fn spawn(deps: Arc<SyncDeps>, job: SyncJob, handle: TaskHandle) {
    let _ = (deps, job);
    tokio::spawn(async move {
        let _ = handle.finish(Err("sync is not implemented yet".into()));
    });
}
