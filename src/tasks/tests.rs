//! The task rules: the history cap, cancel, delete, purge, the restart rule, a running task's
//! life through its handle.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::registry::Registry;

/// A finished task that finished `secs` seconds after the epoch-ish base.
fn finished(secs: u64, state: TaskState) -> Task {
    let mut task = Task::completed(names::UPDATE, "cid".into(), Vec::new());
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs);
    task.started_at = Some(at);
    task.finish(at, state, None);
    task
}

fn unfinished(state: TaskState) -> Task {
    let mut task = Task::waiting(names::UPDATE, "cid".into(), Vec::new());
    task.state = state;
    task
}

fn ids(snap: &Snapshot) -> Vec<Uuid> {
    snap.tasks.iter().map(|t| t.id).collect()
}

#[test]
fn the_history_keeps_the_newest_finished_tasks_and_every_unfinished_one() {
    let mut snap = Snapshot::default();
    let running = unfinished(TaskState::Running);
    let (a, b, c) = (
        finished(30, TaskState::Completed),
        finished(10, TaskState::Failed),
        finished(20, TaskState::Canceled),
    );
    record(&mut snap, running.clone(), 2);
    record(&mut snap, a.clone(), 2);
    record(&mut snap, b.clone(), 2);
    assert_eq!(ids(&snap), [running.id, a.id, b.id], "at the cap: all kept");
    record(&mut snap, c.clone(), 2);
    assert_eq!(
        ids(&snap),
        [running.id, a.id, c.id],
        "b finished first, so it goes first (not the first created)"
    );
    for _ in 0..3 {
        record(&mut snap, unfinished(TaskState::Waiting), 2);
    }
    assert_eq!(snap.tasks.len(), 6, "unfinished tasks never count");
    assert_eq!(MAX_FINISHED_TASKS, 10_000);
}

#[test]
fn a_completed_task_is_finished_when_created() {
    let t = Task::completed(names::CREATE, "cid".into(), vec!["/x/".into()])
        .with_created("/x/".into(), "prn:x".into());
    assert_eq!(t.state, TaskState::Completed);
    assert_eq!(
        (t.unblocked_at, t.started_at, t.finished_at),
        (Some(t.created), Some(t.created), Some(t.created))
    );
    assert_eq!(t.id.get_version_num(), 7);
    assert_eq!(t.href(), format!("/pulp/api/v3/tasks/{}/", t.id));
    assert_eq!(t.created_resource_prns, ["prn:x"]);
}

#[test]
fn cancel_and_delete_follow_the_state() {
    let now = SystemTime::now();
    let rows = [
        (
            TaskState::Waiting,
            Ok(TaskState::Canceled),
            Err(Refused::Conflict),
        ),
        (
            TaskState::Running,
            Ok(TaskState::Canceling),
            Err(Refused::Conflict),
        ),
        (
            TaskState::Canceling,
            Ok(TaskState::Canceling),
            Err(Refused::Conflict),
        ),
        (TaskState::Completed, Err(Refused::Conflict), Ok(())),
        (TaskState::Failed, Err(Refused::Conflict), Ok(())),
        (TaskState::Canceled, Err(Refused::Conflict), Ok(())),
    ];
    for (state, want_cancel, want_delete) in rows {
        let task = if state.is_final() {
            finished(1, state)
        } else {
            unfinished(state)
        };
        let mut snap = Snapshot::default();
        record(&mut snap, task.clone(), 10);
        let got = cancel(&mut snap, task.id, now).map(|t| t.state);
        assert_eq!(got, want_cancel, "cancel {state:?}");
        let mut snap = Snapshot::default();
        record(&mut snap, task.clone(), 10);
        assert_eq!(delete(&mut snap, task.id), want_delete, "delete {state:?}");
        assert_eq!(snap.tasks.is_empty(), want_delete.is_ok(), "{state:?}");
    }
    let mut snap = Snapshot::default();
    assert_eq!(
        cancel(&mut snap, Uuid::now_v7(), now),
        Err(Refused::NotFound)
    );
    assert_eq!(delete(&mut snap, Uuid::now_v7()), Err(Refused::NotFound));
}

