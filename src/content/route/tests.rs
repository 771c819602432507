//! `route` as a table: every refusal, one row per case, the row printed on failure.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::{route, Decision, Internal, Refusal, Request};
use crate::hub::route::RouteError;
use crate::model::{ContentGuard, Distribution, Meta, Origin, Remote, Secret};
use crate::registry::Snapshot;

fn remote() -> Arc<Remote> {
    Arc::new(Remote::new(Origin::Api, "hub", "https://huggingface.co"))
}

fn distribution(
    base_path: &str,
    remote: Option<&Remote>,
    guard: Option<&ContentGuard>,
) -> Arc<Distribution> {
    Arc::new(Distribution {
        meta: Meta::new(Origin::Api),
        name: format!("d-{base_path}"),
        base_path: base_path.into(),
        remote: remote.map(|r| r.meta.id),
        content_guard: guard.map(|g| g.meta.id),
        hidden: false,
        pulp_labels: Default::default(),
    })
}

/// `open` and `guarded` serve a remote (`guarded` behind `X-Key: k`); `orphan` serves none.
fn snapshot() -> Snapshot {
    let remote = remote();
    let guard = Arc::new(ContentGuard {
        meta: Meta::new(Origin::Api),
        name: "key".into(),
        description: None,
        header_name: "X-Key".into(),
        header_value: Secret::new("k"),
    });
    Snapshot {
        distributions: vec![
            distribution("open", Some(&remote), None),
            distribution("guarded", Some(&remote), Some(&guard)),
            distribution("orphan", None, None),
        ],
        remotes: vec![remote],
        guards: vec![guard],
        ..Default::default()
    }
}

