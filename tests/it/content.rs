//! Content proxy scenarios: what a Hub client sees through `/pulp/content/<base_path>/…`.

use std::time::Duration;

use crate::support::{Content, DistributionCfg, FakeHub, Fault, RemoteCfg, RepoSpec, TestServer};

const CONFIG: &[u8] = b"{\"model_type\": \"bert\"}\n";

async fn hub_with_model() -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", CONFIG);
    hub.add_lfs_file(
        "org/model",
        "main",
        "model.safetensors",
        Content::pattern(3 << 20, 1),
    );
    hub
}

async fn server_for(hub: &FakeHub) -> TestServer {
    TestServer::builder()
        .remote("hf", hub)
        .distribution("hf", "hf")
        .start()
        .await
}

fn assert_no_xet(resp: &crate::support::TestResponse) {
    for (name, value) in resp.headers.iter() {
        assert!(
            !name.as_str().starts_with("x-xet-"),
            "Xet header leaked: {name}"
        );
        let v = value.to_str().unwrap_or("");
        assert!(
            !v.contains("xet-auth") && !v.contains("xet-reconstruction-info"),
            "Xet link leaked: {v}"
        );
    }
    assert!(
        resp.header("location").is_none(),
        "a Location reached the client"
    );
}

#[tokio::test]
async fn head_of_a_regular_file_answers_200_with_hub_metadata_and_no_download() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let resp = server
        .head("/pulp/content/hf/org/model/resolve/main/config.json")
        .await;

    assert_eq!(resp.status(), 200);
    let etag = hub.etag("org/model", "main", "config.json");
    assert_eq!(
        resp.header("x-repo-commit"),
        Some(hub.commit("org/model", "main").as_str())
    );
    assert_eq!(
        resp.header("x-linked-etag"),
        Some(format!("\"{etag}\"").as_str())
    );
    assert_eq!(resp.header("etag"), Some(format!("\"{etag}\"").as_str()));
    assert_eq!(
        resp.header("content-length"),
        Some(CONFIG.len().to_string().as_str())
    );
    assert_eq!(resp.header("accept-ranges"), Some("bytes"));
    assert!(resp.body().is_empty());
    assert_no_xet(&resp);
    assert_eq!(
        hub.body_transfers("config.json"),
        0,
        "a HEAD must not download the file"
    );
}

#[tokio::test]
async fn head_of_an_lfs_file_reports_the_sha256_and_real_size_not_the_cdn_answer() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let resp = server
        .head("/pulp/content/hf/org/model/resolve/main/model.safetensors")
        .await;

    assert_eq!(resp.status(), 200);
    let file = hub.file("org/model", "main", "model.safetensors");
    let sha256 = file.content.sha256();
    assert_eq!(
        resp.header("x-linked-etag"),
        Some(format!("\"{sha256}\"").as_str())
    );
    assert_eq!(resp.header("etag"), Some(format!("\"{sha256}\"").as_str()));
    assert_eq!(
        resp.header("x-linked-size"),
        Some((3u64 << 20).to_string().as_str())
    );
    assert_eq!(
        resp.header("content-length"),
        Some((3u64 << 20).to_string().as_str())
    );
    assert_no_xet(&resp);
    assert_eq!(
        hub.cdn().requests().len(),
        0,
        "a HEAD must not touch the CDN"
    );
}

#[tokio::test]
async fn get_follows_the_relative_307_and_the_cdn_302_server_side() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;

    let small = server
        .get("/pulp/content/hf/org/model/resolve/main/config.json")
        .await;
    assert_eq!(small.status(), 200);
    assert_eq!(small.body(), CONFIG);
    assert_no_xet(&small);

    let big = server
        .get("/pulp/content/hf/org/model/resolve/main/model.safetensors")
        .await;
    assert_eq!(big.status(), 200);
    assert_eq!(big.body(), &Content::pattern(3 << 20, 1).to_vec()[..]);
    assert_eq!(
        big.header("content-length"),
        Some((3u64 << 20).to_string().as_str())
    );
    assert_eq!(
        big.header("x-repo-commit"),
        Some(hub.commit("org/model", "main").as_str())
    );
    assert_no_xet(&big);
    assert_eq!(hub.cdn().count(|r| r.method == "GET"), 1);
}

