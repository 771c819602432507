//! What travels between the nodes of a fleet (`docs/fleet.md` "Node to node").
//!
//! A node that does not own a file asks the owner for it on the **peer path**,
//! `/pulp/content/.hubcache-peer/<remote id>/<hub path>`, with the fleet secret in
//! [`PEER_HEADER`] (compared in constant time by [`KeyedPath`]). Only a request with the
//! secret is a peer request: it names the remote directly (no distribution, no guard — the
//! asking node applied the guard) and is never forwarded again. Without the secret the path
//! is an ordinary content path. The asking node also sends the file target it resolved in
//! [`TARGET_HEADER`] so the owner needs no second resolve; the owner decides for itself
//! whether the target's URL is on the remote's origin (and so may carry its token).
//! Nothing of the client's request goes to the owner but `Range` and the conditionals.

use base64::Engine;
use http::HeaderMap;
use pingora::http::RequestHeader;
use serde::{Deserialize, Serialize};

use crate::hub::{is_commit, Etag};
use crate::model::Remote;
use crate::origin::{Download, FileTarget};
use crate::sync::KeyedPath;

/// The header carrying the fleet secret.
pub const PEER_HEADER: &str = "x-hubcache-fleet";
/// The header carrying the resolved file target (base64url of JSON).
pub const TARGET_HEADER: &str = "x-hubcache-fleet-target";
/// Set by the owner on the answers it gives a peer after taking the request on (a file, or the
/// Hub's verdict on it): the asking node relays those instead of trying the next node.
pub const ANSWER_HEADER: &str = "x-hubcache-fleet-answer";
/// The first segment of the peer path after `/pulp/content/`.
pub const PEER_SEGMENT: &str = ".hubcache-peer";
/// The `distribution` label peer requests are counted under on the owner.
pub const PEER_DISTRIBUTION: &str = "(peer)";

/// Client headers passed on to the owner: a range and the conditionals (the owner's cache
/// answers them).
const PASSED: [http::header::HeaderName; 6] = crate::content::PARTIAL_OR_CONDITIONAL;

/// The longest target header accepted (a signed CDN URL is well under 2 KiB).
const MAX_TARGET: usize = 8 * 1024;

/// The peer path opened by `secret`.
pub fn access(secret: &str) -> KeyedPath {
    KeyedPath::with_key(secret, PEER_HEADER, PEER_SEGMENT, PEER_DISTRIBUTION)
}

/// A file target as it travels.
#[derive(Debug, Serialize, Deserialize)]
struct WireTarget {
    commit: String,
    etag: String,
    size: u64,
    content_type: String,
    content_disposition: Option<String>,
    url: Option<String>,
}

