//! Table-driven tests for hub path routing: one row per rule, the row printed on failure.

use super::*;
use http::StatusCode;
use RepoType::{Dataset, Kernel, Model, Space};

fn resolve(t: RepoType, repo: &str, rev: &str, path: &str) -> Result<HubRoute, RouteError> {
    Ok(HubRoute::Resolve {
        repo_type: t,
        repo_id: repo.into(),
        revision: rev.into(),
        path: path.into(),
    })
}
fn info(t: RepoType, repo: &str, rev: Option<&str>) -> Result<HubRoute, RouteError> {
    Ok(HubRoute::RepoInfo {
        repo_type: t,
        repo_id: repo.into(),
        revision: rev.map(Into::into),
    })
}
fn tree(t: RepoType, repo: &str, rev: &str, path: Option<&str>) -> Result<HubRoute, RouteError> {
    let (repo_id, revision, path) = (repo.into(), rev.into(), path.map(Into::into));
    Ok(HubRoute::Tree {
        repo_type: t,
        repo_id,
        revision,
        path,
    })
}
fn paths_info(t: RepoType, repo: &str, rev: &str) -> Result<HubRoute, RouteError> {
    Ok(HubRoute::PathsInfo {
        repo_type: t,
        repo_id: repo.into(),
        revision: rev.into(),
    })
}
fn xet_token(t: RepoType, repo: &str, rev: &str) -> Result<HubRoute, RouteError> {
    Ok(HubRoute::XetReadToken {
        repo_type: t,
        repo_id: repo.into(),
        revision: rev.into(),
    })
}
fn refs(t: RepoType, repo: &str) -> Result<HubRoute, RouteError> {
    Ok(HubRoute::Refs {
        repo_type: t,
        repo_id: repo.into(),
    })
}
const NOT_FORWARDED: Result<HubRoute, RouteError> = Err(RouteError::NotForwarded);
const NOT_FOUND: Result<HubRoute, RouteError> = Err(RouteError::NotFound);
fn empty(segment: usize) -> Result<HubRoute, RouteError> {
    Err(RouteError::EmptySegment { segment })
}
fn dot(segment: usize) -> Result<HubRoute, RouteError> {
    Err(RouteError::DotSegment { segment })
}
fn ctrl(segment: usize) -> Result<HubRoute, RouteError> {
    Err(RouteError::ControlChar { segment })
}
fn sep(segment: usize) -> Result<HubRoute, RouteError> {
    Err(RouteError::ForbiddenSeparator { segment })
}
fn bad_pct(segment: usize) -> Result<HubRoute, RouteError> {
    Err(RouteError::BadPercentEncoding { segment })
}
fn utf8(segment: usize) -> Result<HubRoute, RouteError> {
    Err(RouteError::InvalidUtf8 { segment })
}

