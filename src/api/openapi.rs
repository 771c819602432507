//! The OpenAPI 3.1 document, `GET /pulp/api/v3/docs/api.json` and `…/docs/api.yaml` (no
//! auth, as pulpcore). pulp-cli / pulp-glue load it first and drive every command from it,
//! so it is shaped as pulpcore's (`docs/pulp-api.md`, "The OpenAPI document"): its operations
//! come from the table in [`ops`] that the router is built from, and its schemas from the
//! structs the handlers serialize (`utoipa::ToSchema`). Built once, at first use.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{Components, Schema};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Info, OpenApi, PathItem, Paths, RefOr};
use utoipa::{PartialSchema, ToSchema};

pub(crate) mod generic;
pub(crate) mod ops;
mod params;
pub(crate) mod schemas;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_reference;

use super::distributions::DistributionResponse;
use super::guards::GuardResponse;
use super::remotes::RemoteResponse;
use super::repositories::versions::VersionResponse;
use super::repositories::RepositoryResponse;
use super::resource::Common;
use super::status::StatusResponse;

/// Where the document is served.
pub(crate) const JSON_PATH: &str = "/pulp/api/v3/docs/api.json";
/// The same document as YAML.
pub(crate) const YAML_PATH: &str = "/pulp/api/v3/docs/api.yaml";

/// The Pulp API versions hubcache implements, as `info.x-pulp-app-versions`. pulp-glue
/// compares them with each plugin's requirements (`pulp debug has-plugin --name core`, and
/// pulp-cli refuses a `core` older than it supports): hubcache answers as the Pulp release
/// its API was written against (`docs/pulp-api.md`) — pulpcore 3.123.1 with
/// pulp_hugging_face 0.3.2 — not as its own version, which is `x-hubcache-version`.
/// hubcache itself is listed too, and the status endpoint lists exactly these components
/// (`status.rs`): `pulp status` compares the two and refetches the document when they differ.
/// Each entry: component, version, Python package, module (as pulpcore's status names them).
pub(crate) const PULP_APP_VERSIONS: [(&str, &str, &str, &str); 3] = [
    ("core", "3.123.1", "pulpcore", "pulpcore.app"),
    (
        "hugging_face",
        "0.3.2",
        "pulp-hugging-face",
        "pulp_hugging_face.app",
    ),
    (
        "hubcache",
        env!("CARGO_PKG_VERSION"),
        "hubcache",
        "hubcache",
    ),
];

/// Adds `T`'s schema and those it refers to, with the flattened [`Common`] fields inlined.
fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), inline_common(T::schema())));
    let mut parts = Vec::new();
    T::schemas(&mut parts);
    schemas.extend(
        parts
            .into_iter()
            .filter(|(name, _)| *name != Common::name()),
    );
}

/// utoipa renders a `#[serde(flatten)]` field as `allOf: [{$ref: Common}, {…}]`; pulpcore's
/// components are one flat object, the common fields first, so they are merged here.
fn inline_common(schema: RefOr<Schema>) -> RefOr<Schema> {
    let RefOr::T(Schema::AllOf(all_of)) = schema else {
        return schema;
    };
    let common_ref = format!("#/components/schemas/{}", Common::name());
    let RefOr::T(Schema::Object(mut merged)) = Common::schema() else {
        return RefOr::T(Schema::AllOf(all_of));
    };
    for item in &all_of.items {
        match item {
            RefOr::Ref(r) if r.ref_location == common_ref => {}
            RefOr::T(Schema::Object(own)) => {
                merged.properties.extend(own.properties.clone());
                merged.required.extend(own.required.clone());
                merged.description = own.description.clone();
            }
            _ => return RefOr::T(Schema::AllOf(all_of)),
        }
    }
    RefOr::T(Schema::Object(merged))
}

