//! The operation table: every Pulp operation hubcache serves, once — its path template,
//! `operationId`, tag, parameters, body and answers for the OpenAPI document, and the axum
//! handler that serves it. `api.rs` builds its router from this table, so a route cannot
//! exist without its operation, nor an operation without its route (the exceptions are
//! named in [`UNROUTED`]).

use std::sync::Arc;

use axum::routing::{on, MethodFilter, MethodRouter};
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, Ref, RefOr, Required, ResponseBuilder};

use super::params::{href_param, list_params, read_params, Filters};
use crate::api::handlers::{create, delete, list, patch, put, read};
use crate::api::labels::{set_label, unset_label, Labelled};
use crate::api::repositories::{sync, versions};
use crate::api::resource::{Kind, Reply, COMMON_ORDERING, NAME_FILTERS};
use crate::api::ApiDeps;
use crate::model::{ContentGuard, Distribution, Remote, Repository};

/// A handler in the router.
pub(crate) type Handler = MethodRouter<Arc<ApiDeps>>;

/// Operations in the document that have no route of their own: `artifacts_read`, which
/// pulp-cli's `pulp show --href X` calls with any href; every GET route answers it
/// (`docs/pulp-api.md` §10).
#[cfg_attr(not(test), allow(dead_code))] // read by the tests
pub(crate) const UNROUTED: &[&str] = &["artifacts_read"];

/// One operation: what the document says and what serves it.
pub(crate) struct Op {
    /// Its method.
    pub(crate) method: HttpMethod,
    /// The document's path: a literal collection path or an `{…_href}` template.
    pub(crate) path: String,
    /// The axum route (`{id}` for the object's uuid); `None` for [`UNROUTED`] ones.
    pub(crate) route: Option<String>,
    /// The document's operation.
    pub(crate) operation: Operation,
    /// What serves it (with `route`).
    pub(crate) handler: Option<Handler>,
}

impl Op {
    pub(crate) fn new(method: HttpMethod, path: &str, id: &str, tag: &str, summary: &str) -> Self {
        let operation = OperationBuilder::new()
            .operation_id(Some(id))
            .tag(tag)
            .summary(Some(summary))
            .securities(Some([SecurityRequirement::new(
                "basicAuth",
                Vec::<String>::new(),
            )]))
            .build();
        Op {
            method,
            path: path.into(),
            route: None,
            operation,
            handler: None,
        }
    }

    /// No login needed (status).
    pub(crate) fn public(mut self) -> Self {
        self.operation.security = None;
        self
    }

    /// Served by `handler` at axum route `route`.
    pub(crate) fn serve(mut self, route: &str, handler: Handler) -> Self {
        self.route = Some(route.into());
        self.handler = Some(handler);
        self
    }

    pub(crate) fn params(mut self, params: Vec<utoipa::openapi::path::Parameter>) -> Self {
        self.operation
            .parameters
            .get_or_insert_with(Vec::new)
            .extend(params);
        self
    }

    /// A required JSON body of component `schema` (the only media type `json.rs` accepts).
    pub(crate) fn body(mut self, schema: &str) -> Self {
        let content = Content::new(Some(RefOr::Ref(Ref::from_schema_name(schema))));
        self.operation.request_body = Some(
            RequestBodyBuilder::new()
                .content("application/json", content)
                .required(Some(Required::True))
                .build(),
        );
        self
    }

    /// Answers `status` with a JSON body of component `schema` (`None`: no body).
    pub(crate) fn answers(mut self, status: u16, schema: Option<&str>) -> Self {
        let mut response = ResponseBuilder::new().description("");
        if let Some(schema) = schema {
            let schema = RefOr::Ref(Ref::from_schema_name(schema));
            response = response.content("application/json", Content::new(Some(schema)));
        }
        self.operation
            .responses
            .responses
            .insert(status.to_string(), RefOr::T(response.build()));
        self
    }
}

/// What the document needs to know about a typed kind beyond [`Kind`].
pub(crate) trait Documented: Kind {
    /// `operationId` prefix, e.g. `remotes_hugging_face_hugging_face`.
    const OPERATION: &'static str;
    /// The tag, e.g. `Remotes: Hugging-Face`.
    const TAG: &'static str;
    /// The object path parameter, e.g. `hugging_face_hugging_face_remote_href`.
    const HREF: &'static str;
    /// For summaries, e.g. `hugging face remote`.
    const NOUN: &'static str;
    /// The request body component, e.g. `hugging_face.HuggingFaceRemote`.
    const REQUEST: &'static str;
    /// The response component, e.g. `hugging_face.HuggingFaceRemoteResponse`.
    const RESPONSE: &'static str;
    /// `set_label/` and `unset_label/`, for the kinds that have labels: their status and
    /// handlers.
    fn label_actions() -> Option<(u16, Handler, Handler)> {
        None
    }
}

