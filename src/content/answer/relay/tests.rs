//! The relay's answers as tables: what of a Hub answer reaches the client.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::{api_reply, refusal_reply};
use crate::origin::{Fetched, UpstreamError};

const ORIGIN: &str = "https://huggingface.co";
const PREFIX: &str = "http://proxy:8080/pulp/content/hf";

fn fetched(status: u16, headers: &[(&str, &str)], body: &str) -> Fetched {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    Fetched {
        status: StatusCode::from_u16(status).expect("status"),
        headers: map,
        body: Bytes::from(body.to_string()),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// (case, upstream answer, status, header checked, its value, body)
type Row = (
    &'static str,
    Fetched,
    u16,
    &'static str,
    Option<&'static str>,
    &'static str,
);

#[test]
fn api_answers_are_relayed_onto_the_proxy() {
    let rows: Vec<Row> = vec![
        (
            "JSON with Xet keys: stripped",
            fetched(
                200,
                &[("content-type", "application/json")],
                r#"[{"path":"a","xetHash":"h"}]"#,
            ),
            200,
            "content-type",
            Some("application/json"),
            r#"[{"path":"a"}]"#,
        ),
        (
            "headers outside the kept set stay upstream",
            fetched(200, &[("set-cookie", "a=b"), ("x-total-count", "3")], "x"),
            200,
            "set-cookie",
            None,
            "x",
        ),
        (
            "Xet headers removed",
            fetched(200, &[("x-xet-hash", "h")], ""),
            200,
            "x-xet-hash",
            None,
            "",
        ),
        (
            "a redirect on the Hub lands on the proxy",
            fetched(
                307,
                &[("location", "/api/models/org/model/tree/main?cursor=1")],
                "",
            ),
            307,
            "location",
            Some("http://proxy:8080/pulp/content/hf/api/models/org/model/tree/main?cursor=1"),
            "",
        ),
        (
            "a Link on the Hub lands on the proxy",
            fetched(
                200,
                &[(
                    "link",
                    "<https://huggingface.co/api/x?cursor=2>; rel=\"next\"",
                )],
                "[]",
            ),
            200,
            "link",
            Some("<http://proxy:8080/pulp/content/hf/api/x?cursor=2>; rel=\"next\""),
            "[]",
        ),
        (
            "a Hub 4xx is relayed",
            fetched(404, &[("x-error-code", "RepoNotFound")], "{}"),
            404,
            "x-error-code",
            Some("RepoNotFound"),
            "{}",
        ),
    ];
    for (case, answer, status, name, value, body) in rows {
        let reply = api_reply(answer, ORIGIN, PREFIX).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(reply.status.as_u16(), status, "{case}");
        assert_eq!(header(&reply.headers, name), value, "{case}: {name}");
        assert_eq!(reply.body, body, "{case}");
    }
}

#[test]
fn api_answers_that_are_upstream_failures() {
    let rows = [
        (
            "a Hub 5xx",
            fetched(500, &[], "oops"),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "a Hub 503",
            fetched(503, &[], ""),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "a redirect away from the Hub",
            fetched(302, &[("location", "https://evil.example/x")], ""),
            StatusCode::BAD_GATEWAY,
        ),
    ];
    for (case, answer, status) in rows {
        match api_reply(answer, ORIGIN, PREFIX) {
            Ok(reply) => panic!("{case}: relayed as {}", reply.status),
            Err(err) => assert_eq!(err.status(), status, "{case}: {err}"),
        }
    }
    assert!(matches!(
        api_reply(fetched(302, &[], ""), ORIGIN, PREFIX),
        Err(UpstreamError::Protocol(_))
    ));
}

#[test]
fn hub_refusals_keep_what_clients_act_on() {
    let with_message = fetched(
        401,
        &[
            ("x-error-code", "GatedRepo"),
            (
                "x-error-message",
                "Access to model org/model is restricted.",
            ),
            ("content-type", "application/json"),
            ("set-cookie", "a=b"),
        ],
        "{}",
    );
    let reply = refusal_reply(&with_message);
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body, "Access to model org/model is restricted.\n");
    assert_eq!(header(&reply.headers, "x-error-code"), Some("GatedRepo"));
    assert_eq!(
        header(&reply.headers, "content-type"),
        Some("text/plain; charset=utf-8"),
        "the body is ours, so is its type"
    );
    let types = reply.headers.iter().filter(|(n, _)| n == "content-type");
    assert_eq!(types.count(), 1);
    assert_eq!(header(&reply.headers, "set-cookie"), None);

    let bare = refusal_reply(&fetched(404, &[], ""));
    assert_eq!(bare.body, "Not Found\n");
}
