//! Takeover of the tasks of a node that is gone (`docs/fleet.md` "Tasks"). Every
//! [`CHECK_EVERY`] each node keeps its claims connection, then tries to claim every task
//! unfinished in its snapshot that it does not run itself. A claim that succeeds means the
//! session of the node that ran it died (the node was killed, or lost the database): after
//! reading the stored task again (an end saved before the lock was released is seen then),
//! this node takes it over. A sync is run again from the start (files already cached are
//! hits; its one saved ending records at most one version); a task being canceled ends
//! `canceled`; any other kind fails, saying why.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use uuid::Uuid;

use super::{run, SyncDeps};
use crate::api::repositories::sync::{job_for, reserved_ids};
use crate::api::repositories::SYNC_TASK;
use crate::tasks::{Claims, TaskHandle, TaskState};

/// How often unfinished tasks run elsewhere are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The takeover loop as a Pingora background service (PostgreSQL only).
pub struct Takeover {
    /// What a sync taken over runs with.
    pub deps: Arc<SyncDeps>,
}

#[async_trait]
impl BackgroundService for Takeover {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(claims) = self.deps.tasks.claims().cloned() else {
            return;
        };
        let runtime = tokio::runtime::Handle::current();
        let deps = self.deps.clone();
        let mut down = false;
        while !*shutdown.borrow() {
            let (d, c, r) = (deps.clone(), claims.clone(), runtime.clone());
            let result = tokio::task::spawn_blocking(move || look(&d, &c, &r)).await;
            match result {
                Ok(Err(e)) if !down => {
                    tracing::warn!(error = %e, "task claims: the database is unreachable; retrying");
                    down = true;
                }
                Ok(Ok(())) if down => {
                    tracing::info!("task claims: connected again");
                    down = false;
                }
                _ => {}
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    }
}

/// One look: keeps the claims connection, then claims what a gone node left.
fn look(
    deps: &Arc<SyncDeps>,
    claims: &Claims,
    runtime: &tokio::runtime::Handle,
) -> Result<(), String> {
    claims.keep()?;
    let snap = deps.registry.snapshot();
    let candidates: Vec<Uuid> = snap
        .tasks
        .iter()
        .filter(|t| !t.state.is_final() && !claims.holds(t.id))
        .map(|t| t.id)
        .collect();
    for id in candidates {
        let Some(lost) = claims.claim(id)? else {
            continue; // run by a live node
        };
        match claims.stored(id) {
            Ok(Some((state, _))) if TaskState::parse(&state).is_some_and(|s| !s.is_final()) => {}
            other => {
                claims.release(id);
                other?;
                continue;
            }
        }
        match deps.tasks.adopt(id, Some(lost)) {
            Ok(Some(handle)) => start(deps, handle, runtime),
            Ok(None) => tracing::info!(task = %id, "task of a node that stopped: ended"),
            Err(e) => tracing::warn!(task = %id, error = %e, "taking over a task"),
        }
    }
    Ok(())
}

/// Runs a task taken over: a sync again from the start, anything else failed.
fn start(deps: &Arc<SyncDeps>, handle: TaskHandle, runtime: &tokio::runtime::Handle) {
    let id = handle.id();
    let snap = deps.registry.snapshot();
    let Some(task) = snap.task(id) else { return };
    if task.name != SYNC_TASK {
        let _ = handle.finish(Err(
            "interrupted: the node running it stopped, and this task cannot be resumed".into(),
        ));
        return;
    }
    let (repository, remote) = reserved_ids(&task.reserved_resources);
    let repo = repository.and_then(|r| snap.repositories.iter().find(|x| x.meta.id == r));
    let job = match repo {
        None => Err("the repository is gone".to_string()),
        Some(repo) => job_for(&snap, repo, remote).map_err(|e| e.to_string()),
    };
    match job {
        Ok(job) => {
            tracing::info!(task = %id, repository = %job.repository, "sync taken over from a node that stopped: running it again");
            runtime.spawn(run(deps.clone(), job, handle));
        }
        Err(e) => {
            let _ = handle.finish(Err(format!(
                "the node running this sync stopped and it cannot be run again: {e}"
            )));
        }
    }
}
