//! The credentials rule as a table (`table.rs`): each row a URL a request may go to, and
//! whether the remote's secrets go with it. `content/fetch/tests.rs` runs the same rows
//! through both request builders.

use super::table::{remote, ROWS, TOKEN};
use super::*;
use crate::model::Secret;

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
