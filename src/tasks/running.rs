//! Long-running tasks: started, given progress in memory, finished — each state change saved
//! with the rest of the state. (Configuration writes do not come here: their task is recorded
//! `completed` in the registry update that applies the change.)
//!
//! With PostgreSQL a task is run only while this node holds its claim ([`Claims`],
//! `docs/fleet.md` "Tasks"): taken before the task is first saved, given up after its end is
//! saved. A run whose claim was lost saves nothing more, and its end is saved only while the
//! stored task still names this node and is unfinished.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use uuid::Uuid;

use super::claims::{Claims, Lost};
use super::{record, ProgressReport, Task, TaskState, MAX_FINISHED_TASKS};
use crate::registry::{Registry, Snapshot};
use crate::state::{self, StateError};

/// Where tasks are kept and saved: the registry and `state.path`.
#[derive(Debug, Clone)]
pub struct Tasks {
    registry: Arc<Registry>,
    state: state::Store,
    /// With PostgreSQL: this node's claims.
    claims: Option<Arc<Claims>>,
    /// With PostgreSQL: the name of this node in the tasks it runs.
    node: Option<String>,
}

/// A task started with [`Tasks::start`] (or taken over, [`Tasks::adopt`]); the runner reports
/// through it. Dropping it gives its claim up.
#[derive(Debug)]
pub struct TaskHandle {
    tasks: Tasks,
    id: Uuid,
    lost: Option<Lost>,
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        if let Some(claims) = &self.tasks.claims {
            claims.release(self.id);
        }
    }
}

impl Tasks {
    /// Tasks kept in `registry`, saved to `state` (a state file's path, or PostgreSQL).
    /// With PostgreSQL, tasks are claimed on a connection of their own and name this node
    /// `<host>:<pid>` until [`Self::with_node`].
    pub fn new(registry: Arc<Registry>, state: impl Into<state::Store>) -> Self {
        let state = state.into();
        let (claims, node) = match &state {
            state::Store::Postgres(pg) => (
                Some(Arc::new(Claims::new(pg.connection_config().clone()))),
                Some(format!(
                    "{}:{}",
                    crate::state::nodes::hostname(),
                    std::process::id()
                )),
            ),
            state::Store::File(_) => (None, None),
        };
        Tasks {
            registry,
            state,
            claims,
            node,
        }
    }

    /// Names this node `node` (its `fleet.advertise`) in the tasks it runs (PostgreSQL only).
    pub fn with_node(mut self, node: String) -> Self {
        if self.node.is_some() {
            self.node = Some(node);
        }
        self
    }

    /// This node's claims (PostgreSQL only).
    pub fn claims(&self) -> Option<&Arc<Claims>> {
        self.claims.as_ref()
    }

    /// This node's name in the tasks it runs (PostgreSQL only).
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The live objects the tasks are kept in.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Claims task `id` (nothing to claim without PostgreSQL). `Ok(None)`: another node holds it.
    fn claim(&self, id: Uuid) -> Result<Option<Option<Lost>>, StateError> {
        match &self.claims {
            None => Ok(Some(None)),
            Some(claims) => claims
                .claim(id)
                .map(|held| held.map(Some))
                .map_err(StateError::Database),
        }
    }

    /// Records a new `running` task (saved) and hands back its handle.
    pub fn start(
        &self,
        name: &str,
        logging_cid: String,
        reserved: Vec<String>,
    ) -> Result<TaskHandle, StateError> {
        let mut task = Task::waiting(name, logging_cid, reserved);
        task.state = TaskState::Running;
        task.unblocked_at = Some(task.created);
        task.started_at = Some(task.created);
        task.node = self.node.clone();
        let id = task.id;
        // Claimed before it is first saved: no other node may take it over meanwhile.
        let lost = self
            .claim(id)?
            .ok_or_else(|| StateError::Database(format!("task {id} is claimed elsewhere")))?;
        let handle = TaskHandle {
            tasks: self.clone(),
            id,
            lost,
        };
        self.save(|snap| record(snap, task, MAX_FINISHED_TASKS))?;
        Ok(handle)
    }

    /// Takes over task `id`, which this node just claimed from a node that is gone
    /// (`docs/fleet.md` "Tasks"): saved as `running` on this node, its progress reset, and
    /// handed back to be run again from the start. A task found finished (or gone) meanwhile
    /// is left alone (`None`); one being canceled is ended `canceled` (`None`).
    pub fn adopt(&self, id: Uuid, lost: Option<Lost>) -> Result<Option<TaskHandle>, StateError> {
        let handle = TaskHandle {
            tasks: self.clone(),
            id,
            lost,
        };
        let node = self.node.clone();
        let run = self.save(move |snap| {
            let Some(task) = snap.task(id).filter(|t| !t.state.is_final()) else {
                return false;
            };
            let previous = task.node.clone().unwrap_or_else(|| "?".into());
            let canceling = task.state == TaskState::Canceling;
            update_task(snap, id, |task| {
                let now = SystemTime::now();
                if canceling {
                    task.finish(
                        now,
                        TaskState::Canceled,
                        Some(format!(
                            "canceled: the node running it ({previous}) stopped before it did"
                        )),
                    );
                } else {
                    task.state = TaskState::Running;
                    task.unblocked_at.get_or_insert(now);
                    task.started_at.get_or_insert(now);
                    task.progress_reports.clear();
                }
                task.node = node;
            });
            !canceling
        })?;
        Ok(run.then_some(handle))
    }

