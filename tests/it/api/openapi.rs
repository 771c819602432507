//! The OpenAPI document from the real binary: served without a login as JSON and YAML, with
//! pulpcore's operations and `info.x-pulp-app-versions`, and (when `HUBCACHE_PULP_PYTHON`
//! names a Python with pulp-glue) loadable by pulp-glue itself.

use serde_json::Value;

use crate::support::TestServer;

const JSON: &str = "/pulp/api/v3/docs/api.json";
const YAML: &str = "/pulp/api/v3/docs/api.yaml";

/// The operations pulp-cli drives hubcache with.
const OPERATIONS: &[&str] = &[
    "remotes_hugging_face_hugging_face_list",
    "remotes_hugging_face_hugging_face_create",
    "remotes_hugging_face_hugging_face_read",
    "remotes_hugging_face_hugging_face_update",
    "remotes_hugging_face_hugging_face_partial_update",
    "remotes_hugging_face_hugging_face_delete",
    "remotes_hugging_face_hugging_face_set_label",
    "remotes_hugging_face_hugging_face_unset_label",
    "distributions_hugging_face_hugging_face_list",
    "distributions_hugging_face_hugging_face_create",
    "distributions_hugging_face_hugging_face_read",
    "distributions_hugging_face_hugging_face_update",
    "distributions_hugging_face_hugging_face_partial_update",
    "distributions_hugging_face_hugging_face_delete",
    "distributions_hugging_face_hugging_face_set_label",
    "distributions_hugging_face_hugging_face_unset_label",
    "contentguards_core_header_list",
    "contentguards_core_header_create",
    "contentguards_core_header_read",
    "contentguards_core_header_update",
    "contentguards_core_header_partial_update",
    "contentguards_core_header_delete",
    "remotes_list",
    "distributions_list",
    "contentguards_list",
    "repositories_list",
    "users_list",
    "users_read",
    "status_read",
    "tasks_list",
    "tasks_read",
    "tasks_cancel",
    "tasks_delete",
    "tasks_purge",
    "artifacts_read",
];

fn operation_ids(doc: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("path item").values() {
            if let Some(id) = op["operationId"].as_str() {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

#[tokio::test]
async fn the_document_is_served_without_login_as_json_and_yaml() {
    let server = TestServer::builder().start().await;
    let client = server.client();

    let resp = client.get(server.api_url(JSON)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["x-pulp-app-versions"]["core"], "3.123.1");
    assert!(doc["info"]["x-pulp-app-versions"]["hugging_face"].is_string());
    let ids = operation_ids(&doc);
    for id in OPERATIONS {
        assert!(ids.iter().any(|i| i == id), "{id} missing");
    }
    // What pulp-glue needs to call an object operation: the href as the path template.
    let read = &doc["paths"]["{hugging_face_hugging_face_remote_href}"]["get"];
    assert_eq!(
        read["operationId"],
        "remotes_hugging_face_hugging_face_read"
    );

    let resp = client.get(server.api_url(YAML)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let yaml: Value = serde_yaml::from_str(&text).expect("YAML");
    assert_eq!(yaml, doc, "the YAML is the same document");

    if let Ok(python) = std::env::var("HUBCACHE_PULP_PYTHON") {
        let script = "import json,sys\nfrom pulp_glue.common import oas\nspec = oas.OpenAPISpec.model_validate(json.load(sys.stdin))\nprint(len(spec.operations))";
        let mut child = std::process::Command::new(python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(doc.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let count: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(count, ids.len());
    }
}
