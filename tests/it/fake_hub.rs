//! Self-tests of the fake Hub and CDN: they must behave as `docs/hub-protocol.md` "The Hub's
//! side" describes, or every hubcache test built on them proves nothing.

use std::time::{Duration, Instant};

use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::support::{test_client, Content, FakeHub, Fault, RepoSpec, TestResponse};

mod api;
mod pieces;

const CONFIG: &[u8] = br#"{"model_type": "bert"}"#;

async fn send(method: reqwest::Method, url: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut req = test_client().request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    TestResponse::send(req).await
}

async fn head(url: &str) -> TestResponse {
    send(reqwest::Method::HEAD, url, &[]).await
}

async fn get(url: &str) -> TestResponse {
    send(reqwest::Method::GET, url, &[]).await
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> TestResponse {
    send(reqwest::Method::GET, url, headers).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn hub_with_model() -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", CONFIG);
    hub.add_lfs_file(
        "org/model",
        "main",
        "model.safetensors",
        Content::pattern(300_000, 1),
    );
    hub
}

/// Follows the fake's own redirect: relative → the Hub, absolute → as is.
fn absolute(hub: &FakeHub, location: &str) -> String {
    if location.starts_with('/') {
        format!("{}{location}", hub.url())
    } else {
        location.to_string()
    }
}

#[tokio::test]
async fn regular_file_resolves_through_a_relative_307_to_resolve_cache() {
    let hub = hub_with_model().await;
    let commit = hub.commit("org/model", "main");
    let sha1 = hub.etag("org/model", "main", "config.json");

    let first = head(&format!("{}/org/model/resolve/main/config.json", hub.url())).await;
    assert_eq!(first.status(), 307);
    let location = first.header("location").expect("location");
    assert_eq!(
        location,
        format!("/api/resolve-cache/models/org/model/{commit}/config.json?%2Forg%2Fmodel%2Fresolve%2Fmain%2Fconfig.json=&etag=%22{sha1}%22")
    );
    assert_eq!(first.header("x-repo-commit"), Some(commit.as_str()));
    assert_eq!(
        first.header("x-linked-etag"),
        Some(format!("\"{sha1}\"").as_str())
    );
    let redirect_len: usize = first
        .header("content-length")
        .expect("content-length")
        .parse()
        .expect("number");
    assert!(
        redirect_len > 0 && redirect_len != CONFIG.len(),
        "Content-Length is the redirect body's"
    );

    let meta = head(&absolute(&hub, location)).await;
    assert_eq!(meta.status(), 200);
    assert_eq!(meta.header("etag"), Some(format!("\"{sha1}\"").as_str()));
    assert_eq!(meta.header("x-repo-commit"), Some(commit.as_str()));
    assert_eq!(
        meta.header("content-length"),
        Some(CONFIG.len().to_string().as_str())
    );
    assert_eq!(meta.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        meta.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(meta.body().is_empty());
    assert_eq!(hub.body_transfers("config.json"), 0, "HEADs carry no bytes");

    let body = get(&absolute(&hub, location)).await;
    assert_eq!(body.body(), CONFIG);
    assert_eq!(hub.body_transfers("org/model/config.json"), 1);
}

#[tokio::test]
async fn regular_file_etag_is_the_git_blob_sha1_and_empty_files_have_length_zero() {
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "empty.txt", b"");
    hub.set_simple_mode(true);
    let resp = get(&format!("{}/org/model/resolve/main/empty.txt", hub.url())).await;
    assert_eq!(
        resp.status(),
        200,
        "simple mode answers straight from /resolve"
    );
    assert_eq!(
        resp.header("etag"),
        Some("\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\""),
        "git hash-object of an empty file"
    );
    assert_eq!(resp.header("content-length"), Some("0"));
    assert!(resp.header("x-repo-commit").is_some());
}

#[tokio::test]
async fn lfs_file_redirects_to_a_signed_url_on_the_cdn_host() {
    let hub = hub_with_model().await;
    let content = Content::pattern(300_000, 1).to_vec();
    let sha256 = sha256_hex(&content);
    let commit = hub.commit("org/model", "main");

    let resp = head(&format!(
        "{}/org/model/resolve/main/model.safetensors",
        hub.url()
    ))
    .await;
    assert_eq!(resp.status(), 302);
    let location = resp.header("location").expect("location");
    assert!(
        location.starts_with(&format!("{}/", hub.cdn().url()))
            && location.starts_with("http://127.0.0.2:"),
        "{location}"
    );
    assert!(
        location.contains("Expires=") && location.contains("Signature="),
        "{location}"
    );
    assert_eq!(resp.header("x-repo-commit"), Some(commit.as_str()));
    assert_eq!(
        resp.header("x-linked-etag"),
        Some(format!("\"{sha256}\"").as_str())
    );
    assert_eq!(resp.header("x-linked-size"), Some("300000"));
    assert_ne!(
        resp.header("content-length"),
        Some("300000"),
        "Content-Length is the redirect body's"
    );
    let xet_hash = resp.header("x-xet-hash").expect("x-xet-hash");
    assert_eq!(xet_hash.len(), 64);
    assert_ne!(xet_hash, sha256);
    let link = resp.header("link").expect("link");
    assert!(
        link.contains(&format!(
            "/api/models/org/model/xet-read-token/{commit}>; rel=\"xet-auth\""
        )),
        "{link}"
    );
    assert!(
        link.contains(&format!(
            "/v1/reconstructions/{xet_hash}>; rel=\"xet-reconstruction-info\""
        )),
        "{link}"
    );

    let cdn = get(location).await;
    assert_eq!(cdn.status(), 200);
    assert_eq!(
        cdn.header("etag"),
        Some(format!("\"{xet_hash}\"").as_str()),
        "the CDN's ETag is the Xet hash"
    );
    assert_eq!(cdn.header("x-repo-commit"), None);
    assert_eq!(cdn.header("x-linked-etag"), None);
    assert_eq!(cdn.header("accept-ranges"), Some("bytes"));
    assert_eq!(sha256_hex(cdn.body()), sha256);
    assert_eq!(
        hub.body_transfers("model.safetensors"),
        1,
        "CDN transfers count too"
    );
    assert!(!hub.cdn().saw_authorization());
}

#[tokio::test]
async fn cdn_answers_ranges_with_206_and_unsatisfiable_ranges_with_416() {
    let hub = hub_with_model().await;
    let content = Content::pattern(300_000, 1).to_vec();
    let resp = head(&format!(
        "{}/org/model/resolve/main/model.safetensors",
        hub.url()
    ))
    .await;
    let location = resp.header("location").expect("location");

    let part = get_with(location, &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.header("content-range"), Some("bytes 10-19/300000"));
    assert_eq!(part.body(), &content[10..20]);

    let tail = get_with(location, &[("range", "bytes=299990-")]).await;
    assert_eq!(
        tail.header("content-range"),
        Some("bytes 299990-299999/300000")
    );
    assert_eq!(tail.body(), &content[299_990..]);

    let beyond = get_with(location, &[("range", "bytes=300000-")]).await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.header("content-range"), Some("bytes */300000"));
}