#[tokio::test]
async fn datasets_and_spaces_resolve_under_their_prefix() {
    let hub = FakeHub::start().await;
    hub.add_file("datasets/org/data", "main", "train.csv", b"a,b\n1,2\n");
    hub.add_lfs_file(
        "spaces/org/app",
        "main",
        "weights.bin",
        Content::pattern(4096, 9),
    );
    let server = server_for(&hub).await;

    let csv = server
        .get("/pulp/content/hf/datasets/org/data/resolve/main/train.csv")
        .await;
    assert_eq!(
        (csv.status().as_u16(), csv.body()),
        (200, &b"a,b\n1,2\n"[..])
    );
    let bin = server
        .get("/pulp/content/hf/spaces/org/app/resolve/main/weights.bin")
        .await;
    assert_eq!(bin.status(), 200);
    assert_eq!(bin.body(), &Content::pattern(4096, 9).to_vec()[..]);
}

#[tokio::test]
async fn ranges_are_answered_206_and_unsatisfiable_ones_416() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let path = "/pulp/content/hf/org/model/resolve/main/model.safetensors";
    let all = Content::pattern(3 << 20, 1).to_vec();

    let first = server.get_with(path, &[("range", "bytes=0-99999")]).await;
    assert_eq!(first.status(), 206);
    assert_eq!(first.body(), &all[..100_000]);
    assert_eq!(
        first.header("content-range"),
        Some(format!("bytes 0-99999/{}", all.len()).as_str())
    );

    let resume = server.get_with(path, &[("range", "bytes=3000000-")]).await;
    assert_eq!(resume.status(), 206);
    assert_eq!(resume.body(), &all[3_000_000..]);

    let beyond = server.get_with(path, &[("range", "bytes=99999999-")]).await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{}", all.len()).as_str())
    );
}

#[tokio::test]
async fn a_private_repo_needs_the_remotes_token_which_never_reaches_the_cdn_or_the_client() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/secret").private("hf_remote_token"));
    hub.add_file("org/secret", "main", "config.json", CONFIG);
    hub.add_lfs_file(
        "org/secret",
        "main",
        "model.bin",
        Content::pattern(70_000, 3),
    );
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("private", &hub).token("hf_remote_token"))
        .remote("public", &hub)
        .distribution("hf-private", "private")
        .distribution("hf-public", "public")
        .start()
        .await;

    let client_secret = "Bearer client-own-secret";
    let ok = server
        .get_with(
            "/pulp/content/hf-private/org/secret/resolve/main/model.bin",
            &[("authorization", client_secret)],
        )
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.body(), &Content::pattern(70_000, 3).to_vec()[..]);
    let cfg = server
        .get("/pulp/content/hf-private/org/secret/resolve/main/config.json")
        .await;
    assert_eq!(cfg.body(), CONFIG);
    for resp in [&ok, &cfg] {
        let all_headers = format!("{:?}", resp.headers);
        assert!(
            !all_headers.contains("hf_remote_token"),
            "token returned to the client"
        );
    }

    // The same path through the token-less remote fails the way the Hub fails anonymous users.
    let denied = server
        .head("/pulp/content/hf-public/org/secret/resolve/main/config.json")
        .await;
    assert_eq!(denied.status(), 401);
    assert_eq!(
        denied.header("x-error-message"),
        Some("Invalid username or password.")
    );
    let denied_get = server
        .get("/pulp/content/hf-public/org/secret/resolve/main/model.bin")
        .await;
    assert_eq!(denied_get.status(), 401);

    assert!(hub.saw_header_value("authorization", "Bearer hf_remote_token"));
    assert!(
        !hub.saw_header_value("authorization", client_secret),
        "client Authorization went upstream"
    );
    assert!(
        !hub.cdn().saw_authorization(),
        "the CDN received an Authorization header"
    );
}

