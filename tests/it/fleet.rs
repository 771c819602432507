//! A fleet sharing one PostgreSQL (`docs/fleet.md` "Shared state"): a write through any node
//! is used by every node within a second, racing writes on two nodes both survive, and a
//! database outage keeps content served while API writes answer 503.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{href, Admin, DISTRIBUTIONS, REMOTES};
use crate::support::{free_port, FakeHub, Postgres, RepoSpec, TestServer, TestServerBuilder};

const TOKEN_A: &str = "hf_fleetTokenA81f3";
const TOKEN_B: &str = "hf_fleetTokenB27c9";
const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";

const SECRET: &str = "fleet-shared-state-secret";

/// A node of the fleet: the shared database, `fleet.advertise` and no static peers (the nodes
/// find each other in the `nodes` table, so file bodies are owner-routed too).
async fn node(pg: &Postgres, keys: &Path) -> TestServer {
    node_with(pg, keys, |b| b).await
}

async fn node_with(
    pg: &Postgres,
    keys: &Path,
    more: impl FnOnce(TestServerBuilder) -> TestServerBuilder,
) -> TestServer {
    node_on_port(pg, keys, free_port(), more).await
}

/// A fleet node on `port` (a restarted node keeps its address), with `more` of the builder.
pub(crate) async fn node_on_port(
    pg: &Postgres,
    keys: &Path,
    port: u16,
    more: impl FnOnce(TestServerBuilder) -> TestServerBuilder,
) -> TestServer {
    let key = keys.join("state.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    more(TestServer::builder())
        .listen_port(port)
        .yaml(&format!(
            "state:\n  postgres: \"{}\"\n  key_file: \"{}\"\nfleet:\n  advertise: \"127.0.0.1:{port}\"\n  secret: \"{SECRET}\"\n",
            pg.url(),
            key.display()
        ))
        .start()
        .await
}

fn hrefs(objects: &[Value]) -> Vec<String> {
    objects.iter().map(href).collect()
}

/// Polls `admin`'s list of `collection` until `done` holds; answers the list and how long it
/// took. Panics after `within`.
async fn listed_within(
    admin: &Admin,
    collection: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, Duration) {
    let start = Instant::now();
    loop {
        let list = admin.list(collection).await;
        if done(&list) {
            return (list, start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "{collection} not as expected within {within:?}: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn named(list: &[Value], name: &str) -> bool {
    list.iter().any(|o| o["name"] == name)
}

async fn hub_with_files() -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/m"));
    for name in ["a.txt", "b.txt", "c.txt"] {
        hub.add_file("org/m", "main", name, format!("file {name}").into_bytes());
    }
    hub
}

const FILE: &str = "/pulp/content/fleet/m/org/m/resolve/main/";

#[tokio::test]
async fn a_write_on_any_node_is_used_by_all_and_racing_writes_both_survive() {
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let hub = hub_with_files().await;
    let nodes = [
        node(&pg, keys.path()).await,
        node(&pg, keys.path()).await,
        node(&pg, keys.path()).await,
    ];
    let admins: Vec<Admin> = nodes.iter().map(Admin::new).collect();

    let remote = admins[0]
        .create(
            REMOTES,
            &json!({"name": "fleet", "url": hub.url(), "hf_token": TOKEN_A}),
        )
        .await;
    let dist = admins[0]
        .create(
            DISTRIBUTIONS,
            &json!({"name": "fleet", "base_path": "fleet/m", "remote": href(&remote)}),
        )
        .await;
    for admin in &admins[1..] {
        let (list, took) = listed_within(admin, DISTRIBUTIONS, Duration::from_secs(1), |l| {
            named(l, "fleet")
        })
        .await;
        eprintln!("distribution visible on another node after {took:?}");
        assert_eq!(hrefs(&list), [href(&dist)]);
        assert_eq!(hrefs(&admin.list(REMOTES).await), [href(&remote)]);
    }
    let got = nodes[1].get(&format!("{FILE}a.txt")).await;
    assert_eq!(
        (got.status().as_u16(), got.body()),
        (200, &b"file a.txt"[..])
    );
    assert!(hub.saw_header_value("authorization", &format!("Bearer {TOKEN_A}")));

    // A token rotation on node 3 is what node 2 sends next.
    let patched = admins[2]
        .patch(&href(&remote), &json!({"hf_token": TOKEN_B}))
        .await;
    assert!(patched.status().is_success(), "{}", patched.text());
    let after = admins[2].get(&href(&remote)).await.json()["pulp_last_updated"].clone();
    // Every node: node 2 may stream the body from another node, which uses its own copy.
    for admin in &admins {
        listed_within(admin, REMOTES, Duration::from_secs(1), |l| {
            l.iter().any(|r| r["pulp_last_updated"] == after)
        })
        .await;
    }
    hub.clear_requests();
    let got = nodes[1].get(&format!("{FILE}b.txt")).await;
    assert_eq!(got.status(), 200, "{}", got.text());
    assert!(hub.saw_header_value("authorization", &format!("Bearer {TOKEN_B}")));
    assert!(!hub.saw_header_value("authorization", &format!("Bearer {TOKEN_A}")));

    // Two writes racing on two nodes: both survive, everywhere.
    let bodies = [0, 1].map(|i| json!({"name": format!("race-{i}"), "url": hub.url()}));
    let (one, two) = tokio::join!(
        admins[0].post(REMOTES, &bodies[0]),
        admins[1].post(REMOTES, &bodies[1])
    );
    assert_eq!(one.status(), 201, "{}", one.text());
    assert_eq!(two.status(), 201, "{}", two.text());
    for admin in &admins {
        listed_within(admin, REMOTES, Duration::from_secs(1), |l| {
            named(l, "race-0") && named(l, "race-1") && named(l, "fleet")
        })
        .await;
    }
    assert_eq!(pg.psql("SELECT count(*) FROM remotes").trim(), "3");
    let version = pg.psql("SELECT version FROM state_version");
    let metrics = reqwest::get(nodes[1].metrics_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!("hubcache_fleet_state_version {}", version.trim())),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_database_outage_keeps_content_served_and_refuses_writes_with_503() {
    let mut pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let hub = hub_with_files().await;
    let mut one = node(&pg, keys.path()).await;
    let two = node(&pg, keys.path()).await;
    let (a1, a2) = (Admin::new(&one), Admin::new(&two));
    let remote = a1
        .create(REMOTES, &json!({"name": "fleet", "url": hub.url()}))
        .await;
    a1.create(
        DISTRIBUTIONS,
        &json!({"name": "fleet", "base_path": "fleet/m", "remote": href(&remote)}),
    )
    .await;
    listed_within(&a2, DISTRIBUTIONS, Duration::from_secs(1), |l| {
        named(l, "fleet")
    })
    .await;
    for node in [&one, &two] {
        assert_eq!(node.get(&format!("{FILE}a.txt")).await.status(), 200);
    }

    pg.stop();
    for node in [&one, &two] {
        for name in ["a.txt", "b.txt"] {
            let got = node.get(&format!("{FILE}{name}")).await;
            assert_eq!(got.status(), 200, "{name} while the database is down");
        }
    }
    let started = Instant::now();
    let refused = a1
        .post(REMOTES, &json!({"name": "down", "url": hub.url()}))
        .await;
    let took = started.elapsed();
    assert_eq!(refused.status(), 503, "{}", refused.text());
    assert!(took < Duration::from_secs(5), "503 after {took:?}");
    let detail = refused.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.starts_with("The state database is unavailable: "),
        "{detail}"
    );
    assert!(!detail.contains("hubcache@"), "{detail}");
    assert!(refused.header("retry-after").is_some());
    assert!(named(&a2.list(REMOTES).await, "fleet"), "reads answer");

    pg.start_again();
    let back = Instant::now();
    let created = loop {
        let resp = a2
            .post(REMOTES, &json!({"name": "after", "url": hub.url()}))
            .await;
        if resp.status() == 201 {
            break resp;
        }
        assert_eq!(resp.status(), 503, "{}", resp.text());
        assert!(back.elapsed() < Duration::from_secs(10), "{}", resp.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("writes work again {:?} after the database", back.elapsed());
    let (_, took) =
        listed_within(&a1, REMOTES, Duration::from_secs(5), |l| named(l, "after")).await;
    eprintln!("node 1 saw the write after the outage in {took:?}");
    assert!(!named(&a1.list(REMOTES).await, "down"));

    one.restart().await;
    let mut hrefs_after = hrefs(&Admin::new(&one).list(REMOTES).await);
    hrefs_after.sort();
    let mut want = [href(&remote), href(&created.json())];
    want.sort();
    assert_eq!(hrefs_after, want);
}

/// Until every node's ring has `n` nodes up (the `nodes` table's heartbeats, then a refresh).
async fn ring_of(nodes: &[TestServer], n: usize) {
    for node in nodes {
        let want = n as f64;
        let (_, m) = crate::metrics::scrape_when(node, |m| {
            m.get("hubcache_fleet_nodes{state=\"up\"}") == Some(&want)
        })
        .await;
        assert_eq!(m.get("hubcache_fleet_nodes{state=\"up\"}"), Some(&want));
    }
}

#[tokio::test]
async fn nodes_found_in_the_database_fetch_each_file_from_the_hub_once_and_keep_routing_while_it_is_down(
) {
    let mut pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let (hub, want, _) = crate::clients::hub_with_repos().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            node_with(&pg, keys.path(), |b| {
                b.remote("hf", &hub).distribution("hf", "hf")
            })
            .await,
        );
    }
    ring_of(&nodes, 3).await;
    if let Some(python) = crate::clients::pythons().into_iter().next() {
        crate::fleet_routing::snapshot_download_via_each(&python, &hub, &nodes, &want).await;
    }
    // The database goes away: the ring keeps its last nodes; stored and new files are served,
    // each new one fetched once.
    pg.stop();
    hub.clear_requests();
    let path = "/pulp/content/hf/datasets/org/corpus/resolve/main/data/train.parquet";
    let mut bodies = Vec::new();
    for node in &nodes {
        let got = node.get(path).await;
        assert_eq!(got.status(), 200, "a new file while the database is down");
        bodies.push(crate::clients::sha256_hex(got.body()));
        let got = node
            .get("/pulp/content/hf/org/bert/resolve/main/config.json")
            .await;
        assert_eq!(
            got.status(),
            200,
            "a stored file while the database is down"
        );
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(hub.body_transfers("data/train.parquet"), 1);
    assert_eq!(hub.body_transfers("config.json"), 0);
    // A killed node's files move to the others, database or not.
    nodes.pop().unwrap().kill9();
    for node in &nodes {
        let got = node.get(path).await;
        assert_eq!(crate::clients::sha256_hex(got.body()), bodies[0]);
    }
}
