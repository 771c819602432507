//! Input checks and login costs: control characters, bad URLs, wrong passwords.

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
    assert_eq!(remotes[0]["headers"], json!([]), "{}", remotes[0]);
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
