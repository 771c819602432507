//! The typed shapes of the OpenAPI document that are not one kind's response: request bodies
//! (parsed dynamically by `json.rs`, so each has a drift test against [`Kind::WRITABLE`] and
//! [`Kind::NULL_ONLY`]), the parts several responses share, and the generic list items.
//! Component names are pulpcore's (`docs/pulp-api.md`, "The OpenAPI document").
//!
//! [`Kind::WRITABLE`]: super::super::resource::Kind::WRITABLE
//! [`Kind::NULL_ONLY`]: super::super::resource::Kind::NULL_ONLY

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, RefOr, Type};
use utoipa::ToSchema;

/// One entry of `hidden_fields` (pulpcore's `HiddenFieldsMixin`): a write-only field and
/// whether it holds a value.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct HiddenField {
    /// The write-only field.
    pub name: String,
    /// `false` for `null` and `""`.
    pub is_set: bool,
}

impl HiddenField {
    /// The entry for `name`.
    pub(crate) fn new(name: &str, is_set: bool) -> Self {
        HiddenField {
            name: name.into(),
            is_set,
        }
    }
}

/// A remote's `policy` (pulpcore's component `Policy692Enum`).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Policy692Enum)]
pub(crate) enum PolicyChoice {
    /// Accepted; behaves as `on_demand` (`docs/pulp-api.md` "Remotes").
    Immediate,
    /// Store what is fetched.
    OnDemand,
    /// Never store.
    Streamed,
}

/// The remote create / update body (`hugging_face.HuggingFaceRemote`; PATCH:
/// `Patchedhugging_face.HuggingFaceRemote`, the same without `required`).
#[allow(dead_code)] // a shape for the document; bodies are read by `json.rs`
#[derive(ToSchema)]
#[schema(as = hugging_face::HuggingFaceRemote)]
pub(crate) struct RemoteRequest {
    /// A unique name for this remote.
    #[schema(min_length = 1)]
    name: String,
    /// The Hub base URL hubcache fetches from, e.g. `https://huggingface.co`.
    #[schema(min_length = 1)]
    url: String,
    /// Stored and answered as given; not used for fetching.
    #[schema(min_length = 1, format = Uri, default = "https://huggingface.co", nullable = false)]
    hf_hub_url: Option<String>,
    /// Sent upstream as `Authorization: Bearer …`; never answered.
    #[schema(write_only)]
    hf_token: Option<String>,
    /// `on_demand` (default) or `streamed`.
    #[schema(default = "on_demand", nullable = false)]
    policy: Option<PolicyChoice>,
    /// Free-form labels.
    #[schema(nullable = false)]
    pulp_labels: Option<BTreeMap<String, String>>,
    /// Verify the Hub's TLS certificate.
    #[schema(nullable = false)]
    tls_validation: Option<bool>,
    /// Extra PEM trust anchors.
    #[schema(min_length = 1)]
    ca_cert: Option<String>,
    /// A PEM client certificate; stored, not used (hubcache has no client TLS).
    #[schema(min_length = 1)]
    client_cert: Option<String>,
    /// Its private key; write-only, stored, not used.
    #[schema(min_length = 1, write_only)]
    client_key: Option<String>,
    /// An outbound proxy (no `@`); stored, not used.
    #[schema(min_length = 1)]
    proxy_url: Option<String>,
    /// Proxy user, with `proxy_password` and `proxy_url`; write-only, stored, not used.
    #[schema(min_length = 1, write_only)]
    proxy_username: Option<String>,
    /// Proxy password; write-only, stored, not used.
    #[schema(min_length = 1, write_only)]
    proxy_password: Option<String>,
    /// Basic upstream user; write-only, stored, not used (the Hub takes `hf_token`).
    #[schema(min_length = 1, write_only)]
    username: Option<String>,
    /// Basic upstream password; write-only, stored, not used.
    #[schema(min_length = 1, write_only)]
    password: Option<String>,
    /// Retries of upstream connect failures.
    #[schema(format = Int64)]
    max_retries: Option<u32>,
    /// Upstream connect timeout in seconds.
    #[schema(minimum = 0.0)]
    connect_timeout: Option<f64>,
    /// TCP connect timeout in seconds (the shorter of the two bounds the connect).
    #[schema(minimum = 0.0)]
    sock_connect_timeout: Option<f64>,
    /// Longest wait for the next upstream read, in seconds.
    #[schema(minimum = 0.0)]
    sock_read_timeout: Option<f64>,
    /// Cap on one metadata exchange with the Hub, in seconds.
    #[schema(minimum = 0.0)]
    total_timeout: Option<f64>,
    /// Extra upstream headers, one-key objects (never `Authorization`).
    headers: Option<Vec<BTreeMap<String, String>>>,
    /// Cap on concurrent upstream requests.
    #[schema(minimum = 1, format = Int64)]
    download_concurrency: Option<u32>,
    /// Upstream requests per second.
    #[schema(format = Int64)]
    rate_limit: Option<u32>,
}

