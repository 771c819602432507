//! Disk cache scenarios (`on_demand` remotes): what is stored, for how long, and what keeps
//! working when the Hub does not.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Content, FakeHub, Fault, RemoteCfg, TestServer};

const MIB: u64 = 1 << 20;

pub(crate) async fn hub_with(files: &[(&str, Content, bool)]) -> FakeHub {
    let hub = FakeHub::start().await;
    for (path, content, lfs) in files {
        if *lfs {
            hub.add_lfs_file("org/model", "main", path, content.clone());
        } else {
            hub.add_file("org/model", "main", path, content.clone());
        }
    }
    hub
}

/// hubcache with one `on_demand` remote `hf` on `hub`, served at `/pulp/content/hf/`.
pub(crate) async fn serve(hub: &FakeHub) -> TestServer {
    TestServer::builder()
        .remote("hf", hub)
        .distribution("hf", "hf")
        .start()
        .await
}

pub(crate) fn resolve(path: &str) -> String {
    format!("/pulp/content/hf/org/model/resolve/main/{path}")
}

/// Bytes of every stored object body under the cache dir.
pub(crate) fn stored_bytes(cache_dir: &Path) -> u64 {
    fn walk(dir: &Path, total: &mut u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, total);
            } else if p.file_name().is_some_and(|n| n == "body") {
                *total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    let mut total = 0;
    walk(&cache_dir.join("v1").join("objects"), &mut total);
    total
}

fn body_files(cache_dir: &Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n == "body") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&cache_dir.join("v1").join("objects"), &mut out);
    out
}

#[tokio::test]
async fn a_second_download_is_served_from_disk() {
    let big = Content::pattern(4 * MIB, 5);
    let hub = hub_with(&[
        ("config.json", Content::from(&b"{}"[..]), false),
        ("model.bin", big.clone(), true),
    ])
    .await;
    let server = serve(&hub).await;
    for round in 0..3 {
        for (path, want) in [("config.json", b"{}".to_vec()), ("model.bin", big.to_vec())] {
            let resp = server.get(&resolve(path)).await;
            assert_eq!(resp.status(), 200, "round {round} {path}");
            assert_eq!(resp.body(), &want[..], "round {round} {path}");
        }
    }
    assert_eq!(hub.body_transfers("model.bin"), 1);
    assert_eq!(hub.body_transfers("config.json"), 1);
}

#[tokio::test]
async fn a_second_snapshot_download_by_a_real_client_makes_no_upstream_body_fetch() {
    let Some(python) = crate::clients::pythons().into_iter().next() else {
        return;
    };
    let (hub, want, _) = crate::clients::hub_with_repos().await;
    let server = serve(&hub).await;
    let calls = json!([{"fn": "snapshot_download", "repo_id": "org/bert"}]);
    for run in 0..2 {
        let home = tempfile::tempdir().unwrap();
        let before = hub.body_transfers("org/bert");
        let (version, results) = crate::clients::run_client(
            &python,
            &server.endpoint("hf"),
            home.path(),
            calls.clone(),
            None,
        )
        .await;
        assert_eq!(
            crate::clients::files_of(&results[0]),
            want,
            "{version} run {run}"
        );
        let fetched = hub.body_transfers("org/bert") - before;
        if run == 0 {
            assert_eq!(fetched, want.len(), "first run fetches each file once");
        } else {
            assert_eq!(
                fetched, 0,
                "{version}: the second download reached the Hub for file bodies"
            );
        }
    }
}

#[tokio::test]
async fn concurrent_cold_requests_share_one_upstream_fetch() {
    let big = Content::pattern(8 * MIB, 6);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    let server = serve(&hub).await;
    let url = server.url(&resolve("model.bin"));
    let want = crate::clients::sha256_hex(&big.to_vec());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let client = server.client().clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client.get(&url).send().await.expect("request");
            let status = resp.status().as_u16();
            (
                status,
                crate::clients::sha256_hex(&resp.bytes().await.expect("body")),
            )
        }));
    }
    for t in tasks {
        let (status, sha) = t.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(sha, want);
    }
    assert_eq!(
        hub.body_transfers("model.bin"),
        1,
        "32 concurrent cold GETs must cause one upstream fetch"
    );
}

