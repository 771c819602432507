//! Prewarm and pin (issue 13) end to end: repositories synced through the API of the real
//! binary against the fake Hub (`docs/prewarm.md`). A synced model and dataset download with
//! the Hub down through real `huggingface_hub` clients; a client joins the sync's fill; cancel,
//! Hub errors and a restart leave nothing partial; pins hold under eviction pressure and an
//! oversize pin fails before downloading; `hubcache prewarm` drives the real server.
//!
//! Shared here: the repository API calls and the task poller every scenario uses.

mod cli;
mod control;
mod pins;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{Admin, REMOTES};
use crate::clients::{files_of, hub_with_repos, pythons, run_client};
use crate::metrics::scrape;
use crate::support::{Fault, TestServer};

pub(crate) const REPOSITORIES: &str = "/pulp/api/v3/repositories/hugging_face/hugging-face/";

/// The href of the remote named `name`.
pub(crate) async fn remote_href(admin: &Admin, name: &str) -> String {
    let remotes = admin.list(REMOTES).await;
    remotes
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["pulp_href"].as_str())
        .unwrap_or_else(|| panic!("no remote {name}: {remotes:?}"))
        .to_string()
}

/// Creates repository `name` syncing through remote `hf` with `fields`; its href.
pub(crate) async fn repository(admin: &Admin, name: &str, fields: Value) -> String {
    let mut body = json!({"name": name, "remote": remote_href(admin, "hf").await});
    for (k, v) in fields.as_object().expect("fields are an object") {
        body[k] = v.clone();
    }
    let repo = admin.create(REPOSITORIES, &body).await;
    repo["pulp_href"].as_str().expect("pulp_href").to_string()
}

/// `POST <repository>/sync/` → 202; the task's href.
pub(crate) async fn start_sync(admin: &Admin, repository: &str) -> String {
    let resp = admin.post(&format!("{repository}sync/"), &json!({})).await;
    assert_eq!(resp.status(), 202, "sync: {}", resp.text());
    resp.json()["task"]
        .as_str()
        .expect("a task href")
        .to_string()
}

/// Polls `task` until it is final; panics after `within`.
pub(crate) async fn ended(admin: &Admin, task: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let t = admin.get(task).await.json();
        if ["completed", "failed", "canceled"].contains(&t["state"].as_str().unwrap_or("")) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "task not final after {within:?}: {t}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `task` until `ready` holds for it.
pub(crate) async fn task_when(admin: &Admin, task: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = admin.get(task).await.json();
        if ready(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "the task never got there: {t}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Syncs `repository` and asserts it completed; the task.
pub(crate) async fn synced(admin: &Admin, repository: &str) -> Value {
    let task = start_sync(admin, repository).await;
    let t = ended(admin, &task, Duration::from_secs(60)).await;
    assert_eq!(t["state"], "completed", "{t}");
    t
}

/// `(total, done)` of the progress report `code` (`files` or `bytes`).
pub(crate) fn report(task: &Value, code: &str) -> (Option<u64>, u64) {
    let code = format!("sync.downloading.{code}");
    let r = task["progress_reports"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["code"] == code.as_str()))
        .unwrap_or_else(|| panic!("no {code} report: {task}"));
    (r["total"].as_u64(), r["done"].as_u64().expect("done"))
}

/// Upstream requests (any remote, any status, failures too) counted so far.
pub(crate) async fn upstream_requests(server: &TestServer) -> f64 {
    let (_, m) = scrape(server).await;
    m.iter()
        .filter(|(k, _)| k.starts_with("hubcache_upstream_requests_total{"))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn a_synced_model_and_dataset_download_with_the_hub_down() {
    let (hub, want_model, want_data) = hub_with_repos().await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf-public", "hf")
        .start()
        .await;
    let admin = Admin::new(&server);
    let model = repository(&admin, "bert", json!({"repo_id": "org/bert"})).await;
    let data = repository(
        &admin,
        "corpus",
        json!({"repo_id": "org/corpus", "repo_type": "datasets", "allow_patterns": ["data/*"]}),
    )
    .await;
    let started = Instant::now();
    let t = synced(&admin, &model).await;
    let took = started.elapsed();
    let (files, bytes) = (report(&t, "files"), report(&t, "bytes"));
    assert_eq!(
        files,
        (Some(want_model.len() as u64), want_model.len() as u64),
        "{t}"
    );
    assert_eq!(bytes.0, Some(bytes.1), "{t}");
    assert!(bytes.1 > 5 << 20, "{t}");
    assert_eq!(
        t["created_resources"],
        json!([format!("{model}versions/1/")]),
        "{t}"
    );
    eprintln!("synced org/bert ({} bytes) in {took:?}", bytes.1);
    let t = synced(&admin, &data).await;
    assert_eq!(report(&t, "files"), (Some(2), 2), "data/* only: {t}");
    let want_data: BTreeMap<_, _> = want_data
        .into_iter()
        .filter(|(p, _)| p.starts_with("data/"))
        .collect();

    hub.shutdown();
    let before = upstream_requests(&server).await;
    for python in pythons() {
        let home = tempfile::tempdir().unwrap();
        let calls = json!([
            {"fn": "snapshot_download", "repo_id": "org/bert"},
            {"fn": "snapshot_download", "repo_id": "org/corpus", "repo_type": "dataset",
             "allow_patterns": ["data/*"]},
        ]);
        let (version, results) = run_client(
            &python,
            &server.endpoint("hf-public"),
            home.path(),
            calls,
            None,
        )
        .await;
        assert_eq!(files_of(&results[0]), want_model, "{version}: the model");
        assert_eq!(files_of(&results[1]), want_data, "{version}: the dataset");
    }
    assert_eq!(
        upstream_requests(&server).await,
        before,
        "the clients were served without asking the Hub"
    );
}

#[tokio::test]
async fn a_client_downloading_during_the_sync_joins_its_fill() {
    let (hub, want_model, _) = hub_with_repos().await;
    // The big file stalls after 1 MiB: the sync's fill is in flight when the client asks.
    hub.fault(
        "org/bert",
        "model.safetensors",
        Fault::Stall {
            after: 1 << 20,
            duration: Duration::from_millis(1500),
        },
    );
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf-public", "hf")
        .start()
        .await;
    let admin = Admin::new(&server);
    let model = repository(&admin, "bert", json!({"repo_id": "org/bert"})).await;
    let task = start_sync(&admin, &model).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub.body_transfers("org/bert/model.safetensors") == 0 {
        assert!(Instant::now() < deadline, "the sync never fetched the file");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resp = server
        .get("/pulp/content/hf-public/org/bert/resolve/main/model.safetensors")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        crate::clients::sha256_hex(resp.body()),
        want_model["model.safetensors"]
    );
    let t = ended(&admin, &task, Duration::from_secs(60)).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(
        hub.body_transfers("org/bert/model.safetensors"),
        1,
        "one upstream fetch for the sync and the client"
    );
}