#[tokio::test]
async fn cdn_refuses_tampered_expired_and_invalidated_urls() {
    let hub = hub_with_model().await;
    let resolve = format!("{}/org/model/resolve/main/model.safetensors", hub.url());
    let location = head(&resolve)
        .await
        .header("location")
        .expect("location")
        .to_string();

    let tampered = location.replace("Signature=", "Signature=0");
    assert_eq!(get(&tampered).await.status(), 403);

    hub.cdn().invalidate_signed_urls();
    assert_eq!(get(&location).await.status(), 403, "old URLs die");
    let fresh = head(&resolve)
        .await
        .header("location")
        .expect("location")
        .to_string();
    assert_eq!(
        get(&fresh).await.status(),
        200,
        "re-resolving gives a working URL"
    );

    hub.set_signed_url_ttl(Duration::ZERO);
    let expired = head(&resolve)
        .await
        .header("location")
        .expect("location")
        .to_string();
    assert_eq!(get(&expired).await.status(), 403);
}

#[tokio::test]
async fn cdn_records_an_authorization_header_and_rejects_it() {
    let hub = hub_with_model().await;
    let location = head(&format!(
        "{}/org/model/resolve/main/model.safetensors",
        hub.url()
    ))
    .await;
    let location = location.header("location").expect("location");
    assert!(!hub.cdn().saw_authorization());
    let resp = get_with(location, &[("authorization", "Bearer hf_leak")]).await;
    assert_eq!(resp.status(), 400);
    assert!(hub.cdn().saw_authorization());
    assert!(hub
        .cdn()
        .saw_header_value("authorization", "Bearer hf_leak"));
}

#[tokio::test]
async fn drop_mid_body_really_sends_fewer_bytes_on_hub_and_cdn() {
    let hub = FakeHub::start().await;
    hub.set_simple_mode(true);
    hub.add_file("org/model", "main", "big.txt", "x".repeat(200_000));
    hub.add_lfs_file("org/model", "main", "w.bin", Content::pattern(200_000, 2));
    hub.fault_times("org/model", "big.txt", Fault::DropAfter(1000), 1);
    hub.fault_times("org/model", "w.bin", Fault::DropAfter(5000), 1);

    let hub_url = format!("{}/org/model/resolve/main/big.txt", hub.url());
    assert_eq!(
        received_until_error(&hub_url).await,
        (Some(200_000), 1000, true)
    );
    assert_eq!(
        received_until_error(&hub_url).await,
        (Some(200_000), 200_000, false),
        "only once"
    );

    let location = head(&format!("{}/org/model/resolve/main/w.bin", hub.url())).await;
    let cdn_url = location.header("location").expect("location");
    assert_eq!(
        received_until_error(cdn_url).await,
        (Some(200_000), 5000, true)
    );
}

