//! The reload of a fleet node (`docs/fleet.md` "Shared state"): a thread of its own holds a
//! second connection that `LISTEN`s on `hubcache_state` and, at every notification, at every
//! (re)connection and every [`CHECK_EVERY`], compares `state_version` with the version in use;
//! when they differ the registry's snapshot is replaced with the database's
//! ([`PgStore::fresh`], same merge as at start-up). While the database is unreachable it
//! retries every [`RECONNECT_EVERY`]; the snapshot in memory keeps serving.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use super::pg::PgStore;
use super::StateError;
use crate::registry::{Registry, Snapshot};
use crate::tasks::{Task, TaskState};

/// The periodic version check (a notification may be lost while disconnected).
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// The pause between two connection attempts while the database is unreachable.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// The reloading thread as a Pingora background service: started with the server (so after
/// a daemon's fork), it runs until the process exits.
pub struct Reloader {
    /// The store whose database is followed.
    pub pg: Arc<PgStore>,
    /// The registry its snapshots are published in.
    pub registry: Arc<Registry>,
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, _shutdown: ShutdownWatch) {
        if let Err(e) = spawn_reloader(self.pg.clone(), self.registry.clone()) {
            tracing::error!(error = %e, "starting the state reload thread");
        }
    }
}

/// Starts the reloading thread of `pg` for `registry`.
pub fn spawn_reloader(pg: Arc<PgStore>, registry: Arc<Registry>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("hubcache-state-listen".into())
        .spawn(move || {
            let mut down = false;
            loop {
                let reason = match pg.config.connect(NoTls) {
                    Ok(mut client) => {
                        if down {
                            tracing::info!(state = super::pg::SOURCE, "reconnected");
                            down = false;
                        }
                        listen(&mut client, &pg, &registry)
                    }
                    Err(e) => e.to_string(),
                };
                if !down {
                    tracing::warn!(state = super::pg::SOURCE, %reason, "unreachable: serving the last snapshot, retrying");
                    down = true;
                }
                std::thread::sleep(RECONNECT_EVERY);
            }
        })?;
    Ok(())
}

/// Reloads at once, then at every notification or version change; returns why the
/// connection ended.
fn listen(client: &mut Client, pg: &PgStore, registry: &Registry) -> String {
    if let Err(e) = client.batch_execute("LISTEN hubcache_state") {
        return e.to_string();
    }
    loop {
        let version: i64 = match client.query_one("SELECT version FROM state_version", &[]) {
            Ok(row) => row.get(0),
            Err(e) => return e.to_string(),
        };
        if version != pg.version() {
            match registry.replace(|current| pg.fresh(current)) {
                Ok(true) => tracing::debug!(version = pg.version(), "state reloaded"),
                Ok(false) => {}
                // The connection thread's error: this one may still be fine; retried below.
                Err(e) => tracing::warn!(state = super::pg::SOURCE, error = %e, "reload failed"),
            }
        }
        let mut notifications = client.notifications();
        if let Err(e) = notifications.timeout_iter(CHECK_EVERY).next() {
            return e.to_string();
        }
        // Several saves may have been notified: one reload reads them all.
        while let Ok(Some(_)) = notifications.iter().next() {}
    }
}

impl PgStore {
    /// The database's state merged with the declared objects, unless it is at the version in
    /// use; tasks unfinished in the database are kept as they are (another node runs them),
    /// and a task this node changed later than the database's copy keeps its own.
    pub(super) fn fresh(&self, current: &Snapshot) -> Result<Option<Snapshot>, StateError> {
        let declared = self.declared.lock().clone();
        let (version, loaded) = self.read_merged(&declared, false)?;
        if version == self.version() {
            return Ok(None);
        }
        let mut snapshot = loaded.snapshot;
        for task in &mut snapshot.tasks {
            *task = newer_task(task, current.task(task.id));
        }
        self.set_version(version);
        Ok(Some(snapshot))
    }
}

/// What a reload keeps of a task: this node's copy when it changed it later than the
/// database's (its progress is in memory only) — unless another node took it over (the
/// stored node differs), and with a cancel asked on another node kept (`docs/fleet.md`
/// "Tasks").
fn newer_task(stored: &Arc<Task>, mine: Option<&Arc<Task>>) -> Arc<Task> {
    let Some(mine) = mine.filter(|m| m.updated > stored.updated && m.node == stored.node) else {
        return stored.clone();
    };
    if stored.state == TaskState::Canceling && mine.state == TaskState::Running {
        let mut kept = Task::clone(mine);
        kept.state = TaskState::Canceling;
        return Arc::new(kept);
    }
    mine.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn task(state: TaskState, node: &str, at: u64) -> Arc<Task> {
        let mut t = Task::waiting("t", "cid".into(), Vec::new());
        t.state = state;
        t.node = Some(node.into());
        t.updated = SystemTime::UNIX_EPOCH + Duration::from_secs(at);
        Arc::new(t)
    }

    #[test]
    fn a_reload_keeps_newer_local_progress_but_not_a_taken_over_task_nor_over_a_cancel() {
        let stored = task(TaskState::Running, "a", 1);
        let mine = task(TaskState::Running, "a", 2);
        assert!(Arc::ptr_eq(&newer_task(&stored, Some(&mine)), &mine));
        let older = task(TaskState::Running, "a", 0);
        assert!(Arc::ptr_eq(&newer_task(&stored, Some(&older)), &stored));
        let taken = task(TaskState::Running, "b", 1);
        assert!(Arc::ptr_eq(&newer_task(&taken, Some(&mine)), &taken));
        let canceling = task(TaskState::Canceling, "a", 1);
        assert_eq!(
            newer_task(&canceling, Some(&mine)).state,
            TaskState::Canceling
        );
        assert!(Arc::ptr_eq(&newer_task(&stored, None), &stored));
    }
}