    /// Applies `change` and saves the state before publishing it.
    /// With a shared database `change` may run again on a newer state.
    fn save<T>(&self, change: impl FnOnce(&mut Snapshot) -> T + Clone) -> Result<T, StateError> {
        self.registry
            .update_stored(move |snap| Ok(change(snap)), &self.state, |e| e)
    }

    /// Changes task `id` with `change`, in memory only (published, saved with the next save).
    fn touch(&self, id: Uuid, change: impl FnOnce(&mut Task)) {
        let _: Result<(), StateError> = self.registry.update(
            |snap| {
                update_task(snap, id, change);
                Ok(())
            },
            |_| Ok(()),
        );
    }
}

/// Runs `change` on a copy of task `id` in `snap` (nothing if it is gone), stamping
/// `pulp_last_updated`.
fn update_task(snap: &mut Snapshot, id: Uuid, change: impl FnOnce(&mut Task)) {
    if let Some(slot) = snap.tasks.iter_mut().find(|t| t.id == id) {
        let mut task = Task::clone(slot);
        change(&mut task);
        task.updated = task.updated.max(SystemTime::now());
        *slot = Arc::new(task);
    }
}

impl TaskHandle {
    /// The task's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Whether its claim was lost to another node: nothing more is saved or published.
    pub fn is_lost(&self) -> bool {
        self.lost
            .as_ref()
            .is_some_and(|l| l.load(Ordering::Acquire))
    }

    /// Replaces the task's progress reports; in memory only (cheap enough to call every second).
    pub fn progress(&self, reports: Vec<ProgressReport>) {
        if self.is_lost() {
            return;
        }
        self.tasks
            .touch(self.id, move |task| task.progress_reports = reports);
    }

    /// Has someone asked to cancel the task? The runner should stop and [`Self::finish`].
    /// A lost claim counts as a cancel (the runner stops).
    pub fn is_canceling(&self) -> bool {
        self.is_lost()
            || self
                .tasks
                .registry
                .snapshot()
                .tasks
                .iter()
                .any(|t| t.id == self.id && t.state == TaskState::Canceling)
    }

    /// Ends the task (saved): `Ok(created hrefs and prns)` completes it, `Err(description)`
    /// fails it; a task being canceled ends `canceled` either way.
    pub fn finish(self, outcome: Result<Vec<(String, String)>, String>) -> Result<(), StateError> {
        self.finish_with(outcome.map(|created| move |_: &mut Snapshot| created))
            .map(drop)
    }

    /// [`Self::finish`] where completing also changes other objects: `Ok(change)` applies
    /// `change` (which answers the created hrefs and prns) and completes the task in ONE saved
    /// update, so a result and its task are never saved apart. A task being canceled ends
    /// `canceled` and `change` is not applied. Answers whether `change` was applied.
    ///
    /// Nothing is saved when the claim was lost, or when the stored task is finished or run
    /// by another node (taken over): that node's run is the one recorded.
    pub fn finish_with<F>(self, outcome: Result<F, String>) -> Result<bool, StateError>
    where
        F: FnOnce(&mut Snapshot) -> Vec<(String, String)> + Clone,
    {
        let id = self.id;
        if self.is_lost() {
            return Ok(false);
        }
        let node = self.tasks.node.clone();
        self.tasks.save(move |snap| {
            let ours = snap
                .task(id)
                .is_some_and(|t| !t.state.is_final() && t.node == node);
            if !ours {
                return false;
            }
            let canceling = snap
                .tasks
                .iter()
                .any(|t| t.id == id && t.state == TaskState::Canceling);
            let outcome = match outcome {
                Ok(change) if !canceling => Ok(change(snap)),
                Ok(_) => Ok(Vec::new()),
                Err(description) => Err(description),
            };
            let applied = outcome.is_ok() && !canceling;
            update_task(snap, id, |task| {
                let now = SystemTime::now();
                match outcome {
                    _ if task.state == TaskState::Canceling => {
                        task.finish(now, TaskState::Canceled, None)
                    }
                    Ok(created) => {
                        for (href, prn) in created {
                            task.created_resources.push(href);
                            task.created_resource_prns.push(prn);
                        }
                        task.finish(now, TaskState::Completed, None);
                    }
                    Err(description) => task.finish(now, TaskState::Failed, Some(description)),
                }
            });
            applied
        })
    }
}