#[tokio::test]
async fn tree_pagination_links_point_at_the_proxy_and_xet_keys_are_gone() {
    let hub = hub_with_model().await;
    hub.add_file("org/model", "main", "tokenizer.json", b"{}");
    hub.add_file("org/model", "main", "sub/readme.md", b"# hi");
    hub.set_tree_page_size(2);
    let server = server_for(&hub).await;

    let mut url =
        server.url("/pulp/content/hf/api/models/org/model/tree/main?recursive=true&expand=false");
    let mut paths = Vec::new();
    for _ in 0..10 {
        let resp = crate::support::TestResponse::send(server.client().get(&url)).await;
        assert_eq!(resp.status(), 200, "{url}");
        assert!(
            !resp.text().contains("xetHash"),
            "xetHash survived: {}",
            resp.text()
        );
        for entry in resp.json().as_array().expect("a JSON array") {
            paths.push(entry["path"].as_str().unwrap_or_default().to_string());
        }
        let Some(link) = resp.header("link") else {
            break;
        };
        let next = link
            .split(['<', '>'])
            .nth(1)
            .expect("a URL in Link")
            .to_string();
        assert!(
            next.starts_with(&server.url("/pulp/content/hf/api/models/org/model/tree/main")),
            "Link leaves the proxy: {next}"
        );
        url = next;
    }
    paths.sort();
    assert_eq!(
        paths,
        [
            "config.json",
            "model.safetensors",
            "sub",
            "sub/readme.md",
            "tokenizer.json"
        ]
    );
    assert!(hub
        .requests()
        .iter()
        .all(|r| r.header("authorization").is_none()));
}

#[tokio::test]
async fn repo_info_keeps_id_and_sha_and_drops_xet_keys() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let info = server
        .get("/pulp/content/hf/api/models/org/model/revision/main")
        .await;
    assert_eq!(info.status(), 200);
    let json = info.json();
    assert_eq!(json["id"], "org/model");
    assert_eq!(json["sha"], hub.commit("org/model", "main").as_str());
    assert!(!info.text().contains("xetEnabled") && !info.text().contains("xetHash"));

    let head = server
        .head("/pulp/content/hf/org/model/resolve/main/config.json")
        .await;
    assert_eq!(
        head.header("x-repo-commit"),
        json["sha"].as_str(),
        "API sha and resolve commit must agree"
    );
}

#[tokio::test]
async fn a_renamed_repo_is_followed_server_side() {
    let hub = FakeHub::start().await;
    hub.add_file("openai-community/gpt2", "main", "config.json", CONFIG);
    hub.rename("gpt2", "openai-community/gpt2");
    let server = server_for(&hub).await;
    let info = server
        .get("/pulp/content/hf/api/models/gpt2/revision/main")
        .await;
    assert_eq!(info.status(), 200);
    assert_eq!(info.json()["id"], "openai-community/gpt2");
    let file = server
        .get("/pulp/content/hf/gpt2/resolve/main/config.json")
        .await;
    assert_eq!((file.status().as_u16(), file.body()), (200, CONFIG));
}

#[tokio::test]
async fn the_xet_token_endpoint_is_not_proxied() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let commit = hub.commit("org/model", "main");
    let resp = server
        .get(&format!(
            "/pulp/content/hf/api/models/org/model/xet-read-token/{commit}"
        ))
        .await;
    assert_eq!(resp.status(), 404);
    assert!(resp
        .header("x-error-message")
        .is_some_and(|m| m.contains("Xet")));
    assert!(resp.header("x-xet-access-token").is_none());
    assert_eq!(hub.xet_token_hits(), 0);
}

#[tokio::test]
async fn hub_errors_pass_through_with_their_headers() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let commit = hub.commit("org/model", "main");

    let missing = server
        .head("/pulp/content/hf/org/model/resolve/main/nope.bin")
        .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.header("x-error-code"), Some("EntryNotFound"));
    assert!(missing.header("x-error-message").is_some());
    assert_eq!(missing.header("x-repo-commit"), Some(commit.as_str()));

    let bad_rev = server
        .get("/pulp/content/hf/org/model/resolve/nobranch/config.json")
        .await;
    assert_eq!(bad_rev.status(), 404);
    assert_eq!(bad_rev.header("x-error-code"), Some("RevisionNotFound"));

    hub.fault(
        "org/model",
        "config.json",
        Fault::RateLimited { retry_after: 7 },
    );
    let limited = server
        .head("/pulp/content/hf/org/model/resolve/main/config.json")
        .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.header("retry-after"), Some("7"));
}

