//! Nodes and tasks of a fleet (`docs/fleet.md` "Nodes", "Tasks"): three nodes on one
//! PostgreSQL with `fleet.advertise` set. The status lists the live nodes and drops a killed
//! one; a sync started on one node is seen on the others and runs once, even across another
//! node's restart; a sync whose node is killed is taken over and records one version.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::Admin;
use crate::support::{free_port, FakeHub, Fault, Postgres, RepoSpec, TestServer};
use crate::sync::{ended, repository, start_sync, task_when};

const STATUS: &str = "/pulp/api/v3/status/";

async fn node(pg: &Postgres, keys: &Path, hub: &FakeHub, port: u16) -> TestServer {
    crate::fleet::node_on_port(pg, keys, port, |b| b.remote("hf", hub)).await
}

async fn fleet(pg: &Postgres, keys: &Path, hub: &FakeHub) -> Vec<TestServer> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(pg, keys, hub, free_port()).await);
    }
    nodes
}

/// A hub with `n` files in `org/m`, each answered after `delay`.
async fn hub_with(n: usize, delay: Duration) -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/m"));
    for i in 0..n {
        let name = format!("f{i}.bin");
        hub.add_file("org/m", "main", &name, vec![b'a' + i as u8; 1000]);
        if !delay.is_zero() {
            hub.fault("org/m", &name, Fault::SlowFirstByte(delay));
        }
    }
    hub
}

