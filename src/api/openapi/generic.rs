//! The operations beyond the typed kinds — status, the generic lists (every type in one
//! list), users, tasks, and `artifacts_read` — and the generic list items' schemas, each
//! shaped as pulpcore's component of the same name.

use std::collections::BTreeMap;

use axum::routing::{on, MethodFilter};
use serde::Serialize;
use utoipa::openapi::path::HttpMethod;
use utoipa::ToSchema;

use super::ops::{Documented, Handler, Op};
use super::params::{href_param, list_params, read_params, Filters};
use super::schemas::{HiddenField, PolicyChoice};
use crate::api::resource::{COMMON_ORDERING, NAME_FILTERS};
use crate::api::{status, tasks, users};
use crate::tasks::TASKS_PATH;

/// `POST` here purges finished tasks.
const PURGE_PATH: &str = "/pulp/api/v3/tasks/purge/";
use crate::model::{ContentGuard, Distribution, Remote};

/// An item of `GET /pulp/api/v3/remotes/` (`GenericRemoteResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = GenericRemoteResponse)]
pub(crate) struct GenericRemoteResponse {
    #[serde(flatten)]
    pub common: crate::api::resource::Common,
    pub name: String,
    pub url: String,
    pub policy: PolicyChoice,
    pub pulp_labels: BTreeMap<String, String>,
    pub tls_validation: bool,
    pub ca_cert: Option<String>,
    pub client_cert: Option<String>,
    pub proxy_url: Option<String>,
    #[schema(format = Int64)]
    pub max_retries: Option<u32>,
    #[schema(minimum = 0.0)]
    pub connect_timeout: Option<f64>,
    #[schema(minimum = 0.0)]
    pub sock_connect_timeout: Option<f64>,
    #[schema(minimum = 0.0)]
    pub sock_read_timeout: Option<f64>,
    #[schema(minimum = 0.0)]
    pub total_timeout: Option<f64>,
    pub headers: Option<Vec<BTreeMap<String, String>>>,
    #[schema(minimum = 1, format = Int64)]
    pub download_concurrency: Option<u32>,
    #[schema(format = Int64)]
    pub rate_limit: Option<u32>,
    #[schema(read_only, inline)]
    pub hidden_fields: Vec<HiddenField>,
}

/// An item of `GET /pulp/api/v3/distributions/` (`DistributionResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DistributionResponse)]
pub(crate) struct GenericDistributionResponse {
    #[serde(flatten)]
    pub common: crate::api::resource::Common,
    pub name: String,
    pub base_path: String,
    #[schema(read_only)]
    pub base_url: String,
    #[schema(format = Uri)]
    pub content_guard: Option<String>,
    #[schema(read_only)]
    pub content_guard_prn: Option<String>,
    #[schema(default = false)]
    pub hidden: bool,
    pub pulp_labels: BTreeMap<String, String>,
    #[schema(format = Uri)]
    pub repository: Option<String>,
    #[schema(format = Uri)]
    pub repository_version: Option<String>,
    #[schema(read_only)]
    pub no_content_change_since: Option<String>,
}

/// An item of `GET /pulp/api/v3/contentguards/` (`ContentGuardResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ContentGuardResponse)]
pub(crate) struct GenericGuardResponse {
    #[serde(flatten)]
    pub common: crate::api::resource::Common,
    pub name: String,
    pub description: Option<String>,
}

/// An item of `GET /pulp/api/v3/repositories/` (`RepositoryResponse`, pulpcore's fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RepositoryResponse)]
pub(crate) struct GenericRepositoryResponse {
    #[serde(flatten)]
    pub common: crate::api::resource::Common,
    #[schema(format = Uri, read_only)]
    pub versions_href: String,
    pub pulp_labels: BTreeMap<String, String>,
    #[schema(format = Uri, read_only)]
    pub latest_version_href: Option<String>,
    pub name: String,
    pub description: Option<String>,
    #[schema(minimum = 1, format = Int64)]
    pub retain_repo_versions: Option<u32>,
    #[schema(minimum = 1, format = Int64)]
    pub retain_checkpoints: Option<u32>,
    #[schema(format = Uri)]
    pub remote: Option<String>,
}

/// A user (pulpcore's `UserResponse`): hubcache knows names only, so the personal fields are
/// empty and every user is staff (`docs/pulp-api.md` §10). Never a password.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = UserResponse)]
pub(crate) struct UserResponse {
    #[schema(format = Uri, read_only)]
    pub pulp_href: String,
    #[schema(read_only)]
    pub prn: String,
    /// 1-based position in `users:`.
    #[schema(read_only, format = Int64)]
    pub id: u64,
    #[schema(max_length = 150)]
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_staff: bool,
    pub is_active: bool,
    #[schema(format = DateTime)]
    pub date_joined: String,
    #[schema(read_only)]
    pub groups: Vec<String>,
    #[schema(read_only)]
    pub hidden_fields: Vec<HiddenField>,
}

fn list_op(id: &str, path: &str, tag: &str, noun: &str, item: &str, filters: &Filters) -> Op {
    Op::new(HttpMethod::Get, path, id, tag, &format!("List {noun}"))
        .params(list_params(filters))
        .answers(200, Some(&format!("Paginated{item}List")))
}

fn filters_of<K: Documented>() -> Filters {
    Filters {
        names: [&NAME_FILTERS[..], K::FILTERS].concat(),
        ordering: [&COMMON_ORDERING[..], K::ORDERING].concat(),
    }
}

