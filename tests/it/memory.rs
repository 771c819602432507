//! Small stored files, requested again and again, are answered from memory (`request_filter`,
//! without pingora-cache's lookup): the answer must be the one a disk hit gives.

use crate::cache::{hub_with, resolve, serve};
use crate::metrics::{delta, hf_requests, scrape, scrape_when};
use crate::support::{Content, FakeHub, RemoteCfg, TestResponse, TestServer};

/// Headers that differ between any two answers (time) or belong to the connection.
const PER_RESPONSE: [&str; 3] = ["date", "connection", "keep-alive"];

fn file_headers(resp: &TestResponse) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .filter(|(name, _)| !PER_RESPONSE.contains(&name.as_str()))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    headers.sort();
    headers
}

#[tokio::test]
async fn repeated_small_hits_from_memory_answer_like_disk_hits() {
    let config = Content::from(&b"{\"hidden_size\": 768, \"layers\": 12}\n"[..]);
    let hub = hub_with(&[("config.json", config.clone(), false)]).await;
    hub.add_file("org/other", "main", "config.json", config.clone());
    let server = serve(&hub).await;
    let (_, before) = scrape(&server).await;

    let miss = server.get(&resolve("config.json")).await;
    let disk_hit = server.get(&resolve("config.json")).await;
    let memory_hits = [
        server.get(&resolve("config.json")).await,
        server.get(&resolve("config.json")).await,
    ];
    for (i, resp) in [&miss, &disk_hit, &memory_hits[0], &memory_hits[1]]
        .into_iter()
        .enumerate()
    {
        assert_eq!(resp.status(), 200, "request {i}");
        assert_eq!(resp.body(), &config.to_vec()[..], "request {i}");
    }
    let without_age = |resp: &TestResponse| {
        let mut h = file_headers(resp);
        h.retain(|(name, _)| name != "age");
        h
    };
    for hit in [&disk_hit, &memory_hits[0], &memory_hits[1]] {
        // A stored answer says how old it is (RFC 9111 §4), in whole seconds.
        let age: u64 = hit.header("age").expect("age on a hit").parse().unwrap();
        assert!(age < 60, "age {age}");
        assert_eq!(without_age(hit), without_age(&disk_hit));
    }
    assert!(miss.header("age").is_none());
    assert_eq!(without_age(&miss), without_age(&disk_hit));

    // The same blob through another repo: its own commit, bytes still from memory.
    let other = server
        .get("/pulp/content/hf/org/other/resolve/main/config.json")
        .await;
    assert_eq!(other.body(), &config.to_vec()[..]);
    assert_eq!(
        other.header("x-repo-commit"),
        Some(hub.commit("org/other", "main").as_str())
    );
    assert_ne!(
        other.header("x-repo-commit"),
        disk_hit.header("x-repo-commit")
    );
    assert_eq!(hub.body_transfers("config.json"), 1, "one fetch for all");

    // Ranges and conditionals are still answered (by pingora-cache) from the stored bytes.
    let range = server
        .get_with(&resolve("config.json"), &[("range", "bytes=2-12")])
        .await;
    assert_eq!(range.status(), 206);
    assert_eq!(range.body(), &config.to_vec()[2..13]);
    let etag = disk_hit.header("etag").unwrap().to_string();
    let unchanged = server
        .get_with(&resolve("config.json"), &[("if-none-match", etag.as_str())])
        .await;
    assert_eq!(unchanged.status(), 304);
    assert!(unchanged.body().is_empty());
    assert_eq!(hub.body_transfers("config.json"), 1);

    let (_, after) = scrape_when(&server, |m| hf_requests(m) - hf_requests(&before) >= 7.0).await;
    let lookups = |result: &str| {
        delta(
            &before,
            &after,
            &format!("hubcache_cache_lookups_total{{distribution=\"hf\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(lookups("miss"), 1.0);
    assert_eq!(
        lookups("hit"),
        6.0,
        "disk, memory x2, other repo, range, 304"
    );
    let cache_bytes = delta(
        &before,
        &after,
        "hubcache_response_bytes_total{distribution=\"hf\",source=\"cache\"}",
    );
    assert_eq!(cache_bytes, (4 * config.len() + 11) as f64);
}

/// A file that is not stored whole (a `streamed` remote) is never answered from memory,
/// whatever the other remote holds.
#[tokio::test]
async fn a_streamed_remote_does_not_take_bytes_from_memory() {
    let config = Content::from(&b"{\"a\": 1}\n"[..]);
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", config.clone());
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .remote_with(RemoteCfg::hub("live", &hub).policy("streamed"))
        .distribution("live", "live")
        .start()
        .await;
    for _ in 0..3 {
        assert_eq!(server.get(&resolve("config.json")).await.status(), 200);
    }
    let fetched = hub.body_transfers("config.json");
    for _ in 0..2 {
        let resp = server
            .get("/pulp/content/live/org/model/resolve/main/config.json")
            .await;
        assert_eq!(resp.body(), &config.to_vec()[..]);
    }
    assert_eq!(hub.body_transfers("config.json"), fetched + 2);
}
