//! A sync's life apart from success: cancel, the Hub's refusal, a restart in the middle, and a
//! second sync of an unchanged commit.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{ended, report, repository, start_sync, synced, task_when};
use crate::api::Admin;
use crate::clients::{hub_with_repos, sha256_hex};
use crate::support::{Fault, RemoteCfg, TestServer};

const BIG: &str = "/pulp/content/hf-public/org/bert/resolve/main/model.safetensors";

/// A GET of the big file through the distribution: a full, correct body.
async fn big_is_whole(server: &TestServer, want: &str) {
    let resp = server.get(BIG).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(sha256_hex(resp.body()), want, "a correct full download");
}

#[tokio::test]
async fn a_canceled_sync_stops_within_a_second_and_nothing_partial_is_served() {
    let (hub, want, _) = hub_with_repos().await;
    // The big file stalls after 1 MiB for 3 s: the cancel comes while it is read.
    hub.fault(
        "org/bert",
        "model.safetensors",
        Fault::Stall {
            after: 1 << 20,
            duration: Duration::from_secs(3),
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
    task_when(&admin, &task, |t| report_done(t) >= 1 << 20).await;
    let asked = Instant::now();
    let resp = admin.patch(&task, &json!({"state": "canceled"})).await;
    assert_eq!(resp.status(), 200, "{}", resp.text());
    let t = ended(&admin, &task, Duration::from_secs(5)).await;
    let took = asked.elapsed();
    assert_eq!(t["state"], "canceled", "{t}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    eprintln!("canceled in {took:?}");
    let repo = admin.get(&model).await.json();
    assert!(
        repo["latest_version_href"]
            .as_str()
            .is_none_or(|h| h.ends_with("/versions/0/")),
        "no version: {repo}"
    );

    // The fill the sync began goes on upstream as a client's would (docs/prewarm.md
    // "Cancel"): a GET now is served whole — by that fill or a fresh one, never a part.
    hub.clear_faults();
    big_is_whole(&server, &want["model.safetensors"]).await;
    big_is_whole(&server, &want["model.safetensors"]).await;
    assert!(hub.body_transfers("org/bert/model.safetensors") <= 2);
}

fn report_done(task: &serde_json::Value) -> u64 {
    task["progress_reports"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["code"] == "sync.downloading.bytes"))
        .and_then(|r| r["done"].as_u64())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_repository_the_hub_does_not_know_fails_the_task_with_the_hubs_message() {
    let (hub, _, _) = hub_with_repos().await;
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", &hub).token("hf_secrettoken1234"))
        .distribution("hf-public", "hf")
        .start()
        .await;
    let admin = Admin::new(&server);
    let repo = repository(&admin, "missing", json!({"repo_id": "org/missing"})).await;
    let task = start_sync(&admin, &repo).await;
    let t = ended(&admin, &task, Duration::from_secs(30)).await;
    assert_eq!(t["state"], "failed", "{t}");
    let description = t["error"]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("Repository not found") && description.contains("org/missing"),
        "{t}"
    );
    assert!(!t.to_string().contains("hf_secrettoken1234"));
    assert!(!server.logs().contains("hf_secrettoken1234"));
}

#[tokio::test]
async fn a_restart_during_a_sync_fails_it_and_a_new_sync_completes() {
    let (hub, want, _) = hub_with_repos().await;
    hub.fault(
        "org/bert",
        "model.safetensors",
        Fault::Stall {
            after: 1 << 20,
            duration: Duration::from_secs(60),
        },
    );
    let mut server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf-public", "hf")
        .start()
        .await;
    let admin = Admin::new(&server);
    let model = repository(
        &admin,
        "bert",
        json!({"repo_id": "org/bert", "pinned": true}),
    )
    .await;
    let task = start_sync(&admin, &model).await;
    task_when(&admin, &task, |t| report_done(t) >= 1 << 20).await;
    server.kill9();
    hub.clear_faults();
    server.restart().await;
    let admin = Admin::new(&server);
    let t = admin.get(&task).await.json();
    assert_eq!(t["state"], "failed", "{t}");
    assert_eq!(t["error"]["description"], "interrupted by a restart", "{t}");

    big_is_whole(&server, &want["model.safetensors"]).await;
    let t = synced(&admin, &model).await;
    let (total, done) = report(&t, "bytes");
    assert_eq!(total, Some(done));
    assert_eq!(
        t["created_resources"],
        json!([format!("{model}versions/1/")]),
        "{t}"
    );
}

#[tokio::test]
async fn a_second_sync_of_the_same_commit_fetches_nothing() {
    let (hub, _, _) = hub_with_repos().await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf-public", "hf")
        .start()
        .await;
    let admin = Admin::new(&server);
    let model = repository(&admin, "bert", json!({"repo_id": "org/bert"})).await;
    synced(&admin, &model).await;
    let transfers = || hub.body_transfers("org/bert/");
    let before = transfers();
    assert!(before >= 4, "the first sync fetched the files");
    let started = Instant::now();
    let t = synced(&admin, &model).await;
    let took = started.elapsed();
    assert_eq!(transfers(), before, "nothing fetched again");
    assert_eq!(report(&t, "files"), (Some(4), 4), "{t}");
    let (total, done) = report(&t, "bytes");
    assert_eq!(total, Some(done), "{t}");
    assert_eq!(t["created_resources"], json!([]), "no new version: {t}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    eprintln!("second sync of an unchanged commit: {took:?}");
}