/// Every component schema, under pulpcore's names.
pub(crate) fn components() -> Components {
    let mut s = Vec::new();
    add::<RemoteResponse>(&mut s);
    add::<DistributionResponse>(&mut s);
    add::<GuardResponse>(&mut s);
    add::<RepositoryResponse>(&mut s);
    add::<VersionResponse>(&mut s);
    add::<StatusResponse>(&mut s);
    add::<schemas::RemoteRequest>(&mut s);
    add::<schemas::DistributionRequest>(&mut s);
    add::<schemas::GuardRequest>(&mut s);
    add::<schemas::RepositoryRequest>(&mut s);
    add::<schemas::RepositorySyncUrl>(&mut s);
    for (name, schema) in [
        (
            "Patchedhugging_face.HuggingFaceRemote",
            schemas::RemoteRequest::schema(),
        ),
        (
            "Patchedhugging_face.HuggingFaceDistribution",
            schemas::DistributionRequest::schema(),
        ),
        ("PatchedHeaderContentGuard", schemas::GuardRequest::schema()),
        (
            "Patchedhugging_face.HuggingFaceRepository",
            schemas::RepositoryRequest::schema(),
        ),
    ] {
        s.push((name.into(), schemas::patched(schema)));
    }
    add::<schemas::SetLabel>(&mut s);
    add::<schemas::UnsetLabel>(&mut s);
    add::<schemas::SetLabelResponse>(&mut s);
    add::<schemas::UnsetLabelResponse>(&mut s);
    add::<schemas::Purge>(&mut s);
    add::<schemas::PatchedTaskCancel>(&mut s);
    add::<generic::GenericRemoteResponse>(&mut s);
    add::<generic::GenericDistributionResponse>(&mut s);
    add::<generic::GenericGuardResponse>(&mut s);
    add::<generic::GenericRepositoryResponse>(&mut s);
    add::<generic::UserResponse>(&mut s);
    add::<crate::api::tasks::response::TaskResponse>(&mut s);
    add::<crate::api::tasks::response::AsyncOperationResponse>(&mut s);
    for item in [
        "hugging_face.HuggingFaceRemoteResponse",
        "hugging_face.HuggingFaceDistributionResponse",
        "HeaderContentGuardResponse",
        "hugging_face.HuggingFaceRepositoryResponse",
        "RepositoryVersionResponse",
        "GenericRemoteResponse",
        "DistributionResponse",
        "ContentGuardResponse",
        "RepositoryResponse",
        "UserResponse",
        "TaskResponse",
    ] {
        s.push((format!("Paginated{item}List"), schemas::paginated(item)));
    }
    let mut components = Components::new();
    components.schemas.extend(s);
    components.security_schemes.insert(
        "basicAuth".into(),
        SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
    );
    components
}

/// The document.
pub(crate) fn document() -> OpenApi {
    let mut versions = serde_json::Map::new();
    for (app, version, _, _) in PULP_APP_VERSIONS {
        versions.insert(app.into(), version.into());
    }
    let extensions = ExtensionsBuilder::new()
        .add("x-pulp-app-versions", versions)
        .add("x-pulp-domain-enabled", false)
        .add("x-hubcache-version", env!("CARGO_PKG_VERSION"))
        .build();
    let mut info = Info::new("Pulp 3 API", "v3");
    info.description = Some("hubcache: the Pulp REST API of pulp_hugging_face, as a pull-through cache for the Hugging Face Hub".into());
    info.extensions = Some(extensions);
    let mut paths = Paths::new();
    for op in ops::operations() {
        let item = PathItem::new(op.method, op.operation);
        match paths.paths.get_mut(&op.path) {
            Some(existing) => existing.merge_operations(item),
            None => {
                paths.paths.insert(op.path, item);
            }
        }
    }
    let mut doc = OpenApi::new(info, paths);
    doc.components = Some(components());
    doc
}

/// The document as JSON and as YAML, rendered once.
fn rendered() -> &'static (String, String) {
    static RENDERED: OnceLock<(String, String)> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let doc = document();
        let json = serde_json::to_string(&doc).unwrap_or_default();
        let yaml = serde_yaml::to_string(&doc).unwrap_or_default();
        (json, yaml)
    })
}

fn answer(body: &'static str, media: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    resp
}

/// `GET /pulp/api/v3/docs/api.json`.
pub(crate) async fn json() -> Response {
    answer(&rendered().0, "application/json")
}

/// `GET /pulp/api/v3/docs/api.yaml`.
pub(crate) async fn yaml() -> Response {
    answer(&rendered().1, "application/yaml")
}