#[tokio::test]
async fn upstream_failures_become_502_503_504_never_401_or_404() {
    let hub = hub_with_model().await;
    hub.add_lfs_file("org/model", "main", "slow.bin", Content::pattern(1000, 2));
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", &hub).sock_read_timeout(1.0))
        .distribution("hf", "hf")
        .start()
        .await;

    hub.fault("org/model", "config.json", Fault::Status(500));
    assert_eq!(
        server
            .head("/pulp/content/hf/org/model/resolve/main/config.json")
            .await
            .status(),
        502
    );
    hub.clear_faults();
    hub.fault("org/model", "config.json", Fault::Status(503));
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/config.json")
            .await
            .status(),
        503
    );
    hub.clear_faults();

    // Stalled before the first byte: 504, well before any client timeout.
    hub.fault(
        "org/model",
        "slow.bin",
        Fault::SlowFirstByte(Duration::from_secs(5)),
    );
    let started = std::time::Instant::now();
    let stalled = server
        .get("/pulp/content/hf/org/model/resolve/main/slow.bin")
        .await;
    assert_eq!(stalled.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    hub.clear_faults();

    hub.shutdown();
    for path in [
        "/pulp/content/hf/org/model/resolve/main/config.json",
        "/pulp/content/hf/api/models/org/model",
    ] {
        let resp = server.get(path).await;
        assert_eq!(resp.status(), 502, "{path}");
        assert!(resp.header("x-error-code").is_none());
    }
}

#[tokio::test]
async fn a_body_cut_short_upstream_never_looks_complete_to_the_client() {
    let hub = hub_with_model().await;
    hub.fault("org/model", "model.safetensors", Fault::DropAfter(100_000));
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", &hub).policy("streamed"))
        .distribution("hf", "hf")
        .start()
        .await;
    let resp = server
        .client()
        .get(server.url("/pulp/content/hf/org/model/resolve/main/model.safetensors"))
        .send()
        .await;
    let complete = match resp {
        Ok(r) => r
            .bytes()
            .await
            .map(|b| b.len() as u64 == 3 << 20)
            .unwrap_or(false),
        Err(_) => false,
    };
    assert!(
        !complete,
        "a truncated upstream body was delivered as a whole file"
    );
}

#[tokio::test]
async fn gzip_from_the_hub_is_never_passed_on_as_file_bytes() {
    let hub = hub_with_model().await;
    hub.fault("org/model", "config.json", Fault::Gzip);
    let server = server_for(&hub).await;
    let resp = server
        .get_with(
            "/pulp/content/hf/org/model/resolve/main/config.json",
            &[("accept-encoding", "gzip")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body(), CONFIG);
    assert!(resp.header("content-encoding").is_none());
}

#[tokio::test]
async fn malformed_requests_get_a_clear_4xx_and_the_server_stays_up() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let long = format!(
        "/pulp/content/hf/org/model/resolve/main/{}",
        "a".repeat(10_000)
    );
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "GET",
            "/pulp/content/hf/org/model/resolve/main/%2e%2e/%2e%2e/etc/passwd".into(),
            400,
        ),
        (
            "GET",
            "/pulp/content/hf/org/model/resolve/main/a%00b".into(),
            400,
        ),
        (
            "GET",
            "/pulp/content/hf/org//model/resolve/main/x".into(),
            400,
        ),
        ("GET", long, 414),
        (
            "GET",
            "/pulp/content/nope/org/model/resolve/main/config.json".into(),
            404,
        ),
        (
            "GET",
            "/pulp/content/hf/org/model/blob/main/config.json".into(),
            404,
        ),
        ("GET", "/elsewhere".into(), 404),
        (
            "DELETE",
            "/pulp/content/hf/org/model/resolve/main/config.json".into(),
            405,
        ),
        (
            "POST",
            "/pulp/content/hf/org/model/resolve/main/config.json".into(),
            405,
        ),
        ("PUT", "/pulp/content/".into(), 405),
    ];
    for (method, path, want) in cases {
        // Sent raw: an HTTP client library would normalise the dot segments away.
        let status = raw_status(&server.url(""), method, &path).await;
        assert_eq!(status, want, "{method} {}", &path[..path.len().min(80)]);
    }
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/config.json")
            .await
            .status(),
        200
    );
    assert_eq!(hub.count(|r| r.path.contains("passwd")), 0);
}

