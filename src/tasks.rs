//! Tasks: what Pulp answers a write with (`docs/pulp-api.md` "Tasks"). They live in the
//! registry's [`Snapshot`] beside the objects they changed, so one registry update saves an
//! object change and its task in the same state-file write.
//!
//! A configuration write records its task already `completed` ([`Task::completed`]). A
//! long-running task (a repository sync, later) is [`running::Tasks::start`]ed, reports
//! progress in memory and is saved when its state changes. The rules here are pure:
//! [`record`] keeps at most [`MAX_FINISHED_TASKS`] finished tasks (oldest finished dropped
//! first), [`interrupted`] marks what a restart cut short, [`purge`] drops old finished tasks.

mod claims;
mod running;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use uuid::Uuid;

use crate::registry::Snapshot;

pub use claims::Claims;
pub use running::{TaskHandle, Tasks};

/// The most finished tasks kept; past it the oldest finished ones are dropped at each new task.
pub const MAX_FINISHED_TASKS: usize = 10_000;
/// `error.description` of a task that was running when the process stopped.
pub const INTERRUPTED: &str = "interrupted by a restart";
/// The collection path of tasks.
pub const TASKS_PATH: &str = "/pulp/api/v3/tasks/";

/// pulpcore's task names (`pulpcore/app/tasks/base.py`, `purge.py`).
pub mod names {
    /// An object created by a task.
    pub const CREATE: &str = "pulpcore.app.tasks.base.general_create";
    /// An object updated by a task.
    pub const UPDATE: &str = "pulpcore.app.tasks.base.general_update";
    /// An object deleted by a task.
    pub const DELETE: &str = "pulpcore.app.tasks.base.general_delete";
    /// Finished tasks purged.
    pub const PURGE: &str = "pulpcore.app.tasks.purge.purge";
}

/// Where a task is in its life (pulpcore `TASK_STATES`, without `skipped`, which hubcache
/// never produces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskState {
    /// Not started yet.
    Waiting,
    /// Running now.
    Running,
    /// Finished without error.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancel asked; the runner has not stopped yet.
    Canceling,
    /// Stopped by a cancel.
    Canceled,
}

impl TaskState {
    /// Every state, in pulpcore's order.
    pub const ALL: [TaskState; 6] = [
        TaskState::Waiting,
        TaskState::Running,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Canceling,
        TaskState::Canceled,
    ];

    /// The Pulp spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Canceling => "canceling",
            TaskState::Canceled => "canceled",
        }
    }

    /// The state spelled `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Completed, failed or canceled: nothing will change it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Canceled
        )
    }
}

/// One progress report of a task (pulpcore `ProgressReport`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressReport {
    /// What is counted, for people.
    pub message: String,
    /// What is counted, for programs (e.g. `purge.tasks.total`).
    pub code: String,
    /// The report's own state.
    pub state: TaskState,
    /// How many there are, when known.
    pub total: Option<u64>,
    /// How many are done.
    pub done: u64,
    /// Unit shown after the counts (e.g. `B`), if any.
    pub suffix: Option<String>,
}

impl ProgressReport {
    /// A completed report of `done` items (total = done).
    pub fn completed(message: impl Into<String>, code: impl Into<String>, done: u64) -> Self {
        ProgressReport {
            message: message.into(),
            code: code.into(),
            state: TaskState::Completed,
            total: Some(done),
            done,
            suffix: None,
        }
    }
}

/// One task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// UUIDv7, the last segment of its href.
    pub id: Uuid,
    /// `pulp_created`.
    pub created: SystemTime,
    /// `pulp_last_updated`: moves on every change.
    pub updated: SystemTime,
    /// Where it is.
    pub state: TaskState,
    /// pulpcore-like name, e.g. [`names::UPDATE`].
    pub name: String,
    /// The request's correlation id, else a fresh uuid (never empty).
    pub logging_cid: String,
    /// When it could start.
    pub unblocked_at: Option<SystemTime>,
    /// When it started.
    pub started_at: Option<SystemTime>,
    /// When it reached a final state.
    pub finished_at: Option<SystemTime>,
    /// `error.description` of a failed task.
    pub error: Option<String>,
    /// Its progress reports.
    pub progress_reports: Vec<ProgressReport>,
    /// Hrefs of the objects it created.
    pub created_resources: Vec<String>,
    /// The prns of the same objects.
    pub created_resource_prns: Vec<String>,
    /// Hrefs of the objects it worked on.
    pub reserved_resources: Vec<String>,
    /// The node that runs it (its `fleet.advertise`, else `<host>:<pid>`), with a state
    /// database shared by a fleet (`docs/fleet.md` "Tasks"); `None` otherwise.
    pub node: Option<String>,
}

impl Task {
    /// A new task in state `waiting`.
    pub fn waiting(name: &str, logging_cid: String, reserved: Vec<String>) -> Self {
        let now = SystemTime::now();
        Task {
            id: Uuid::now_v7(),
            created: now,
            updated: now,
            state: TaskState::Waiting,
            name: name.into(),
            logging_cid,
            unblocked_at: None,
            started_at: None,
            finished_at: None,
            error: None,
            progress_reports: Vec::new(),
            created_resources: Vec::new(),
            created_resource_prns: Vec::new(),
            reserved_resources: reserved,
            node: None,
        }
    }

