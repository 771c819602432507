//! Table-driven tests for the header rules and URL helpers: one row per case, printed on failure.

use super::*;

const HUB: &str = "https://huggingface.co";
const PREFIX: &str = "http://127.0.0.1:8080/pulp/content/hf";

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.append(name, HeaderValue::from_str(value).unwrap());
    }
    headers
}

/// Lower-case name and value of every header, sorted, for order-free comparison.
fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn strip_xet_table() {
    let auth = r#"<https://huggingface.co/api/models/o/m/xet-read-token/c>; rel="xet-auth""#;
    let recon =
        r#"<https://cas-server.xethub.hf.co/v1/reconstructions/h>; rel="xet-reconstruction-info""#;
    let next = r#"<https://huggingface.co/api/models/o/m/tree/main?cursor=a,b>; rel="next""#;
    let both = format!("{auth}, {recon}");
    let with_next = format!("{auth}, {next}, {recon}");
    type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);
    let rows: Vec<Row> = vec![
        (
            "all x-xet-* go, others stay",
            vec![
                ("X-Xet-Hash", "abc"),
                ("X-Xet-Refresh-Route", "/api/x"),
                ("X-Xet-Cas-Url", "https://cas"),
                ("X-Xet-Access-Token", "t"),
                ("X-Xet-Token-Expiration", "1"),
                ("X-Xet-Something-New", "1"),
                ("X-Repo-Commit", "c"),
                ("X-Xetra", "keep"),
                ("ETag", "\"e\""),
            ],
            vec![
                ("x-repo-commit", "c"),
                ("x-xetra", "keep"),
                ("etag", "\"e\""),
            ],
        ),
        (
            "Link with only xet members is removed",
            vec![("Link", &both)],
            vec![],
        ),
        (
            "next survives between xet members, comma inside <> kept",
            vec![("Link", &with_next)],
            vec![("link", next)],
        ),
        (
            "several Link headers",
            vec![("Link", auth), ("Link", next), ("Link", recon)],
            vec![("link", next)],
        ),
        (
            "unquoted rel",
            vec![(
                "Link",
                "<https://h/a>; rel=xet-auth, <https://h/b>; rel=next",
            )],
            vec![("link", "<https://h/b>; rel=next")],
        ),
        (
            "rel name and value case",
            vec![("Link", r#"<https://h/a>; REL="Xet-Auth""#)],
            vec![],
        ),
        (
            "rel among several tokens",
            vec![(
                "Link",
                r#"<https://h/a>; rel="preload xet-reconstruction-info""#,
            )],
            vec![],
        ),
        (
            "quoted comma in another param",
            vec![(
                "Link",
                r#"<https://h/a>; title="x, y"; rel="next", <https://h/b>; rel="xet-auth""#,
            )],
            vec![("link", r#"<https://h/a>; title="x, y"; rel="next""#)],
        ),
        (
            "non-xet rels untouched",
            vec![("Link", r#"<https://h/a>; rel="next""#)],
            vec![("link", r#"<https://h/a>; rel="next""#)],
        ),
        (
            "no Link at all",
            vec![("Content-Type", "text/plain")],
            vec![("content-type", "text/plain")],
        ),
    ];
    for (name, input, want) in rows {
        let mut headers = map(&input);
        strip_xet(&mut headers);
        assert_eq!(pairs(&headers), owned(&want), "row: {name}");
    }
}

#[test]
fn rewrite_links_table() {
    let rows: Vec<(&str, Option<&str>)> = vec![
        (
            r#"<https://huggingface.co/api/models/o/m/tree/main?recursive=true&cursor=abc>; rel="next""#,
            Some(
                r#"<http://127.0.0.1:8080/pulp/content/hf/api/models/o/m/tree/main?recursive=true&cursor=abc>; rel="next""#,
            ),
        ),
        (
            r#"</api/datasets/o/d/tree/main?cursor=1>; rel="next""#,
            Some(
                r#"<http://127.0.0.1:8080/pulp/content/hf/api/datasets/o/d/tree/main?cursor=1>; rel="next""#,
            ),
        ),
        (
            r#"<//huggingface.co/api/a>; rel="next""#,
            Some(r#"<http://127.0.0.1:8080/pulp/content/hf/api/a>; rel="next""#),
        ),
        (
            r#"<HTTPS://HuggingFace.CO:443/api/a>; rel="next""#,
            Some(r#"<http://127.0.0.1:8080/pulp/content/hf/api/a>; rel="next""#),
        ),
        (
            r#"<https://huggingface.co>; rel="x""#,
            Some(r#"<http://127.0.0.1:8080/pulp/content/hf/>; rel="x""#),
        ),
        (r#"<https://cdn-lfs.hf.co/x>; rel="next""#, None),
        (r#"<http://huggingface.co/api/a>; rel="next""#, None),
        (r#"<https://huggingface.co:8443/api/a>; rel="next""#, None),
        (
            r#"<https://huggingface.co.evil.example/api/a>; rel="next""#,
            None,
        ),
        (
            r#"<https://huggingface.co@evil.example/api/a>; rel="next""#,
            None,
        ),
        (r#"<page2>; rel="next""#, None),
        (
            r#"<https://cdn.hf.co/a>; rel="prev", <https://huggingface.co/api/b?cursor=2>; rel="next""#,
            Some(r#"<http://127.0.0.1:8080/pulp/content/hf/api/b?cursor=2>; rel="next""#),
        ),
    ];
    for (input, want) in rows {
        let mut headers = map(&[("Link", input), ("X-Repo-Commit", "c")]);
        rewrite_links(&mut headers, HUB, PREFIX);
        let got = headers.get(LINK).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), want, "row: {input}");
        assert_eq!(
            headers.get_all(LINK).iter().count(),
            usize::from(want.is_some()),
            "row: {input}"
        );
        assert_eq!(headers.get("x-repo-commit").unwrap(), "c", "row: {input}");
    }
}

#[test]
fn rewrite_location_table() {
    let rows: Vec<(&str, &str, &str, Option<&str>)> = vec![
        ("/api/resolve-cache/models/o/m/c/config.json?%2Fo%2Fm%2Fresolve%2Fmain%2Fconfig.json=&etag=%22ab%22", HUB, PREFIX,
         Some("http://127.0.0.1:8080/pulp/content/hf/api/resolve-cache/models/o/m/c/config.json?%2Fo%2Fm%2Fresolve%2Fmain%2Fconfig.json=&etag=%22ab%22")),
        ("/openai-community/gpt2/resolve/main/config.json", HUB, PREFIX,
         Some("http://127.0.0.1:8080/pulp/content/hf/openai-community/gpt2/resolve/main/config.json")),
        ("https://huggingface.co/api/models/openai-community/gpt2", "https://huggingface.co/", "https://cache.example.com/pulp/content/hf/",
         Some("https://cache.example.com/pulp/content/hf/api/models/openai-community/gpt2")),
        ("https://us.aws.cdn.hf.co/xet-bridge-us/x?Expires=1&Signature=s", HUB, PREFIX, None),
        ("https://hf.co/o/m/resolve/main/x", HUB, PREFIX, None),
        ("https://cdn-lfs.hf.co/repos/x", HUB, PREFIX, None),
        ("relative/path", HUB, PREFIX, None),
        ("", HUB, PREFIX, None),
        ("http://127.0.0.1:9000/o/m/resolve/main/x", "http://127.0.0.1:9000", PREFIX,
         Some("http://127.0.0.1:8080/pulp/content/hf/o/m/resolve/main/x")),
        ("http://127.0.0.2:9000/cdn/x", "http://127.0.0.1:9000", PREFIX, None),
        ("http://localhost:9000/cdn/x", "http://127.0.0.1:9000", PREFIX, None),
        ("http://127.0.0.1:9001/x", "http://127.0.0.1:9000", PREFIX, None),
        ("http://[::1]:9000/x?q", "http://[::1]:9000", PREFIX, Some("http://127.0.0.1:8080/pulp/content/hf/x?q")),
    ];
    for (location, origin, prefix, want) in rows {
        let got = rewrite_location(location, origin, prefix);
        assert_eq!(
            got.as_deref(),
            want,
            "row: {location:?} from {origin} onto {prefix}"
        );
    }
}

#[test]
fn is_same_origin_table() {
    let rows = [
        ("https://huggingface.co/a", "https://huggingface.co", true),
        (
            "https://huggingface.co:443/a",
            "https://HUGGINGFACE.co/b?c",
            true,
        ),
        ("http://h:80/a", "http://h/b", true),
        ("https://user:pw@h/a", "https://h", true),
        ("http://h/a", "https://h/a", false),
        ("http://h:8080/a", "http://h:8081/a", false),
        ("http://127.0.0.1:9/a", "http://localhost:9/a", false),
        ("https://h.evil/a", "https://h/a", false),
        ("https://h@evil/a", "https://h/a", false),
        ("http://[::1]:9/a", "http://[::1]:9", true),
        ("http://[::1]x/a", "http://[::1]/a", false),
        ("http://h:notaport/a", "http://h/a", false),
        ("/relative", "/relative", false),
        ("not a url", "https://h", false),
    ];
    for (a, b, want) in rows {
        assert_eq!(is_same_origin(a, b), want, "row: {a} vs {b}");
    }
}

#[test]
fn resolve_relative_table() {
    let base = "https://huggingface.co/o/m/resolve/main/config.json";
    let rows = [
        (
            base,
            "/api/resolve-cache/models/o/m/c/config.json?x=1&etag=%22a%22",
            "https://huggingface.co/api/resolve-cache/models/o/m/c/config.json?x=1&etag=%22a%22",
        ),
        (
            "http://127.0.0.1:9000/o/m/resolve/main/x?q=1",
            "/a?b",
            "http://127.0.0.1:9000/a?b",
        ),
        (
            base,
            "https://cdn.hf.co/x?sig=1",
            "https://cdn.hf.co/x?sig=1",
        ),
        (base, "//cdn.hf.co/x", "https://cdn.hf.co/x"),
        ("https://h/a/b/c?q", "d?e", "https://h/a/b/d?e"),
        ("https://h/a/b?q#f", "?z", "https://h/a/b?z"),
        ("https://h", "x", "https://h/x"),
    ];
    for (base, location, want) in rows {
        assert_eq!(
            resolve_relative(base, location),
            want,
            "row: {base} + {location}"
        );
    }
}

#[test]
fn error_headers_keep_only_the_listed_ones() {
    let input = map(&[
        ("X-Error-Code", "EntryNotFound"),
        ("X-Error-Message", "Entry not found"),
        ("X-Repo-Commit", "c"),
        ("RateLimit", "\"resolvers\";r=0;t=12"),
        (
            "RateLimit-Policy",
            "\"fixed window\";\"resolvers\";q=3000;w=300",
        ),
        ("Retry-After", "12"),
        ("Content-Type", "application/json"),
        ("Set-Cookie", "s=1"),
        ("X-Xet-Hash", "h"),
        ("Location", "https://cdn/x"),
        ("Content-Length", "10"),
        ("Link", "<https://h/a>; rel=next"),
    ]);
    let got: Vec<(String, String)> = error_headers(&input)
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let want = [
        ("x-error-code", "EntryNotFound"),
        ("x-error-message", "Entry not found"),
        ("x-repo-commit", "c"),
        ("ratelimit", "\"resolvers\";r=0;t=12"),
        (
            "ratelimit-policy",
            "\"fixed window\";\"resolvers\";q=3000;w=300",
        ),
        ("retry-after", "12"),
        ("content-type", "application/json"),
    ];
    assert_eq!(got, want.map(|(n, v)| (n.to_owned(), v.to_owned())));
    assert!(error_headers(&map(&[("Server", "x")])).is_empty());
}

#[test]
fn file_meta_table() {
    let sha1 = "a".repeat(40);
    let sha256 = "b".repeat(64);
    let (q_sha1, q_sha256) = (format!("\"{sha1}\""), format!("W/\"{sha256}\""));
    let meta = |commit: Option<&str>, etag: Option<&str>, size: Option<u64>| FileMeta {
        commit: commit.map(Into::into),
        etag: etag.map(Into::into),
        size,
        ..FileMeta::default()
    };
    type Row<'a> = (&'a str, StatusCode, Vec<(&'a str, &'a str)>, FileMeta);
    let rows: Vec<Row> = vec![
        (
            "regular 307: Content-Length is the redirect body",
            StatusCode::TEMPORARY_REDIRECT,
            vec![
                ("X-Repo-Commit", "c1"),
                ("X-Linked-Etag", &q_sha1),
                ("ETag", "\"other\""),
                ("Content-Length", "262"),
            ],
            meta(Some("c1"), Some(&sha1), None),
        ),
        (
            "lfs 302",
            StatusCode::FOUND,
            vec![
                ("X-Repo-Commit", "c2"),
                ("X-Linked-Etag", &q_sha256),
                ("X-Linked-Size", "548105171"),
                ("Content-Length", "1008"),
            ],
            meta(Some("c2"), Some(&sha256), Some(548_105_171)),
        ),
        (
            "simple 200: ETag and Content-Length",
            StatusCode::OK,
            vec![
                ("X-Repo-Commit", "c3"),
                ("ETag", "W/\"e3\""),
                ("Content-Length", "665"),
            ],
            meta(Some("c3"), Some("e3"), Some(665)),
        ),
        (
            "malformed X-Linked-Size does not fall back",
            StatusCode::OK,
            vec![("X-Linked-Size", "12x"), ("Content-Length", "665")],
            meta(None, None, None),
        ),
        (
            "empty values are absent",
            StatusCode::OK,
            vec![
                ("X-Repo-Commit", " "),
                ("ETag", "\"\""),
                ("Content-Length", "-1"),
            ],
            meta(None, None, None),
        ),
    ];
    for (name, status, input, want) in rows {
        assert_eq!(
            file_meta_from_first_hop(status, &map(&input)),
            want,
            "row: {name}"
        );
    }
    let full = map(&[
        ("X-Repo-Commit", "c"),
        ("ETag", "\"e\""),
        ("Content-Length", "0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Disposition", "inline; filename*=UTF-8''a.txt"),
    ]);
    let got = file_meta_from_first_hop(StatusCode::OK, &full);
    assert_eq!(
        got.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        got.content_disposition.as_deref(),
        Some("inline; filename*=UTF-8''a.txt")
    );
    assert!(got.is_complete());
    assert!(!meta(Some("c"), Some("e"), None).is_complete());
}

#[test]
fn normalize_etag_table() {
    let rows = [
        ("\"abc\"", "abc"),
        ("W/\"abc\"", "abc"),
        ("abc", "abc"),
        (" \"abc\" ", "abc"),
        ("W/abc", "abc"),
        ("\"\"", ""),
    ];
    for (input, want) in rows {
        assert_eq!(normalize_etag(input), want, "row: {input:?}");
    }
}