#[test]
fn purge_takes_old_finished_tasks_in_the_given_states() {
    let mut snap = Snapshot::default();
    let old_done = finished(10, TaskState::Completed);
    let old_failed = finished(10, TaskState::Failed);
    let new_done = finished(100, TaskState::Completed);
    let running = unfinished(TaskState::Running);
    for t in [&old_done, &old_failed, &new_done, &running] {
        record(&mut snap, t.clone(), 10);
    }
    let before = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_050);
    assert_eq!(purge(&mut snap, before, &[TaskState::Completed]).len(), 1);
    assert_eq!(ids(&snap), [old_failed.id, new_done.id, running.id]);
    let all = [TaskState::Running, TaskState::Failed, TaskState::Completed];
    assert_eq!(purge(&mut snap, SystemTime::now(), &all).len(), 2);
    assert_eq!(
        ids(&snap),
        [running.id],
        "an unfinished task is never purged"
    );
}

#[test]
fn the_restart_rule_fails_what_was_unfinished() {
    for state in TaskState::ALL {
        let mut task = unfinished(state);
        let saved = task.updated;
        let changed = interrupted(&mut task);
        assert_eq!(changed, !state.is_final(), "{state:?}");
        if changed {
            assert_eq!(task.state, TaskState::Failed);
            assert_eq!(task.error.as_deref(), Some(INTERRUPTED));
            assert_eq!(task.finished_at, Some(saved));
        }
    }
}

#[test]
fn a_running_task_reports_progress_in_memory_and_is_saved_on_state_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let registry = Arc::new(Registry::new(Snapshot::default()));
    let tasks = Tasks::new(registry.clone(), path.clone());
    let load = || crate::state::load(&path, &Snapshot::default()).unwrap();

    let handle = tasks
        .start(names::UPDATE, "cid".into(), Vec::new())
        .unwrap();
    assert_eq!(registry.snapshot().tasks[0].state, TaskState::Running);
    let report = ProgressReport {
        state: TaskState::Running,
        ..ProgressReport::completed("Downloading", "sync.downloading.files", 1)
    };
    handle.progress(vec![report.clone()]);
    assert_eq!(registry.snapshot().tasks[0].progress_reports, [report]);
    assert!(
        load().snapshot.tasks[0].progress_reports.is_empty(),
        "progress alone is not saved"
    );
    handle
        .finish(Ok(vec![("/x/".into(), "prn:x".into())]))
        .unwrap();
    let saved = load().snapshot.tasks[0].clone();
    assert_eq!(saved.state, TaskState::Completed);
    assert_eq!(saved.created_resources, ["/x/"]);
    assert_eq!(saved.progress_reports[0].state, TaskState::Completed);

    // Canceled while running: the runner sees it and the task ends canceled.
    let handle = tasks
        .start(names::UPDATE, "cid".into(), Vec::new())
        .unwrap();
    assert!(!handle.is_canceling());
    let id = handle.id();
    let _: Result<(), ()> = registry.update(
        |snap| {
            cancel(snap, id, SystemTime::now()).unwrap();
            Ok(())
        },
        |_| Ok(()),
    );
    assert!(handle.is_canceling());
    handle.finish(Err("stopped".into())).unwrap();
    let saved = Task::clone(&load().snapshot.tasks[1]);
    assert_eq!((saved.state, saved.error), (TaskState::Canceled, None));
}