#[tokio::test]
async fn an_upstream_reset_mid_body_stores_nothing_and_the_next_request_is_whole() {
    let big = Content::pattern(3 * MIB, 7);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    hub.fault_times("org/model", "model.bin", Fault::DropAfter(MIB), 1);
    let server = serve(&hub).await;

    let first = server
        .client()
        .get(server.url(&resolve("model.bin")))
        .send()
        .await;
    let whole = match first {
        Ok(r) => r
            .bytes()
            .await
            .map(|b| b.len() as u64 == 3 * MIB)
            .unwrap_or(false),
        Err(_) => false,
    };
    assert!(
        !whole,
        "a cut upstream body reached the client as a whole file"
    );
    assert_eq!(
        stored_bytes(&server.cache_dir()),
        0,
        "a partial object was stored"
    );

    for _ in 0..2 {
        let resp = server.get(&resolve("model.bin")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), &big.to_vec()[..]);
    }
    assert_eq!(
        hub.body_transfers("model.bin"),
        2,
        "one failed fill, one good fill, then disk"
    );
}

#[tokio::test]
async fn a_corrupted_blob_on_disk_is_fetched_again() {
    let big = Content::pattern(2 * MIB, 8);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    let mut server = serve(&hub).await;
    assert_eq!(server.get(&resolve("model.bin")).await.status(), 200);
    let bodies = body_files(&server.cache_dir());
    assert_eq!(bodies.len(), 1);
    // Truncate the stored body, as a crash or a full disk might.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bodies[0])
        .unwrap()
        .set_len(MIB)
        .unwrap();

    let resp = server.get(&resolve("model.bin")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), &big.to_vec()[..]);
    assert_eq!(
        hub.body_transfers("model.bin"),
        2,
        "the damaged object must be refetched"
    );

    // And across a restart too.
    let bodies = body_files(&server.cache_dir());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bodies[0])
        .unwrap()
        .set_len(10)
        .unwrap();
    server.restart().await;
    let resp = server.get(&resolve("model.bin")).await;
    assert_eq!(resp.body(), &big.to_vec()[..]);
    assert_eq!(hub.body_transfers("model.bin"), 3);
}

#[tokio::test]
async fn a_moved_branch_serves_new_content_after_the_ttl_and_old_commits_keep_old_bytes() {
    let hub = hub_with(&[("config.json", Content::from(&b"v1"[..]), false)]).await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .revision_ttl("2s")
        .start()
        .await;
    let old_commit = hub.commit("org/model", "main");
    assert_eq!(server.get(&resolve("config.json")).await.body(), b"v1");

    hub.move_branch("org/model", "main");
    hub.add_file("org/model", "main", "config.json", &b"v2"[..]);
    let heads_before = hub.count(|r| r.is("HEAD", "/resolve/"));
    // Within the TTL the known commit is trusted: no question to the Hub.
    let within = server.get(&resolve("config.json")).await;
    assert_eq!(within.body(), b"v1");
    assert_eq!(hub.count(|r| r.is("HEAD", "/resolve/")), heads_before);

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = server.get(&resolve("config.json")).await;
        if resp.body() == b"v2" {
            assert_ne!(resp.header("x-repo-commit"), Some(old_commit.as_str()));
            break;
        }
        assert!(Instant::now() < deadline, "the branch move was never seen");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pinned = server
        .get(&format!(
            "/pulp/content/hf/org/model/resolve/{old_commit}/config.json"
        ))
        .await;
    assert_eq!(pinned.body(), b"v1");
    assert_eq!(pinned.header("x-repo-commit"), Some(old_commit.as_str()));
}

