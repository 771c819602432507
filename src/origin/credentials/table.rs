//! The credentials rule as rows (tests only): shared by the rule's own test and by the test
//! that runs both request builders (`content/fetch/tests.rs`).

use std::sync::Arc;

use crate::model::{Origin, Remote, Secret};

/// The remote's token in every row.
pub(crate) const TOKEN: &str = "hf_remote_secret";

/// A remote at `url` with [`TOKEN`] and one extra header `X-Extra: extra-value`.
pub(crate) fn remote(url: &str) -> Arc<Remote> {
    Arc::new(Remote {
        hf_token: Some(Secret::new(TOKEN)),
        headers: vec![("X-Extra".into(), "extra-value".into())],
        ..Remote::new(Origin::Config, "r", url)
    })
}

/// (remote URL, request URL, whether the remote's secrets go along)
pub(crate) const ROWS: &[(&str, &str, bool)] = &[
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