/// The label actions of a [`Labelled`] kind.
fn label_actions<K: Labelled>() -> Option<(u16, Handler, Handler)> {
    Some((
        K::LABEL_ANSWER.as_u16(),
        on(MethodFilter::POST, set_label::<K>),
        on(MethodFilter::POST, unset_label::<K>),
    ))
}

impl Documented for Remote {
    const OPERATION: &'static str = "remotes_hugging_face_hugging_face";
    const TAG: &'static str = "Remotes: Hugging-Face";
    const HREF: &'static str = "hugging_face_hugging_face_remote_href";
    const NOUN: &'static str = "hugging face remote";
    const REQUEST: &'static str = "hugging_face.HuggingFaceRemote";
    const RESPONSE: &'static str = "hugging_face.HuggingFaceRemoteResponse";
    fn label_actions() -> Option<(u16, Handler, Handler)> {
        label_actions::<Self>()
    }
}

impl Documented for Distribution {
    const OPERATION: &'static str = "distributions_hugging_face_hugging_face";
    const TAG: &'static str = "Distributions: Hugging-Face";
    const HREF: &'static str = "hugging_face_hugging_face_distribution_href";
    const NOUN: &'static str = "hugging face distribution";
    const REQUEST: &'static str = "hugging_face.HuggingFaceDistribution";
    const RESPONSE: &'static str = "hugging_face.HuggingFaceDistributionResponse";
    fn label_actions() -> Option<(u16, Handler, Handler)> {
        label_actions::<Self>()
    }
}

impl Documented for ContentGuard {
    const OPERATION: &'static str = "contentguards_core_header";
    const TAG: &'static str = "Contentguards: Header";
    const HREF: &'static str = "header_content_guard_href";
    const NOUN: &'static str = "header content guard";
    const REQUEST: &'static str = "HeaderContentGuard";
    const RESPONSE: &'static str = "HeaderContentGuardResponse";
}

impl Documented for Repository {
    const OPERATION: &'static str = "repositories_hugging_face_hugging_face";
    const TAG: &'static str = "Repositories: Hugging-Face";
    const HREF: &'static str = "hugging_face_hugging_face_repository_href";
    const NOUN: &'static str = "hugging face repository";
    const REQUEST: &'static str = "hugging_face.HuggingFaceRepository";
    const RESPONSE: &'static str = "hugging_face.HuggingFaceRepositoryResponse";
    fn label_actions() -> Option<(u16, Handler, Handler)> {
        label_actions::<Self>()
    }
}

const TASK: &str = "AsyncOperationResponse";

/// A repository's `sync/` and its versions (`…/versions/`, `…/versions/<n>/`).
fn repository_actions(ops: &mut Vec<Op>) {
    let (op, tag) = (Repository::OPERATION, Repository::TAG);
    let versions_tag = "Repositories: Hugging-Face Versions";
    let object = format!("{}{{id}}/", Repository::COLLECTION);
    let href = format!("{{{}}}", Repository::HREF);
    let version_href = "hugging_face_hugging_face_repository_version_href";
    ops.push(
        Op::new(
            HttpMethod::Post,
            &format!("{href}sync/"),
            &format!("{op}_sync"),
            tag,
            "Sync from remote",
        )
        .params(vec![href_param(Repository::HREF)])
        .body("RepositorySyncURL")
        .answers(202, Some(TASK))
        .serve(
            &format!("{object}sync/"),
            on(MethodFilter::POST, sync::sync),
        ),
    );
    let filters = Filters {
        names: versions::FILTERS.to_vec(),
        ordering: versions::ORDERING.to_vec(),
    };
    ops.push(
        Op::new(
            HttpMethod::Get,
            &format!("{href}versions/"),
            &format!("{op}_versions_list"),
            versions_tag,
            "List repository versions",
        )
        .params(vec![href_param(Repository::HREF)])
        .params(list_params(&filters))
        .answers(200, Some("PaginatedRepositoryVersionResponseList"))
        .serve(
            &format!("{object}versions/"),
            on(MethodFilter::GET, versions::list),
        ),
    );
    let version = format!("{object}versions/{{number}}/");
    let version_path = format!("{{{version_href}}}");
    ops.push(
        Op::new(
            HttpMethod::Get,
            &version_path,
            &format!("{op}_versions_read"),
            versions_tag,
            "Inspect a repository version",
        )
        .params(vec![href_param(version_href)])
        .params(read_params())
        .answers(200, Some("RepositoryVersionResponse"))
        .serve(&version, on(MethodFilter::GET, versions::read)),
    );
    ops.push(
        Op::new(
            HttpMethod::Delete,
            &version_path,
            &format!("{op}_versions_delete"),
            versions_tag,
            "Delete a repository version",
        )
        .params(vec![href_param(version_href)])
        .answers(202, Some(TASK))
        .serve(&version, on(MethodFilter::DELETE, versions::delete)),
    );
}