#[tokio::test]
async fn stored_files_and_metadata_are_served_while_the_hub_is_down() {
    let big = Content::pattern(MIB, 9);
    let hub = hub_with(&[
        ("config.json", Content::from(&b"{}"[..]), false),
        ("model.bin", big.clone(), true),
    ])
    .await;
    let mut server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .revision_ttl("1s")
        .start()
        .await;
    let commit = hub.commit("org/model", "main");
    let api = [
        "/pulp/content/hf/api/models/org/model/revision/main".to_string(),
        format!("/pulp/content/hf/api/models/org/model/tree/{commit}?recursive=true&expand=false"),
    ];
    for path in api
        .iter()
        .cloned()
        .chain([resolve("config.json"), resolve("model.bin")])
    {
        assert_eq!(server.get(&path).await.status(), 200, "{path}");
    }
    hub.shutdown();
    // Past the TTL, and across a restart: the last known answers still serve.
    server.restart().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let head = server.head(&resolve("model.bin")).await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("x-repo-commit"), Some(commit.as_str()));
    assert_eq!(
        server.get(&resolve("model.bin")).await.body(),
        &big.to_vec()[..]
    );
    assert_eq!(server.get(&resolve("config.json")).await.body(), b"{}");
    for path in &api {
        let resp = server.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
    }
    assert_eq!(server.get(&resolve("never-seen.bin")).await.status(), 502);
}

#[tokio::test]
async fn the_byte_budget_holds_across_many_downloads() {
    let files: Vec<(String, Content)> = (0..12)
        .map(|i| (format!("part-{i}.bin"), Content::pattern(300_000, 100 + i)))
        .collect();
    let hub = FakeHub::start().await;
    for (path, content) in &files {
        hub.add_lfs_file("org/model", "main", path, content.clone());
    }
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .max_size("1MiB")
        .start()
        .await;
    for (path, content) in &files {
        let resp = server.get(&resolve(path)).await;
        assert_eq!(resp.body(), &content.to_vec()[..], "{path}");
        assert!(
            stored_bytes(&server.cache_dir()) <= MIB,
            "budget exceeded after {path}"
        );
    }
    // The most recent ones are still there; the oldest were evicted and come back whole.
    let before = hub.body_transfers("part-11.bin");
    assert_eq!(
        server.get(&resolve("part-11.bin")).await.body(),
        &files[11].1.to_vec()[..]
    );
    assert_eq!(hub.body_transfers("part-11.bin"), before);
    assert_eq!(
        server.get(&resolve("part-0.bin")).await.body(),
        &files[0].1.to_vec()[..]
    );

    // Larger than the whole budget: streamed, never stored.
    hub.add_lfs_file(
        "org/model",
        "main",
        "huge.bin",
        Content::pattern(2 * MIB, 1),
    );
    assert_eq!(
        server.get(&resolve("huge.bin")).await.body(),
        &Content::pattern(2 * MIB, 1).to_vec()[..]
    );
    assert!(stored_bytes(&server.cache_dir()) <= MIB);
}

#[tokio::test]
async fn kill_9_during_a_fill_leaves_no_partial_object_after_restart() {
    let big = Content::pattern(4 * MIB, 10);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    hub.fault(
        "org/model",
        "model.bin",
        Fault::Stall {
            after: MIB,
            duration: Duration::from_secs(60),
        },
    );
    let mut server = serve(&hub).await;
    let mut resp = server
        .client()
        .get(server.url(&resolve("model.bin")))
        .send()
        .await
        .expect("headers");
    let mut got = 0usize;
    while got < 512 * 1024 {
        got += resp
            .chunk()
            .await
            .expect("bytes")
            .expect("more bytes")
            .len();
    }
    server.kill9();
    hub.clear_faults();
    server.restart().await;
    let tmp = server.cache_dir().join("v1").join("tmp");
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "unfinished fills must be cleaned at start-up");
    let again = server.get(&resolve("model.bin")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.body(), &big.to_vec()[..]);
}

#[tokio::test]
async fn a_restart_serves_everything_stored_without_upstream_body_fetches() {
    let big = Content::pattern(MIB, 11);
    let hub = hub_with(&[
        ("model.bin", big.clone(), true),
        ("config.json", Content::from(&b"{}"[..]), false),
    ])
    .await;
    let mut server = serve(&hub).await;
    server.get(&resolve("model.bin")).await;
    server.get(&resolve("config.json")).await;
    server.restart().await;
    assert_eq!(
        server.get(&resolve("model.bin")).await.body(),
        &big.to_vec()[..]
    );
    assert_eq!(server.get(&resolve("config.json")).await.body(), b"{}");
    assert_eq!(hub.body_transfers("model.bin"), 1);
    assert_eq!(hub.body_transfers("config.json"), 1);
}

