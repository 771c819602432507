//! Owner routing across a fleet (`docs/fleet.md` "Owner routing"): three nodes on loopback
//! with static `fleet.peers` (no database), one fake Hub. Each file's bytes are fetched from
//! the Hub once across the fleet, by the node that owns them; the others stream from it. A
//! dead owner's files move to the next node; a forged peer header opens nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::metrics::{scrape, scrape_when};
use crate::support::{free_port, Content, FakeHub, Fault, RepoSpec, TestServer};

const SECRET: &str = "fleet-routing-secret-7d1c0e";
const MIB: u64 = 1 << 20;

/// `n` distinct free ports.
fn ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}

/// A node of a fleet on `ports` (listing them all as peers, itself included, as an operator
/// would with one config for every node), serving the fake Hub as `hf`.
async fn node(hub: &FakeHub, port: u16, all: &[u16], extra: &str) -> TestServer {
    let peers: Vec<String> = all.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
    let mut builder = TestServer::builder()
        .remote("hf", hub)
        .distribution("hf", "hf")
        .listen_port(port)
        .yaml(&format!(
            "fleet:\n  advertise: '127.0.0.1:{port}'\n  peers: [{}]\n  secret: '{SECRET}'\n",
            peers.join(", ")
        ));
    if !extra.is_empty() {
        builder = builder.yaml(extra);
    }
    builder.start().await
}

async fn fleet(hub: &FakeHub, n: usize, extra: &str) -> Vec<TestServer> {
    fleet_on(hub, &ports(n), extra).await
}

/// The fleet on these ports (node `i` listens on `ports[i]`).
async fn fleet_on(hub: &FakeHub, ports: &[u16], extra: &str) -> Vec<TestServer> {
    let n = ports.len();
    let mut nodes = Vec::new();
    for port in ports {
        nodes.push(node(hub, *port, ports, extra).await);
    }
    // Every node sees every other up (the ring's first health pass).
    for node in &nodes {
        let (_, m) = scrape_when(node, |m| {
            m.get("hubcache_fleet_nodes{state=\"up\"}") == Some(&(n as f64))
        })
        .await;
        assert_eq!(
            m.get("hubcache_fleet_nodes{state=\"up\"}"),
            Some(&(n as f64))
        );
    }
    nodes
}

fn resolve(path: &str) -> String {
    format!("/pulp/content/hf/org/model/resolve/main/{path}")
}

async fn objects(node: &TestServer) -> f64 {
    let (_, m) = scrape(node).await;
    m.get("hubcache_cache_objects").copied().unwrap_or(0.0)
}

fn sha(bytes: &[u8]) -> String {
    crate::clients::sha256_hex(bytes)
}

async fn hub_with(files: &[(&str, Content)]) -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/model"));
    for (name, content) in files {
        hub.add_lfs_file("org/model", "main", name, content.clone());
    }
    hub
}

#[tokio::test]
async fn a_real_client_through_each_node_in_turn_fetches_every_file_from_the_hub_once() {
    let Some(python) = crate::clients::pythons().into_iter().next() else {
        return;
    };
    let (hub, want, _) = crate::clients::hub_with_repos().await;
    let nodes = fleet(&hub, 3, "").await;
    snapshot_download_via_each(&python, &hub, &nodes, &want).await;
    // Each file is stored once, on its owner; the owners are spread over the nodes.
    let mut stored = 0.0;
    for node in &nodes {
        stored += objects(node).await;
    }
    assert_eq!(stored, want.len() as f64);
    let mut served_to_peers = 0.0;
    for node in &nodes {
        let (_, m) = scrape(node).await;
        served_to_peers += m
            .iter()
            .filter(|(k, _)| k.starts_with("hubcache_fleet_requests_total{role=\"from_peer\""))
            .map(|(_, v)| v)
            .sum::<f64>();
    }
    assert!(
        served_to_peers >= 4.0,
        "files streamed from their owners: {served_to_peers}"
    );
}

