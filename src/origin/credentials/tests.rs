//! The credentials rule as a table: each row a URL a request may go to, and whether the
//! remote's secrets go with it — checked on the rule itself and on both request builders.

use std::sync::Arc;

use super::*;
use crate::model::{Meta, Origin, Policy, Secret};

const TOKEN: &str = "hf_remote_secret";

fn remote(url: &str) -> Arc<Remote> {
    Arc::new(Remote {
        meta: Meta::new(Origin::Config),
        name: "r".into(),
        url: url.into(),
        policy: Policy::OnDemand,
        hf_token: Some(Secret::new(TOKEN)),
        pulp_labels: Default::default(),
        tls_validation: true,
        ca_cert: None,
        headers: vec![("X-Extra".into(), "extra-value".into())],
        connect_timeout: None,
        sock_read_timeout: None,
        total_timeout: None,
        max_retries: None,
        rate_limit: None,
        download_concurrency: None,
    })
}

/// (remote URL, request URL, secrets go along)
const ROWS: &[(&str, &str, bool)] = &[
    (
        "https://hub.example",
        "https://hub.example/api/models/a/b",
        true,
    ),
    (
        "https://hub.example",
        "https://HUB.Example/org/m/resolve/main/x",
        true,
    ),
    ("https://hub.example", "HTTPS://hub.example:443/api/x", true),
    ("https://hub.example:443", "https://hub.example/api/x", true),
    (
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000/api/resolve-cache/x",
        true,
    ),
    ("http://hub.example", "http://hub.example:80/x", true),
    // a CDN or any other host, scheme or port: nothing
    (
        "https://hub.example",
        "https://cdn-lfs.hub.example/x?Signature=s",
        false,
    ),
    ("https://hub.example", "https://hub.example.evil/x", false),
    (
        "https://hub.example",
        "https://evil.example/hub.example/x",
        false,
    ),
    ("https://hub.example", "http://hub.example/x", false),
    ("https://hub.example", "https://hub.example:8443/x", false),
    (
        "https://hub.example",
        "https://hub.example@evil.example/x",
        false,
    ),
    ("http://127.0.0.1:8000", "http://127.0.0.2:8000/x", false),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8001/x", false),
    ("http://127.0.0.1:8000", "http://localhost:8000/x", false),
    ("https://hub.example", "/relative/path", false),
    ("https://hub.example", "", false),
];

fn authorization(headers: &[(HeaderName, HeaderValue)]) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == http::header::AUTHORIZATION)
        .map(|(_, v)| v.to_str().unwrap().to_owned())
}

#[test]
fn secrets_go_to_the_remotes_own_origin_only() {
    for (remote_url, url, secrets) in ROWS {
        let r = remote(remote_url);
        let got = upstream_headers(&r, url);
        let row = format!("row: remote {remote_url}, request {url}");
        assert_eq!(is_remote_origin(&r, url), *secrets, "{row}");
        if *secrets {
            assert_eq!(
                authorization(&got),
                Some(format!("Bearer {TOKEN}")),
                "{row}"
            );
            assert!(
                got.iter()
                    .any(|(n, v)| n == "x-extra" && v == "extra-value"),
                "{row}"
            );
            assert!(
                got.iter().all(|(_, v)| v.is_sensitive() || v != TOKEN),
                "{row}"
            );
        } else {
            assert!(got.is_empty(), "{row}: {got:?}");
        }
    }
}

#[test]
fn no_token_no_authorization() {
    let mut r = (*remote("https://hub.example")).clone();
    r.hf_token = None;
    let got = upstream_headers(&r, "https://hub.example/x");
    assert_eq!(authorization(&got), None);
    r.hf_token = Some(Secret::new(""));
    assert_eq!(
        authorization(&upstream_headers(&r, "https://hub.example/x")),
        None
    );
}

#[test]
fn the_metadata_client_follows_the_rule() {
    for (remote_url, url, secrets) in ROWS {
        if !url.contains("://") {
            continue;
        }
        let r = remote(remote_url);
        let built = super::super::client::authorize(reqwest::Client::new().get(*url), &r, url)
            .build()
            .expect("a request");
        let row = format!("row: remote {remote_url}, request {url}");
        // (reqwest turns a URL's own userinfo into basic auth: never the remote's token)
        let bearer = built
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.to_str().unwrap().contains(TOKEN));
        assert_eq!(bearer, *secrets, "{row}");
        assert_eq!(built.headers().get("x-extra").is_some(), *secrets, "{row}");
    }
}
