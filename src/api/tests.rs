//! API flows driven through `Api::handle`, plus the harness the other API test files share.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{header, Method, Request};
use serde_json::{json, Value};

use super::*;
use crate::model::{Meta, Origin, Policy};
use crate::registry::Snapshot;

pub(super) const TOKEN: &str = "hf_TOPSECRETTOKEN123";
pub(super) const GUARD_VALUE: &str = "Bearer GUARDSECRET456";

/// An `Api` over a fresh registry and a state file in a temp dir.
pub(super) struct Harness {
    pub(crate) api: Api,
    pub(crate) registry: Arc<Registry>,
    pub(crate) state_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// One answer: status, headers, raw body and the body parsed as JSON (`Null` if not JSON).
pub(super) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) json: Value,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with(Snapshot::default(), None)
    }

    pub(crate) fn with(snapshot: Snapshot, content_origin: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("state.yaml");
        Self::at(snapshot, content_origin, state_path, dir)
    }

    pub(crate) fn at(
        snapshot: Snapshot,
        content_origin: Option<&str>,
        state_path: PathBuf,
        dir: tempfile::TempDir,
    ) -> Self {
        let registry = Arc::new(Registry::new(snapshot));
        let users = vec![ApiUser {
            username: "admin".into(),
            password: Some(Secret::new("password")),
            password_hash: None,
            uses_default_password: true,
        }];
        let api = Api::new(ApiDeps {
            registry: registry.clone(),
            users,
            state_path: state_path.clone(),
            content_origin: content_origin.map(String::from),
            status: Arc::new(|| StatusFigures {
                cache_size: 7,
                ..Default::default()
            }),
        });
        Harness {
            api,
            registry,
            state_path,
            _dir: dir,
        }
    }

    /// A JSON request as `admin`.
    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.send(request(
            method,
            uri,
            Some("admin:password"),
            Some("application/json"),
            body,
        ))
        .await
    }

    pub async fn send(&self, req: Request<Bytes>) -> Answer {
        let resp = self.api.handle(req).await;
        let (parts, body) = resp.into_parts();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            json,
        }
    }

    /// Creates an object and returns its JSON (asserting 201).
    pub async fn create(&self, collection: &str, body: Value) -> Value {
        let a = self.call("POST", collection, Some(body)).await;
        assert_eq!(a.status, 201, "{}", a.json);
        a.json
    }
}

/// A request with optional basic credentials and content type; Host `cache:8080`.
pub(super) fn request(
    method: &str,
    uri: &str,
    credentials: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Request<Bytes> {
    let mut b = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri)
        .header(header::HOST, "cache:8080");
    if let Some(c) = credentials {
        b = b.header(
            header::AUTHORIZATION,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            ),
        );
    }
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(body.into()).unwrap()
}

pub(super) const REMOTES: &str = "/pulp/api/v3/remotes/hugging_face/hugging-face/";
pub(super) const DISTS: &str = "/pulp/api/v3/distributions/hugging_face/hugging-face/";
pub(super) const GUARDS: &str = "/pulp/api/v3/contentguards/core/header/";

fn is_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 27 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn secrets_never_appear_in_any_response() {
    let h = Harness::new();
    let mut bodies = Vec::new();
    let remote = h
        .create(
            REMOTES,
            json!({"name": "private", "url": "https://huggingface.co", "hf_token": TOKEN}),
        )
        .await;
    let href = remote["pulp_href"].as_str().unwrap().to_string();
    let guard = h
        .create(
            GUARDS,
            json!({"name": "g", "header_name": "Authorization", "header_value": GUARD_VALUE}),
        )
        .await;
    let dist = h.create(DISTS, json!({"name": "d", "base_path": "private", "remote": href, "content_guard": guard["pulp_href"]})).await;
    bodies.extend([remote.to_string(), guard.to_string(), dist.to_string()]);
    for (method, uri, body) in [
        ("GET", href.clone(), None),
        ("GET", REMOTES.to_string(), None),
        (
            "PATCH",
            href.clone(),
            Some(json!({"hf_token": format!("{TOKEN}-rotated")})),
        ),
        (
            "PUT",
            href.clone(),
            Some(json!({"name": "private", "url": "https://huggingface.co"})),
        ),
        (
            "PATCH",
            href.clone(),
            Some(json!({"hf_token": TOKEN, "policy": "bogus"})),
        ),
        ("GET", GUARDS.to_string(), None),
        (
            "GET",
            guard["pulp_href"].as_str().unwrap().to_string(),
            None,
        ),
        (
            "PATCH",
            guard["pulp_href"].as_str().unwrap().to_string(),
            Some(json!({"header_value": GUARD_VALUE, "header_name": 5})),
        ),
        ("GET", DISTS.to_string(), None),
        ("GET", "/pulp/api/v3/status/".to_string(), None),
    ] {
        bodies.push(String::from_utf8_lossy(&h.call(method, &uri, body).await.body).into_owned());
    }
    for body in &bodies {
        assert!(
            !body.contains("TOPSECRET") && !body.contains("GUARDSECRET"),
            "secret leaked: {body}"
        );
    }
    let read = h.call("GET", &href, None).await.json;
    assert_eq!(
        read["hidden_fields"][5],
        json!({"name": "hf_token", "is_set": true}),
        "PUT without hf_token keeps it"
    );
    let stored = h.registry.snapshot();
    assert_eq!(
        stored.remotes[0].token(),
        Some(format!("{TOKEN}-rotated").as_str())
    );
}

