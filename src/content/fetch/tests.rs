//! The credentials rule's table, run through both request builders: the metadata client's
//! and the body request Pingora sends.

use super::*;
use crate::origin::credentials_table::{remote, ROWS, TOKEN};

#[test]
fn both_request_paths_follow_the_credentials_rule() {
    for (remote_url, url, secrets) in ROWS {
        let row = format!("row: remote {remote_url}, request {url}");
        let r = remote(remote_url);
        // The metadata client (reqwest).
        if let Ok(parsed) = reqwest::Url::parse(url) {
            let built =
                crate::origin::authorize_for_test(reqwest::Client::new().get(parsed), &r, url)
                    .build()
                    .expect("a request");
            // (reqwest turns a URL's own userinfo into basic auth: never the remote's token)
            let bearer = built
                .headers()
                .get(http::header::AUTHORIZATION)
                .is_some_and(|v| v.to_str().unwrap().contains(TOKEN));
            assert_eq!(bearer, *secrets, "metadata {row}");
            assert_eq!(
                built.headers().get("x-extra").is_some(),
                *secrets,
                "metadata {row}"
            );
        }
        // The body request (Pingora), for every URL a download can have.
        if let Some(download) = Download::parse(url.to_string(), *secrets) {
            let mut client = http::HeaderMap::new();
            client.insert("authorization", "Bearer client-own-secret".parse().unwrap());
            client.insert("range", "bytes=0-1".parse().unwrap());
            let req = body_request(&download, Some(&r), Some(&client)).expect("a request");
            let auth = req
                .headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(
                auth,
                secrets.then(|| format!("Bearer {TOKEN}")),
                "body {row}: the client's own Authorization never goes upstream"
            );
            assert_eq!(req.headers.get("x-extra").is_some(), *secrets, "body {row}");
            assert_eq!(req.headers.get("range").unwrap(), "bytes=0-1", "body {row}");
        }
    }
}
