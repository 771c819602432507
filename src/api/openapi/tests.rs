//! The document against the code: request bodies = the fields each kind reads; responses =
//! what the handlers serialize; operations = the router's routes. (Against pulpcore's own
//! document: `tests_reference.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::api::guards::REDACTED;
use crate::api::json::{Input, Mode};
use crate::api::resource::{render, Kind};
use crate::model::{
    ContentGuard, Distribution, Meta, Origin, Remote, Repository, RepositoryVersion, Secret,
    VersionFile,
};
use crate::registry::Snapshot;

pub(super) fn doc() -> Value {
    serde_json::to_value(document()).unwrap()
}

pub(super) fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/pulp-openapi-subset.json"
    );
    let text = fs_err::read_to_string(path).expect("the reference document beside the checkout");
    serde_json::from_str(&text).unwrap()
}

pub(super) fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no component {name}");
    s
}

pub(super) fn properties(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

pub(super) fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn set(names: &[&[&str]]) -> BTreeSet<String> {
    names
        .iter()
        .flat_map(|n| n.iter().map(|s| s.to_string()))
        .collect()
}

#[test]
fn request_bodies_have_exactly_the_fields_each_kind_reads() {
    let doc = doc();
    let kinds: [(&str, BTreeSet<String>); 4] = [
        (
            "hugging_face.HuggingFaceRemote",
            set(&[Remote::WRITABLE, Remote::NULL_ONLY]),
        ),
        (
            "hugging_face.HuggingFaceDistribution",
            set(&[Distribution::WRITABLE, Distribution::NULL_ONLY]),
        ),
        (
            "HeaderContentGuard",
            set(&[ContentGuard::WRITABLE, ContentGuard::NULL_ONLY]),
        ),
        (
            "hugging_face.HuggingFaceRepository",
            set(&[Repository::WRITABLE, Repository::NULL_ONLY]),
        ),
    ];
    for (name, fields) in kinds {
        for form in [name.to_string(), format!("Patched{name}")] {
            let s = schema(&doc, &form);
            assert_eq!(properties(s), fields, "{form}");
            if form.starts_with("Patched") {
                assert!(required(s).is_empty(), "{form}");
            } else {
                assert!(!required(s).is_empty(), "{form}");
            }
        }
    }
}

fn samples() -> (Snapshot, Remote, Distribution, ContentGuard) {
    let mut remote = Remote::new(Origin::Api, "r", "https://huggingface.co");
    remote.hf_token = Some(Secret::new("hf_secret"));
    let guard = ContentGuard {
        meta: Meta::new(Origin::Api),
        name: "g".into(),
        description: None,
        header_name: "Authorization".into(),
        header_value: Secret::new("Bearer s3cret"),
    };
    let dist = Distribution {
        meta: Meta::new(Origin::Api),
        name: "d".into(),
        base_path: "hf".into(),
        remote: Some(remote.meta.id),
        content_guard: Some(guard.meta.id),
        hidden: false,
        pulp_labels: BTreeMap::new(),
    };
    let snap = Snapshot {
        remotes: vec![Arc::new(remote.clone())],
        distributions: vec![Arc::new(dist.clone())],
        guards: vec![Arc::new(guard.clone())],
        ..Default::default()
    };
    (snap, remote, dist, guard)
}

fn keys(map: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    map.keys().cloned().collect()
}

#[test]
fn answers_have_exactly_their_schemas_properties() {
    let doc = doc();
    let (snap, remote, dist, guard) = samples();
    let mut repo = Repository::new(Origin::Api, "repo");
    repo.remote = Some(remote.meta.id);
    repo.repo_id = Some("org/m".into());
    repo.versions.push(RepositoryVersion {
        number: 1,
        created: std::time::SystemTime::now(),
        commit: "c".repeat(40),
        revision: "main".into(),
        files: vec![VersionFile {
            etag: "e".into(),
            size: 3,
        }],
    });
    let origin = "http://cache";
    let rows = [
        (
            "hugging_face.HuggingFaceRemoteResponse",
            render(&remote, &snap, origin),
        ),
        (
            "hugging_face.HuggingFaceDistributionResponse",
            render(&dist, &snap, origin),
        ),
        ("HeaderContentGuardResponse", render(&guard, &snap, origin)),
        (
            "hugging_face.HuggingFaceRepositoryResponse",
            render(&repo, &snap, origin),
        ),
        (
            "RepositoryVersionResponse",
            crate::api::repositories::versions::render(&repo, repo.versions.first()),
        ),
        (
            "RepositoryVersionResponse",
            crate::api::repositories::versions::render(&repo, None),
        ),
    ];
    for (name, rendered) in rows {
        assert_eq!(keys(&rendered), properties(schema(&doc, name)), "{name}");
        for field in required(schema(&doc, name)) {
            assert!(rendered.contains_key(&field), "{name}.{field}");
        }
    }
    let status = crate::api::status::body(&Default::default(), true, None);
    let Value::Object(status) = serde_json::to_value(status).unwrap() else {
        panic!("status is an object")
    };
    assert_eq!(keys(&status), properties(schema(&doc, "StatusResponse")));
}

#[test]
fn guard_value_is_redacted_and_sending_it_back_keeps_it() {
    let (snap, _, _, guard) = samples();
    let shown = render(&guard, &snap, "");
    assert_eq!(shown["header_value"], REDACTED);
    assert_eq!(
        shown["hidden_fields"],
        json!([{"name": "header_value", "is_set": true}])
    );
    assert!(!Value::Object(shown).to_string().contains("s3cret"));
    let body = json!({"header_value": REDACTED, "description": "x"});
    let Value::Object(map) = body else { panic!() };
    let kept = ContentGuard::build(
        Input::from_map(map.clone()),
        Some(&guard),
        Mode::Patch,
        &snap,
    )
    .unwrap();
    assert_eq!(kept.header_value.expose(), "Bearer s3cret");
    assert_eq!(kept.description.as_deref(), Some("x"));
    let mut create = map;
    create.insert("name".into(), json!("new"));
    create.insert("header_name".into(), json!("X-Key"));
    assert!(ContentGuard::build(Input::from_map(create), None, Mode::Create, &snap).is_err());
}

#[test]
fn every_operation_is_routed_and_every_route_documented() {
    let mut unrouted = BTreeSet::new();
    for op in ops::operations() {
        let id = op.operation.operation_id.clone().unwrap();
        assert_eq!(op.route.is_some(), op.handler.is_some(), "{id}");
        match &op.route {
            None => {
                unrouted.insert(id);
            }
            // A literal path is served at itself; a template at the kind's `…/{id}/`.
            Some(route) if !op.path.starts_with('{') => assert_eq!(*route, op.path, "{id}"),
            Some(route) => assert!(route.contains("{id}/"), "{id}: {route}"),
        }
    }
    assert_eq!(unrouted, set(&[ops::UNROUTED]));
    let ids: Vec<String> = ops::operations()
        .into_iter()
        .filter_map(|op| op.operation.operation_id)
        .collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<BTreeSet<_>>().len(),
        "unique"
    );
}

#[test]
fn document_is_openapi_3_1_with_pulps_extensions() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "Pulp 3 API");
    assert_eq!(doc["info"]["version"], "v3");
    assert_eq!(doc["info"]["x-pulp-app-versions"]["core"], "3.123.1");
    assert_eq!(doc["info"]["x-pulp-app-versions"]["hugging_face"], "0.3.2");
    assert_eq!(doc["info"]["x-pulp-domain-enabled"], false);
    assert_eq!(doc["info"]["x-hubcache-version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["basicAuth"],
        json!({"type": "http", "scheme": "basic"})
    );
    // Every `$ref` resolves.
    let text = doc.to_string();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        schema(&doc, name);
    }
}