#[tokio::test]
async fn ranges_on_a_stored_object_come_from_disk() {
    let big = Content::pattern(2 * MIB, 12);
    let all = big.to_vec();
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    let server = serve(&hub).await;
    assert_eq!(server.get(&resolve("model.bin")).await.status(), 200);
    let cdn_before = hub.cdn().requests().len();

    let head = server
        .get_with(&resolve("model.bin"), &[("range", "bytes=0-100000")])
        .await;
    assert_eq!(head.status(), 206);
    assert_eq!(head.body(), &all[..100_001]);
    let tail = server
        .get_with(&resolve("model.bin"), &[("range", "bytes=1000000-")])
        .await;
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.body(), &all[1_000_000..]);
    assert_eq!(
        tail.header("content-range"),
        Some(format!("bytes 1000000-{}/{}", all.len() - 1, all.len()).as_str())
    );
    let beyond = server
        .get_with(&resolve("model.bin"), &[("range", "bytes=5000000-")])
        .await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(
        hub.cdn().requests().len(),
        cdn_before,
        "ranges on a stored object reached the CDN"
    );
}

#[tokio::test]
async fn a_range_far_ahead_on_a_cold_object_goes_straight_upstream() {
    let big = Content::pattern(40 * MIB, 13);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    let server = serve(&hub).await;
    let resp = server
        .get_with(&resolve("model.bin"), &[("range", "bytes=39000000-")])
        .await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.body(), &big.to_vec()[39_000_000..]);
    let cdn_ranged = hub.cdn().count(|r| r.header("range").is_some());
    assert_eq!(
        cdn_ranged, 1,
        "the far range must be asked upstream as a range"
    );
}

#[tokio::test]
async fn known_commit_pinned_heads_and_misses_are_answered_without_the_hub() {
    let hub = hub_with(&[("config.json", Content::from(&b"{}"[..]), false)]).await;
    let server = serve(&hub).await;
    let commit = hub.commit("org/model", "main");
    let pinned = format!("/pulp/content/hf/org/model/resolve/{commit}/config.json");
    let missing = format!("/pulp/content/hf/org/model/resolve/{commit}/nope.json");
    assert_eq!(server.head(&pinned).await.status(), 200);
    assert_eq!(server.head(&missing).await.status(), 404);
    let asked = hub.requests().len();
    for _ in 0..5 {
        assert_eq!(server.head(&pinned).await.status(), 200);
        let miss = server.head(&missing).await;
        assert_eq!(miss.status(), 404);
        assert_eq!(miss.header("x-error-code"), Some("EntryNotFound"));
    }
    assert_eq!(
        hub.requests().len(),
        asked,
        "known answers must not ask the Hub again"
    );
}

#[tokio::test]
async fn a_streamed_remote_stores_nothing() {
    let big = Content::pattern(MIB, 14);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", &hub).policy("streamed"))
        .distribution("hf", "hf")
        .start()
        .await;
    for _ in 0..2 {
        assert_eq!(
            server.get(&resolve("model.bin")).await.body(),
            &big.to_vec()[..]
        );
    }
    assert_eq!(hub.body_transfers("model.bin"), 2);
    assert_eq!(stored_bytes(&server.cache_dir()), 0);
}

#[tokio::test]
async fn a_range_on_a_file_still_filling_is_served_as_the_bytes_arrive() {
    let big = Content::pattern(40 * MIB, 15);
    let all = big.to_vec();
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    hub.fault(
        "org/model",
        "model.bin",
        Fault::Stall {
            after: 2 * MIB,
            duration: Duration::from_secs(8),
        },
    );
    let server = serve(&hub).await;

    // A first client starts the fill and gets its first bytes; the fill then stalls upstream.
    let mut first = server
        .client()
        .get(server.url(&resolve("model.bin")))
        .send()
        .await
        .expect("headers");
    let mut got = 0usize;
    while got < MIB as usize {
        got += first.chunk().await.expect("bytes").expect("more").len();
    }
    // A range inside what is written joins the fill and is answered at once.
    let started = Instant::now();
    let near = server
        .get_with(&resolve("model.bin"), &[("range", "bytes=1000-1999")])
        .await;
    assert_eq!(near.status(), 206);
    assert_eq!(near.body(), &all[1000..2000]);
    // A range far beyond the fill does not wait for it: it is asked upstream as a range.
    let far = server
        .get_with(
            &resolve("model.bin"),
            &[("range", "bytes=30000000-30000099")],
        )
        .await;
    assert_eq!(far.status(), 206);
    assert_eq!(far.body(), &all[30_000_000..30_000_100]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ranges waited for the stalled fill: {:?}",
        started.elapsed()
    );
    assert_eq!(
        hub.cdn().count(|r| r.header("range").is_some()),
        1,
        "only the far range goes upstream"
    );
}

