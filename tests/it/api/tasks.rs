//! Tasks over HTTP against the real binary: writes that answer 202 with a task that is already
//! completed (and whose change already serves content), tasks kept across a restart (an
//! unfinished one failed by it), the bad-input battery of the tasks endpoints, and purge.

use http::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{assert_drf_error, href, read_state, Admin, DISTRIBUTIONS, REMOTES, TASKS};
use crate::support::{FakeHub, TestServer};

const PURGE: &str = "/pulp/api/v3/tasks/purge/";

/// The hrefs of the tasks listed by `GET /pulp/api/v3/tasks/?<query>`.
async fn listed(admin: &Admin, query: &str) -> Vec<String> {
    let page = admin.get(&format!("{TASKS}?{query}")).await;
    assert_eq!(page.status(), 200, "{query}: {}", page.text());
    page.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(href)
        .collect()
}

#[tokio::test]
async fn a_distribution_create_answers_202_and_its_task_already_points_at_a_serving_distribution() {
    let hub = FakeHub::start()
        .await
        .with_file("org/model", "main", "config.json", b"{}");
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(REMOTES, &json!({"name": "hf", "url": hub.url()}))
        .await;

    let resp = admin
        .send(
            Method::POST,
            DISTRIBUTIONS,
            Some(&json!({"name": "hf", "base_path": "hf", "remote": href(&remote)})),
        )
        .await;
    assert_eq!(resp.status(), 202, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    // First read, no polling: already completed.
    let task = admin.get(body["task"].as_str().expect("task")).await.json();
    assert_eq!(task["state"], "completed", "{task}");
    assert_eq!(task["name"], "pulpcore.app.tasks.base.general_create");
    assert!(task["started_at"].is_string() && task["finished_at"].is_string());
    let logging_cid = task["logging_cid"].as_str().unwrap_or("");
    assert!(!logging_cid.is_empty(), "{task}");
    let dist_href = task["created_resources"][0]
        .as_str()
        .expect("created_resources")
        .to_string();
    let dist = admin.get(&dist_href).await;
    assert_eq!(dist.status(), 200, "{}", dist.text());
    assert_eq!(task["created_resource_prns"][0], dist.json()["prn"]);
    let file = server
        .get("/pulp/content/hf/org/model/resolve/main/config.json")
        .await;
    assert_eq!((file.status().as_u16(), file.body()), (200, &b"{}"[..]));
    assert_eq!(
        listed(&admin, &format!("created_resources={dist_href}")).await,
        [href(&task)]
    );
    assert!(
        read_state(&server).contains(&dist_href),
        "the task is in the state file"
    );
}

/// Rewrites the state file as hubcache would sign it, with the first `from` after `anchor`
/// replaced by `to`.
fn edit_state(server: &TestServer, anchor: &str, from: &str, to: &str) {
    let path = server.state_path();
    let text = std::fs::read_to_string(&path).expect("state");
    let body = &text[..text.rfind("sha256: ").expect("checksum line")];
    let start = body
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} not in:\n{body}"));
    let at = start + body[start..].find(from).expect("from after anchor");
    let body = format!("{}{to}{}", &body[..at], &body[at + from.len()..]);
    let sum = hex::encode(Sha256::digest(body.as_bytes()));
    std::fs::write(&path, format!("{body}sha256: {sum}\n")).expect("write state");
}

#[tokio::test]
async fn tasks_survive_a_restart_and_one_left_running_is_failed_by_it() {
    let mut server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let first = admin
        .send(
            Method::PATCH,
            &href(&remote),
            Some(&json!({"policy": "streamed"})),
        )
        .await;
    let kept = admin.task_of(&first).await;
    let second = admin
        .send(
            Method::PATCH,
            &href(&remote),
            Some(&json!({"policy": "on_demand"})),
        )
        .await;
    let cut = admin.task_of(&second).await;

    // As if the process had died while the second task ran.
    server.kill9();
    let id = href(&cut);
    let id = id.trim_start_matches(TASKS).trim_end_matches('/');
    edit_state(
        &server,
        &format!("id: {id}"),
        "state: completed",
        "state: running",
    );
    server.restart().await;

    let admin = Admin::new(&server);
    let after = admin.get(&href(&kept)).await;
    assert_eq!(after.status(), 200, "{}", after.text());
    assert_eq!(
        after.json(),
        kept,
        "a finished task is unchanged by the restart"
    );
    let failed = admin.get(&href(&cut)).await.json();
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(
        failed["error"],
        json!({"description": "interrupted by a restart"})
    );
    assert!(failed["finished_at"].is_string(), "{failed}");
    assert_eq!(
        listed(&admin, "state=failed").await,
        [href(&cut)],
        "the list agrees"
    );
}

