//! Bad input through the real server: every malformed request gets a 4xx with a DRF-shaped
//! body, nothing changes, the server keeps serving. Also the unauthenticated status document,
//! and a log that never holds a secret even at debug level.

use http::Method;
use serde_json::{json, Value};

use super::{
    assert_drf_error, assert_logs_clean, assert_no_secrets, href, read_state, Admin, DISTRIBUTIONS,
    GUARDS, REMOTES, STATUS,
};
use crate::support::{FakeHub, TestServer};

/// One bad request: method, path, body (JSON text, sent as `application/json`), and the
/// status and error key expected.
struct Bad {
    method: Method,
    path: String,
    body: Option<String>,
    status: u16,
    key: &'static str,
}

fn bad(method: Method, path: &str, body: Option<Value>, status: u16, key: &'static str) -> Bad {
    Bad {
        method,
        path: path.to_string(),
        body: body.map(|b| b.to_string()),
        status,
        key,
    }
}

fn post(path: &str, body: Value, key: &'static str) -> Bad {
    bad(Method::POST, path, Some(body), 400, key)
}

#[tokio::test]
async fn the_bad_input_battery_gets_drf_errors_and_changes_nothing() {
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", b"still served");
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let url = hub.url();
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": url, "hf_token": "hf_batteryTok"}),
        )
        .await;
    let remote_href = href(&remote);
    let dist = admin
        .create(
            DISTRIBUTIONS,
            &json!({"name": "hf", "base_path": "hf/models", "remote": remote_href}),
        )
        .await;
    let dist_href = href(&dist);
    let guard = admin
        .create(
            GUARDS,
            &json!({"name": "g", "header_name": "X-Key", "header_value": "battery-guard"}),
        )
        .await;
    let guard_href = href(&guard);
    let missing_remote = format!("{REMOTES}0190a5e4-0000-7000-8000-000000000000/");
    let dist_with = |extra: Value| {
        let mut body = json!({"name": "d2", "base_path": "other", "remote": remote_href});
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };

    let cases = vec![
        // Wrong types, unknown fields, missing and duplicate names, bad choices.
        post(REMOTES, json!({"name": 5, "url": url}), "name"),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "tls_validation": "sometimes"}),
            "tls_validation",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "max_retries": "three"}),
            "max_retries",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "connect_timeout": -1}),
            "connect_timeout",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "pulp_labels": ["not", "a", "map"]}),
            "pulp_labels",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "colour": "red"}),
            "colour",
        ),
        post(REMOTES, json!({"url": url}), "name"),
        post(REMOTES, json!({"name": "r2"}), "url"),
        post(REMOTES, json!({"name": "hf", "url": url}), "name"),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "policy": "sometimes"}),
            "policy",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "headers": [{"Authorization": "Bearer x"}]}),
            "headers",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "hf_hub_url": "elsewhere.example"}),
            "hf_hub_url",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": url, "proxy_url": "http://u:p@proxy:3128"}),
            "proxy_url",
        ),
        // Bad URLs.
        post(
            REMOTES,
            json!({"name": "r2", "url": "ftp://huggingface.co"}),
            "url",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": "file:///etc/passwd"}),
            "url",
        ),
        post(
            REMOTES,
            json!({"name": "r2", "url": "http://user:hunter2pw@127.0.0.1/"}),
            "url",
        ),
        post(REMOTES, json!({"name": "r2", "url": "not a url"}), "url"),
        // Bad base paths, overlaps, unknown hrefs, fields only null is accepted for.
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "a//b"})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "/x"})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "x/"})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": ".."})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "a/../b"})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "a b"})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": ""})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "hf/models"})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "hf"})),
            "base_path",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"base_path": "hf/models/bert"})),
            "base_path",
        ),
        post(DISTRIBUTIONS, dist_with(json!({"name": "hf"})), "name"),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"remote": missing_remote})),
            "remote",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"remote": "/pulp/api/v3/remotes/file/file/x/"})),
            "remote",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"remote": guard_href})),
            "remote",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"content_guard": remote_href})),
            "content_guard",
        ),
        post(
            DISTRIBUTIONS,
            dist_with(json!({"publication": "/pulp/api/v3/publications/x/"})),
            "publication",
        ),
        post(DISTRIBUTIONS, dist_with(json!({"hidden": "yes"})), "hidden"),
        post(
            GUARDS,
            json!({"name": "g2", "header_name": "X-Key"}),
            "header_value",
        ),
        post(
            GUARDS,
            json!({"name": "g2", "header_name": "X-Key", "header_value": "v", "jq_filter": ".a"}),
            "jq_filter",
        ),
        post(
            GUARDS,
            json!({"name": "g", "header_name": "X-Key", "header_value": "v"}),
            "name",
        ),
        // Bad updates of existing objects.
        bad(
            Method::PATCH,
            &remote_href,
            Some(json!({"url": "ftp://x"})),
            400,
            "url",
        ),
        bad(
            Method::PATCH,
            &remote_href,
            Some(json!({"name": ""})),
            400,
            "name",
        ),
        bad(
            Method::PUT,
            &remote_href,
            Some(json!({"policy": "streamed"})),
            400,
            "name",
        ),
        bad(
            Method::PATCH,
            &dist_href,
            Some(json!({"base_path": "a//b"})),
            400,
            "base_path",
        ),
        bad(
            Method::PATCH,
            &dist_href,
            Some(json!({"remote": missing_remote})),
            400,
            "remote",
        ),
        // Unknown ids, wrong methods.
        bad(Method::GET, &missing_remote, None, 404, "detail"),
        bad(
            Method::PATCH,
            &format!("{REMOTES}not-a-uuid/"),
            Some(json!({})),
            404,
            "detail",
        ),
        bad(Method::DELETE, &missing_remote, None, 404, "detail"),
        bad(
            Method::GET,
            "/pulp/api/v3/remotes/file/file/",
            None,
            404,
            "detail",
        ),
        bad(Method::DELETE, REMOTES, None, 405, "detail"),
        bad(Method::PUT, DISTRIBUTIONS, Some(json!({})), 405, "detail"),
        bad(Method::POST, &remote_href, Some(json!({})), 405, "detail"),
        // List parameters.
        bad(
            Method::GET,
            &format!("{REMOTES}?colour=red"),
            None,
            400,
            "errors",
        ),
        bad(
            Method::GET,
            &format!("{DISTRIBUTIONS}?ordering=colour"),
            None,
            400,
            "ordering",
        ),
    ];

    let lists_before = lists(&admin).await;
    let state_before = read_state(&server);
    for case in &cases {
        let mut req = admin.request(case.method.clone(), &case.path);
        if let Some(body) = &case.body {
            req = req
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let resp = admin.raw(req).await;
        let what = format!(
            "{} {} {}",
            case.method,
            case.path,
            case.body.as_deref().unwrap_or("")
        );
        assert_drf_error(&resp, case.status, case.key, &what);
        if case.status == 405 {
            assert!(
                resp.header("allow").is_some_and(|a| !a.is_empty()),
                "{what}: 405 without Allow"
            );
        }
    }

    // Bodies that are not what was promised.
    for (body, what) in [
        ("{\"name\": ", "truncated JSON"),
        ("[1, 2]", "a JSON list"),
        ("\"hf\"", "a JSON string"),
        ("{\"name\": \"x\",}", "trailing comma"),
    ] {
        let resp = admin
            .raw(
                admin
                    .request(Method::POST, REMOTES)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!(resp.status(), 400, "{what}: {}", resp.text());
        let json = resp.json();
        assert!(
            json.get("detail")
                .or(json.get("non_field_errors"))
                .is_some(),
            "{what}: {json}"
        );
    }
    let parse_error = admin
        .raw(
            admin
                .request(Method::POST, REMOTES)
                .header("content-type", "application/json")
                .body("{oops"),
        )
        .await;
    let detail = assert_drf_error(&parse_error, 400, "detail", "invalid JSON");
    assert!(
        detail["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("JSON parse error"),
        "{detail}"
    );
    let form = admin
        .raw(
            admin
                .request(Method::POST, REMOTES)
                .header("content-type", "text/plain")
                .body("name=x"),
        )
        .await;
    assert_drf_error(&form, 415, "detail", "text/plain body");

    // 2 MiB → 413, on the content listener (which answers the API here).
    let huge = json!({"name": "x".repeat(2 << 20), "url": url}).to_string();
    let resp = admin
        .raw(
            admin
                .request(Method::POST, REMOTES)
                .header("content-type", "application/json")
                .body(huge),
        )
        .await;
    assert_drf_error(&resp, 413, "detail", "a 2 MiB body");

    // Credentials: missing, wrong, another scheme → 401 with a Basic challenge.
    let client = admin.client();
    let unauthenticated = [
        ("no credentials", client.get(admin.url(REMOTES))),
        (
            "wrong password",
            client
                .get(admin.url(REMOTES))
                .basic_auth("admin", Some("wrong-pw-7731")),
        ),
        (
            "unknown user",
            client
                .get(admin.url(REMOTES))
                .basic_auth("root", Some("password")),
        ),
        (
            "bearer",
            client.get(admin.url(REMOTES)).bearer_auth("password"),
        ),
        (
            "write without credentials",
            client
                .post(admin.url(REMOTES))
                .header("content-type", "application/json")
                .body(json!({"name": "sneaky", "url": url}).to_string()),
        ),
        (
            "delete without credentials",
            client.delete(admin.url(&remote_href)),
        ),
    ];
    for (what, req) in unauthenticated {
        let resp = admin.raw(req).await;
        assert_drf_error(&resp, 401, "detail", what);
        let challenge = resp.header("www-authenticate").unwrap_or("");
        assert!(
            challenge.starts_with("Basic"),
            "{what}: WWW-Authenticate {challenge:?}"
        );
    }

    // Nothing changed; the server still serves.
    assert_eq!(
        lists(&admin).await,
        lists_before,
        "the battery changed the objects"
    );
    assert_eq!(
        read_state(&server),
        state_before,
        "the battery changed the state file"
    );
    let content = server
        .get("/pulp/content/hf/models/org/model/resolve/main/config.json")
        .await;
    assert_eq!(
        (content.status().as_u16(), content.body()),
        (200, &b"still served"[..]),
        "{}",
        content.text()
    );
    let secrets = [
        "hf_batteryTok",
        "battery-guard",
        "hunter2pw",
        "wrong-pw-7731",
    ];
    assert_no_secrets(&admin.transcript(), &secrets, "the API answers");
    assert_logs_clean(&server, &secrets);
}

async fn lists(admin: &Admin) -> Vec<Vec<Value>> {
    let mut all = Vec::new();
    for collection in [REMOTES, DISTRIBUTIONS, GUARDS] {
        all.push(admin.list(collection).await);
    }
    all
}

#[tokio::test]
async fn status_answers_without_auth_with_every_pulpcore_key() {
    let server = TestServer::builder().start().await;
    let resp = server
        .client()
        .get(server.api_url(STATUS))
        .send()
        .await
        .expect("status");
    assert_eq!(resp.status(), 200);
    let status: Value = resp.json().await.expect("status JSON");
    for key in [
        "versions",
        "online_workers",
        "online_api_apps",
        "online_content_apps",
        "database_connection",
        "redis_connection",
        "storage",
        "domain_enabled",
        "content_settings",
    ] {
        assert!(status.get(key).is_some(), "status lacks {key}: {status}");
    }
    let components: Vec<&str> = status["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["component"].as_str())
        .collect();
    assert_eq!(components, ["core", "hugging_face", "hubcache"], "{status}");
    assert_eq!(status["database_connection"]["connected"], true, "{status}");
    assert_eq!(
        status["content_settings"]["content_path_prefix"],
        "/pulp/content/"
    );
    for key in [
        "max_size",
        "size",
        "objects",
        "fills_in_flight",
        "evictions",
    ] {
        assert!(
            status["cache"][key].is_u64(),
            "cache.{key} missing: {status}"
        );
    }
    assert_eq!(status["cache"]["max_size"], 1u64 << 30);
    // storage: the filesystem holding cache.dir, as pulpcore reports it (shutil.disk_usage).
    let storage = &status["storage"];
    let (total, used, free) = (
        storage["total"].as_u64(),
        storage["used"].as_u64(),
        storage["free"].as_u64(),
    );
    assert!(
        total.is_some_and(|t| t > 0),
        "storage.total is not the filesystem size: {storage}"
    );
    assert!(
        free.is_some_and(|f| Some(f) <= total) && used.is_some_and(|u| Some(u) <= total),
        "{storage}"
    );
}

#[tokio::test]
async fn no_secret_reaches_the_log_even_at_debug_level() {
    const TOKEN: &str = "hf_logLeakCanary5d8e";
    const ROTATED: &str = "hf_logLeakRotated0a9b";
    const GUARD: &str = "guard-log-canary-77";
    const ADMIN_PW: &str = "admin-pw-canary-31";
    const WRONG_PW: &str = "wrong-pw-canary-42";
    let hub = FakeHub::start().await;
    hub.add_repo(crate::support::RepoSpec::model("org/secret").private(ROTATED));
    hub.add_file("org/secret", "main", "config.json", b"ok");
    let server = TestServer::builder()
        .env("RUST_LOG", "debug")
        .env("HUBCACHE_TEST_ADMIN_PW", ADMIN_PW)
        .yaml("users: [{username: ops, password: \"${HUBCACHE_TEST_ADMIN_PW:-unset}\"}]")
        .start()
        .await;
    let admin = Admin::new(&server);

    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": hub.url(), "hf_token": TOKEN}),
        )
        .await;
    let guard = admin.create(GUARDS, &json!({"name": "g", "header_name": "Authorization", "header_value": format!("Bearer {GUARD}")})).await;
    admin.create(DISTRIBUTIONS, &json!({"name": "hf", "base_path": "hf", "remote": href(&remote), "content_guard": href(&guard)})).await;
    admin
        .changed(
            Method::PATCH,
            &href(&remote),
            Some(&json!({"hf_token": ROTATED})),
        )
        .await;
    // Bad writes that carry secrets: the errors must not echo them (nor log them).
    let refused = admin.post(REMOTES, &json!({"name": "hf", "url": format!("http://u:{TOKEN}@127.0.0.1/"), "hf_token": TOKEN})).await;
    assert_eq!(refused.status(), 400);
    let refused = admin
        .post(
            GUARDS,
            &json!({"name": "g", "header_name": "bad header", "header_value": GUARD}),
        )
        .await;
    assert_eq!(refused.status(), 400);

    let path = "/pulp/content/hf/org/secret/resolve/main/config.json";
    assert_eq!(
        server
            .get_with(path, &[("authorization", &format!("Bearer {GUARD}"))])
            .await
            .status(),
        200
    );
    assert_eq!(
        server
            .get_with(path, &[("authorization", "Bearer not-it")])
            .await
            .status(),
        403
    );
    let ops = server
        .client()
        .get(server.api_url(REMOTES))
        .basic_auth("ops", Some(ADMIN_PW))
        .send()
        .await
        .expect("ops");
    assert_eq!(
        ops.status(),
        200,
        "the user from the environment cannot log in"
    );
    let wrong = server
        .client()
        .get(server.api_url(REMOTES))
        .basic_auth("ops", Some(WRONG_PW))
        .send()
        .await
        .expect("wrong");
    assert_eq!(wrong.status(), 401);
    assert!(hub.saw_header_value("authorization", &format!("Bearer {ROTATED}")));

    let secrets = [TOKEN, ROTATED, GUARD, ADMIN_PW, WRONG_PW];
    assert_no_secrets(&admin.transcript(), &secrets, "the API answers");
    let logs = server.logs();
    assert!(
        logs.lines().count() > 5,
        "the server logged almost nothing; is the check meaningful?\n{logs}"
    );
    assert_logs_clean(&server, &secrets);
}