#[tokio::test]
async fn a_blob_shared_by_two_repos_is_stored_once_and_answered_with_each_repos_commit() {
    let shared = Content::pattern(MIB, 16);
    let hub = FakeHub::start().await;
    hub.add_lfs_file("org/a", "main", "weights.bin", shared.clone());
    hub.add_lfs_file("org/b", "main", "weights.bin", shared.clone());
    let server = serve(&hub).await;
    let a = server
        .get("/pulp/content/hf/org/a/resolve/main/weights.bin")
        .await;
    let b = server
        .get("/pulp/content/hf/org/b/resolve/main/weights.bin")
        .await;
    assert_eq!(a.body(), b.body());
    assert_eq!(
        a.header("x-repo-commit"),
        Some(hub.commit("org/a", "main").as_str())
    );
    assert_eq!(
        b.header("x-repo-commit"),
        Some(hub.commit("org/b", "main").as_str()),
        "a hit must carry this repo's commit"
    );
    assert_ne!(hub.commit("org/a", "main"), hub.commit("org/b", "main"));
    assert_eq!(
        hub.cdn().count(|r| r.method == "GET"),
        1,
        "one blob, fetched once"
    );
    assert_eq!(body_files(&server.cache_dir()).len(), 1);
}

#[tokio::test]
async fn a_suffix_range_on_a_cold_object_does_not_wait_for_the_whole_file() {
    let big = Content::pattern(40 * MIB, 17);
    let hub = hub_with(&[("data.parquet", big.clone(), true)]).await;
    let server = serve(&hub).await;
    let resp = server
        .get_with(&resolve("data.parquet"), &[("range", "bytes=-65536")])
        .await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.body(), &big.to_vec()[(40 * MIB - 65536) as usize..]);
    assert_eq!(
        hub.cdn()
            .count(|r| r.header("range") == Some("bytes=-65536")),
        1
    );
}

#[tokio::test]
async fn a_slow_hub_does_not_hold_back_what_is_already_known() {
    let hub = hub_with(&[("config.json", Content::from(&b"{}"[..]), false)]).await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .revision_ttl("1s")
        .start()
        .await;
    assert_eq!(server.get(&resolve("config.json")).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past revision_ttl
    hub.repo_fault("org/model", Fault::SlowFirstByte(Duration::from_secs(20)));
    let started = Instant::now();
    let head = server.head(&resolve("config.json")).await;
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.header("x-repo-commit"),
        Some(hub.commit("org/model", "main").as_str())
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited {:?} for a stalled Hub",
        started.elapsed()
    );
    assert_eq!(server.get(&resolve("config.json")).await.body(), b"{}");
}

#[tokio::test]
async fn a_real_client_snapshot_of_a_repo_seen_before_works_with_the_hub_down() {
    let Some(python) = crate::clients::pythons().into_iter().next() else {
        return;
    };
    let (hub, want, _) = crate::clients::hub_with_repos().await;
    let server = serve(&hub).await;
    let calls = json!([{"fn": "snapshot_download", "repo_id": "org/bert"}]);
    let warm = tempfile::tempdir().unwrap();
    let (_, results) = crate::clients::run_client(
        &python,
        &server.endpoint("hf"),
        warm.path(),
        calls.clone(),
        None,
    )
    .await;
    assert_eq!(crate::clients::files_of(&results[0]), want);

    hub.shutdown();
    let cold_client = tempfile::tempdir().unwrap();
    let (version, results) = crate::clients::run_client(
        &python,
        &server.endpoint("hf"),
        cold_client.path(),
        calls,
        None,
    )
    .await;
    assert_eq!(
        crate::clients::files_of(&results[0]),
        want,
        "{version}: snapshot with the Hub down"
    );
}
