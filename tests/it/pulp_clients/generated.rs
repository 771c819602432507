//! The generated clients, `pulp_hugging_face_client` and `pulpcore_client`, as a program that
//! manages hubcache would use them: one script per area (`tests/it/pulp_clients/*.py`).

use serde_json::{json, Value};

use super::{pulp_python, run_script};
use crate::support::{FakeHub, RemoteCfg, TestServer};

const DECLARED_TOKEN: &str = "hf_declaredGeneratedToken0a7";
const FILE: &str = "org/bert/resolve/main/config.json";
const MASK: &str = "**********";

/// A fake Hub serving `org/bert`, and hubcache with a declared remote `hf` (with a token)
/// and distribution `hf-public`.
async fn server() -> (FakeHub, TestServer) {
    let hub = FakeHub::start().await;
    hub.add_file(
        "org/bert",
        "main",
        "config.json",
        b"{\"model_type\": \"bert\"}\n".to_vec(),
    );
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", &hub).token(DECLARED_TOKEN))
        .distribution("hf-public", "hf")
        .start()
        .await;
    (hub, server)
}

#[tokio::test]
async fn generated_client_manages_remotes_and_rotates_the_token_without_showing_it() {
    let Some(python) = pulp_python() else { return };
    let (hub, server) = server().await;
    let tokens = [
        "hf_generatedFirst1c3",
        "hf_generatedSecond2d4",
        "hf_generatedThird3e5",
    ];
    let mut secrets = tokens.to_vec();
    secrets.push(DECLARED_TOKEN);
    let s = run_script(
        &python,
        "remotes",
        &server,
        &secrets,
        json!({ "url": hub.url(), "tokens": tokens }),
    )
    .await;

    assert_eq!(s.fact("create.status"), 201);
    assert_eq!(s.fact("create.url"), hub.url().as_str());
    // The generated model sends its default hf_hub_url; hubcache keeps it as given.
    assert_eq!(s.fact("create.hf_hub_url"), "https://huggingface.co");
    assert_eq!(s.fact("create.policy"), "on_demand");
    assert_eq!(s.fact("create.token_is_set"), true);
    assert_eq!(s.fact("create.hf_token"), &Value::Null);
    assert_eq!(s.fact("read.token_is_set"), true);
    assert_eq!(s.fact("list.count"), 1);

    for write in ["patch", "put", "delete"] {
        assert_eq!(s.fact(&format!("{write}.status")), 202, "{write}");
        assert_eq!(
            s.fact(&format!("{write}.task.first_state")),
            "completed",
            "{write}: the task is done at its first read"
        );
        assert_eq!(s.fact(&format!("{write}.task.finished")), true, "{write}");
    }
    assert_eq!(s.fact("clear.task.first_state"), "completed");
    // Rotating the token leaves url as it was (the PATCH also carried hf_hub_url).
    assert_eq!(s.fact("patch.url"), hub.url().as_str());
    assert_eq!(s.fact("patch.token_is_set"), true);
    assert_eq!(s.fact("patch.hf_token"), &Value::Null);
    assert_eq!(s.fact("patch.updated"), true);
    assert_eq!(s.fact("clear.token_is_set"), false);
    assert_eq!(s.fact("put.policy"), "streamed");
    assert_eq!(s.fact("put.token_is_set"), true);
    assert_eq!(s.fact("delete.read_status"), 404);
}

#[tokio::test]
async fn generated_client_manages_distributions_through_completed_tasks() {
    let Some(python) = pulp_python() else { return };
    let (_hub, server) = server().await;
    let s = run_script(
        &python,
        "distributions",
        &server,
        &[DECLARED_TOKEN],
        json!({ "remote": "hf", "file": FILE }),
    )
    .await;

    for write in ["create", "patch", "put", "delete"] {
        assert_eq!(s.fact(&format!("{write}.status")), 202, "{write}");
        assert_eq!(
            s.fact(&format!("{write}.task.first_state")),
            "completed",
            "{write}: the task is done at its first read"
        );
    }
    let created = s.fact("create.created_resources");
    assert_eq!(created.as_array().map(Vec::len), Some(1), "{created}");
    assert_eq!(s.fact("read.base_path"), "pc/dist");
    assert_eq!(s.fact("read.remote_is_the_remote"), true);
    assert!(
        s.fact("read.base_url")
            .as_str()
            .is_some_and(|u| u.ends_with("/pulp/content/pc/dist/")),
        "{}",
        s.fact("read.base_url")
    );
    assert_eq!(s.fact("list.hrefs"), &json!([created[0]]));
    // Each change is live when its 202 is answered.
    assert_eq!(s.fact("create.content"), 200);
    assert_eq!(s.fact("patch.base_path"), "pc/moved");
    assert_eq!(s.fact("patch.old_content"), 404);
    assert_eq!(s.fact("patch.new_content"), 200);
    assert_eq!(s.fact("put.remote"), &Value::Null);
    assert_eq!(s.fact("delete.read_status"), 404);
    assert_eq!(s.fact("delete.content"), 404);
}

