//! Long-running tasks: started, given progress in memory, finished — each state change saved
//! with the rest of the state. (Configuration writes do not come here: their task is recorded
//! `completed` in the registry update that applies the change.)

use std::sync::Arc;
use std::time::SystemTime;

use uuid::Uuid;

use super::{record, ProgressReport, Task, TaskState, MAX_FINISHED_TASKS};
use crate::registry::{Registry, Snapshot};
use crate::state::{self, StateError};

/// Where tasks are kept and saved: the registry and `state.path`.
#[derive(Debug, Clone)]
pub struct Tasks {
    registry: Arc<Registry>,
    state: state::Store,
}

/// A task started with [`Tasks::start`]; the runner reports through it.
#[derive(Debug)]
pub struct TaskHandle {
    tasks: Tasks,
    id: Uuid,
}

impl Tasks {
    /// Tasks kept in `registry`, saved to `state` (a state file's path, or PostgreSQL).
    pub fn new(registry: Arc<Registry>, state: impl Into<state::Store>) -> Self {
        Tasks {
            registry,
            state: state.into(),
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
        let id = task.id;
        self.save(|snap| record(snap, task, MAX_FINISHED_TASKS))?;
        Ok(TaskHandle {
            tasks: self.clone(),
            id,
        })
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

    /// Replaces the task's progress reports; in memory only (cheap enough to call every second).
    pub fn progress(&self, reports: Vec<ProgressReport>) {
        self.tasks
            .touch(self.id, move |task| task.progress_reports = reports);
    }

    /// Has someone asked to cancel the task? The runner should stop and [`Self::finish`].
    pub fn is_canceling(&self) -> bool {
        self.tasks
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
    pub fn finish_with<F>(self, outcome: Result<F, String>) -> Result<bool, StateError>
    where
        F: FnOnce(&mut Snapshot) -> Vec<(String, String)> + Clone,
    {
        let id = self.id;
        self.tasks.save(move |snap| {
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