/// `GET`/`POST` on the collection, `GET`/`PUT`/`PATCH`/`DELETE` on `{<href>}`, and the label
/// actions of kind `K`.
fn typed<K: Documented>(ops: &mut Vec<Op>) {
    let (op, tag, noun) = (K::OPERATION, K::TAG, K::NOUN);
    let collection = K::COLLECTION;
    let object = format!("{collection}{{id}}/");
    let href = format!("{{{}}}", K::HREF);
    let filters = Filters {
        names: [&NAME_FILTERS[..], K::FILTERS].concat(),
        ordering: [&COMMON_ORDERING[..], K::ORDERING].concat(),
    };
    let id = |action: &str| format!("{op}_{action}");
    let get = on(MethodFilter::GET, read::<K>);
    ops.push(
        Op::new(
            HttpMethod::Get,
            collection,
            &id("list"),
            tag,
            &format!("List {noun}s"),
        )
        .params(list_params(&filters))
        .answers(200, Some(&format!("Paginated{}List", K::RESPONSE)))
        .serve(collection, on(MethodFilter::GET, list::<K>)),
    );
    let created = match K::CREATE_REPLY {
        Reply::Task => (202, TASK),
        Reply::Object => (201, K::RESPONSE),
    };
    ops.push(
        Op::new(
            HttpMethod::Post,
            collection,
            &id("create"),
            tag,
            &format!("Create a {noun}"),
        )
        .body(K::REQUEST)
        .answers(created.0, Some(created.1))
        .serve(collection, on(MethodFilter::POST, create::<K>)),
    );
    ops.push(
        Op::new(
            HttpMethod::Get,
            &href,
            &id("read"),
            tag,
            &format!("Inspect a {noun}"),
        )
        .params(vec![href_param(K::HREF)])
        .params(read_params())
        .answers(200, Some(K::RESPONSE))
        .serve(&object, get),
    );
    let updates: [(HttpMethod, &str, String, Handler); 2] = [
        (
            HttpMethod::Put,
            "update",
            K::REQUEST.into(),
            on(MethodFilter::PUT, put::<K>),
        ),
        (
            HttpMethod::Patch,
            "partial_update",
            format!("Patched{}", K::REQUEST),
            on(MethodFilter::PATCH, patch::<K>),
        ),
    ];
    for (method, action, body, handler) in updates {
        let mut o = Op::new(method, &href, &id(action), tag, &format!("Update a {noun}"))
            .params(vec![href_param(K::HREF)])
            .body(&body)
            .answers(200, Some(K::RESPONSE));
        // pulpcore declares both for its task-dispatching updates.
        if K::UPDATE_REPLY == Reply::Task {
            o = o.answers(202, Some(TASK));
        }
        ops.push(o.serve(&object, handler));
    }
    let deleted = match K::DELETE_REPLY {
        Reply::Task => (202, Some(TASK)),
        Reply::Object => (204, None),
    };
    ops.push(
        Op::new(
            HttpMethod::Delete,
            &href,
            &id("delete"),
            tag,
            &format!("Delete a {noun}"),
        )
        .params(vec![href_param(K::HREF)])
        .answers(deleted.0, deleted.1)
        .serve(&object, on(MethodFilter::DELETE, delete::<K>)),
    );
    if let Some((status, set, unset)) = K::label_actions() {
        for (action, body, answer, summary, handler) in [
            (
                "set_label",
                "SetLabel",
                "SetLabelResponse",
                "Set a label",
                set,
            ),
            (
                "unset_label",
                "UnsetLabel",
                "UnsetLabelResponse",
                "Unset a label",
                unset,
            ),
        ] {
            ops.push(
                Op::new(
                    HttpMethod::Post,
                    &format!("{href}{action}/"),
                    &id(action),
                    tag,
                    summary,
                )
                .params(vec![href_param(K::HREF)])
                .body(body)
                .answers(status, Some(answer))
                .serve(&format!("{object}{action}/"), handler),
            );
        }
    }
}

/// Every operation hubcache serves.
pub(crate) fn operations() -> Vec<Op> {
    let mut ops = Vec::new();
    typed::<Remote>(&mut ops);
    typed::<Distribution>(&mut ops);
    typed::<ContentGuard>(&mut ops);
    typed::<Repository>(&mut ops);
    repository_actions(&mut ops);
    super::generic::operations(&mut ops);
    ops
}

/// The router's routes: the table's handlers grouped by route (`api.rs`).
pub(crate) fn routes() -> Vec<(String, Handler)> {
    let mut grouped: Vec<(String, Vec<Handler>)> = Vec::new();
    for op in operations() {
        let (Some(route), Some(handler)) = (op.route, op.handler) else {
            continue;
        };
        match grouped.iter_mut().find(|(r, _)| *r == route) {
            Some((_, handlers)) => handlers.push(handler),
            None => grouped.push((route, vec![handler])),
        }
    }
    grouped
        .into_iter()
        .filter_map(|(route, handlers)| {
            let merged = handlers.into_iter().reduce(Handler::merge)?;
            Some((route, merged))
        })
        .collect()
}
