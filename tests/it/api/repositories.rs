//! Repositories over HTTP against the real binary (`docs/pulp-api.md` "Repositories"): CRUD
//! with pulpcore's answers (201 create, 202 + completed task for update and delete), the
//! bad-input battery (each refusal leaves the state file byte-identical), `sync/` checks and
//! its 202 task, versions, the generic list, and a restart that keeps everything.

use http::Method;
use serde_json::{json, Value};

use super::{assert_drf_error, href, read_state, Admin, REMOTES, TASKS};
use crate::support::{FakeHub, TestServer};

const REPOSITORIES: &str = "/pulp/api/v3/repositories/hugging_face/hugging-face/";
const SYNC_TASK: &str = "pulp_hugging_face.app.tasks.synchronizing.synchronize";

#[tokio::test]
async fn repositories_crud_with_pulpcores_answers_and_a_restart_keeps_them() {
    let hub = FakeHub::start().await;
    let mut server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(REMOTES, &json!({"name": "hf", "url": hub.url()}))
        .await;

    let resp = admin
        .post(
            REPOSITORIES,
            &json!({"name": "models/org/m", "remote": href(&remote), "repo_id": "org/m",
                    "allow_patterns": ["*.json"], "pinned": false}),
        )
        .await;
    assert_eq!(resp.status(), 201, "{}", resp.text());
    let repo = resp.json();
    let repo_href = href(&repo);
    assert_eq!(repo["versions_href"], format!("{repo_href}versions/"));
    assert_eq!(
        repo["latest_version_href"],
        format!("{repo_href}versions/0/")
    );
    assert_eq!(repo["retain_repo_versions"], 1);
    assert_eq!(repo["revision"], "main");
    assert_eq!(repo["repo_type"], "models");
    let zero = admin
        .get(repo["latest_version_href"].as_str().unwrap())
        .await;
    assert_eq!(zero.status(), 200, "{}", zero.text());
    assert_eq!(zero.json()["number"], 0);

    let patched = admin
        .changed(
            Method::PATCH,
            &repo_href,
            Some(&json!({"revision": "v1.0", "repo_type": "datasets", "description": "d"})),
        )
        .await;
    assert_eq!(patched["revision"], "v1.0");
    assert_eq!(patched["repo_type"], "datasets");

    let generic = admin.list("/pulp/api/v3/repositories/").await;
    assert_eq!(generic.len(), 1);
    assert_eq!(generic[0]["pulp_href"], repo_href);
    let root = admin.get("/pulp/api/v3/").await.json();
    assert!(
        root["repositories/hugging_face/hugging-face"].is_string(),
        "{root}"
    );

    assert!(read_state(&server).contains("repo_id: org/m"));
    server.restart().await;
    let admin = Admin::new(&server);
    let after = admin.get(&repo_href).await;
    assert_eq!(after.status(), 200, "{}", after.text());
    assert_eq!(after.json(), patched, "unchanged across the restart");

    let gone = admin.changed(Method::DELETE, &repo_href, None).await;
    assert_eq!(gone, Value::Null);
    assert!(admin.list(REPOSITORIES).await.is_empty());
}

#[tokio::test]
async fn bad_repository_input_is_a_400_that_changes_nothing() {
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let repo = admin
        .create(REPOSITORIES, &json!({"name": "r", "repo_id": "org/m"}))
        .await;
    let repo_href = href(&repo);
    let unknown_remote = format!("{REMOTES}0190a4b0-0000-7000-8000-000000000000/");
    let rows: Vec<(&str, Value, &str)> = vec![
        ("repo_id", json!({"repo_id": "org/a/b"}), "repo_id"),
        ("repo_id", json!({"repo_id": "org/-m"}), "repo_id"),
        ("repo_type", json!({"repo_type": "papers"}), "repo_type"),
        ("revision", json!({"revision": ""}), "revision"),
        ("revision", json!({"revision": "a\nb"}), "revision"),
        (
            "patterns",
            json!({"allow_patterns": "*.json"}),
            "allow_patterns",
        ),
        (
            "patterns",
            json!({"ignore_patterns": ["[z-a]"]}),
            "ignore_patterns",
        ),
        ("remote", json!({"remote": unknown_remote}), "remote"),
        (
            "retain",
            json!({"retain_repo_versions": 0}),
            "retain_repo_versions",
        ),
        (
            "checkpoints",
            json!({"retain_checkpoints": 3}),
            "retain_checkpoints",
        ),
        ("unknown", json!({"colour": "red"}), "colour"),
    ];
    for (case, body, field) in rows {
        let before = read_state(&server);
        let mut create = body.clone();
        create["name"] = json!(format!("new-{case}"));
        for (method, path, body) in [
            (Method::PATCH, repo_href.as_str(), &body),
            (Method::POST, REPOSITORIES, &create),
        ] {
            let resp = admin.send(method.clone(), path, Some(body)).await;
            assert_drf_error(&resp, 400, field, &format!("{case} {method}"));
            assert_eq!(
                read_state(&server),
                before,
                "{case} {method}: the state file changed"
            );
        }
    }
    let body = admin
        .get(&format!(
            "{TASKS}?name=pulpcore.app.tasks.base.general_update"
        ))
        .await
        .json();
    assert_eq!(body["count"], 0, "no task for a refused write: {body}");
}

#[tokio::test]
async fn sync_needs_a_repo_id_and_answers_202_with_its_task() {
    let hub = FakeHub::start()
        .await
        .with_file("org/m", "main", "config.json", b"{}");
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(REMOTES, &json!({"name": "hf", "url": hub.url()}))
        .await;
    let repo = admin
        .create(REPOSITORIES, &json!({"name": "r", "remote": href(&remote)}))
        .await;
    let sync = format!("{}sync/", href(&repo));

    let before = read_state(&server);
    let resp = admin.post(&sync, &json!({})).await;
    let body = assert_drf_error(&resp, 400, "repo_id", "no repo_id");
    assert_eq!(
        body,
        json!({"repo_id": ["This field is required to sync."]})
    );
    assert_eq!(read_state(&server), before);

    admin
        .changed(
            Method::PATCH,
            &href(&repo),
            Some(&json!({"repo_id": "org/m"})),
        )
        .await;
    let resp = admin.post(&sync, &json!({"mirror": false})).await;
    assert_eq!(resp.status(), 202, "{}", resp.text());
    let task_href = resp.json()["task"].as_str().unwrap().to_string();
    let task = admin.get(&task_href).await;
    assert_eq!(task.status(), 200, "{}", task.text());
    let task = task.json();
    assert_eq!(task["name"], SYNC_TASK);
    assert_eq!(task["reserved_resources_record"][0], href(&repo));
    assert_eq!(
        task["reserved_resources_record"][1],
        format!("shared:{}", href(&remote))
    );
}
