//! The JSON of a task (pulpcore `TaskSerializer`, `ProgressReportSerializer`) and of a 202
//! (`AsyncOperationResponse`). Answers are these structs serialized, and the OpenAPI schemas
//! are derived from the same structs, so the two cannot drift apart.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::json::timestamp;
use crate::tasks::{ProgressReport, Task};

/// A task, as `GET /pulp/api/v3/tasks/<uuid>/` answers it. Only `name` and `logging_cid` are
/// required in pulpcore's schema (the generated clients check them); the rest is always sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TaskResponse {
    #[schema(required = false, read_only, format = "uri")]
    pub(crate) pulp_href: String,
    /// The Pulp Resource Name (PRN).
    #[schema(required = false, read_only)]
    pub(crate) prn: String,
    /// Timestamp of creation.
    #[schema(required = false, read_only, format = DateTime)]
    pub(crate) pulp_created: String,
    /// Timestamp of the last time this resource was updated.
    #[schema(required = false, read_only, format = DateTime)]
    pub(crate) pulp_last_updated: String,
    /// The current state of the task: 'waiting', 'running', 'completed', 'failed',
    /// 'canceling' or 'canceled'.
    #[schema(required = false, read_only)]
    pub(crate) state: String,
    /// The name of task.
    pub(crate) name: String,
    /// The logging correlation id associated with this task.
    pub(crate) logging_cid: String,
    /// User who dispatched this task (always null: hubcache has no user objects).
    #[schema(read_only, format = "uri")]
    pub(crate) created_by: Option<String>,
    /// Timestamp of when this task was identified ready for pickup.
    #[schema(read_only, format = DateTime)]
    pub(crate) unblocked_at: Option<String>,
    /// Timestamp of when this task started execution.
    #[schema(read_only, format = DateTime)]
    pub(crate) started_at: Option<String>,
    /// Timestamp of when this task stopped execution.
    #[schema(read_only, format = DateTime)]
    pub(crate) finished_at: Option<String>,
    /// A JSON Object of a fatal error encountered during the execution of this task.
    #[schema(read_only, value_type = Option<Object>)]
    pub(crate) error: Option<Value>,
    /// DEPRECATED - Always null.
    #[schema(read_only, format = "uri")]
    pub(crate) worker: Option<String>,
    /// The parent task that spawned this task.
    #[schema(read_only, format = "uri")]
    pub(crate) parent_task: Option<String>,
    /// Any tasks spawned by this task.
    #[schema(required = false, read_only)]
    pub(crate) child_tasks: Vec<String>,
    /// The task group that this task is a member of.
    #[schema(read_only, format = "uri")]
    pub(crate) task_group: Option<String>,
    #[schema(required = false, read_only)]
    pub(crate) progress_reports: Vec<ProgressReportResponse>,
    /// Resources created by this task.
    #[schema(required = false, read_only)]
    pub(crate) created_resources: Vec<String>,
    /// Resources created by this task as PRNs.
    #[schema(required = false, read_only)]
    pub(crate) created_resource_prns: Vec<String>,
    /// A list of resources required by that task.
    #[schema(required = false, read_only)]
    pub(crate) reserved_resources_record: Vec<String>,
    /// The result of this task.
    #[schema(read_only, value_type = Option<Object>)]
    pub(crate) result: Option<Value>,
    /// The API-version that was invoked when creating the task.
    #[schema(required = false)]
    pub(crate) pulp_api_version: String,
}

/// One progress report of a task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProgressReportResponse {
    /// The message shown to the user for the progress report.
    #[schema(required = false, read_only)]
    pub(crate) message: String,
    /// Identifies the type of progress report.
    #[schema(required = false, read_only)]
    pub(crate) code: String,
    /// The current state of the progress report.
    #[schema(required = false, read_only)]
    pub(crate) state: String,
    /// The total count of items.
    #[schema(read_only)]
    pub(crate) total: Option<u64>,
    /// The count of items already processed.
    #[schema(required = false, read_only)]
    pub(crate) done: u64,
    /// The suffix to be shown with the progress report.
    #[schema(read_only)]
    pub(crate) suffix: Option<String>,
}

/// The answer of a write done by a task: 202 with the task's href.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct AsyncOperationResponse {
    /// The href of the task.
    #[schema(format = "uri")]
    pub(crate) task: String,
}

impl From<&Task> for TaskResponse {
    fn from(t: &Task) -> Self {
        let when = |at: Option<std::time::SystemTime>| at.map(timestamp);
        TaskResponse {
            pulp_href: t.href(),
            prn: format!("prn:core.task:{}", t.id),
            pulp_created: timestamp(t.created),
            pulp_last_updated: timestamp(t.updated),
            state: t.state.as_str().into(),
            name: t.name.clone(),
            logging_cid: t.logging_cid.clone(),
            created_by: None,
            unblocked_at: when(t.unblocked_at),
            started_at: when(t.started_at),
            finished_at: when(t.finished_at),
            error: t
                .error
                .as_ref()
                .map(|d| serde_json::json!({ "description": d })),
            worker: None,
            parent_task: None,
            child_tasks: Vec::new(),
            task_group: None,
            progress_reports: t.progress_reports.iter().map(Into::into).collect(),
            created_resources: t.created_resources.clone(),
            created_resource_prns: t.created_resource_prns.clone(),
            reserved_resources_record: t.reserved_resources.clone(),
            result: None,
            pulp_api_version: "v3".into(),
        }
    }
}

impl From<&ProgressReport> for ProgressReportResponse {
    fn from(p: &ProgressReport) -> Self {
        ProgressReportResponse {
            message: p.message.clone(),
            code: p.code.clone(),
            state: p.state.as_str().into(),
            total: p.total,
            done: p.done,
            suffix: p.suffix.clone(),
        }
    }
}

/// `value` as a JSON object (a struct above serialized).
pub(crate) fn to_map(value: &impl Serialize) -> serde_json::Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;
    use crate::tasks::names;

    #[test]
    fn the_schema_names_what_is_answered_and_requires_what_pulpcore_does() {
        let schema = serde_json::to_value(TaskResponse::schema()).unwrap();
        let mut declared: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        declared.sort_unstable();
        let task = Task::completed(names::CREATE, "cid".into(), Vec::new());
        let answered = to_map(&TaskResponse::from(&task));
        let answered: Vec<&str> = answered.keys().map(String::as_str).collect();
        assert_eq!(declared, answered);
        assert_eq!(
            schema["required"],
            serde_json::json!(["name", "logging_cid"])
        );
        let report = serde_json::to_value(ProgressReportResponse::schema()).unwrap();
        assert_eq!(report["properties"]["total"]["type"][0], "integer");
        assert!(report.get("required").is_none(), "{report}");
    }
}