#[tokio::test]
async fn concurrent_gets_spread_over_the_nodes_make_one_hub_fetch() {
    let big = Content::pattern(24 * MIB, 3);
    let want = sha(&big.to_vec());
    let hub = hub_with(&[("model.bin", big)]).await;
    let nodes = fleet(&hub, 3, "").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let node = &nodes[i % 3];
        let client = node.client().clone();
        let url = node.url(&resolve("model.bin"));
        tasks.push(tokio::spawn(async move {
            let resp = client.get(&url).send().await.expect("request");
            let status = resp.status().as_u16();
            let etag = resp.headers().get("etag").cloned();
            (status, etag, sha(&resp.bytes().await.expect("body")))
        }));
    }
    for t in tasks {
        let (status, etag, got) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(etag.is_some());
        assert_eq!(got, want);
    }
    assert_eq!(
        hub.body_transfers("model.bin"),
        1,
        "one Hub fetch for 12 GETs on 3 nodes"
    );
    let mut holders = 0;
    for node in &nodes {
        holders += (objects(node).await > 0.0) as usize;
    }
    assert_eq!(holders, 1, "only the owner stores the file");

    // A range through a node that does not own the file is served from the owner.
    for node in &nodes {
        let resp = node
            .get_with(&resolve("model.bin"), &[("range", "bytes=100-199")])
            .await;
        assert_eq!(resp.status(), 206);
        assert_eq!(resp.body().len(), 100);
        assert_eq!(resp.header("content-range"), Some("bytes 100-199/25165824"));
    }
    assert_eq!(hub.body_transfers("model.bin"), 1);
}

