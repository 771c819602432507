//! Observability through the real server: counters move by exactly what was driven,
//! `/metrics` passes `promtool check metrics`, health endpoints, one access-log line per request.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{FakeHub, TestServer};

/// `series{labels}` → value, from the Prometheus text format.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

pub(crate) async fn scrape(server: &TestServer) -> (String, BTreeMap<String, f64>) {
    let resp =
        crate::support::TestResponse::send(server.client().get(server.metrics_url("/metrics")))
            .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text();
    let parsed = parse(&text);
    (text, parsed)
}

/// Scrapes until `ready` holds (a request is counted in its logging phase, just after the
/// client has its answer); after 10 s, the last scrape.
pub(crate) async fn scrape_when(
    server: &TestServer,
    ready: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> (String, BTreeMap<String, f64>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (text, parsed) = scrape(server).await;
        if ready(&parsed) || std::time::Instant::now() > deadline {
            return (text, parsed);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests of distribution `hf` counted so far.
pub(crate) fn hf_requests(m: &BTreeMap<String, f64>) -> f64 {
    sum_matching(m, "hubcache_requests_total{", "distribution=\"hf\"")
}

pub(crate) fn delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    series: &str,
) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn sum_matching(m: &BTreeMap<String, f64>, prefix: &str, needle: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix) && k.contains(needle))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn counters_move_by_exactly_what_was_served() {
    let body = b"{\"hidden_size\": 768}\n";
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", &body[..]);
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .revision_ttl("1s")
        .start()
        .await;
    let path = "/pulp/content/hf/org/model/resolve/main/config.json";
    let (_, before) = scrape(&server).await;

    assert_eq!(server.get(path).await.status(), 200); // miss: fetched and stored
    assert_eq!(server.get(path).await.status(), 200); // hit: from disk
    assert_eq!(server.head(path).await.status(), 200); // hit: known metadata
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/missing.json")
            .await
            .status(),
        404
    );
    hub.shutdown();
    tokio::time::sleep(Duration::from_millis(1100)).await; // past revision_ttl
    assert_eq!(server.get(path).await.status(), 200); // stale: Hub down, served from disk
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/other.json")
            .await
            .status(),
        502
    );

    let (text, after) =
        scrape_when(&server, |m| hf_requests(m) - hf_requests(&before) >= 6.0).await;
    let req = |method: &str, status: &str| {
        format!("hubcache_requests_total{{distribution=\"hf\",method=\"{method}\",status=\"{status}\"}}")
    };
    assert_eq!(delta(&before, &after, &req("GET", "200")), 3.0);
    assert_eq!(delta(&before, &after, &req("HEAD", "200")), 1.0);
    assert_eq!(delta(&before, &after, &req("GET", "404")), 1.0);
    assert_eq!(delta(&before, &after, &req("GET", "502")), 1.0);

    let lookup = |result: &str| {
        format!("hubcache_cache_lookups_total{{distribution=\"hf\",result=\"{result}\"}}")
    };
    assert_eq!(
        delta(&before, &after, &lookup("miss")),
        2.0,
        "the first GET and the 404"
    );
    assert_eq!(
        delta(&before, &after, &lookup("hit")),
        2.0,
        "the second GET and the HEAD"
    );
    assert_eq!(
        delta(&before, &after, &lookup("stale")),
        1.0,
        "the GET while the Hub was down"
    );

    let bytes = |source: &str| {
        format!("hubcache_response_bytes_total{{distribution=\"hf\",source=\"{source}\"}}")
    };
    let len = body.len() as f64;
    // The first GET's bytes, plus the small bodies of the 404 and the 502.
    assert!(delta(&before, &after, &bytes("upstream")) >= len);
    assert_eq!(
        delta(&before, &after, &bytes("cache")),
        2.0 * len,
        "the hit and the stale GET"
    );

    assert_eq!(after.get("hubcache_cache_objects").copied(), Some(1.0));
    assert_eq!(after.get("hubcache_cache_size_bytes").copied(), Some(len));
    assert_eq!(
        after.get("hubcache_pinned_bytes").copied(),
        Some(0.0),
        "nothing pinned"
    );
    assert!(
        sum_matching(
            &after,
            "hubcache_upstream_requests_total{",
            "status=\"error\""
        ) >= 1.0,
        "Hub down is counted"
    );
    assert!(sum_matching(&after, "hubcache_upstream_requests_total{", "remote=\"hf\"") >= 3.0);
    assert!(after.contains_key("hubcache_upstream_request_duration_seconds_count{remote=\"hf\"}"));
    assert!(after
        .keys()
        .any(|k| k.starts_with("hubcache_request_duration_seconds_count")));
    assert!(after.contains_key("process_resident_memory_bytes"));
    assert!(
        !text.contains("org/model") && !text.contains("config.json"),
        "a path leaked into a label"
    );

    promtool_check(&text).await;

    for probe in ["/healthz", "/readyz"] {
        let resp =
            crate::support::TestResponse::send(server.client().get(server.metrics_url(probe)))
                .await;
        assert_eq!(resp.status(), 200, "{probe}");
    }

    let access_lines = |logs: &str| {
        logs.lines()
            .filter(|l| {
                l.contains("\"target\":\"access\"") && l.contains("\"distribution\":\"hf\"")
            })
            .count()
    };
    let logs = server.logs_when(|logs| access_lines(logs) >= 6).await;
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    let content_lines: Vec<&serde_json::Value> = access
        .iter()
        .filter(|v| v["distribution"] == "hf")
        .collect();
    assert_eq!(
        content_lines.len(),
        6,
        "one access line per content request"
    );
    assert!(content_lines
        .iter()
        .any(|v| v["cache"] == "stale" && v["status"] == 200));
    for line in &content_lines {
        for field in ["method", "path", "status", "cache", "bytes", "total_ms"] {
            assert!(
                line.get(field).is_some(),
                "access line without {field}: {line}"
            );
        }
    }
}