/// `target` as the value of [`TARGET_HEADER`].
pub fn encode_target(target: &FileTarget) -> String {
    let wire = WireTarget {
        commit: target.commit.clone(),
        etag: target.etag.as_str().to_string(),
        size: target.size,
        content_type: target.content_type.clone(),
        content_disposition: target.content_disposition.clone(),
        url: target.download.as_ref().map(|d| d.url().to_string()),
    };
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The target a peer sent for `remote`, if it is well formed; `None` otherwise (the owner then
/// resolves the file itself). Whether the URL is on the remote's origin is decided here.
pub fn decode_target(headers: &HeaderMap, remote: &Remote) -> Option<FileTarget> {
    let value = headers.get(TARGET_HEADER)?.as_bytes();
    if value.len() > MAX_TARGET {
        return None;
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .ok()?;
    let wire: WireTarget = serde_json::from_slice(&json).ok()?;
    let etag = Etag::parse(&wire.etag);
    if !is_commit(&wire.commit) || !etag.is_digest() || etag.as_str() != wire.etag {
        return None;
    }
    let download = match wire.url {
        Some(url) => {
            let same_origin = crate::origin::is_remote_origin(remote, &url);
            let download = Download::parse(url, same_origin)?;
            // The remote's token goes with a URL on its origin: only a file URL of this
            // commit is taken (`…/resolve/<commit>/…` or `…/resolve-cache/…/<commit>/…`).
            let path = download.path_and_query();
            let path = path.split('?').next().unwrap_or_default();
            if same_origin
                && !(path.contains("/resolve") && path.contains(&format!("/{}/", wire.commit)))
            {
                return None;
            }
            Some(download)
        }
        None => None,
    };
    // Header values must stay sendable.
    let printable = |s: &str| s.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !printable(&wire.content_type) || !wire.content_disposition.as_deref().is_none_or(printable)
    {
        return None;
    }
    Some(FileTarget {
        commit: wire.commit,
        etag,
        size: wire.size,
        content_type: wire.content_type,
        content_disposition: wire.content_disposition,
        download,
    })
}

/// The request to the owner for `upstream_path` (the Hub path and query) of `remote`: the peer
/// path, the secret, the target, and the client's `Range` and conditional headers.
pub fn owner_request(
    access: &KeyedPath,
    remote: uuid::Uuid,
    upstream_path: &str,
    target: &FileTarget,
    owner: std::net::SocketAddr,
    client: &HeaderMap,
) -> pingora::Result<RequestHeader> {
    let path = access.path(remote, upstream_path);
    let mut req = RequestHeader::build(http::Method::GET, path.as_bytes(), None)?;
    req.insert_header("host", owner.to_string())?;
    req.insert_header("user-agent", crate::origin::USER_AGENT)?;
    req.insert_header("accept-encoding", "identity")?;
    let mut secret = http::HeaderValue::from_str(access.header_value()).map_err(|e| {
        pingora::Error::because(
            pingora::ErrorType::InternalError,
            "the fleet secret is not a header value",
            e,
        )
    })?;
    secret.set_sensitive(true);
    req.insert_header(access.header_name(), secret)?;
    req.insert_header(TARGET_HEADER, encode_target(target))?;
    for name in PASSED {
        for value in client.get_all(&name) {
            req.append_header(name.clone(), value.clone())?;
        }
    }
    Ok(req)
}

/// Whether the owner's answer describes the bytes of `target`: its `ETag` is the file's.
pub fn same_file(headers: &HeaderMap, target: &FileTarget) -> bool {
    headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|etag| Etag::parse(etag).as_str() == target.etag.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;

    fn remote() -> Remote {
        Remote::new(Origin::Api, "hub", "https://hub.example")
    }

    fn target(url: Option<&str>) -> FileTarget {
        FileTarget {
            commit: "a".repeat(40),
            etag: Etag::parse(&format!("\"{}\"", "b".repeat(64))),
            size: 42,
            content_type: "application/octet-stream".into(),
            content_disposition: Some("attachment; filename=\"x.bin\"".into()),
            download: url.map(|u| Download::parse(u.to_string(), false).unwrap()),
        }
    }

    fn headers_with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TARGET_HEADER, value.parse().unwrap());
        h
    }

    #[test]
    fn a_target_round_trips_and_the_owner_decides_the_origin() {
        let remote = remote();
        let hub_url = format!("https://hub.example/org/m/resolve/{}/x.bin", "a".repeat(40));
        for url in [
            Some(hub_url.as_str()),
            Some("https://cdn.example/x?sig=1"),
            None,
        ] {
            let sent = target(url);
            let got = decode_target(&headers_with(&encode_target(&sent)), &remote).unwrap();
            assert_eq!(got.commit, sent.commit);
            assert_eq!(got.etag.as_str(), sent.etag.as_str());
            assert_eq!((got.size, &got.content_type), (42, &sent.content_type));
            assert_eq!(got.content_disposition, sent.content_disposition);
            let d = got.download.as_ref();
            assert_eq!(d.map(|d| d.url()), url);
            // On the remote's origin only for the Hub URL, whatever the sender thought.
            assert_eq!(
                d.is_some_and(|d| d.is_same_origin()),
                url.is_some_and(|u| u.starts_with("https://hub.example/"))
            );
        }
    }

    #[test]
    fn malformed_targets_are_ignored() {
        let remote = remote();
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let good = r#"{"commit":"COMMIT","etag":"ETAG","size":1,"content_type":"CT","content_disposition":null,"url":URL}"#;
        let row = |commit: &str, etag: &str, ct: &str, url: &str| {
            good.replace("COMMIT", commit)
                .replace("ETAG", etag)
                .replace("CT", ct)
                .replace("URL", url)
        };
        let (c, e) = ("a".repeat(40), "b".repeat(64));
        assert!(
            decode_target(&headers_with(&encode(&row(&c, &e, "t", "null"))), &remote).is_some()
        );
        for bad in [
            row("main", &e, "t", "null"),
            row(&c, "not-a-digest", "t", "null"),
            row(&c, &e, "t\\u0000", "null"),
            row(&c, &e, "t", "\"ftp://x/y\""),
            "{}".to_string(),
        ] {
            assert!(
                decode_target(&headers_with(&encode(&bad)), &remote).is_none(),
                "{bad}"
            );
        }
        assert!(decode_target(&headers_with("%%%"), &remote).is_none());
        // A URL on the remote's origin must be a file URL of the target's commit.
        for url in [
            "https://hub.example/api/whoami-v2",
            "https://hub.example/org/m/resolve/main/x",
        ] {
            let bad = row(&c, &e, "t", &format!("\"{url}\""));
            assert!(
                decode_target(&headers_with(&encode(&bad)), &remote).is_none(),
                "{url}"
            );
        }
        assert!(decode_target(&HeaderMap::new(), &remote).is_none());
    }

    #[test]
    fn the_owner_request_carries_the_secret_the_target_and_only_ranges_and_conditionals() {
        let access = access("0123456789abcdef-secret");
        let mut client = HeaderMap::new();
        client.insert("range", "bytes=0-9".parse().unwrap());
        client.insert("if-none-match", "\"x\"".parse().unwrap());
        client.insert("authorization", "Bearer client-token".parse().unwrap());
        client.insert("x-key", "guard".parse().unwrap());
        let id = uuid::Uuid::nil();
        let owner: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        let req = owner_request(
            &access,
            id,
            "org/m/resolve/main/x.bin?a=1",
            &target(None),
            owner,
            &client,
        )
        .unwrap();
        assert_eq!(
            req.uri.to_string(),
            format!("/pulp/content/{PEER_SEGMENT}/{id}/org/m/resolve/main/x.bin?a=1")
        );
        assert_eq!(req.headers[PEER_HEADER], "0123456789abcdef-secret");
        assert!(req.headers[PEER_HEADER].is_sensitive());
        assert_eq!(req.headers["range"], "bytes=0-9");
        assert_eq!(req.headers["if-none-match"], "\"x\"");
        assert_eq!(req.headers["host"], "127.0.0.1:9");
        assert!(!req.headers.contains_key("authorization"));
        assert!(!req.headers.contains_key("x-key"));
        let back = decode_target(&req.headers, &remote()).unwrap();
        assert_eq!(back.etag.as_str(), "b".repeat(64));
    }

    #[test]
    fn an_answer_for_other_bytes_is_not_the_file() {
        let t = target(None);
        let mut h = HeaderMap::new();
        assert!(!same_file(&h, &t));
        h.insert("etag", format!("\"{}\"", "b".repeat(64)).parse().unwrap());
        assert!(same_file(&h, &t));
        h.insert("etag", format!("\"{}\"", "c".repeat(64)).parse().unwrap());
        assert!(!same_file(&h, &t));
    }
}