/// The names in the status' `online_content_apps` of `server`.
async fn content_apps(server: &TestServer) -> Vec<String> {
    let status = server.get(STATUS).await.json();
    let mut names: Vec<String> = status["online_content_apps"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"))
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn advertised(nodes: &[&TestServer]) -> Vec<String> {
    let mut names: Vec<String> = nodes
        .iter()
        .map(|n| {
            let url = n.url("/");
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// Polls the status of `server` until it lists exactly `want`; how long it took.
async fn lists(server: &TestServer, want: &[String], within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = content_apps(server).await;
        if got == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{got:?} != {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The version numbers of `repo`, as `admin`'s node lists them.
async fn versions(admin: &Admin, repo: &str) -> Vec<u64> {
    let mut numbers: Vec<u64> = admin
        .list(&format!("{repo}versions/"))
        .await
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    numbers.sort();
    numbers
}

fn completed(t: &Value) -> bool {
    t["state"] == "completed"
}

#[tokio::test]
async fn the_status_lists_the_live_nodes_and_drops_a_killed_one() {
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let hub = hub_with(0, Duration::ZERO).await;
    let mut nodes = fleet(&pg, keys.path(), &hub).await;
    let all = advertised(&nodes.iter().collect::<Vec<_>>());
    lists(&nodes[1], &all, Duration::from_secs(10)).await;
    let status = nodes[1].get(STATUS).await.json();
    let app = &status["online_content_apps"][0];
    assert!(
        app["last_heartbeat"].as_str().unwrap().ends_with('Z'),
        "{app}"
    );
    assert_eq!(status["online_workers"], status["online_content_apps"]);

    nodes[2].kill9();
    let left = advertised(&[&nodes[0], &nodes[1]]);
    let took = lists(&nodes[1], &left, Duration::from_secs(10)).await;
    eprintln!("a killed node left the status after {took:?}");
    // Each node refreshes its list at its own heartbeat: at most a second apart.
    lists(&nodes[0], &left, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_sync_runs_once_is_seen_everywhere_and_survives_another_nodes_restart() {
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let hub = hub_with(6, Duration::from_millis(700)).await;
    let mut nodes = fleet(&pg, keys.path(), &hub).await;
    let admins: Vec<Admin> = nodes.iter().map(Admin::new).collect();
    let repo = repository(&admins[0], "m", json!({"repo_id": "org/m"})).await;
    let task = start_sync(&admins[0], &repo).await;

    // Node 3 sees the same task running, then node 2 restarts (killed) while it runs.
    task_when(&admins[2], &task, |t| t["state"] == "running").await;
    nodes[1].restart().await;
    let admin2 = Admin::new(&nodes[1]);
    let t = admin2.get(&task).await.json();
    assert_eq!(
        t["state"], "running",
        "a restart fails no task of a live node: {t}"
    );

    let t = ended(&admins[2], &task, Duration::from_secs(60)).await;
    assert!(completed(&t), "{t}");
    assert_eq!(t["error"], Value::Null, "{t}");
    let t1 = ended(&admins[0], &task, Duration::from_secs(10)).await;
    assert_eq!(t1["created_resources"], t["created_resources"]);
    for admin in [&admins[0], &admin2, &admins[2]] {
        let t = ended(admin, &task, Duration::from_secs(10)).await;
        assert!(completed(&t), "{t}");
        assert_eq!(versions(admin, &repo).await, [1], "one version");
    }
    for i in 0..6 {
        assert_eq!(
            hub.body_transfers(&format!("org/m/f{i}.bin")),
            1,
            "f{i}.bin"
        );
    }
    assert!(
        !nodes[1].logs().contains("taken over"),
        "{}",
        nodes[1].logs()
    );
}

#[tokio::test]
async fn a_sync_whose_node_is_killed_is_taken_over_and_records_one_version() {
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let hub = hub_with(8, Duration::from_millis(1500)).await;
    let mut nodes = fleet(&pg, keys.path(), &hub).await;
    let admins: Vec<Admin> = nodes.iter().map(Admin::new).collect();
    let repo = repository(&admins[0], "m", json!({"repo_id": "org/m"})).await;
    let task = start_sync(&admins[0], &repo).await;
    // Killed while it fetches (the first files take 1.5 s each).
    let deadline = Instant::now() + Duration::from_secs(20);
    while hub.count(|r| r.path.contains("f0.bin")) == 0 {
        assert!(Instant::now() < deadline, "the sync never fetched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nodes[0].kill9();
    let killed = Instant::now();

    let t = ended(&admins[1], &task, Duration::from_secs(60)).await;
    eprintln!("taken over and ended {:?} after the kill", killed.elapsed());
    assert!(completed(&t), "{t}");
    let by = nodes[1..]
        .iter()
        .filter(|n| n.logs().contains("sync taken over"))
        .count();
    assert_eq!(by, 1, "exactly one node took it over");
    for admin in &admins[1..] {
        let t = ended(admin, &task, Duration::from_secs(10)).await;
        assert!(completed(&t), "{t}");
        assert_eq!(versions(admin, &repo).await, [1], "one version");
    }
    let repo_now = admins[2].get(&repo).await.json();
    assert!(
        repo_now["latest_version_href"]
            .as_str()
            .unwrap()
            .ends_with("/versions/1/"),
        "{repo_now}"
    );
}

#[tokio::test]
async fn a_sync_canceled_through_another_node_stops_on_its_own() {
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let hub = hub_with(8, Duration::from_millis(1500)).await;
    let nodes = fleet(&pg, keys.path(), &hub).await;
    let admins: Vec<Admin> = nodes.iter().map(Admin::new).collect();
    let repo = repository(&admins[0], "m", json!({"repo_id": "org/m"})).await;
    let task = start_sync(&admins[0], &repo).await;
    task_when(&admins[1], &task, |t| t["state"] == "running").await;
    let resp = admins[1].patch(&task, &json!({"state": "canceled"})).await;
    assert!(resp.status().is_success(), "{}", resp.text());
    let asked = Instant::now();
    let t = ended(&admins[0], &task, Duration::from_secs(10)).await;
    eprintln!(
        "canceled through another node: ended {:?} later",
        asked.elapsed()
    );
    assert_eq!(t["state"], "canceled", "{t}");
    let t = ended(&admins[2], &task, Duration::from_secs(10)).await;
    assert_eq!(t["state"], "canceled", "{t}");
    assert!(versions(&admins[2], &repo).await.iter().all(|&n| n == 0));
}