/// `promtool check metrics` on the real exposition (installed by `.ci/setup.sh`).
async fn promtool_check(text: &str) {
    use tokio::io::AsyncWriteExt;
    let spawned = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_err() => {
            eprintln!("promtool not available ({e}); run .ci/setup.sh");
            return;
        }
        Err(e) => panic!("promtool is required in CI: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--log-format text` writes the access line readably; `RUST_LOG=…,access=off` silences it
/// and nothing else.
#[tokio::test]
async fn access_lines_follow_the_log_format_and_the_filter() {
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", &b"{}"[..]);
    let path = "/pulp/content/hf/org/model/resolve/main/config.json?token=s3cr3t";
    let mut text = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .arg("--log-format")
        .arg("text")
        .start()
        .await;
    assert_eq!(text.get(path).await.status(), 200);
    assert!(text.terminate(), "exits 0 on SIGTERM");
    let logs = text.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" access: ") && l.contains("distribution=\"hf\""))
        .collect();
    assert_eq!(lines.len(), 1, "{logs}");
    for part in [
        "INFO access: method=\"GET\"",
        "distribution=\"hf\"",
        "path=\"org/model/resolve/main/config.json\"",
        "status=200",
        "cache=\"miss\"",
        "bytes=2",
    ] {
        assert!(lines[0].contains(part), "{part} not in {}", lines[0]);
    }
    assert!(!logs.contains("s3cr3t"));

    let quiet = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .env("RUST_LOG", "info,access=off")
        .start()
        .await;
    assert_eq!(quiet.get(path).await.status(), 200);
    let (_, counted) = scrape_when(&quiet, |m| hf_requests(m) >= 1.0).await;
    assert_eq!(hf_requests(&counted), 1.0);
    let logs = quiet.logs();
    assert!(!logs.contains("\"target\":\"access\""), "{logs}");
    assert!(
        logs.contains("\"level\":\"INFO\""),
        "other events still logged: {logs}"
    );
}

/// Warm hits asked in parallel (several clients per file at once) are all counted as bytes
/// sent from the cache: the series of the distribution add up to what the clients received.
#[tokio::test]
async fn parallel_hits_count_every_byte_as_cache() {
    const MIB: u64 = 1 << 20;
    const FILES: u64 = 4;
    let hub = FakeHub::start().await;
    let mut sizes = Vec::new();
    for k in 0..FILES {
        let size = (8 + 2 * k) * MIB;
        let name = format!("shard-{k}.bin");
        hub.add_lfs_file(
            "org/model",
            "main",
            &name,
            crate::support::Content::pattern(size, 40 + k),
        );
        sizes.push((name, size));
    }
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .start()
        .await;
    let path = |name: &str| format!("/pulp/content/hf/org/model/resolve/main/{name}");
    let total = 3 * sizes.iter().map(|(_, s)| s).sum::<u64>();
    // 12 GETs at once: each file asked 3 times.
    let pass = || {
        futures::future::join_all((0..3 * FILES as usize).map(|k| {
            let (url, size) = (path(&sizes[k % sizes.len()].0), sizes[k % sizes.len()].1);
            let server = &server;
            async move {
                let resp = server.get(&url).await;
                assert_eq!(
                    (resp.status().as_u16(), resp.body().len() as u64),
                    (200, size)
                );
                size
            }
        }))
    };
    let bytes = |source: &str| {
        format!("hubcache_response_bytes_total{{distribution=\"hf\",source=\"{source}\"}}")
    };
    let sent = |before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>| -> f64 {
        ["cache", "upstream", "peer"]
            .iter()
            .map(|s| delta(before, after, &bytes(s)))
            .sum()
    };
    let access = |server: &TestServer| -> Vec<String> {
        server
            .logs()
            .lines()
            .filter(|l| l.contains("\"target\":\"access\""))
            .map(str::to_string)
            .collect()
    };
    let (_, start) = scrape(&server).await;

    // Cold: one fill per file, joined by the other two.
    assert_eq!(pass().await.iter().sum::<u64>(), total);
    let (_, before) = scrape_when(&server, |m| hf_requests(m) >= 3.0 * FILES as f64).await;
    assert_eq!(hf_requests(&before), 3.0 * FILES as f64);
    assert_eq!(
        sent(&start, &before),
        total as f64,
        "cold: all sent bytes counted: {:#?}",
        access(&server)
    );

    // Warm: every GET a hit, three at a time on each object.
    let got: u64 = pass().await.iter().sum();
    assert_eq!(got, total);
    for (name, _) in &sizes {
        assert_eq!(hub.body_transfers(name), 1, "{name} fetched once");
    }

    let all = 6.0 * FILES as f64;
    let (_, after) = scrape_when(&server, |m| hf_requests(m) >= all).await;
    assert_eq!(hf_requests(&after), all);
    let access = access(&server);
    assert_eq!(
        sent(&before, &after),
        got as f64,
        "warm: all sent bytes counted: {access:#?}"
    );
    assert_eq!(
        delta(&before, &after, &bytes("cache")),
        got as f64,
        "warm: all of them from the cache: {access:#?}"
    );
    assert_eq!(
        delta(
            &before,
            &after,
            "hubcache_cache_lookups_total{distribution=\"hf\",result=\"hit\"}"
        ),
        3.0 * FILES as f64
    );
}
