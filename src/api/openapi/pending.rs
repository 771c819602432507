//! PLACEHOLDERS, replaced at merge: the task schemas are defined for real (as the structs
//! the task endpoints serialize) in `src/tasks.rs` on another branch. Until then these mirror
//! the fields of pulpcore's components of the same name exactly, so the document is complete.

#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;

/// pulpcore's `TaskResponse`.
#[derive(ToSchema)]
#[schema(as = TaskResponse)]
pub(crate) struct TaskResponse {
    #[schema(format = Uri, read_only)]
    pulp_href: String,
    #[schema(read_only)]
    prn: String,
    #[schema(format = DateTime, read_only)]
    pulp_created: String,
    #[schema(format = DateTime, read_only)]
    pulp_last_updated: String,
    #[schema(read_only)]
    state: String,
    name: String,
    logging_cid: String,
    #[schema(format = Uri, read_only)]
    created_by: Option<String>,
    #[schema(format = DateTime, read_only)]
    unblocked_at: Option<String>,
    #[schema(format = DateTime, read_only)]
    started_at: Option<String>,
    #[schema(format = DateTime, read_only)]
    finished_at: Option<String>,
    #[schema(read_only)]
    error: Option<std::collections::BTreeMap<String, Value>>,
    #[schema(format = Uri, read_only)]
    worker: Option<String>,
    #[schema(format = Uri, read_only)]
    parent_task: Option<String>,
    #[schema(read_only)]
    child_tasks: Vec<String>,
    #[schema(format = Uri, read_only)]
    task_group: Option<String>,
    #[schema(read_only)]
    progress_reports: Vec<ProgressReportResponse>,
    #[schema(read_only)]
    created_resources: Vec<String>,
    #[schema(read_only)]
    created_resource_prns: Vec<String>,
    #[schema(read_only)]
    reserved_resources_record: Vec<String>,
    #[schema(read_only)]
    result: Option<Value>,
    #[schema(default = "v3")]
    pulp_api_version: Option<String>,
}

/// pulpcore's `ProgressReportResponse`.
#[derive(ToSchema)]
#[schema(as = ProgressReportResponse)]
pub(crate) struct ProgressReportResponse {
    #[schema(read_only)]
    message: String,
    #[schema(read_only)]
    code: String,
    #[schema(read_only)]
    state: String,
    #[schema(read_only)]
    total: Option<i64>,
    #[schema(read_only)]
    done: Option<i64>,
    #[schema(read_only)]
    suffix: Option<String>,
}

/// pulpcore's `AsyncOperationResponse`: `{"task": "<href>"}`.
#[derive(ToSchema)]
#[schema(as = AsyncOperationResponse)]
pub(crate) struct AsyncOperationResponse {
    #[schema(format = Uri)]
    task: String,
}