/// The distribution create / update body (`hugging_face.HuggingFaceDistribution`).
#[allow(dead_code)] // a shape for the document; bodies are read by `json.rs`
#[derive(ToSchema)]
#[schema(as = hugging_face::HuggingFaceDistribution)]
pub(crate) struct DistributionRequest {
    /// A unique name.
    #[schema(min_length = 1)]
    name: String,
    /// The path under `/pulp/content/`: canonical, unique, never nested.
    #[schema(min_length = 1)]
    base_path: String,
    /// The remote to serve (a `hugging_face` remote href).
    #[schema(format = Uri)]
    remote: Option<String>,
    /// A header content guard href.
    #[schema(format = Uri)]
    content_guard: Option<String>,
    /// Left out of the content listing.
    #[schema(default = false, nullable = false)]
    hidden: Option<bool>,
    /// Free-form labels.
    #[schema(nullable = false)]
    pulp_labels: Option<BTreeMap<String, String>>,
    /// Only `null`.
    #[schema(format = Uri)]
    repository: Option<String>,
    /// Only `null`.
    #[schema(format = Uri)]
    repository_version: Option<String>,
    /// Only `null`.
    #[schema(format = Uri)]
    publication: Option<String>,
}

/// The header content guard create / update body (`HeaderContentGuard`).
#[allow(dead_code)] // a shape for the document; bodies are read by `json.rs`
#[derive(ToSchema)]
#[schema(as = HeaderContentGuard)]
pub(crate) struct GuardRequest {
    /// A unique name.
    #[schema(min_length = 1)]
    name: String,
    /// An optional description.
    #[schema(min_length = 1)]
    description: Option<String>,
    /// The header to check (case-insensitive).
    #[schema(min_length = 1)]
    header_name: String,
    /// The value it must carry; `"**********"` keeps the stored one.
    #[schema(min_length = 1)]
    header_value: String,
    /// Only `null` (jq is not supported).
    #[schema(min_length = 1)]
    jq_filter: Option<String>,
}

/// The repository create / update body (`hugging_face.HuggingFaceRepository`): pulpcore's
/// fields, then hubcache's (`docs/pulp-api.md` "Repositories").
#[allow(dead_code)] // a shape for the document; bodies are read by `json.rs`
#[derive(ToSchema)]
#[schema(as = hugging_face::HuggingFaceRepository)]
pub(crate) struct RepositoryRequest {
    /// A unique name for this repository.
    #[schema(min_length = 1)]
    name: String,
    /// An optional description.
    #[schema(min_length = 1)]
    description: Option<String>,
    /// Free-form labels.
    #[schema(nullable = false)]
    pulp_labels: Option<BTreeMap<String, String>>,
    /// The remote `sync/` uses when its body names none (a `hugging_face` remote href).
    #[schema(format = Uri)]
    remote: Option<String>,
    /// How many synced versions are kept (and pinned); default 1; `null`: all.
    #[schema(minimum = 1, format = Int64, default = 1)]
    retain_repo_versions: Option<u64>,
    /// Only `null`.
    #[schema(minimum = 1, format = Int64)]
    retain_checkpoints: Option<u64>,
    /// The Hub repository, `org/name`; required to sync.
    #[schema(min_length = 1)]
    repo_id: Option<String>,
    /// `models` (default), `datasets` or `spaces`.
    #[schema(default = "models", nullable = false)]
    repo_type: Option<crate::api::repositories::RepoTypeChoice>,
    /// Branch, tag or commit to sync (default `main`).
    #[schema(min_length = 1, max_length = 256, default = "main", nullable = false)]
    revision: Option<String>,
    /// Files to take (globs, as `huggingface_hub.snapshot_download`); empty: all.
    allow_patterns: Option<Vec<String>>,
    /// Files to leave out (globs).
    ignore_patterns: Option<Vec<String>>,
    /// Keep the retained versions' files out of eviction.
    #[schema(default = false, nullable = false)]
    pinned: Option<bool>,
}