/// The operations of this module, appended to `ops`.
pub(crate) fn operations(ops: &mut Vec<Op>) {
    ops.push(
        Op::new(
            HttpMethod::Get,
            "/pulp/api/v3/status/",
            "status_read",
            "Status",
            "Inspect status of Pulp",
        )
        .public()
        .answers(200, Some("StatusResponse"))
        .serve(
            "/pulp/api/v3/status/",
            on(MethodFilter::GET, status::status),
        ),
    );
    use crate::api::generic::{
        list, AllDistributions, AllGuards, AllRemotes, AllRepositories, Generic,
    };
    let lists: [(&str, &str, &str, &str, &str, Filters, Handler); 4] = [
        (
            "remotes_list",
            AllRemotes::PATH,
            "Remotes",
            "remotes",
            "GenericRemoteResponse",
            filters_of::<Remote>(),
            on(MethodFilter::GET, list::<AllRemotes>),
        ),
        (
            "distributions_list",
            AllDistributions::PATH,
            "Distributions",
            "distributions",
            "DistributionResponse",
            filters_of::<Distribution>(),
            on(MethodFilter::GET, list::<AllDistributions>),
        ),
        (
            "contentguards_list",
            AllGuards::PATH,
            "Contentguards",
            "content guards",
            "ContentGuardResponse",
            filters_of::<ContentGuard>(),
            on(MethodFilter::GET, list::<AllGuards>),
        ),
        (
            "repositories_list",
            AllRepositories::PATH,
            "Repositories",
            "repositories",
            "RepositoryResponse",
            Filters {
                names: [&NAME_FILTERS[..], &["pulp_label_select"]].concat(),
                ordering: COMMON_ORDERING.to_vec(),
            },
            on(MethodFilter::GET, list::<AllRepositories>),
        ),
    ];
    for (id, path, tag, noun, item, filters, handler) in lists {
        ops.push(list_op(id, path, tag, noun, item, &filters).serve(path, handler));
    }
    ops.push(
        list_op(
            "users_list",
            "/pulp/api/v3/users/",
            "Users",
            "users",
            "UserResponse",
            &Filters {
                names: vec![
                    "username",
                    "username__contains",
                    "username__icontains",
                    "username__in",
                ],
                ordering: vec!["username"],
            },
        )
        .serve(users::USERS, on(MethodFilter::GET, users::list)),
    );
    ops.push(
        Op::new(
            HttpMethod::Get,
            "{auth_user_href}",
            "users_read",
            "Users",
            "Inspect an user",
        )
        .params(vec![href_param("auth_user_href")])
        .params(read_params())
        .answers(200, Some("UserResponse"))
        .serve(
            &format!("{}{{id}}/", users::USERS),
            on(MethodFilter::GET, users::read),
        ),
    );
    tasks(ops);
    // Any href: pulp-cli's `pulp show --href`. The answer is whatever object the href names,
    // so its schema is any object rather than pulpcore's `ArtifactResponse`.
    let mut show = Op::new(
        HttpMethod::Get,
        "{artifact_href}",
        "artifacts_read",
        "Artifacts",
        "Inspect an artifact",
    )
    .params(vec![href_param("artifact_href")])
    .params(read_params())
    .answers(200, None);
    if let Some(utoipa::openapi::RefOr::T(ok)) = show.operation.responses.responses.get_mut("200") {
        let any = utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::Object)
            .build();
        ok.content.insert(
            "application/json".into(),
            utoipa::openapi::Content::new(Some(any)),
        );
    }
    ops.push(show);
}

fn tasks(ops: &mut Vec<Op>) {
    let tag = "Tasks";
    let filters = Filters {
        names: tasks::query::FILTERS.to_vec(),
        ordering: tasks::query::ORDERING.to_vec(),
    };
    ops.push(
        list_op(
            "tasks_list",
            TASKS_PATH,
            tag,
            "tasks",
            "TaskResponse",
            &filters,
        )
        .serve(TASKS_PATH, on(MethodFilter::GET, tasks::list)),
    );
    let object = format!("{TASKS_PATH}{{id}}/");
    let href = || vec![href_param("task_href")];
    ops.push(
        Op::new(
            HttpMethod::Get,
            "{task_href}",
            "tasks_read",
            tag,
            "Inspect a task",
        )
        .params(href())
        .params(read_params())
        .answers(200, Some("TaskResponse"))
        .serve(&object, on(MethodFilter::GET, tasks::read)),
    );
    ops.push(
        Op::new(
            HttpMethod::Patch,
            "{task_href}",
            "tasks_cancel",
            tag,
            "Cancel a task",
        )
        .params(href())
        .body("PatchedTaskCancel")
        .answers(200, Some("TaskResponse"))
        .answers(409, Some("TaskResponse"))
        .serve(&object, on(MethodFilter::PATCH, tasks::cancel)),
    );
    ops.push(
        Op::new(
            HttpMethod::Delete,
            "{task_href}",
            "tasks_delete",
            tag,
            "Delete a task",
        )
        .params(href())
        .answers(204, None)
        .serve(&object, on(MethodFilter::DELETE, tasks::delete)),
    );
    ops.push(
        Op::new(
            HttpMethod::Post,
            PURGE_PATH,
            "tasks_purge",
            tag,
            "Purge Completed Tasks",
        )
        .body("Purge")
        .answers(202, Some("AsyncOperationResponse"))
        .serve(PURGE_PATH, on(MethodFilter::POST, tasks::purge)),
    );
}