#[tokio::test]
async fn bad_input_to_the_tasks_endpoints_changes_nothing() {
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let done = admin.send(Method::DELETE, &href(&remote), None).await;
    let done = href(&admin.task_of(&done).await);
    let state_before = read_state(&server);
    let tasks_before = listed(&admin, "").await;
    let unknown = format!("{TASKS}{}/", uuid::Uuid::now_v7());
    let list = |q: &str| format!("{TASKS}?{q}");
    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (Method::GET, list("colour=red"), None, 400, "errors"),
        (Method::GET, list("state=done"), None, 400, "state"),
        (Method::GET, list("ordering=colour"), None, 400, "ordering"),
        (
            Method::GET,
            list("started_at__gte=yesterday"),
            None,
            400,
            "started_at__gte",
        ),
        (
            Method::GET,
            list("finished_at__lte=2026-02-30"),
            None,
            400,
            "finished_at__lte",
        ),
        (Method::GET, unknown.clone(), None, 404, "detail"),
        (
            Method::PATCH,
            done.clone(),
            Some(json!({"state": "running"})),
            400,
            "",
        ),
        (Method::PATCH, done.clone(), Some(json!({})), 400, ""),
        (
            Method::PATCH,
            done.clone(),
            Some(json!({"state": "canceled", "why": 1})),
            400,
            "why",
        ),
        (
            Method::PATCH,
            unknown.clone(),
            Some(json!({"state": "canceled"})),
            404,
            "detail",
        ),
        (Method::DELETE, unknown.clone(), None, 404, "detail"),
        (
            Method::POST,
            PURGE.into(),
            Some(json!({"states": ["running"]})),
            400,
            "states",
        ),
        (
            Method::POST,
            PURGE.into(),
            Some(json!({"states": "completed"})),
            400,
            "states",
        ),
        (
            Method::POST,
            PURGE.into(),
            Some(json!({"finished_before": "soon"})),
            400,
            "finished_before",
        ),
        (
            Method::POST,
            PURGE.into(),
            Some(json!({"colour": "red"})),
            400,
            "colour",
        ),
        (Method::DELETE, TASKS.into(), None, 405, "detail"),
    ];
    for (method, path, body, status, key) in cases {
        let case = format!("{method} {path} {body:?}");
        let resp = admin.send(method, &path, body.as_ref()).await;
        if key.is_empty() {
            // DRF's `ValidationError` raised in a view: a list of messages.
            assert_eq!(resp.status(), status, "{case}: {}", resp.text());
            assert!(resp.json()[0].is_string(), "{case}: {}", resp.text());
        } else {
            assert_drf_error(&resp, status, key, &case);
        }
    }
    // Canceling a finished task: 409 with the task as it is (pulpcore).
    let conflict = admin.patch(&done, &json!({"state": "canceled"})).await;
    assert_eq!(conflict.status(), 409, "{}", conflict.text());
    assert_eq!(conflict.json()["state"], "completed");
    assert_eq!(
        read_state(&server),
        state_before,
        "the state file is untouched"
    );
    assert_eq!(listed(&admin, "").await, tasks_before);
}

#[tokio::test]
async fn purge_removes_old_completed_tasks_and_leaves_the_rest() {
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    for policy in ["streamed", "on_demand"] {
        admin
            .changed(
                Method::PATCH,
                &href(&remote),
                Some(&json!({"policy": policy})),
            )
            .await;
    }
    let updates = listed(&admin, "name=pulpcore.app.tasks.base.general_update").await;
    assert_eq!(updates.len(), 2);

    // The defaults (completed, finished more than 30 days ago) leave today's tasks.
    let first = admin.post(PURGE, &json!({})).await;
    let first = admin.task_of(&first).await;
    assert_eq!(first["name"], "pulpcore.app.tasks.purge.purge");
    assert_eq!(first["progress_reports"][0]["code"], "purge.tasks.total");
    assert_eq!(first["progress_reports"][0]["done"], 0);
    assert_eq!(listed(&admin, "").await.len(), 3);

    let resp = admin
        .post(
            PURGE,
            &json!({"finished_before": "2999-01-01T00:00:00Z", "states": ["completed", "failed"]}),
        )
        .await;
    let purge = admin.task_of(&resp).await;
    let counts: Vec<(String, u64)> = purge["progress_reports"]
        .as_array()
        .expect("progress_reports")
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap_or("").to_string(),
                r["done"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert!(
        counts.contains(&("purge.tasks.key.core.Task".into(), 3)),
        "{counts:?}"
    );
    assert_eq!(
        listed(&admin, "").await,
        [href(&purge)],
        "only the purge's own task"
    );
    for gone in updates {
        assert_eq!(admin.get(&gone).await.status(), 404, "{gone}");
    }
    let state = read_state(&server);
    assert_eq!(state.matches("pulpcore.app.tasks.").count(), 1, "{state}");
}