#[test]
fn parse_hub_path_table() {
    let long_ok = format!("org/model/resolve/main/{}", "a".repeat(MAX_PATH_LEN - 23));
    let long_bad = format!("org/model/resolve/main/{}", "a".repeat(MAX_PATH_LEN - 22));
    let rows: Vec<(&str, Result<HubRoute, RouteError>)> = vec![
        // resolve: types, repo id shapes, revisions, file paths
        (
            "org/model/resolve/main/config.json",
            resolve(Model, "org/model", "main", "config.json"),
        ),
        (
            "gpt2/resolve/main/config.json",
            resolve(Model, "gpt2", "main", "config.json"),
        ),
        (
            "datasets/org/ds/resolve/main/data/train.parquet",
            resolve(Dataset, "org/ds", "main", "data/train.parquet"),
        ),
        (
            "spaces/org/app/resolve/v1.0/app.py",
            resolve(Space, "org/app", "v1.0", "app.py"),
        ),
        (
            "kernels/org/k/resolve/main/build.toml",
            resolve(Kernel, "org/k", "main", "build.toml"),
        ),
        (
            "datasets/squad/resolve/main/README.md",
            resolve(Dataset, "squad", "main", "README.md"),
        ),
        (
            "org/model/resolve/refs%2Fpr%2F1/config.json",
            resolve(Model, "org/model", "refs/pr/1", "config.json"),
        ),
        (
            "org/model/resolve/refs%2fconvert%2fparquet/a",
            resolve(Model, "org/model", "refs/convert/parquet", "a"),
        ),
        (
            "org/m/resolve/0123456789abcdef0123456789abcdef01234567/a",
            resolve(
                Model,
                "org/m",
                "0123456789abcdef0123456789abcdef01234567",
                "a",
            ),
        ),
        (
            "org/m/resolve/main/dir%20x/f%C3%A9%2Bb.bin",
            resolve(Model, "org/m", "main", "dir x/f\u{e9}+b.bin"),
        ),
        (
            "org/m/resolve/main/a%2Fb.txt",
            resolve(Model, "org/m", "main", "a/b.txt"),
        ),
        (
            "org/m/resolve/main/...txt",
            resolve(Model, "org/m", "main", "...txt"),
        ),
        // the FIRST /resolve/ wins
        (
            "org/m/resolve/main/resolve/x",
            resolve(Model, "org/m", "main", "resolve/x"),
        ),
        (
            "org/resolve/resolve/main/x",
            resolve(Model, "org", "resolve", "main/x"),
        ),
        // query is split off and never routes (true / True alike)
        (
            "org/m/resolve/main/a.bin?download=true",
            resolve(Model, "org/m", "main", "a.bin"),
        ),
        (
            "api/models/org/m/tree/main?recursive=True&expand=False",
            tree(Model, "org/m", "main", None),
        ),
        (
            "api/models/org/m/tree/main?recursive=true&expand=false",
            tree(Model, "org/m", "main", None),
        ),
        // api routes
        ("api/models/org/m", info(Model, "org/m", None)),
        ("api/models/gpt2", info(Model, "gpt2", None)),
        (
            "api/models/org/m/revision/main",
            info(Model, "org/m", Some("main")),
        ),
        (
            "api/models/gpt2/revision/main",
            info(Model, "gpt2", Some("main")),
        ),
        (
            "api/datasets/org/ds/revision/refs%2Fpr%2F3",
            info(Dataset, "org/ds", Some("refs/pr/3")),
        ),
        ("api/spaces/org/app", info(Space, "org/app", None)),
        (
            "api/kernels/org/k/revision/v1",
            info(Kernel, "org/k", Some("v1")),
        ),
        (
            "api/models/org/m/tree/main/sub/dir",
            tree(Model, "org/m", "main", Some("sub/dir")),
        ),
        (
            "api/models/org/m/tree/main/sub%2Fdir",
            tree(Model, "org/m", "main", Some("sub/dir")),
        ),
        (
            "api/datasets/org/ds/tree/refs%2Fpr%2F1",
            tree(Dataset, "org/ds", "refs/pr/1", None),
        ),
        (
            "api/models/gpt2/tree/main/onnx",
            tree(Model, "gpt2", "main", Some("onnx")),
        ),
        (
            "api/models/org/tree/tree/main",
            tree(Model, "org/tree", "main", None),
        ),
        (
            "api/datasets/org/ds/paths-info/main",
            paths_info(Dataset, "org/ds", "main"),
        ),
        (
            "api/models/org/m/xet-read-token/0123456789abcdef0123456789abcdef01234567",
            xet_token(Model, "org/m", "0123456789abcdef0123456789abcdef01234567"),
        ),
        ("api/models/org/m/refs", refs(Model, "org/m")),
        ("api/spaces/org/app/refs", refs(Space, "org/app")),
        ("api/models/org/refs", info(Model, "org/refs", None)), // two-segment reading preferred
        // account-wide and other routes: never forwarded (they would carry the remote's token)
        ("api/agent-harnesses", NOT_FORWARDED),
        ("api/whoami-v2", NOT_FORWARDED),
        ("api/notifications", NOT_FORWARDED),
        ("api/organizations/org/members", NOT_FORWARDED),
        ("api/settings/billing/usage", NOT_FORWARDED),
        ("api/models", NOT_FORWARDED),
        ("api/models?author=me&private=true", NOT_FORWARDED),
        ("api", NOT_FORWARDED),
        ("api/models/org/m/commits/main", NOT_FORWARDED),
        ("api/models/org/m/discussions", NOT_FORWARDED),
        ("api/models/org/m/revision", NOT_FORWARDED),
        ("api/resolve-cache/models/org/m/0123/config.json", NOT_FORWARDED),
        ("api/resolve-cache/models/org/m/x/y/config.json", NOT_FORWARDED),
        ("api/resolve-cache/models/org/m/0123456789abcdef0123456789abcdef01234567", NOT_FORWARDED),
        ("api/resolve-cache/org/m/0123456789abcdef0123456789abcdef01234567/a", NOT_FORWARDED),
        ("api/whoami-v2/..", dot(3)),
        // the Hub's own resolve-cache URL is the resolve route of the same file
        (
            "api/resolve-cache/models/org/m/0123456789abcdef0123456789abcdef01234567/a/config.json?%2Forg=&etag=%22x%22",
            resolve(Model, "org/m", "0123456789abcdef0123456789abcdef01234567", "a/config.json"),
        ),
        (
            "api/resolve-cache/datasets/gpt2/0123456789abcdef0123456789abcdef01234567/x",
            resolve(Dataset, "gpt2", "0123456789abcdef0123456789abcdef01234567", "x"),
        ),
        // not a hub path → 404
        ("", NOT_FOUND),
        ("org/model", NOT_FOUND),
        ("org/model/blob/main/x", NOT_FOUND),
        ("org/model/resolve/main", NOT_FOUND),
        ("resolve/main/x", NOT_FOUND),
        ("datasets/resolve/main/x", NOT_FOUND),
        ("a/b/c/resolve/main/x", NOT_FOUND),
        // empty segments
        ("org//model/resolve/main/x", empty(2)),
        ("/org/model/resolve/main/x", empty(1)),
        ("org/model/resolve/main/x/", empty(6)),
        ("api/models/org/m/tree/main/a%2F%2Fb", empty(7)),
        ("org/m/resolve/refs%2F%2F1/x", empty(4)),
        // dot segments, raw and encoded
        ("org/model/resolve/main/../x", dot(5)),
        ("org/model/resolve/main/./x", dot(5)),
        ("../org/model/resolve/main/x", dot(1)),
        ("org/model/resolve/main/%2e%2e/x", dot(5)),
        ("org/model/resolve/main/%2E./x", dot(5)),
        ("org/model/resolve/main/%2E", dot(5)),
        ("org/m/resolve/%2e%2e/x", dot(4)),
        ("org/m/resolve/refs%2F..%2Fx/y", dot(4)),
        ("org/m/resolve/main/a%2F..%2F..%2Fetc", dot(5)),
        ("api/models/org/m/tree/main/..%2Fsecret", dot(7)),
        ("api/models/../x", dot(3)),
        // encoded separators
        ("org%2Fmodel/resolve/main/x", sep(1)),
        ("org/mo%2fdel/resolve/main/x", sep(2)),
        ("api/models/org%2Fm/revision/main", sep(3)),
        ("api/models/org%2Fm", sep(3)),
        ("org%5Cm/resolve/main/x", sep(1)),
        ("org/m/resolve/main/a%5C..%5Cb", sep(5)),
        ("org/m\\x/resolve/main/a", sep(2)),
        // NUL and control characters, raw and encoded
        ("org/m/resolve/main/a%00b", ctrl(5)),
        ("org/m/resolve/main/a\0b", ctrl(5)),
        ("org/m/resolve/main/a%0Ab", ctrl(5)),
        ("org/m/resolve/main/a\tb", ctrl(5)),
        ("org/m/resolve/ma%7Fin/a", ctrl(4)),
        ("org/m/resolve/main/a%C2%85b", ctrl(5)), // U+0085, a C1 control
        // bad percent-encoding and UTF-8
        ("org/m/resolve/main/a%zzb", bad_pct(5)),
        ("org/m/resolve/main/a%2", bad_pct(5)),
        ("org/m/resolve/main/a%", bad_pct(5)),
        ("org/m/resolve/main/%FF%FE", utf8(5)),
        ("org/m/resolve/main/%C3", utf8(5)),
        // length limit counts the path only
        (
            &long_ok,
            Ok(HubRoute::Resolve {
                repo_type: Model,
                repo_id: "org/model".into(),
                revision: "main".into(),
                path: "a".repeat(MAX_PATH_LEN - 23),
            }),
        ),
        (
            &long_bad,
            Err(RouteError::TooLong {
                len: MAX_PATH_LEN + 1,
            }),
        ),
    ];
    for (i, (raw, want)) in rows.iter().enumerate() {
        let got = parse_hub_path(raw);
        assert_eq!(&got, want, "row {i}: {raw:?}");
    }
}