#[tokio::test]
async fn when_a_files_owner_is_killed_the_next_node_serves_it_at_once() {
    let files: Vec<(String, Content)> = (0..6u64)
        .map(|i| {
            (
                format!("shard-{i}.bin"),
                Content::pattern(MIB + i * 1000, 40 + i),
            )
        })
        .collect();
    let named: Vec<(&str, Content)> = files.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    let hub = hub_with(&named).await;
    let mut nodes = fleet(&hub, 3, "").await;
    // Warm every file through node 0 and find one owned by another node.
    let mut owned_elsewhere = None;
    for (name, content) in &files {
        let before: Vec<f64> = futures_objects(&nodes).await;
        let resp = nodes[0].get(&resolve(name)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(sha(resp.body()), sha(&content.to_vec()));
        let after = futures_objects(&nodes).await;
        let owner = (0..3)
            .find(|i| after[*i] > before[*i])
            .expect("someone stored it");
        if owner != 0 && owned_elsewhere.is_none() {
            owned_elsewhere = Some((name.clone(), content.clone(), owner));
        }
    }
    let (name, content, owner) = owned_elsewhere.expect("a file owned by node 1 or 2");
    let survivor = 3 - owner; // the node that is neither 0 nor the owner
    nodes[owner].kill9();
    let start = Instant::now();
    for via in [0, survivor] {
        let resp = nodes[via].get(&resolve(&name)).await;
        assert_eq!(resp.status(), 200, "via node {via}");
        assert_eq!(sha(resp.body()), sha(&content.to_vec()), "via node {via}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    // The ring notices: the dead node is down on the survivors.
    for via in [0, survivor] {
        let (_, m) = scrape_when(&nodes[via], |m| {
            m.get("hubcache_fleet_nodes{state=\"down\"}") == Some(&1.0)
        })
        .await;
        assert_eq!(m.get("hubcache_fleet_nodes{state=\"down\"}"), Some(&1.0));
    }
    // Once the ring knows, the file has a live owner again and is stored there; further
    // GETs on any survivor make no more Hub fetches.
    let fetched = hub.body_transfers(&name);
    for _ in 0..2 {
        for via in [0, survivor] {
            let resp = nodes[via].get(&resolve(&name)).await;
            assert_eq!(sha(resp.body()), sha(&content.to_vec()));
        }
    }
    assert!(
        hub.body_transfers(&name) <= fetched + 1,
        "stored once by the new owner"
    );
}

async fn futures_objects(nodes: &[TestServer]) -> Vec<f64> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(objects(n).await);
    }
    out
}

#[tokio::test]
async fn a_forged_peer_header_opens_nothing_and_a_real_one_is_never_forwarded() {
    let content = Content::pattern(MIB, 77);
    let hub = hub_with(&[("model.bin", content.clone())]).await;
    let extra = "content_guards:\n  - name: key\n    header_name: X-Key\n    header_value: let-me-in\ndistributions:\n  - name: locked\n    base_path: locked\n    remote: hf\n    content_guard: key\n";
    let nodes = fleet(&hub, 2, extra).await;
    let locked = "/pulp/content/locked/org/model/resolve/main/model.bin";
    let remote_id = remote_id(&nodes[0]).await;
    let peer_path =
        format!("/pulp/content/.hubcache-peer/{remote_id}/org/model/resolve/main/model.bin");
    for forged in [
        "",
        "wrong-secret-0123456789",
        &SECRET[1..],
        &format!("{SECRET}x"),
    ] {
        let headers: Vec<(&str, &str)> = if forged.is_empty() {
            vec![]
        } else {
            vec![("x-hubcache-fleet", forged)]
        };
        let resp = nodes[0].get_with(locked, &headers).await;
        assert_eq!(resp.status(), 403, "guarded distribution with {forged:?}");
        let resp = nodes[0].get_with(&peer_path, &headers).await;
        assert_eq!(resp.status(), 404, "peer path with {forged:?}");
    }
    assert_eq!(hub.body_transfers("model.bin"), 0);
    // The real secret: served by the node asked, whoever owns the file (never forwarded).
    for node in &nodes {
        let resp = node
            .get_with(&peer_path, &[("x-hubcache-fleet", SECRET)])
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(sha(resp.body()), sha(&content.to_vec()));
    }
    assert_eq!(
        hub.body_transfers("model.bin"),
        2,
        "each node filled it for itself"
    );
    for node in &nodes {
        let (_, m) = scrape_when(node, |m| from_peer(m) >= 1.0).await;
        assert_eq!(to_owner(&m), 0.0, "a peer request is never forwarded again");
        assert!(!node.logs().contains(SECRET), "the secret is never logged");
    }
    // The guard still works with its own header, through either node.
    for node in &nodes {
        let resp = node.get_with(locked, &[("x-key", "let-me-in")]).await;
        assert_eq!(resp.status(), 200);
    }
}

fn from_peer(m: &BTreeMap<String, f64>) -> f64 {
    sum(m, "hubcache_fleet_requests_total{role=\"from_peer\"")
}

fn to_owner(m: &BTreeMap<String, f64>) -> f64 {
    sum(m, "hubcache_fleet_requests_total{role=\"to_owner\"")
}

fn sum(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

async fn remote_id(node: &TestServer) -> String {
    let (user, password) = node.admin_credentials();
    let resp = node
        .client()
        .get(node.api_url("/pulp/api/v3/remotes/hugging_face/hugging-face/"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    let list: serde_json::Value = resp.json().await.unwrap();
    let href = list["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    href.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Which node (index into `ports`) owns `etag`, as every node's ring computes it.
async fn owner_of(ports: &[u16], etag: &str) -> usize {
    use hubcache::fleet::{Owner, Ring};
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let ring = Ring::new(
        addr(ports[0]),
        ports[1..].iter().map(|p| addr(*p)).collect(),
        None,
    );
    ring.refresh().await.unwrap();
    match ring.owner(etag.trim_matches('"').as_bytes(), &[]) {
        Owner::Me => 0,
        Owner::Peer(a) => ports.iter().position(|p| *p == a.port()).unwrap(),
    }
}

#[tokio::test]
async fn a_client_that_leaves_before_the_first_byte_costs_one_hub_fetch() {
    let content = Content::pattern(4 * MIB, 9);
    let hub = hub_with(&[("slow.bin", content.clone())]).await;
    hub.fault(
        "org/model",
        "slow.bin",
        Fault::SlowFirstByte(Duration::from_secs(2)),
    );
    let ports = ports(3);
    let nodes = fleet_on(&hub, &ports, "").await;
    let owner = owner_of(&ports, &hub.etag("org/model", "main", "slow.bin")).await;
    let via = (owner + 1) % 3;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let gone = impatient
        .get(nodes[via].url(&resolve("slow.bin")))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up before the first byte");
    // The owner's fill goes on without its reader, and is stored there.
    let deadline = Instant::now() + Duration::from_secs(20);
    while objects(&nodes[owner]).await < 1.0 {
        assert!(Instant::now() < deadline, "the owner never stored the file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in &nodes {
        let resp = node.get(&resolve("slow.bin")).await;
        assert_eq!(sha(resp.body()), sha(&content.to_vec()));
    }
    // A fill another node had started when the client left would have ended by now too (it
    // waits on the same slow first byte).
    assert_eq!(
        hub.body_transfers("slow.bin"),
        1,
        "no other node was sent to the Hub for it"
    );
    assert_eq!(objects(&nodes[via]).await, 0.0);
}

/// A real `huggingface_hub` `snapshot_download` of `org/bert` through each node in turn (a
/// fresh `HF_HOME` each): every client gets `want`, and every file is fetched from the Hub
/// once across the fleet.
pub(crate) async fn snapshot_download_via_each(
    python: &std::path::PathBuf,
    hub: &FakeHub,
    nodes: &[TestServer],
    want: &BTreeMap<String, String>,
) {
    let calls = json!([{"fn": "snapshot_download", "repo_id": "org/bert"}]);
    for (i, node) in nodes.iter().enumerate() {
        let home = tempfile::tempdir().unwrap();
        let (version, results) = crate::clients::run_client(
            python,
            &node.endpoint("hf"),
            home.path(),
            calls.clone(),
            None,
        )
        .await;
        assert_eq!(
            crate::clients::files_of(&results[0]),
            *want,
            "{version} via node {i}"
        );
    }
    for file in want.keys() {
        assert_eq!(
            hub.body_transfers(&format!("org/bert/{file}")),
            1,
            "{file}: one Hub body fetch across the fleet"
        );
    }
}