#[test]
fn finish_with_applies_the_change_and_completes_in_one_update_unless_canceling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let registry = Arc::new(Registry::new(Snapshot::default()));
    let tasks = Tasks::new(registry.clone(), path.clone());
    let repo = || {
        Arc::new(crate::model::Repository::new(
            crate::model::Origin::Api,
            "r",
        ))
    };

    let handle = tasks.start("sync", "cid".into(), Vec::new()).unwrap();
    let applied = handle
        .finish_with(Ok(|snap: &mut Snapshot| {
            snap.repositories.push(repo());
            vec![("/v/1/".to_string(), "prn:v".to_string())]
        }))
        .unwrap();
    assert!(applied);
    let snap = registry.snapshot();
    assert_eq!(snap.repositories.len(), 1);
    assert_eq!(snap.tasks[0].state, TaskState::Completed);
    assert_eq!(snap.tasks[0].created_resources, ["/v/1/"]);
    let saved = crate::state::load(&path, &Snapshot::default()).unwrap();
    assert_eq!(saved.snapshot.tasks[0].state, TaskState::Completed);

    // Canceled before it could complete: nothing applied, the task ends canceled.
    let handle = tasks.start("sync", "cid".into(), Vec::new()).unwrap();
    let id = handle.id();
    let _: Result<(), ()> = registry.update(
        |snap| {
            cancel(snap, id, SystemTime::now()).unwrap();
            Ok(())
        },
        |_| Ok(()),
    );
    let applied = handle
        .finish_with(Ok(|snap: &mut Snapshot| {
            snap.repositories.push(repo());
            Vec::new()
        }))
        .unwrap();
    assert!(!applied);
    let snap = registry.snapshot();
    assert_eq!(snap.repositories.len(), 1, "the change was not applied");
    assert_eq!(snap.tasks[1].state, TaskState::Canceled);
    assert!(snap.tasks[1].created_resources.is_empty());
}

#[test]
fn a_task_taken_over_elsewhere_is_not_finished_here_and_adopting_restarts_or_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let registry = Arc::new(Registry::new(Snapshot::default()));
    let tasks = Tasks::new(registry.clone(), path.clone());
    let set = |id, change: &dyn Fn(&mut Task)| {
        let _: Result<(), ()> = registry.update(
            |snap| {
                let slot = snap.tasks.iter_mut().find(|t| t.id == id).unwrap();
                let mut t = Task::clone(slot);
                change(&mut t);
                *slot = Arc::new(t);
                Ok(())
            },
            |_| Ok(()),
        );
    };

    // Another node took it over (the stored task names it): this run's end is not saved.
    let handle = tasks.start("sync", "cid".into(), Vec::new()).unwrap();
    let id = handle.id();
    set(id, &|t| t.node = Some("127.0.0.1:2".into()));
    let applied = handle
        .finish_with(Ok(|_: &mut Snapshot| {
            vec![("/v/1/".into(), "prn:v".into())]
        }))
        .unwrap();
    assert!(!applied);
    let task = registry.snapshot().task(id).unwrap().clone();
    assert_eq!(
        task.state,
        TaskState::Running,
        "left to the node running it"
    );
    assert!(task.created_resources.is_empty());

    // Adopted: running here again, progress reset; it can finish.
    set(id, &|t| {
        t.progress_reports = vec![ProgressReport::completed("x", "x", 1)];
        t.node = None;
    });
    let handle = tasks
        .adopt(id, None)
        .unwrap()
        .expect("a running task is run again");
    let task = registry.snapshot().task(id).unwrap().clone();
    assert_eq!(task.state, TaskState::Running);
    assert!(task.progress_reports.is_empty());
    handle.finish(Ok(Vec::new())).unwrap();
    assert!(
        tasks.adopt(id, None).unwrap().is_none(),
        "a finished task is left alone"
    );

    // A task being canceled when its node went away ends canceled, saying why.
    let handle = tasks.start("sync", "cid".into(), Vec::new()).unwrap();
    let id = handle.id();
    std::mem::forget(handle);
    set(id, &|t| t.state = TaskState::Canceling);
    assert!(tasks.adopt(id, None).unwrap().is_none());
    let saved = crate::state::load(&path, &Snapshot::default()).unwrap();
    let task = saved.snapshot.tasks.iter().find(|t| t.id == id).unwrap();
    assert_eq!(task.state, TaskState::Canceled);
    assert!(
        task.error.as_deref().unwrap().contains("stopped"),
        "{task:?}"
    );
}
