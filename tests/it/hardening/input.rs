//! Input checks and login costs: control characters, bad URLs, wrong passwords.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::api::{
    assert_drf_error, assert_logs_clean, assert_no_secrets, hidden_is_set, href, Admin, GUARDS,
    REMOTES, STATUS,
};
use crate::support::{FakeHub, RemoteCfg, TestServer};

/// A token or header value a careless script could produce: every one would make each
/// upstream request fail later, so each must be refused when written.
const BAD_TOKENS: [&str; 4] = [
    "hf_ctlsecretA\r\nX-Evil: 1",
    "hf_ctlsecretB\0",
    "hf_ctlsecretC\tx",
    "hf_ctlsecretD\x1b[0m",
];

#[tokio::test]
async fn control_characters_in_tokens_and_headers_are_refused_naming_the_field() {
    let hub = FakeHub::start().await;
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let url = hub.url();
    let remote = admin
        .create(REMOTES, &json!({"name": "good", "url": url}))
        .await;
    let remote_href = href(&remote);

    let mut cases: Vec<(Value, &str)> = BAD_TOKENS
        .iter()
        .map(|t| (json!({"hf_token": t}), "hf_token"))
        .collect();
    for header in [
        json!({"X-Extra": "a\tb"}),
        json!({"X-Extra": "a\r\nX-Evil: 1"}),
        json!({"X-Extra": "a\u{7f}"}),
        json!({"X-Ex\ntra": "a"}),
    ] {
        cases.push((json!({"headers": [header]}), "headers"));
    }
    for (fields, key) in &cases {
        let mut create = json!({"name": "bad", "url": url});
        for (k, v) in fields.as_object().expect("object") {
            create[k] = v.clone();
        }
        let what = format!("POST {fields}");
        assert_drf_error(&admin.post(REMOTES, &create).await, 400, key, &what);
        let what = format!("PATCH {fields}");
        assert_drf_error(&admin.patch(&remote_href, fields).await, 400, key, &what);
        let mut put = json!({"name": "good", "url": url});
        for (k, v) in fields.as_object().expect("object") {
            put[k] = v.clone();
        }
        let what = format!("PUT {fields}");
        assert_drf_error(&admin.put(&remote_href, &put).await, 400, key, &what);
    }
    // A guard's value is compared with a header a client sends: it could never match.
    for value in ["v\r\n", "v\0", "v\tw"] {
        let body = json!({"name": "g", "header_name": "X-Key", "header_value": value});
        let what = format!("guard value {value:?}");
        assert_drf_error(&admin.post(GUARDS, &body).await, 400, "header_value", &what);
    }

    // Nothing was stored: the one good remote, unchanged, and no guard.
    let remotes = admin.list(REMOTES).await;
    assert_eq!(remotes.len(), 1, "{remotes:?}");
    assert_eq!(remotes[0]["name"], "good");
    assert!(!hidden_is_set(&remotes[0], "hf_token"), "{}", remotes[0]);
    assert_eq!(
        remotes[0]["headers"],
        Value::Null,
        "never set: {}",
        remotes[0]
    );
    assert!(admin.list(GUARDS).await.is_empty());
    let secrets = ["ctlsecret", "X-Evil"];
    assert_no_secrets(&admin.transcript(), &secrets, "API responses");
    assert_logs_clean(&server, &secrets);
}

