//! The bad-input battery: every class of malformed request gets its 4xx with a DRF body, and
//! neither the registry nor the state file changes.

use serde_json::{json, Value};

use super::tests::{request, Harness, DISTS, GUARDS, REMOTES};

/// One bad request: what is sent and the status and body (or one key of it) expected back.
struct Row {
    case: &'static str,
    method: &'static str,
    uri: String,
    content_type: Option<&'static str>,
    body: String,
    status: u16,
    want: Value,
}

fn row(case: &'static str, uri: &str, body: Value, want: Value) -> Row {
    Row {
        case,
        method: "POST",
        uri: uri.into(),
        content_type: Some("application/json"),
        body: body.to_string(),
        status: 400,
        want,
    }
}

#[tokio::test]
async fn bad_input_battery() {
    let h = Harness::new();
    let remote = h
        .create(
            REMOTES,
            json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let rhref = remote["pulp_href"].as_str().unwrap().to_string();
    let dist = h
        .create(
            DISTS,
            json!({"name": "pub", "base_path": "hf/public", "remote": rhref}),
        )
        .await;
    let dhref = dist["pulp_href"].as_str().unwrap().to_string();
    let missing = format!("{REMOTES}{}/", uuid::Uuid::now_v7());
    let before = fs_err::read_to_string(&h.state_path).unwrap();
    let tasks_before = h.registry.snapshot().tasks.len();

    let mut rows = vec![
        Row {
            case: "invalid JSON",
            method: "POST",
            uri: REMOTES.into(),
            content_type: Some("application/json"),
            body: "{\"name\": ".into(),
            status: 400,
            want: json!("JSON parse error - "),
        },
        Row {
            case: "not JSON",
            method: "POST",
            uri: REMOTES.into(),
            content_type: Some("text/plain"),
            body: "name=x".into(),
            status: 415,
            want: json!({"detail": "Unsupported media type \"text/plain\" in request."}),
        },
        Row {
            case: "form body",
            method: "PATCH",
            uri: rhref.clone(),
            content_type: Some("application/x-www-form-urlencoded"),
            body: "name=x".into(),
            status: 415,
            want: Value::Null,
        },
        Row {
            case: "oversized",
            method: "POST",
            uri: REMOTES.into(),
            content_type: Some("application/json"),
            body: format!("{{\"name\": \"{}\"}}", "x".repeat(super::MAX_BODY_BYTES)),
            status: 413,
            want: Value::Null,
        },
        Row {
            case: "array body",
            method: "POST",
            uri: REMOTES.into(),
            content_type: Some("application/json"),
            body: "[1]".into(),
            status: 400,
            want: json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        },
        row(
            "empty create",
            REMOTES,
            json!({}),
            json!({"name": ["This field is required."], "url": ["This field is required."]}),
        ),
        row(
            "unknown field",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "colour": "red"}),
            json!({"colour": ["Unexpected field"]}),
        ),
        row(
            "wrong types, several at once",
            REMOTES,
            json!({"name": 5, "url": "https://h.co", "tls_validation": "yes", "max_retries": "3", "connect_timeout": "1", "pulp_labels": []}),
            json!({
            "name": ["Not a valid string."], "tls_validation": ["Must be a valid boolean."], "max_retries": ["A valid integer is required."],
            "connect_timeout": ["A valid number is required."], "pulp_labels": ["Expected a dictionary of items but got type \"list\"."]}),
        ),
        row(
            "null name",
            REMOTES,
            json!({"name": null, "url": "https://h.co"}),
            json!({"name": ["This field may not be null."]}),
        ),
        row(
            "blank name",
            REMOTES,
            json!({"name": " ", "url": "https://h.co"}),
            json!({"name": ["This field may not be blank."]}),
        ),
        row(
            "duplicate name",
            REMOTES,
            json!({"name": "hf", "url": "https://h.co"}),
            json!({"name": ["This field must be unique."]}),
        ),
        row(
            "file url",
            REMOTES,
            json!({"name": "x", "url": "file:///etc/passwd"}),
            json!("url"),
        ),
        row(
            "url with password",
            REMOTES,
            json!({"name": "x", "url": "https://u:p@h.co"}),
            json!({"url": ["The URL must not contain a username or password."]}),
        ),
        row(
            "hf_hub_url not a URL",
            REMOTES,
            json!({"name": "x", "url": "https://a.co", "hf_hub_url": "b.co"}),
            json!({"hf_hub_url": ["Enter a valid URL (http:// or https://)."]}),
        ),
        row(
            "url missing (hf_hub_url is not it)",
            REMOTES,
            json!({"name": "x", "hf_hub_url": "https://b.co"}),
            json!({"url": ["This field is required."]}),
        ),
        row(
            "bad policy",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "policy": "sometimes"}),
            json!({"policy": ["\"sometimes\" is not a valid choice."]}),
        ),
        row(
            "proxy_url with credentials",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "proxy_url": "http://u:p@p:3128", "client_cert": null}),
            json!({"proxy_url": ["proxy_url must not contain credentials"]}),
        ),
        row(
            "proxy credentials without a proxy",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "proxy_username": "u", "proxy_password": "p"}),
            json!({"non_field_errors": ["proxy credentials cannot be specified without a proxy"]}),
        ),
        row(
            "proxy username alone",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "proxy_url": "http://p:3128", "proxy_username": "u"}),
            json!({"non_field_errors": ["proxy username and password can only be specified together"]}),
        ),
        row(
            "client_cert not PEM",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "client_cert": "junk"}),
            json!({"client_cert": ["No valid certificate found (expected a PEM CERTIFICATE block)."]}),
        ),
        row(
            "authorization header",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "headers": [{"Authorization": "Bearer x"}]}),
            json!("headers"),
        ),
        row(
            "headers not one-key objects",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "headers": [{"A": "1", "B": "2"}]}),
            json!("headers"),
        ),
        row(
            "bad label key",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "pulp_labels": {"a/b": "c"}}),
            json!({"pulp_labels": ["Key 'a/b' contains non-alphanumerics."]}),
        ),
        row(
            "negative timeout",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "total_timeout": -1}),
            json!("total_timeout"),
        ),
        row(
            "negative sock_connect_timeout",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "connect_timeout": 1, "sock_connect_timeout": -2}),
            json!("sock_connect_timeout"),
        ),
        row(
            "zero concurrency",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "download_concurrency": 0}),
            json!({"download_concurrency": ["Ensure this value is greater than or equal to 1."]}),
        ),
        row(
            "bad ca_cert",
            REMOTES,
            json!({"name": "x", "url": "https://h.co", "ca_cert": "nope"}),
            json!("ca_cert"),
        ),
        row(
            "missing base_path",
            DISTS,
            json!({"name": "x"}),
            json!({"base_path": ["This field is required."]}),
        ),
        row(
            "leading slash",
            DISTS,
            json!({"name": "x", "base_path": "/x"}),
            json!({"base_path": ["Relative path is not in canonical form. /x"]}),
        ),
        row(
            "dot segment",
            DISTS,
            json!({"name": "x", "base_path": "a/../b"}),
            json!("base_path"),
        ),
        row(
            "whitespace",
            DISTS,
            json!({"name": "x", "base_path": "a b"}),
            json!("base_path"),
        ),
        row(
            "same base_path",
            DISTS,
            json!({"name": "x", "base_path": "hf/public"}),
            json!({"base_path": ["This field must be unique."]}),
        ),
        row(
            "nested under",
            DISTS,
            json!({"name": "x", "base_path": "hf/public/more"}),
            json!({"base_path": ["Overlaps with existing distribution 'pub'"]}),
        ),
        row(
            "nesting over",
            DISTS,
            json!({"name": "x", "base_path": "hf"}),
            json!({"base_path": ["Overlaps with existing distribution 'pub'"]}),
        ),
        row(
            "unknown remote",
            DISTS,
            json!({"name": "x", "base_path": "x", "remote": missing}),
            json!({"remote": ["Invalid hyperlink - Object does not exist."]}),
        ),
        row(
            "remote of another kind",
            DISTS,
            json!({"name": "x", "base_path": "x", "remote": dhref}),
            json!({"remote": ["Invalid hyperlink - No URL match."]}),
        ),
        row(
            "remote not a string",
            DISTS,
            json!({"name": "x", "base_path": "x", "remote": 5}),
            json!({"remote": ["Incorrect type. Expected URL string, received int."]}),
        ),
        row(
            "unknown guard",
            DISTS,
            json!({"name": "x", "base_path": "x", "content_guard": format!("{GUARDS}{}/", uuid::Uuid::now_v7())}),
            json!({"content_guard": ["Invalid hyperlink - Object does not exist."]}),
        ),
        row(
            "repository",
            DISTS,
            json!({"name": "x", "base_path": "x", "repository": "/pulp/api/v3/repositories/x/"}),
            json!("repository"),
        ),
        row(
            "guard without value",
            GUARDS,
            json!({"name": "g", "header_name": "X-Key"}),
            json!({"header_value": ["This field is required."]}),
        ),
        row(
            "guard blank value",
            GUARDS,
            json!({"name": "g", "header_name": "X-Key", "header_value": ""}),
            json!({"header_value": ["This field may not be blank."]}),
        ),
        row(
            "guard bad header",
            GUARDS,
            json!({"name": "g", "header_name": "X Key", "header_value": "v"}),
            json!({"header_name": ["'X Key' is not a valid header name."]}),
        ),
        row(
            "jq filter",
            GUARDS,
            json!({"name": "g", "header_name": "X-Key", "header_value": "v", "jq_filter": ".a"}),
            json!("jq_filter"),
        ),
        Row {
            case: "PUT without required",
            method: "PUT",
            uri: dhref.clone(),
            content_type: Some("application/json"),
            body: json!({"name": "pub"}).to_string(),
            status: 400,
            want: json!({"base_path": ["This field is required."]}),
        },
        Row {
            case: "PATCH into overlap",
            method: "PATCH",
            uri: dhref.clone(),
            content_type: Some("application/json"),
            body: json!({"base_path": "hf/public"}).to_string(),
            status: 202,
            want: Value::Null,
        },
        Row {
            case: "wrong method",
            method: "PUT",
            uri: REMOTES.into(),
            content_type: Some("application/json"),
            body: "{}".into(),
            status: 405,
            want: json!({"detail": "Method \"PUT\" not allowed."}),
        },
    ];
    rows.push(row(
        "name too long",
        GUARDS,
        json!({"name": "n".repeat(300), "header_name": "X", "header_value": "v"}),
        json!("name"),
    ));
    for r in rows {
        let a = h
            .send(request(
                r.method,
                &r.uri,
                Some("admin:password"),
                r.content_type,
                r.body,
            ))
            .await;
        assert_eq!(a.status, r.status, "{}: {}", r.case, a.json);
        match &r.want {
            Value::Null => {}
            Value::String(key) if key.starts_with("JSON") => assert!(
                a.json["detail"].as_str().unwrap().starts_with(key.as_str()),
                "{}",
                r.case
            ),
            Value::String(key) => assert!(
                a.json[key.as_str()].is_array() && a.json.as_object().unwrap().len() == 1,
                "{}: {}",
                r.case,
                a.json
            ),
            want => assert_eq!(&a.json, want, "{}", r.case),
        }
    }
    let snap = h.registry.snapshot();
    assert_eq!(
        (
            snap.remotes.len(),
            snap.distributions.len(),
            snap.guards.len()
        ),
        (1, 1, 0)
    );
    assert_eq!(snap.distributions[0].base_path, "hf/public");
    let after = fs_err::read_to_string(&h.state_path).unwrap();
    assert_eq!(
        snap.tasks.len(),
        tasks_before + 1,
        "only the no-op PATCH made a task"
    );
    let strip = |s: &str| {
        s.lines()
            // The tasks come last; the checksum line covers `updated_ns` and them too.
            .take_while(|l| *l != "tasks:")
            .filter(|l| !l.contains("updated_ns") && !l.starts_with("sha256: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&before),
        strip(&after),
        "only the no-op PATCH touched the state"
    );
}