/// What a row expects.
#[derive(Debug, PartialEq)]
enum Want {
    AdminApi,
    Listing,
    /// A `resolve` request, with the path it sends upstream.
    File(&'static str),
    /// An `api/…` relay, with the path it sends upstream.
    HubApi(&'static str),
    Refuse(Refusal, StatusCode),
}

fn got(decision: &Decision) -> Want {
    match decision {
        Decision::AdminApi => Want::AdminApi,
        Decision::Listing => Want::Listing,
        Decision::File(r) => Want::File(leak(&r.upstream_path)),
        Decision::HubApi(r) => Want::HubApi(leak(&r.upstream_path)),
        Decision::Refuse(refusal) => Want::Refuse(refusal.clone(), refusal.status()),
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// (case, method, path, query, guard header, want, distribution logged)
type Row<'a> = (
    &'a str,
    Method,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Want,
    Option<&'a str>,
);

#[test]
fn every_request_routes_to_its_decision() {
    use Refusal::*;
    use Want::Refuse as R;
    let long_hub_path = format!("/pulp/content/open/gpt2/resolve/main/{}", "a".repeat(4100));
    let too_long = format!("/pulp/content/open/{}", "a".repeat(8 * 1024));
    let resolve = "/pulp/content/open/gpt2/resolve/main/config.json";
    let guarded = "/pulp/content/guarded/gpt2/resolve/main/config.json";
    let nf = StatusCode::NOT_FOUND;
    let bad = StatusCode::BAD_REQUEST;
    let not_allowed = StatusCode::METHOD_NOT_ALLOWED;
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("path too long", Method::GET, too_long.as_str(), None, None, R(TooLong, StatusCode::URI_TOO_LONG), None),
        ("admin API", Method::GET, "/pulp/api/v3/status/", None, None, Want::AdminApi, None),
        ("admin API decides its methods", Method::DELETE, "/pulp/api/v3/remotes/", None, None, Want::AdminApi, None),
        ("listing", Method::GET, "/pulp/content/", None, None, Want::Listing, None),
        ("listing without slash", Method::HEAD, "/pulp/content", None, None, Want::Listing, None),
        ("listing POST", Method::POST, "/pulp/content/", None, None, R(MethodNotAllowed, not_allowed), None),
        ("outside /pulp/content/", Method::GET, "/gpt2/resolve/main/x", None, None, R(NotContent, nf), None),
        ("root", Method::GET, "/", None, None, R(NotContent, nf), None),
        ("unknown base path", Method::GET, "/pulp/content/nope/gpt2/resolve/main/x", None, None, R(UnknownBasePath, nf), None),
        ("base path matches whole segments only", Method::GET, "/pulp/content/openx/gpt2/resolve/main/x", None, None, R(UnknownBasePath, nf), None),
        ("PUT", Method::PUT, resolve, None, None, R(MethodNotAllowed, not_allowed), Some("d-open")),
        ("method checked before the guard", Method::DELETE, guarded, None, None, R(MethodNotAllowed, not_allowed), Some("d-guarded")),
        ("guard header missing", Method::GET, guarded, None, None, R(Denied, StatusCode::FORBIDDEN), Some("d-guarded")),
        ("guard header wrong", Method::GET, guarded, None, Some("kk"), R(Denied, StatusCode::FORBIDDEN), Some("d-guarded")),
        ("guard header empty", Method::GET, guarded, None, Some(""), R(Denied, StatusCode::FORBIDDEN), Some("d-guarded")),
        ("guard before a malformed path", Method::GET, "/pulp/content/guarded/a//b", None, None, R(Denied, StatusCode::FORBIDDEN), Some("d-guarded")),
        ("guard header raw", Method::GET, guarded, None, Some("k"), Want::File("gpt2/resolve/main/config.json"), Some("d-guarded")),
        ("guard header base64", Method::HEAD, guarded, None, Some("aw=="), Want::File("gpt2/resolve/main/config.json"), Some("d-guarded")),
        ("no remote", Method::GET, "/pulp/content/orphan/gpt2/resolve/main/x", None, None, R(NoRemote, nf), Some("d-orphan")),
        ("base path alone", Method::GET, "/pulp/content/open", None, None, R(Route(RouteError::NotFound), nf), Some("d-open")),
        ("not a Hub path", Method::GET, "/pulp/content/open/nothing", None, None, R(Route(RouteError::NotFound), nf), Some("d-open")),
        ("empty segment", Method::GET, "/pulp/content/open/gpt2/resolve/main//x", None, None, R(Route(RouteError::EmptySegment { segment: 4 }), bad), Some("d-open")),
        ("bad percent-encoding", Method::GET, "/pulp/content/open/gpt2/resolve/main/%zz", None, None, R(Route(RouteError::BadPercentEncoding { segment: 4 }), bad), Some("d-open")),
        ("dot segment", Method::GET, "/pulp/content/open/gpt2/resolve/main/%2e%2e/x", None, None, R(Route(RouteError::DotSegment { segment: 4 }), bad), Some("d-open")),
        ("encoded NUL", Method::GET, "/pulp/content/open/gpt2/resolve/main/a%00", None, None, R(Route(RouteError::ControlChar { segment: 4 }), bad), Some("d-open")),
        ("hub path too long", Method::GET, long_hub_path.as_str(), None, None, R(Route(RouteError::TooLong { len: 4100 + 18 }), bad), Some("d-open")),
        ("account-wide API route", Method::GET, "/pulp/content/open/api/whoami-v2", None, None, R(Route(RouteError::NotForwarded), nf), Some("d-open")),
        ("Xet token", Method::GET, "/pulp/content/open/api/models/org/model/xet-read-token/main", None, None, R(Xet, nf), Some("d-open")),
        ("Xet token, POST", Method::POST, "/pulp/content/open/api/models/org/model/xet-read-token/main", None, None, R(Xet, nf), Some("d-open")),
        ("resolve POST", Method::POST, resolve, None, None, R(MethodNotAllowed, not_allowed), Some("d-open")),
        ("repo info POST", Method::POST, "/pulp/content/open/api/models/org/model", None, None, R(MethodNotAllowed, not_allowed), Some("d-open")),
        ("resolve GET, query kept upstream", Method::GET, resolve, Some("a=1"), None, Want::File("gpt2/resolve/main/config.json?a=1"), Some("d-open")),
        ("tree", Method::GET, "/pulp/content/open/api/models/org/model/tree/main", Some("recursive=True"), None, Want::HubApi("api/models/org/model/tree/main?recursive=True"), Some("d-open")),
        ("paths-info POST", Method::POST, "/pulp/content/open/api/datasets/a/b/paths-info/main", None, None, Want::HubApi("api/datasets/a/b/paths-info/main"), Some("d-open")),
    ];
    let snapshot = snapshot();
    for (case, method, path, query, guard, want, dist) in rows {
        let row = format!("{case}: {method} {path:.80} ?{query:?} X-Key={guard:?}");
        let mut headers = HeaderMap::new();
        if let Some(value) = guard {
            headers.insert("x-key", HeaderValue::from_str(value).expect("header"));
        }
        let request = Request {
            method: &method,
            path,
            query,
            headers: &headers,
        };
        let (routing, decision) = route(request, &snapshot, Internal::default());
        assert_eq!(got(&decision), want, "{row}");
        let logged = routing.distribution.as_ref().map(|d| d.name.as_str());
        assert_eq!(logged, dist, "{row}: distribution in the context");
        if let Decision::File(r) | Decision::HubApi(r) = &decision {
            assert_eq!(routing.upstream_path, r.upstream_path, "{row}");
            assert_eq!(routing.route.as_ref(), Some(&r.route), "{row}");
            assert!(routing.remote.is_some(), "{row}: remote in the context");
        }
    }
}

#[test]
fn the_peer_path_needs_the_fleet_secret_and_then_skips_the_guard() {
    let snapshot = snapshot();
    let id = snapshot.remotes[0].meta.id;
    let peer = crate::fleet::peer::access("0123456789abcdef-fleet");
    let sync = crate::sync::SyncAccess::new();
    let internal = Internal {
        sync: Some(&sync),
        peer: Some(&peer),
    };
    let path = format!("/pulp/content/.hubcache-peer/{id}/gpt2/resolve/main/config.json");
    let rows = [
        (Some(peer.header_value()), true),
        (Some("0123456789abcdef-fleeT"), false),
        (Some("0123456789abcdef-flee"), false),
        (Some(sync.header_value()), false),
        (None, false),
    ];
    for (secret, is_peer) in rows {
        let mut headers = HeaderMap::new();
        if let Some(s) = secret {
            headers.insert("x-hubcache-fleet", HeaderValue::from_str(s).unwrap());
        }
        let request = Request {
            method: &Method::GET,
            path: &path,
            query: None,
            headers: &headers,
        };
        let (routing, decision) = route(request, &snapshot, internal);
        assert_eq!(routing.from_peer, is_peer, "{secret:?}");
        let want = if is_peer {
            Want::File("gpt2/resolve/main/config.json")
        } else {
            Want::Refuse(Refusal::UnknownBasePath, StatusCode::NOT_FOUND)
        };
        assert_eq!(got(&decision), want, "{secret:?}");
        // The fleet secret is no guard value: a guarded distribution still refuses.
        let guarded = Request {
            path: "/pulp/content/guarded/gpt2/resolve/main/config.json",
            ..request
        };
        let (routing, decision) = route(guarded, &snapshot, internal);
        assert!(!routing.from_peer);
        assert_eq!(
            got(&decision),
            Want::Refuse(Refusal::Denied, StatusCode::FORBIDDEN),
            "{secret:?}"
        );
    }
    // A peer asks only for file bodies: no HEAD, no `api/…`, no POST.
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-hubcache-fleet",
        HeaderValue::from_str(peer.header_value()).unwrap(),
    );
    let api = format!("/pulp/content/.hubcache-peer/{id}/api/models/gpt2/tree/main");
    for (method, path) in [
        (Method::HEAD, path.as_str()),
        (Method::GET, api.as_str()),
        (Method::POST, api.as_str()),
    ] {
        let request = Request {
            method: &method,
            path,
            query: None,
            headers: &headers,
        };
        let (_, decision) = route(request, &snapshot, internal);
        assert_eq!(
            got(&decision),
            Want::Refuse(Refusal::MethodNotAllowed, StatusCode::METHOD_NOT_ALLOWED),
            "{method} {path}"
        );
    }
}

#[test]
fn refusals_answer_with_their_status_and_message() {
    let rows = [
        (Refusal::TooLong, 414, "Request path too long.", None),
        (
            Refusal::MethodNotAllowed,
            405,
            "Only GET and HEAD are allowed here.",
            Some("GET, HEAD"),
        ),
        (Refusal::Denied, 403, "Access denied.", None),
        (
            Refusal::NoRemote,
            404,
            "This distribution has no remote.",
            None,
        ),
        (
            Refusal::UnknownBasePath,
            404,
            "No distribution serves this base path.",
            None,
        ),
    ];
    for (refusal, status, message, allow) in rows {
        let reply = refusal.reply();
        assert_eq!(reply.status.as_u16(), status, "{refusal:?}");
        assert_eq!(reply.body, format!("{message}\n"), "{refusal:?}");
        let header = |name: &str| {
            reply
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("x-error-message"), Some(message), "{refusal:?}");
        assert_eq!(header("allow"), allow, "{refusal:?}");
    }
    let xet = Refusal::Xet.message();
    assert!(xet.contains("HF_HUB_DISABLE_XET=1"), "{xet}");
}