#[test]
fn long_query_does_not_count() {
    let raw = format!(
        "api/models/org/m/tree/main?cursor={}",
        "x".repeat(2 * MAX_PATH_LEN)
    );
    assert_eq!(parse_hub_path(&raw), tree(Model, "org/m", "main", None));
}

#[test]
fn methods_table() {
    let rows = [
        ("org/m/resolve/main/a", Method::GET, None),
        ("org/m/resolve/main/a", Method::HEAD, None),
        (
            "org/m/resolve/main/a",
            Method::POST,
            Some(StatusCode::METHOD_NOT_ALLOWED),
        ),
        (
            "org/m/resolve/main/a",
            Method::PUT,
            Some(StatusCode::METHOD_NOT_ALLOWED),
        ),
        ("api/models/org/m/paths-info/main", Method::POST, None),
        (
            "api/models/org/m/paths-info/main",
            Method::GET,
            Some(StatusCode::METHOD_NOT_ALLOWED),
        ),
        ("api/models/org/m/tree/main", Method::GET, None),
        (
            "api/models/org/m/preupload/main",
            Method::POST,
            Some(StatusCode::NOT_FOUND),
        ),
        (
            "api/agent-harnesses",
            Method::GET,
            Some(StatusCode::NOT_FOUND),
        ),
        ("org/m/x", Method::GET, Some(StatusCode::NOT_FOUND)),
        (
            "org/m/resolve/main/..",
            Method::GET,
            Some(StatusCode::BAD_REQUEST),
        ),
    ];
    for (raw, method, want) in rows {
        let got = parse_hub_request(&method, raw).err().map(|e| e.status());
        assert_eq!(got, want, "row: {method} {raw:?}");
    }
}

