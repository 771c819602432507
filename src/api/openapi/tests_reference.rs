//! The document against pulpcore's own (`../shared/reference/pulp-openapi-subset.json`
//! beside the checkout: the real Pulp 3.123.1 + pulp_hugging_face 0.3.2 document): same
//! operations, compatible schemas, and the deliberate differences listed with a reason each.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::tests::{doc, properties, reference, required, schema};

/// `(method, path, operation)` of every operation in `doc`, by operationId.
fn operations(doc: &Value) -> BTreeMap<String, (String, String, Value)> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                out.insert(id.to_string(), (method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn response_codes(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn body_schema(op: &Value) -> Value {
    op["requestBody"]["content"]["application/json"]["schema"].clone()
}

#[test]
fn operations_are_pulpcores() {
    let (ours, theirs) = (operations(&doc()), operations(&reference()));
    let mut compared = 0;
    for (id, (method, path, op)) in &ours {
        let Some((t_method, t_path, t_op)) = theirs.get(id) else {
            continue;
        };
        compared += 1;
        assert_eq!((method, path), (t_method, t_path), "{id}");
        assert_eq!(op["tags"], t_op["tags"], "{id}");
        assert_eq!(response_codes(op), response_codes(t_op), "{id}");
        for code in response_codes(op) {
            let schema =
                |o: &Value| o["responses"][&code]["content"]["application/json"]["schema"].clone();
            assert_eq!(schema(op), schema(t_op), "{id} {code}");
        }
        assert_eq!(body_schema(op), body_schema(t_op), "{id}");
        assert_eq!(op["security"].is_null(), t_op["security"].is_null(), "{id}");
        // Every path parameter pulpcore declares, under the same name.
        let path_params = |o: &Value| -> BTreeSet<String> {
            o["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(path_params(op), path_params(t_op), "{id}");
    }
    assert!(compared >= 28, "compared {compared}");
}

/// The reference properties hubcache deliberately lacks or shapes differently, with why.
const DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "hugging_face.HuggingFaceRemoteResponse",
        "hf_token",
        "write-only in hubcache: only in hidden_fields (docs/pulp-api.md §5)",
    ),
    (
        "hugging_face.HuggingFaceRemoteResponse",
        "headers",
        "null when none are set, as pulpcore answers it (its schema says array)",
    ),
    (
        "hugging_face.HuggingFaceRemote",
        "hf_token",
        "marked writeOnly: never answered",
    ),
    (
        "Patchedhugging_face.HuggingFaceRemote",
        "hf_token",
        "marked writeOnly: never answered",
    ),
    (
        "hugging_face.HuggingFaceRemote",
        "headers",
        "null accepted (clears them), as pulpcore's model allows",
    ),
    (
        "Patchedhugging_face.HuggingFaceRemote",
        "headers",
        "null accepted (clears them), as pulpcore's model allows",
    ),
    (
        "hugging_face.HuggingFaceDistributionResponse",
        "content_guard_prn",
        "null without a guard, as pulpcore answers it",
    ),
    (
        "hugging_face.HuggingFaceDistributionResponse",
        "no_content_change_since",
        "always null, as pulpcore answers it without a publication",
    ),
    (
        "TaskResponse",
        "result",
        "utoipa 5 renders an any-value field as `{}`, with no room for readOnly",
    ),
    (
        "TaskResponse",
        "error",
        "utoipa 5 renders a free-form object without readOnly (response-only: no client reads it)",
    ),
    (
        "StorageResponse",
        "total",
        "never null: hubcache always reads the filesystem",
    ),
    (
        "StorageResponse",
        "used",
        "never null: hubcache always reads the filesystem",
    ),
    (
        "StorageResponse",
        "free",
        "never null: hubcache always reads the filesystem",
    ),
    (
        "RepositoryVersionResponse",
        "content_summary",
        "utoipa 5 renders a struct field as a bare $ref, with no room for readOnly (response-only)",
    ),
];

/// Properties hubcache adds to pulpcore's components, with why.
const EXTRAS: &[(&str, &[&str], &str)] = &[
    (
        "hugging_face.HuggingFaceRepositoryResponse",
        REPOSITORY_EXTRAS,
        "the Hub repository a sync prewarms and whether it is pinned (docs/pulp-api.md §12)",
    ),
    (
        "hugging_face.HuggingFaceRepository",
        REPOSITORY_EXTRAS,
        "the same, writable (optional: the generated client drops them)",
    ),
    (
        "Patchedhugging_face.HuggingFaceRepository",
        REPOSITORY_EXTRAS,
        "the same, writable",
    ),
    (
        "RepositoryVersionResponse",
        &["commit", "revision", "files", "bytes"],
        "what the sync found: the commit, and the files and bytes it holds (docs/prewarm.md)",
    ),
];

const REPOSITORY_EXTRAS: &[&str] = &[
    "repo_id",
    "repo_type",
    "revision",
    "allow_patterns",
    "ignore_patterns",
    "pinned",
];

#[test]
fn extra_properties_are_hubcaches_own() {
    let (ours, theirs) = (doc(), reference());
    for (name, fields, why) in EXTRAS {
        let extra: BTreeSet<String> = properties(schema(&ours, name))
            .difference(&properties(schema(&theirs, name)))
            .cloned()
            .collect();
        let listed: BTreeSet<String> = fields.iter().map(|f| f.to_string()).collect();
        assert_eq!(extra, listed, "{name} ({why})");
    }
}

fn allowed(component: &str, field: &str) -> bool {
    DIFFERENCES
        .iter()
        .any(|(c, f, _)| *c == component && *f == field)
}

/// `type` as a set, `$ref`/`allOf`/`oneOf` of one reference unwrapped.
fn type_of(p: &Value) -> BTreeSet<String> {
    match &p["type"] {
        Value::String(t) => BTreeSet::from([t.clone()]),
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => {
            for key in ["allOf", "oneOf", "anyOf"] {
                if let Some([one]) = p[key].as_array().map(Vec::as_slice) {
                    return type_of(one);
                }
            }
            match p["$ref"].as_str() {
                Some(r) => BTreeSet::from([r.to_string()]),
                None => BTreeSet::new(),
            }
        }
    }
}

#[test]
fn schemas_are_compatible_with_pulpcores() {
    let (ours, theirs) = (doc(), reference());
    let compared = [
        ("hugging_face.HuggingFaceRemoteResponse", false),
        ("hugging_face.HuggingFaceRemote", true),
        ("Patchedhugging_face.HuggingFaceRemote", true),
        ("hugging_face.HuggingFaceDistributionResponse", false),
        ("hugging_face.HuggingFaceDistribution", true),
        ("Patchedhugging_face.HuggingFaceDistribution", true),
        ("HeaderContentGuardResponse", false),
        ("HeaderContentGuard", true),
        ("PatchedHeaderContentGuard", true),
        ("StatusResponse", false),
        ("VersionResponse", false),
        ("AppStatusResponse", false),
        ("DatabaseConnectionResponse", false),
        ("RedisConnectionResponse", false),
        ("StorageResponse", false),
        ("ContentSettingsResponse", false),
        ("TaskResponse", false),
        ("ProgressReportResponse", false),
        ("AsyncOperationResponse", false),
        ("SetLabel", true),
        ("UnsetLabel", true),
        ("SetLabelResponse", false),
        ("UnsetLabelResponse", false),
        ("Purge", true),
        ("PatchedTaskCancel", true),
        ("GenericRemoteResponse", false),
        ("DistributionResponse", false),
        ("ContentGuardResponse", false),
        ("hugging_face.HuggingFaceRepositoryResponse", false),
        ("hugging_face.HuggingFaceRepository", true),
        ("Patchedhugging_face.HuggingFaceRepository", true),
        ("RepositoryVersionResponse", false),
        ("ContentSummaryResponse", false),
        ("RepositorySyncURL", true),
        ("Policy692Enum", true),
        ("RepoTypeEnum", true),
        ("StatesEnum", true),
    ];
    let mut problems = Vec::new();
    for (name, request) in compared {
        let (o, t) = (schema(&ours, name), schema(&theirs, name));
        if o["enum"] != t["enum"] {
            problems.push(format!("{name}: enum"));
        }
        if request && !required(o).is_subset(&required(t)) {
            problems.push(format!("{name} requires more than pulpcore"));
        }
        if !request && !required(t).is_subset(&properties(o)) {
            problems.push(format!("{name} lacks a field pulpcore requires"));
        }
        for field in properties(t) {
            if allowed(name, &field) {
                continue;
            }
            problems.extend(field_problems(
                &format!("{name}.{field}"),
                &o["properties"][&field],
                &t["properties"][&field],
                request,
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// How our property `op` differs from pulpcore's `tp`.
fn field_problems(at: &str, op: &Value, tp: &Value, request: bool) -> Vec<String> {
    if !op.is_object() {
        return vec![format!("{at} missing")];
    }
    let mut problems = Vec::new();
    let (ot, tt) = (type_of(op), type_of(tp));
    // Ours may be stricter (not nullable), or exact; pulpcore's DRF `{}` matches any.
    let fits = ot == tt || (!ot.is_empty() && ot.is_subset(&tt)) || tt.is_empty();
    // A few of pulpcore's response fields are declared non-null but answered null
    // (timestamps of a task not yet run, `error`): ours say so.
    let nullable_answer = !request && ot.contains("null") && {
        let mut without = ot.clone();
        without.remove("null");
        without == tt
    };
    if !(fits || nullable_answer) {
        problems.push(format!("{at}: type {ot:?} vs {tt:?}"));
    }
    if tp.get("format").is_some() && op.get("format") != tp.get("format") {
        problems.push(format!(
            "{at}: format {:?} vs {:?}",
            op.get("format"),
            tp.get("format")
        ));
    }
    // utoipa 5 cannot mark an array or a map read-only (its `Array` has no `readOnly`, and
    // a map's is dropped). Harmless: these are response fields, which no client sends, and
    // the generated clients only read `readOnly` on request models.
    let container = !op["items"].is_null() || !op["additionalProperties"].is_null();
    let unmarkable = container && op.get("readOnly").is_none();
    for flag in ["readOnly", "writeOnly"] {
        if op.get(flag) != tp.get(flag) && !(flag == "readOnly" && unmarkable) {
            problems.push(format!("{at}: {flag}"));
        }
    }
    problems
}

#[test]
fn differences_are_real() {
    // An entry that no longer differs must leave the list (a stale allow-list hides drift).
    let (ours, theirs) = (doc(), reference());
    for (name, field, why) in DIFFERENCES {
        let (o, t) = (schema(&ours, name), schema(&theirs, name));
        assert_ne!(
            o["properties"][field], t["properties"][field],
            "{name}.{field} ({why})"
        );
    }
}
