//! Pins: a pinned repository's files stay stored while other downloads exceed the budget
//! twice over, until `pinned: false` releases them; a pin larger than the budget fails the
//! sync before anything is downloaded.

use std::time::Duration;

use serde_json::json;

use super::{ended, repository, start_sync, synced};
use crate::api::Admin;
use crate::metrics::scrape;
use crate::support::{Content, FakeHub, TestServer};

const MIB: u64 = 1 << 20;

/// `org/pinned` (one 3 MiB file) and `org/other` (`n` files of 3 MiB).
async fn hub(n: usize) -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_lfs_file(
        "org/pinned",
        "main",
        "w.safetensors",
        Content::pattern(3 << 20, 31),
    );
    hub.add_file("org/pinned", "main", "config.json", &b"{}"[..]);
    for i in 0..n {
        hub.add_lfs_file(
            "org/other",
            "main",
            &format!("part-{i}.bin"),
            Content::pattern(3 << 20, 40 + i as u64),
        );
    }
    hub
}

async fn pinned_bytes(server: &TestServer) -> f64 {
    scrape(server).await.1["hubcache_pinned_bytes"]
}

/// GETs `org/other`'s parts `range` through the distribution.
async fn download_others(server: &TestServer, range: std::ops::Range<usize>) {
    for i in range {
        let resp = server
            .get(&format!(
                "/pulp/content/hf-public/org/other/resolve/main/part-{i}.bin"
            ))
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body().len() as u64, 3 * MIB);
    }
}

#[tokio::test]
async fn pins_hold_under_pressure_and_unpin_releases_them() {
    let hub = hub(8).await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf-public", "hf")
        .max_size("8MiB")
        .start()
        .await;
    let admin = Admin::new(&server);
    let repo = repository(
        &admin,
        "pinned",
        json!({"repo_id": "org/pinned", "pinned": true}),
    )
    .await;
    synced(&admin, &repo).await;
    assert_eq!(pinned_bytes(&server).await, (3 * MIB + 2) as f64);

    // 12 MiB through an 8 MiB budget with 3 MiB pinned: the budget left is exceeded twice.
    download_others(&server, 0..4).await;
    let pinned = "/pulp/content/hf-public/org/pinned/resolve/main/w.safetensors";
    let before = hub.body_transfers("org/pinned/w.safetensors");
    assert_eq!(server.get(pinned).await.status(), 200);
    assert_eq!(
        hub.body_transfers("org/pinned/w.safetensors"),
        before,
        "the pinned file was still stored"
    );

    let resp = admin.patch(&repo, &json!({"pinned": false})).await;
    match resp.status().as_u16() {
        202 => {
            let task = resp.json()["task"].as_str().unwrap().to_string();
            let t = ended(&admin, &task, Duration::from_secs(10)).await;
            assert_eq!(t["state"], "completed", "{t}");
        }
        200 => {}
        other => panic!("unpin: {other} {}", resp.text()),
    }
    assert_eq!(pinned_bytes(&server).await, 0.0, "released");
    download_others(&server, 4..8).await;
    assert_eq!(server.get(pinned).await.status(), 200);
    assert_eq!(
        hub.body_transfers("org/pinned/w.safetensors"),
        before + 1,
        "unpinned, it was evicted like any file"
    );
}

#[tokio::test]
async fn a_pin_over_the_budget_fails_before_downloading() {
    let hub = hub(0).await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf-public", "hf")
        .max_size("1MiB")
        .start()
        .await;
    let admin = Admin::new(&server);
    let repo = repository(
        &admin,
        "pinned",
        json!({"repo_id": "org/pinned", "pinned": true}),
    )
    .await;
    let task = start_sync(&admin, &repo).await;
    let t = ended(&admin, &task, Duration::from_secs(30)).await;
    assert_eq!(t["state"], "failed", "{t}");
    let description = t["error"]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("cannot pin") && description.contains("cache.max_size is 1.0 MiB"),
        "{description}"
    );
    assert_eq!(
        hub.body_transfers("org/pinned/"),
        0,
        "no file was downloaded"
    );
    assert_eq!(pinned_bytes(&server).await, 0.0);
}