#[test]
fn accessors_and_helpers() {
    let route = parse_hub_path("datasets/org/ds/resolve/refs%2Fpr%2F1/a").unwrap();
    assert_eq!(
        (route.repo_type(), route.repo_id(), route.revision()),
        (Dataset, "org/ds", Some("refs/pr/1"))
    );
    let rows = [
        ("0123456789abcdef0123456789abcdef01234567", true),
        ("0123456789ABCDEF0123456789abcdef01234567", false),
        ("0123456789abcdef0123456789abcdef0123456", false),
        ("0123456789abcdef0123456789abcdef012345678", false),
        ("0123456789abcdef0123456789abcdef0123456g", false),
        ("main", false),
        ("", false),
    ];
    for (rev, want) in rows {
        assert_eq!(is_commit(rev), want, "row: {rev:?}");
    }
    assert_eq!(split_query("a/b?x=1?y"), ("a/b", Some("x=1?y")));
    assert_eq!(split_query("a/b"), ("a/b", None));
    assert_eq!(
        upstream_path("org/m/resolve/refs%2Fpr%2F1/a%20b"),
        "/org/m/resolve/refs%2Fpr%2F1/a%20b"
    );
    for t in [Model, Dataset, Space, Kernel] {
        let raw = format!("{}org/x/resolve/main/f", t.url_prefix());
        assert_eq!(parse_hub_path(&raw).unwrap().repo_type(), t, "{raw}");
        let raw = format!("api/{}/org/x", t.api_segment());
        assert_eq!(parse_hub_path(&raw).unwrap().repo_type(), t, "{raw}");
    }
}