#[tokio::test]
async fn remote_fields_defaults_and_hidden_fields() {
    let h = Harness::new();
    let r = h.create(REMOTES, json!({"name": "hf", "hf_hub_url": "https://huggingface.co/", "pulp_labels": {"team": "ml"}})).await;
    let id = r["pulp_href"]
        .as_str()
        .unwrap()
        .trim_start_matches(REMOTES)
        .trim_end_matches('/')
        .to_string();
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(uuid.get_version_num(), 7);
    assert_eq!(r["prn"], format!("prn:hugging_face.huggingfaceremote:{id}"));
    assert!(
        is_timestamp(&r["pulp_created"]) && is_timestamp(&r["pulp_last_updated"]),
        "{r}"
    );
    assert_eq!(
        (r["url"].clone(), r["hf_hub_url"].clone()),
        (
            json!("https://huggingface.co"),
            json!("https://huggingface.co")
        )
    );
    assert_eq!(
        (r["policy"].clone(), r["tls_validation"].clone()),
        (json!("on_demand"), json!(true))
    );
    let hidden: Vec<&str> = r["hidden_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        hidden,
        [
            "client_key",
            "proxy_username",
            "proxy_password",
            "username",
            "password",
            "hf_token"
        ]
    );
    assert_eq!(r["hidden_fields"][5]["is_set"], false);
    assert!(r.get("hf_token").is_none());

    let href = r["pulp_href"].as_str().unwrap();
    let p = h.call("PATCH", href, Some(json!({"policy": "streamed", "sock_connect_timeout": 5, "headers": [{"X-Foo": "bar"}], "download_concurrency": 4}))).await;
    assert_eq!(p.status, 200, "{}", p.json);
    assert_eq!(
        (p.json["policy"].clone(), p.json["connect_timeout"].clone()),
        (json!("streamed"), json!(5.0))
    );
    assert_eq!(p.json["headers"], json!([{"X-Foo": "bar"}]));
    assert_ne!(p.json["pulp_last_updated"], r["pulp_last_updated"]);
    assert_eq!(p.json["pulp_created"], r["pulp_created"]);
    // PUT: required fields again; `policy` returns to its default, labels are kept.
    let put = h
        .call(
            "PUT",
            href,
            Some(json!({"name": "hf", "url": "https://huggingface.co"})),
        )
        .await;
    assert_eq!(
        (put.json["policy"].clone(), put.json["pulp_labels"].clone()),
        (json!("on_demand"), json!({"team": "ml"}))
    );
    assert_eq!(h.registry.snapshot().remotes[0].policy, Policy::OnDemand);
    let cleared = h.call("PATCH", href, Some(json!({"hf_token": "x"}))).await;
    assert_eq!(cleared.json["hidden_fields"][5]["is_set"], true);
    let cleared = h.call("PATCH", href, Some(json!({"hf_token": ""}))).await;
    assert_eq!(cleared.json["hidden_fields"][5]["is_set"], false);
}