#[tokio::test]
async fn the_content_root_lists_distributions_but_not_hidden_ones() {
    let hub = hub_with_model().await;
    let mut hidden = DistributionCfg::new("internal", "hf");
    hidden.hidden = true;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .distribution_with(hidden)
        .start()
        .await;
    let listing = server.get("/pulp/content/").await;
    assert_eq!(listing.status(), 200);
    assert!(listing.text().contains("hf/"));
    assert!(!listing.text().contains("internal"));
    // Hidden is only about the listing: it still serves.
    let resp = server
        .get("/pulp/content/internal/org/model/resolve/main/config.json")
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn curl_downloads_a_resolve_url_without_following_redirects() {
    let hub = hub_with_model().await;
    let server = server_for(&hub).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.safetensors");
    let status = tokio::process::Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(&out)
        .arg(server.url("/pulp/content/hf/org/model/resolve/main/model.safetensors"))
        .status()
        .await
        .expect("curl runs");
    assert!(status.success());
    assert_eq!(
        std::fs::read(&out).unwrap(),
        Content::pattern(3 << 20, 1).to_vec()
    );
}

/// Sends one request with the path exactly as given and returns the status code.
async fn raw_status(base: &str, method: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:.200}"))
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let hub = hub_with_model().await;
    let mut server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .yaml("server: {grace_period: 1s, graceful_shutdown_timeout: 1s}")
        .start()
        .await;
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/config.json")
            .await
            .status(),
        200
    );
    assert!(
        server.terminate(),
        "hubcache did not exit cleanly on SIGTERM"
    );
}

#[tokio::test]
async fn a_cdn_that_keeps_refusing_the_signed_url_is_a_502_never_a_403() {
    let hub = hub_with_model().await;
    hub.set_signed_url_ttl(Duration::ZERO);
    let server = server_for(&hub).await;
    let resp = server
        .get("/pulp/content/hf/org/model/resolve/main/model.safetensors")
        .await;
    assert_eq!(resp.status(), 502);
    assert!(resp.header("x-error-code").is_none());
    // It asked the Hub again once for a fresh URL before giving up.
    assert_eq!(hub.cdn().count(|r| r.method == "GET"), 2);
}

#[tokio::test]
async fn a_remotes_extra_headers_go_to_the_hub_only() {
    let hub = hub_with_model().await;
    let server = TestServer::builder()
        .remote_with(
            RemoteCfg::hub("hf", &hub)
                .field("headers", serde_json::json!([{"X-Team": "ml-platform"}])),
        )
        .distribution("hf", "hf")
        .start()
        .await;
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/model.safetensors")
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/config.json")
            .await
            .status(),
        200
    );
    assert!(hub.saw_header_value("x-team", "ml-platform"));
    assert!(
        !hub.cdn().saw_header_value("x-team", "ml-platform"),
        "extra headers must not reach the CDN"
    );
}

#[tokio::test]
async fn a_default_password_on_a_non_loopback_listener_is_warned_about_without_printing_it() {
    let hub = hub_with_model().await;
    let port = crate::support::free_port();
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .yaml(&format!(
            "api: {{listen: \"0.0.0.0:{port}\"}}\nusers: [{{username: ops, password: \"${{HUBCACHE_IT_UNSET_PASSWORD:-ops-default-pw}}\"}}]"
        ))
        .start()
        .await;
    let logs = server.logs();
    assert!(
        logs.contains("default password on a non-loopback listener"),
        "no start-up warning:\n{logs}"
    );
    assert!(
        !logs.contains("ops-default-pw"),
        "the password reached the log"
    );
}