    /// A task that ran and completed at once: what a configuration write records.
    pub fn completed(name: &str, logging_cid: String, reserved: Vec<String>) -> Self {
        let mut task = Task::waiting(name, logging_cid, reserved);
        task.unblocked_at = Some(task.created);
        task.started_at = Some(task.created);
        task.finish(task.created, TaskState::Completed, None);
        task
    }

    /// Records `href` (and its `prn`) as created by this task.
    pub fn with_created(mut self, href: String, prn: String) -> Self {
        self.created_resources.push(href);
        self.created_resource_prns.push(prn);
        self
    }

    /// `/pulp/api/v3/tasks/<uuid>/`.
    pub fn href(&self) -> String {
        href(self.id)
    }

    /// Moves to the final state `state` at `at` (not before it started); progress reports
    /// not finished yet take that state too (as pulpcore's do).
    pub fn finish(&mut self, at: SystemTime, state: TaskState, error: Option<String>) {
        let at = at.max(self.started_at.unwrap_or(self.created));
        self.state = state;
        self.error = error;
        self.finished_at = Some(at);
        self.updated = self.updated.max(at);
        for report in &mut self.progress_reports {
            if !report.state.is_final() {
                report.state = state;
            }
        }
    }
}

/// The href of task `id`.
pub fn href(id: Uuid) -> String {
    format!("{TASKS_PATH}{id}/")
}

/// Adds `task` to `snap`, then drops the oldest finished tasks past `cap`.
pub fn record(snap: &mut Snapshot, task: Task, cap: usize) {
    snap.tasks.push(Arc::new(task));
    trim(&mut snap.tasks, cap);
}

/// Keeps at most `cap` finished tasks: those that finished first go first; unfinished tasks
/// are always kept.
pub fn trim(tasks: &mut Vec<Arc<Task>>, cap: usize) {
    let mut finished: Vec<(SystemTime, SystemTime, Uuid)> = tasks
        .iter()
        .filter(|t| t.state.is_final())
        .map(|t| (t.finished_at.unwrap_or(t.created), t.created, t.id))
        .collect();
    if finished.len() <= cap {
        return;
    }
    finished.sort();
    let drop: Vec<Uuid> = finished[..finished.len() - cap]
        .iter()
        .map(|(_, _, id)| *id)
        .collect();
    tasks.retain(|t| !drop.contains(&t.id));
}

/// At start-up: a task that was waiting, running or canceling when the process stopped will
/// never finish, so it is `failed` with [`INTERRUPTED`]. It is given as finished when it was
/// last saved, so a second restart does not move it.
pub fn interrupted(task: &mut Task) -> bool {
    if task.state.is_final() {
        return false;
    }
    let at = task.updated;
    task.finish(at, TaskState::Failed, Some(INTERRUPTED.into()));
    true
}

/// Why a task cannot be canceled or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No task with that id.
    NotFound,
    /// The task is not in a state that allows it.
    Conflict,
}

/// Asks task `id` to stop: a waiting task is canceled at once, a running one goes to
/// `canceling` (its runner ends it as `canceled`). A finished or canceling task is refused
/// with [`Refused::Conflict`], as pulpcore answers 409.
pub fn cancel(snap: &mut Snapshot, id: Uuid, now: SystemTime) -> Result<Arc<Task>, Refused> {
    let slot = snap
        .tasks
        .iter_mut()
        .find(|t| t.id == id)
        .ok_or(Refused::NotFound)?;
    let mut task = Task::clone(slot);
    match task.state {
        TaskState::Waiting => task.finish(now, TaskState::Canceled, None),
        TaskState::Running => {
            task.state = TaskState::Canceling;
            task.updated = task.updated.max(now);
        }
        TaskState::Canceling => {}
        _ => return Err(Refused::Conflict),
    }
    *slot = Arc::new(task);
    Ok(slot.clone())
}

/// Removes finished task `id`; an unfinished one is refused with [`Refused::Conflict`].
pub fn delete(snap: &mut Snapshot, id: Uuid) -> Result<(), Refused> {
    let task = snap
        .tasks
        .iter()
        .find(|t| t.id == id)
        .ok_or(Refused::NotFound)?;
    if !task.state.is_final() {
        return Err(Refused::Conflict);
    }
    snap.tasks.retain(|t| t.id != id);
    Ok(())
}

/// Removes the finished tasks in one of `states` that finished before `before`; returns them.
pub fn purge(snap: &mut Snapshot, before: SystemTime, states: &[TaskState]) -> Vec<Arc<Task>> {
    let (gone, kept) = std::mem::take(&mut snap.tasks).into_iter().partition(|t| {
        t.state.is_final() && states.contains(&t.state) && t.finished_at.is_some_and(|f| f < before)
    });
    snap.tasks = kept;
    gone
}