#[tokio::test]
async fn pulp_authentication_guide_flow() {
    // pulp_hugging_face docs/user/guides/authentication.md, as curl would send it.
    let h = Harness::new();
    let public = h
        .create(
            REMOTES,
            json!({"name": "hf-public", "url": "https://huggingface.co", "policy": "on_demand"}),
        )
        .await;
    let private = h.create(REMOTES, json!({"name": "hf-private", "url": "https://huggingface.co", "policy": "on_demand", "hf_token": "hf_old"})).await;
    let patched = h
        .call(
            "PATCH",
            private["pulp_href"].as_str().unwrap(),
            Some(json!({"hf_token": "hf_NEW_TOKEN_HERE"})),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        h.registry.snapshot().remotes[1].token(),
        Some("hf_NEW_TOKEN_HERE"),
        "token rotation is live"
    );
    let d1 = h
        .create(
            DISTS,
            json!({"name": "hf-public", "base_path": "hf-public", "remote": public["pulp_href"]}),
        )
        .await;
    let d2 = h.create(DISTS, json!({"name": "hf-private", "base_path": "hf-private", "remote": private["pulp_href"]})).await;
    assert_eq!(d1["base_url"], "http://cache:8080/pulp/content/hf-public/");
    assert_eq!(d2["remote"], private["pulp_href"]);
    assert_eq!(
        (
            d2["content_guard"].clone(),
            d2["content_guard_prn"].clone(),
            d2["repository"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    let snap = h.registry.snapshot();
    let (m, tail) = snap
        .match_content("hf-private/org/m/resolve/main/a")
        .unwrap();
    assert_eq!(
        (m.remote.unwrap().name.as_str(), tail),
        ("hf-private", "org/m/resolve/main/a")
    );
    let proto = request(
        "GET",
        d1["pulp_href"].as_str().unwrap(),
        Some("admin:password"),
        None,
        "",
    );
    let (mut parts, body) = proto.into_parts();
    parts
        .headers
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let a = h.send(Request::from_parts(parts, body)).await;
    assert_eq!(
        a.json["base_url"],
        "https://cache:8080/pulp/content/hf-public/"
    );
    let h2 = Harness::with(Snapshot::default(), Some("https://cdn.example.com/"));
    let d = h2
        .create(DISTS, json!({"name": "x", "base_path": "a/b"}))
        .await;
    assert_eq!(d["base_url"], "https://cdn.example.com/pulp/content/a/b/");
}

#[tokio::test]
async fn deleting_a_remote_unsets_it_on_distributions_and_persists() {
    let h = Harness::new();
    let r = h
        .create(
            REMOTES,
            json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let d = h
        .create(
            DISTS,
            json!({"name": "d", "base_path": "d", "remote": r["pulp_href"]}),
        )
        .await;
    let del = h
        .call("DELETE", r["pulp_href"].as_str().unwrap(), None)
        .await;
    assert_eq!((del.status, del.body.len()), (204, 0));
    assert_eq!(
        h.call("GET", r["pulp_href"].as_str().unwrap(), None)
            .await
            .status,
        404
    );
    let now = h
        .call("GET", d["pulp_href"].as_str().unwrap(), None)
        .await
        .json;
    assert_eq!(now["remote"], Value::Null);
    let loaded = crate::state::load(&h.state_path, &Snapshot::default()).unwrap();
    assert!(loaded.snapshot.remotes.is_empty());
    assert_eq!(loaded.snapshot.distributions[0].remote, None);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[tokio::test]
async fn a_guard_in_use_cannot_be_deleted() {
    let h = Harness::new();
    let g = h.create(GUARDS, json!({"name": "g", "header_name": "Authorization", "header_value": "Bearer x", "description": "team"})).await;
    assert_eq!(
        g["hidden_fields"],
        json!([{"name": "header_value", "is_set": true}])
    );
    assert_eq!(
        g["prn"],
        format!(
            "prn:core.headercontentguard:{}",
            g["pulp_href"]
                .as_str()
                .unwrap()
                .trim_start_matches(GUARDS)
                .trim_end_matches('/')
        )
    );
    let d = h
        .create(
            DISTS,
            json!({"name": "private", "base_path": "p", "content_guard": g["pulp_href"]}),
        )
        .await;
    assert_eq!(d["content_guard_prn"], g["prn"]);
    let del = h
        .call("DELETE", g["pulp_href"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        (del.status, del.json.clone()),
        (
            400,
            json!({"detail": "Content guard is used by distribution 'private'"})
        )
    );
    assert_eq!(
        h.call(
            "PATCH",
            d["pulp_href"].as_str().unwrap(),
            Some(json!({"content_guard": null}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        h.call("DELETE", g["pulp_href"].as_str().unwrap(), None)
            .await
            .status,
        204
    );
}

fn declared() -> Snapshot {
    let remote = crate::model::Remote {
        meta: Meta::new(Origin::Config),
        name: "declared".into(),
        url: "https://huggingface.co".into(),
        policy: Policy::OnDemand,
        hf_token: Some(Secret::new(TOKEN)),
        pulp_labels: Default::default(),
        tls_validation: true,
        ca_cert: None,
        headers: vec![],
        connect_timeout: None,
        sock_read_timeout: None,
        total_timeout: None,
        max_retries: None,
        rate_limit: None,
        download_concurrency: None,
    };
    Snapshot {
        remotes: vec![Arc::new(remote)],
        ..Default::default()
    }
}

#[tokio::test]
async fn config_declared_objects_are_read_only() {
    let h = Harness::with(declared(), None);
    let list = h.call("GET", REMOTES, None).await;
    assert_eq!(list.json["count"], 1);
    let href = list.json["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let want = json!({"detail": "'declared' is declared in the configuration file"});
    for (method, body) in [
        ("PATCH", Some(json!({"policy": "streamed"}))),
        ("PUT", Some(json!({"name": "x", "url": "https://h.co"}))),
        ("DELETE", None),
    ] {
        let a = h.call(method, &href, body).await;
        assert_eq!((a.status, a.json), (400, want.clone()), "{method}");
    }
    let clash = h
        .call(
            "POST",
            REMOTES,
            Some(json!({"name": "declared", "url": "https://huggingface.co"})),
        )
        .await;
    assert_eq!(
        (clash.status, clash.json),
        (400, json!({"name": ["This field must be unique."]}))
    );
    // An API distribution may serve a declared remote; the state file holds only API objects.
    h.create(
        DISTS,
        json!({"name": "d", "base_path": "d", "remote": href}),
    )
    .await;
    let text = fs_err::read_to_string(&h.state_path).unwrap();
    assert!(
        !text.contains(TOKEN) && text.contains("remote: declared"),
        "{text}"
    );
}

#[tokio::test]
async fn authentication_and_routing() {
    let h = Harness::new();
    let (bad_id, unknown_id) = (
        format!("{REMOTES}not-a-uuid/"),
        format!("{REMOTES}{}/", uuid::Uuid::now_v7()),
    );
    let rows: Vec<(&str, &str, Option<&str>, u16, Value)> = vec![
        (
            "GET",
            REMOTES,
            None,
            401,
            json!({"detail": "Authentication credentials were not provided."}),
        ),
        (
            "POST",
            DISTS,
            Some("admin:wrong"),
            401,
            json!({"detail": "Invalid username/password."}),
        ),
        (
            "GET",
            GUARDS,
            Some("nobody:password"),
            401,
            json!({"detail": "Invalid username/password."}),
        ),
        ("GET", "/pulp/api/v3/status/", None, 200, Value::Null),
        (
            "GET",
            "/pulp/api/v3/tasks/",
            None,
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "GET",
            "/pulp/api/v3/remotes/hugging_face/hugging-face",
            Some("admin:password"),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "GET",
            &bad_id,
            Some("admin:password"),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "DELETE",
            &unknown_id,
            Some("admin:password"),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "DELETE",
            REMOTES,
            Some("admin:password"),
            405,
            json!({"detail": "Method \"DELETE\" not allowed."}),
        ),
        (
            "POST",
            "/pulp/api/v3/status/",
            None,
            405,
            json!({"detail": "Method \"POST\" not allowed."}),
        ),
    ];
    for (method, uri, credentials, status, body) in rows {
        let a = h.send(request(method, uri, credentials, None, "")).await;
        assert_eq!(a.status, status, "{method} {uri}");
        if status == 401 {
            assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Basic realm=\"api\"");
        }
        if status == 405 {
            assert!(a.headers.contains_key(header::ALLOW), "{method} {uri}");
        }
        if !body.is_null() {
            assert_eq!(a.json, body, "{method} {uri}");
        }
    }
    let status = h
        .send(request("GET", "/pulp/api/v3/status/", None, None, ""))
        .await
        .json;
    assert_eq!(
        (
            status["database_connection"]["connected"].clone(),
            status["cache"]["size"].clone()
        ),
        (json!(true), json!(7))
    );
}

#[tokio::test]
async fn a_failed_save_answers_500_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("missing-dir/state.yaml");
    let h = Harness::at(Snapshot::default(), None, state_path, dir);
    let a = h
        .call(
            "POST",
            REMOTES,
            Some(json!({"name": "hf", "url": "https://huggingface.co", "hf_token": TOKEN})),
        )
        .await;
    assert_eq!(
        (a.status, a.json),
        (500, json!({"detail": "Internal error."}))
    );
    assert!(h.registry.snapshot().remotes.is_empty());
}