/// `sync/` body (`RepositorySyncURL`).
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(as = RepositorySyncURL)]
pub(crate) struct RepositorySyncUrl {
    /// The remote to sync through; else the repository's.
    #[schema(format = Uri, nullable = false)]
    remote: Option<String>,
    /// Accepted and ignored: a sync only adds files to the cache.
    #[schema(default = false, nullable = false)]
    mirror: Option<bool>,
}

/// `set_label/` body.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(as = SetLabel)]
pub(crate) struct SetLabel {
    #[schema(min_length = 1)]
    key: String,
    value: Option<String>,
}

/// `unset_label/` body.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(as = UnsetLabel)]
pub(crate) struct UnsetLabel {
    #[schema(min_length = 1)]
    key: String,
}

/// `set_label/` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SetLabelResponse)]
pub(crate) struct SetLabelResponse {
    /// The label's key.
    pub key: String,
    /// Its new value.
    pub value: Option<String>,
}

/// `unset_label/` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = UnsetLabelResponse)]
pub(crate) struct UnsetLabelResponse {
    /// The label's key.
    pub key: String,
    /// The value it had.
    #[schema(read_only)]
    pub value: String,
}

/// Task states `purge/` accepts (pulpcore's `StatesEnum`).
#[allow(dead_code)]
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = StatesEnum)]
pub(crate) enum PurgeState {
    Skipped,
    Completed,
    Failed,
    Canceled,
}

/// `POST /pulp/api/v3/tasks/purge/` body.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(as = Purge)]
pub(crate) struct Purge {
    /// Purge tasks finished before this moment.
    #[schema(format = DateTime, nullable = false)]
    finished_before: Option<String>,
    /// Purge tasks in these final states (default `["completed"]`).
    #[schema(default = json!(["completed"]), nullable = false)]
    states: Option<Vec<PurgeState>>,
}

/// `PATCH <task_href>` body: `{"state": "canceled"}`.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(as = PatchedTaskCancel)]
pub(crate) struct PatchedTaskCancel {
    /// Only `canceled`.
    #[schema(min_length = 1, nullable = false)]
    state: Option<String>,
}

/// The PATCH form of a request body: the same properties, none required (pulpcore's
/// `Patched…` components).
pub(crate) fn patched(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.required.clear();
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// DRF's `LimitOffsetPagination` envelope around `item` (pulpcore's `Paginated…List`).
pub(crate) fn paginated(item: &str) -> RefOr<Schema> {
    let link = |example: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Uri,
            )))
            .extensions(None)
            .examples([serde_json::Value::from(example)])
    };
    let mut next = link("http://api.example.org/accounts/?offset=400&limit=100").build();
    let mut previous = link("http://api.example.org/accounts/?offset=200&limit=100").build();
    for schema in [&mut next, &mut previous] {
        schema.schema_type =
            utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    }
    ObjectBuilder::new()
        .property(
            "count",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .examples([serde_json::Value::from(123)]),
        )
        .property("next", next)
        .property("previous", previous)
        .property(
            "results",
            ArrayBuilder::new().items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(item))),
        )
        .required("count")
        .required("results")
        .into()
}