/// (Content-Length, bytes received, whether the body ended in an error).
async fn received_until_error(url: &str) -> (Option<u64>, usize, bool) {
    let resp = test_client().get(url).send().await.expect("headers arrive");
    let length = resp.content_length();
    let mut stream = resp.bytes_stream();
    let mut received = 0;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => received += bytes.len(),
            Err(_) => return (length, received, true),
        }
    }
    (length, received, false)
}

#[tokio::test]
async fn slow_first_byte_delays_headers_and_stall_delays_the_body() {
    let hub = FakeHub::start().await;
    hub.set_simple_mode(true);
    hub.add_file("org/model", "main", "slow.txt", "s".repeat(1000));
    hub.add_file("org/model", "main", "stall.txt", "t".repeat(1000));
    hub.fault(
        "org/model",
        "slow.txt",
        Fault::SlowFirstByte(Duration::from_millis(300)),
    );
    hub.fault(
        "org/model",
        "stall.txt",
        Fault::Stall {
            after: 10,
            duration: Duration::from_millis(300),
        },
    );

    let started = Instant::now();
    let resp = get(&format!("{}/org/model/resolve/main/slow.txt", hub.url())).await;
    assert_eq!(resp.body().len(), 1000);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let started = Instant::now();
    let resp = test_client()
        .get(format!("{}/org/model/resolve/main/stall.txt", hub.url()))
        .send()
        .await
        .expect("headers");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "headers come at once"
    );
    assert_eq!(resp.bytes().await.expect("body").len(), 1000);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the body stalls"
    );
}

#[tokio::test]
async fn gzip_mode_sends_a_chunked_gzip_body_without_length() {
    let hub = FakeHub::start().await;
    hub.add_file(
        "org/model",
        "main",
        "vocab.txt",
        "hello world\n".repeat(500),
    );
    hub.fault("org/model", "vocab.txt", Fault::Gzip);
    let redirect = head(&format!("{}/org/model/resolve/main/vocab.txt", hub.url())).await;
    let url = absolute(&hub, redirect.header("location").expect("location"));

    let plain = get(&url).await;
    assert_eq!(
        plain.header("content-encoding"),
        None,
        "no gzip unless asked"
    );
    let gz = get_with(&url, &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("content-length"), None);
    assert_eq!(gz.header("transfer-encoding"), Some("chunked"));
    let mut decoded = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.body()), &mut decoded)
        .expect("valid gzip");
    assert_eq!(decoded, "hello world\n".repeat(500));
}

#[tokio::test]
async fn pattern_content_is_deterministic_and_sliceable() {
    let whole = Content::pattern(100_003, 9).to_vec();
    for (a, b) in [
        (0, 1),
        (3, 17),
        (8, 16),
        (65_530, 65_545),
        (100_000, 100_003),
    ] {
        assert_eq!(
            &Content::pattern(100_003, 9).slice(a, b)[..],
            &whole[a as usize..b as usize],
            "slice {a}..{b}"
        );
    }
    assert_ne!(
        Content::pattern(64, 1).to_vec(),
        Content::pattern(64, 2).to_vec()
    );
    assert_eq!(
        Content::pattern(1000, 5).sha256(),
        sha256_hex(&Content::pattern(1000, 5).to_vec())
    );
}

#[tokio::test]
async fn requests_are_recorded_with_method_path_query_and_headers() {
    let hub = hub_with_model().await;
    let url = format!(
        "{}/api/models/org/model/tree/main?recursive=true",
        hub.url()
    );
    get_with(
        &url,
        &[
            ("authorization", "Bearer hf_abc"),
            ("x-hf-download-counter", "1"),
        ],
    )
    .await;
    let requests = hub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/models/org/model/tree/main");
    assert_eq!(requests[0].query.as_deref(), Some("recursive=true"));
    assert_eq!(requests[0].status, Some(200));
    assert!(hub.saw_header_value("authorization", "Bearer hf_abc"));
    assert_eq!(hub.count(|r| r.is("GET", "/tree/")), 1);
    hub.clear_requests();
    assert!(hub.requests().is_empty());
}

#[tokio::test]
async fn dataset_files_resolve_under_the_datasets_prefix() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::dataset("org/data"));
    hub.add_file("datasets/org/data", "main", "train.csv", "a,b\n");
    let resp = head(&format!(
        "{}/datasets/org/data/resolve/main/train.csv",
        hub.url()
    ))
    .await;
    assert_eq!(resp.status(), 307);
    assert!(resp
        .header("location")
        .expect("location")
        .starts_with("/api/resolve-cache/datasets/org/data/"));
}