#[tokio::test]
async fn generated_client_manages_header_guards_and_a_sent_back_mask_keeps_the_value() {
    let Some(python) = pulp_python() else { return };
    let (_hub, server) = server().await;
    let values = ["Bearer generated-guard-9f1", "Bearer generated-guard-b72"];
    let s = run_script(
        &python,
        "guards",
        &server,
        &[values[0], values[1], DECLARED_TOKEN],
        json!({ "remote": "hf", "file": FILE, "values": values }),
    )
    .await;

    assert_eq!(s.fact("create.status"), 201);
    for answered in [
        "create.header_value",
        "read.header_value",
        "patch.header_value",
    ] {
        assert_eq!(s.fact(answered), MASK, "{answered}");
    }
    assert_eq!(s.fact("list.header_values"), &json!([MASK]));
    assert_eq!(
        s.fact("read.hidden_fields"),
        &json!([{"name": "header_value", "is_set": true}])
    );
    assert_eq!(s.fact("guarded.without_header"), 403);
    assert_eq!(s.fact("guarded.wrong_header"), 403);
    assert_eq!(s.fact("guarded.with_header"), 200);
    // Sending "**********" back (PATCH, then PUT of the object as read) keeps the real value.
    assert_eq!(s.fact("patch.status"), 200);
    assert_eq!(s.fact("patch.description"), "read and sent back");
    assert_eq!(s.fact("patch.with_header"), 200);
    assert_eq!(s.fact("put.status"), 200);
    assert_eq!(s.fact("put.with_header"), 200);
    // A real new value replaces it.
    assert_eq!(s.fact("change.header_value"), MASK);
    assert_eq!(s.fact("change.old_header"), 403);
    assert_eq!(s.fact("change.new_header"), 200);
    // A guard in use is not deleted (docs/pulp-api.md); once unused it is (204).
    assert_eq!(s.fact("delete_in_use.status"), 400);
    assert_eq!(s.fact("unguard.task.first_state"), "completed");
    assert_eq!(s.fact("unguarded.without_header"), 200);
    assert_eq!(s.fact("delete.status"), 204);
    assert_eq!(s.fact("delete.read_status"), 404);
}

#[tokio::test]
async fn status_api_and_generic_lists_parse_without_secrets() {
    let Some(python) = pulp_python() else { return };
    let (_hub, server) = server().await;
    let s = run_script(&python, "status", &server, &[DECLARED_TOKEN], json!({})).await;

    assert!(
        s.fact("status.components")
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{}",
        s.fact("status.components")
    );
    assert_eq!(s.fact("status.domain_enabled"), false);
    assert_eq!(s.fact("status.database_connected"), true);
    assert_eq!(s.fact("status.content_path_prefix"), "/pulp/content/");
    assert_eq!(s.fact("anonymous.status"), 200);
    assert_eq!(s.fact("remotes.names"), &json!(["hf"]));
    assert_eq!(s.fact("distributions.base_paths"), &json!(["hf-public"]));
    assert_eq!(s.fact("guards.names"), &json!([]));
    assert!(s.fact("tasks.count").is_u64());
}

#[tokio::test]
async fn generated_client_manages_repositories_and_starts_a_sync() {
    let Some(python) = pulp_python() else { return };
    let (_hub, server) = server().await;
    let s = run_script(
        &python,
        "repositories",
        &server,
        &[DECLARED_TOKEN],
        json!({ "remote": "hf" }),
    )
    .await;

    assert_eq!(s.fact("create.status"), 201);
    assert_eq!(s.fact("create.remote_is_the_remote"), true);
    assert_eq!(s.fact("create.retain_repo_versions"), 1);
    let latest = s.fact("create.latest_version_href").as_str().unwrap_or("");
    assert!(latest.ends_with("/versions/0/"), "{latest}");
    assert_eq!(s.fact("latest.number"), 0);
    assert_eq!(
        s.fact("list.hrefs").as_array().map(Vec::len),
        Some(1),
        "{}",
        s.fact("list.hrefs")
    );
    // The generated model has no repo_id: the sync is refused until a plain PATCH sets it.
    assert_eq!(s.fact("sync_without_repo_id.status"), 400);
    assert_eq!(s.fact("plain_patch.status"), 202);
    assert_eq!(s.fact("plain_patch.task.first_state"), "completed");
    assert_eq!(s.fact("patch.status"), 202);
    assert_eq!(s.fact("read.description"), "warm");
    assert_eq!(s.fact("sync.status"), 202);
    assert_eq!(
        s.fact("sync.task_name"),
        "pulp_hugging_face.app.tasks.synchronizing.synchronize"
    );
    assert_eq!(s.fact("sync.task_reserves_the_repository"), true);
    // The task ends (how it ends is the runner's business: tests/it/prewarm).
    assert_eq!(s.fact("sync.task.finished"), true);
    assert_eq!(s.fact("delete.status"), 202);
    assert_eq!(s.fact("delete.read_status"), 404);
}