#[tokio::test]
async fn control_characters_in_the_config_file_are_problems_with_their_yaml_path() {
    let hub = FakeHub::start().await;
    let out = TestServer::builder()
        .remote_with(RemoteCfg::hub("tok", &hub).token("hf_cfgsecret\r\nX-Evil: 1"))
        .remote_with(RemoteCfg::hub("nul", &hub).token("hf_cfgsecret\0"))
        .remote_with(
            RemoteCfg::hub("hdr", &hub)
                .field("headers", json!([{"X-Ok": "fine"}, {"X-Extra": "a\tb"}])),
        )
        .yaml(
            "content_guards:\n  - {name: g, header_name: X-Key, header_value: \"cfgsecret\\r\\n\"}\n",
        )
        .check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--check accepted it:\n{stderr}");
    for path in [
        "remotes[0].hf_token",
        "remotes[1].hf_token",
        "remotes[2].headers[1]",
        "content_guards[0].header_value",
    ] {
        assert!(stderr.contains(path), "no problem at {path}:\n{stderr}");
    }
    assert!(!stderr.contains("remotes[2].headers[0]"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_no_secrets(
        &format!("{stdout}{stderr}"),
        &["cfgsecret"],
        "--check output",
    );
}

/// URLs a real parser refuses (or reads differently from the proxy), and what it is not.
const BAD_URLS: [&str; 6] = [
    "http://[::1",
    "ftp://x",
    "http://",
    "not a url",
    "http://h%41st",
    "http://exa mple.com",
];

#[tokio::test]
async fn unparseable_hub_urls_are_refused_through_the_api_and_in_the_config() {
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    for url in BAD_URLS {
        for field in ["url", "hf_hub_url"] {
            let body = json!({"name": "r", field: url});
            let what = format!("{field} {url:?}");
            assert_drf_error(&admin.post(REMOTES, &body).await, 400, field, &what);
        }
    }
    // The one accepted form of an IPv6 loopback Hub still works.
    admin
        .create(REMOTES, &json!({"name": "v6", "url": "http://[::1]:9"}))
        .await;
    assert_eq!(admin.list(REMOTES).await.len(), 1);

    let mut builder = TestServer::builder();
    for (i, url) in BAD_URLS.iter().enumerate() {
        builder = builder.remote_with(RemoteCfg::new(&format!("r{i}"), url));
    }
    let out = builder.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--check accepted it:\n{stderr}");
    for i in 0..BAD_URLS.len() {
        let path = format!("remotes[{i}].url");
        assert!(stderr.contains(&path), "no problem at {path}:\n{stderr}");
    }
}

#[tokio::test]
async fn status_shows_cache_figures_but_no_absolute_path() {
    let server = TestServer::builder().start().await;
    let resp = server
        .client()
        .get(server.api_url(STATUS))
        .send()
        .await
        .expect("status");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("status body");
    let status: Value = serde_json::from_str(&text).expect("status JSON");
    for dir in [server.cache_dir(), server.dir().to_path_buf()] {
        let dir = dir.display().to_string();
        assert!(!text.contains(&dir), "status shows {dir}: {text}");
    }
    for key in [
        "max_size",
        "size",
        "objects",
        "fills_in_flight",
        "evictions",
    ] {
        assert!(status["cache"][key].is_u64(), "cache.{key}: {status}");
    }
    assert!(
        status["storage"]["total"].as_u64().unwrap_or(0) > 0,
        "{status}"
    );
}

/// An argon2id PHC string with the crate's default cost (what an operator's `password_hash`
/// usually is): verifying it takes tens of milliseconds of CPU.
fn argon2_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"hubcache-it-salt").expect("salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address is local).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().expect("ip"))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// `GET` the remotes list as `user:password` from `client`: (status, Retry-After, time taken).
async fn login(
    client: &reqwest::Client,
    server: &TestServer,
    user: &str,
    password: &str,
) -> (u16, Option<String>, Duration) {
    let started = Instant::now();
    let resp = client
        .get(server.url(REMOTES))
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("login request");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    resp.bytes().await.expect("login body");
    (status, retry_after, started.elapsed())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// A server with an argon2 user `ops` and a small file already answered from memory.
async fn server_with_argon2_user(hub: &FakeHub) -> TestServer {
    hub.add_file("org/model", "main", "config.json", b"{\"hidden_size\": 8}");
    let server = TestServer::builder()
        .remote("hf", hub)
        .distribution("hf", "hf")
        .yaml(&format!(
            "users:\n  - username: ops\n    password_hash: '{}'\n",
            argon2_hash("ops-right")
        ))
        .start()
        .await;
    for _ in 0..3 {
        assert_eq!(server.get(HIT).await.status(), 200);
    }
    server
}

const HIT: &str = "/pulp/content/hf/org/model/resolve/main/config.json";

#[tokio::test]
async fn wrong_passwords_do_not_slow_downloads() {
    let hub = FakeHub::start().await;
    let server = server_with_argon2_user(&hub).await;

    // 200 wrong passwords, 8 at a time, spread over 20 client addresses so that no address
    // reaches the per-address limit: every one of them is a real password check.
    let flood = async {
        let clients: Vec<reqwest::Client> = (10..30)
            .map(|i| client_from(&format!("127.0.0.{i}")))
            .collect();
        let statuses: Vec<u16> = futures::stream::iter(0..200usize)
            .map(|i| {
                let client = &clients[i % clients.len()];
                let server = &server;
                async move { login(client, server, "ops", "wrong").await.0 }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        statuses
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let hits = async {
        let mut took = Vec::new();
        while !done.load(std::sync::atomic::Ordering::Relaxed) && took.len() < 5_000 {
            let started = Instant::now();
            let resp = server.get(HIT).await;
            took.push(started.elapsed());
            assert_eq!(resp.status(), 200);
        }
        took
    };
    let flood = async {
        let statuses = flood.await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        statuses
    };
    let (statuses, mut took) = tokio::join!(flood, hits);
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(took.len() >= 20, "only {} hits measured", took.len());
    took.sort();
    let (p50, p99) = (percentile(&took, 50), percentile(&took, 99));
    eprintln!(
        "content hits during 200 bad logins: n={} p50={p50:?} p99={p99:?} (401: {}, 429: {}, 503: {})",
        took.len(),
        statuses.iter().filter(|s| **s == 401).count(),
        statuses.iter().filter(|s| **s == 429).count(),
        statuses.iter().filter(|s| **s == 503).count(),
    );
    assert!(p50 < Duration::from_millis(20), "p50 {p50:?} p99 {p99:?}");
    assert!(p99 < Duration::from_millis(500), "p50 {p50:?} p99 {p99:?}");
}

#[tokio::test]
async fn bad_logins_are_throttled_per_address_and_good_logins_still_work() {
    let hub = FakeHub::start().await;
    let server = server_with_argon2_user(&hub).await;
    let (admin_user, admin_password) = server.admin_credentials();
    let attacker = client_from("127.0.0.4");
    let operator = client_from("127.0.0.3");

    // The first check of a right password pays for argon2; repeats are remembered.
    let (status, _, first) = login(&operator, &server, "ops", "ops-right").await;
    assert_eq!(status, 200);
    let mut repeats = Vec::new();
    for _ in 0..5 {
        let (status, _, took) = login(&operator, &server, "ops", "ops-right").await;
        assert_eq!(status, 200);
        repeats.push(took);
    }
    repeats.sort();
    eprintln!("good argon2 login: first {first:?}, repeats {repeats:?}");
    // Relative to the first check, not an absolute bound: on a loaded 2-core machine a round
    // trip alone can take 10 ms, while a repeated argon2 check would cost as much as the first.
    assert!(
        repeats[2] < Duration::from_millis(10) || repeats[2] * 2 < first,
        "first {first:?}, repeats {repeats:?}"
    );

    // Wrong passwords from one address: refused, then throttled without checking.
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let (status, retry_after, took) = login(&attacker, &server, "ops", "guess").await;
        if status == 429 {
            let secs: u64 = retry_after
                .as_deref()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("429 without a Retry-After in seconds"));
            assert!((1..=600).contains(&secs), "Retry-After {secs}");
            assert!(took < Duration::from_millis(100), "a 429 took {took:?}");
        }
        statuses.push(status);
    }
    let first_429 = statuses.iter().position(|s| *s == 429);
    assert!(
        first_429.is_some_and(|i| i >= 3 && statuses[..i].iter().all(|s| *s == 401)),
        "{statuses:?}"
    );
    assert!(
        statuses[first_429.unwrap_or(0)..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    // The right password of a remembered login still works from there; a new check of that
    // user does not; another user of the same address is not locked out.
    assert_eq!(login(&attacker, &server, "ops", "ops-right").await.0, 200);
    assert_eq!(login(&attacker, &server, "ops", "other-guess").await.0, 429);
    assert_eq!(
        login(&attacker, &server, admin_user, admin_password)
            .await
            .0,
        200
    );
    // Other addresses are not affected.
    assert_eq!(
        login(&operator, &server, admin_user, admin_password)
            .await
            .0,
        200
    );
    assert_eq!(login(&operator, &server, "ops", "wrong").await.0, 401);
    assert_logs_clean(&server, &["ops-right", "guess"]);
}
