//! Tasks in the state file (format version 3): their records, and the start-up rule that a
//! task the previous process left unfinished is `failed` ([`crate::tasks::interrupted`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::tasks::{self, ProgressReport, Task, TaskState, MAX_FINISHED_TASKS};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    state: String,
    name: String,
    logging_cid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unblocked_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    progress_reports: Vec<ProgressRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    created_resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    created_resource_prns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reserved_resources: Vec<String>,
    /// The node running it (`docs/fleet.md` "Tasks").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressRecord {
    message: String,
    code: String,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    done: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suffix: Option<String>,
}

fn to_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn at(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// The records of every task.
pub(super) fn records(tasks: &[Arc<Task>]) -> Vec<TaskRecord> {
    tasks
        .iter()
        .map(|t| TaskRecord {
            id: t.id,
            created_ns: to_ns(t.created),
            updated_ns: to_ns(t.updated),
            state: t.state.as_str().into(),
            name: t.name.clone(),
            logging_cid: t.logging_cid.clone(),
            unblocked_ns: t.unblocked_at.map(to_ns),
            started_ns: t.started_at.map(to_ns),
            finished_ns: t.finished_at.map(to_ns),
            error: t.error.clone(),
            progress_reports: t
                .progress_reports
                .iter()
                .map(|p| ProgressRecord {
                    message: p.message.clone(),
                    code: p.code.clone(),
                    state: p.state.as_str().into(),
                    total: p.total,
                    done: p.done,
                    suffix: p.suffix.clone(),
                })
                .collect(),
            created_resources: t.created_resources.clone(),
            created_resource_prns: t.created_resource_prns.clone(),
            reserved_resources: t.reserved_resources.clone(),
            node: t.node.clone(),
        })
        .collect()
}

/// The tasks of `records`, the unfinished ones marked interrupted (one warning each) when this
/// is a `restart` (not a reload of another node's save), at
/// most [`MAX_FINISHED_TASKS`] finished ones kept. `Err((field, message))` names a bad record.
pub(super) fn restore(
    records: Vec<TaskRecord>,
    warnings: &mut Vec<String>,
    restart: bool,
) -> Result<Vec<Arc<Task>>, (String, String)> {
    let state = |s: &str, field: String| {
        TaskState::parse(s).ok_or_else(|| (field, format!("unknown task state '{s}'")))
    };
    let mut out: Vec<Arc<Task>> = Vec::with_capacity(records.len());
    for (i, r) in records.into_iter().enumerate() {
        if out.iter().any(|t| t.id == r.id) {
            return Err((format!("tasks[{i}].id"), format!("duplicate id {}", r.id)));
        }
        let mut progress_reports = Vec::with_capacity(r.progress_reports.len());
        for (j, p) in r.progress_reports.into_iter().enumerate() {
            progress_reports.push(ProgressReport {
                state: state(&p.state, format!("tasks[{i}].progress_reports[{j}].state"))?,
                message: p.message,
                code: p.code,
                total: p.total,
                done: p.done,
                suffix: p.suffix,
            });
        }
        let logging_cid = if r.logging_cid.is_empty() {
            Uuid::now_v7().simple().to_string()
        } else {
            r.logging_cid
        };
        let mut task = Task {
            id: r.id,
            created: at(r.created_ns),
            updated: at(r.updated_ns),
            state: state(&r.state, format!("tasks[{i}].state"))?,
            name: r.name,
            logging_cid,
            unblocked_at: r.unblocked_ns.map(at),
            started_at: r.started_ns.map(at),
            finished_at: r.finished_ns.map(at),
            error: r.error,
            progress_reports,
            created_resources: r.created_resources,
            created_resource_prns: r.created_resource_prns,
            reserved_resources: r.reserved_resources,
            node: r.node,
        };
        if restart && tasks::interrupted(&mut task) {
            warnings.push(format!(
                "task {} ({}) was unfinished when hubcache stopped: marked failed",
                task.id, task.name
            ));
        }
        out.push(Arc::new(task));
    }
    tasks::trim(&mut out, MAX_FINISHED_TASKS);
    Ok(out)
}
