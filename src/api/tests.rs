//! The harness every API test file shares, and the secrets and field-default flows.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{header, Method, Request};
use serde_json::{json, Value};

use super::*;
use crate::model::Policy;
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
            state: state_path.clone().into(),
            content_origin: content_origin.map(String::from),
            status: Arc::new(|| StatusFigures {
                cache_size: 7,
                ..Default::default()
            }),
            sync: None,
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

    /// Creates an object and returns its JSON: from a 201, or, after a 202, read at the first
    /// of its completed task's `created_resources`.
    pub async fn create(&self, collection: &str, body: Value) -> Value {
        let a = self.call("POST", collection, Some(body)).await;
        match a.status {
            201 => a.json,
            202 => {
                let task = self.task_of(&a).await;
                let href = task["created_resources"][0].as_str().unwrap().to_string();
                assert!(href.starts_with(collection), "{task}");
                let read = self.call("GET", &href, None).await;
                assert_eq!(read.status, 200, "{}", read.json);
                read.json
            }
            other => panic!("create in {collection}: {other} {}", a.json),
        }
    }

    /// The task a 202 names, asserting it is already `completed`.
    pub async fn task_of(&self, accepted: &Answer) -> Value {
        assert_eq!(accepted.status, 202, "{}", accepted.json);
        let href = accepted.json["task"].as_str().unwrap().to_string();
        assert!(href.starts_with("/pulp/api/v3/tasks/"), "{href}");
        let task = self.call("GET", &href, None).await;
        assert_eq!(task.status, 200, "{}", task.json);
        assert_eq!(task.json["state"], "completed", "{}", task.json);
        task.json
    }

    /// A write answered by a task (202, already completed, reserving `uri`); then `uri` as
    /// read back (for a delete: its 404).
    pub async fn changed(&self, method: &str, uri: &str, body: Option<Value>) -> Answer {
        let a = self.call(method, uri, body).await;
        let task = self.task_of(&a).await;
        assert_eq!(task["reserved_resources_record"], json!([uri]), "{task}");
        self.call("GET", uri, None).await
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
    let r = h
        .create(
            REMOTES,
            json!({"name": "hf", "url": "https://huggingface.co/", "pulp_labels": {"team": "ml"}}),
        )
        .await;
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
    assert_eq!(r["headers"], Value::Null, "never given: null, as Pulp");

    let href = r["pulp_href"].as_str().unwrap();
    let p = h.changed("PATCH", href, Some(json!({"policy": "streamed", "sock_connect_timeout": 5, "headers": [{"X-Foo": "bar"}], "download_concurrency": 4}))).await;
    assert_eq!(p.status, 200, "{}", p.json);
    assert_eq!(
        (
            p.json["policy"].clone(),
            p.json["connect_timeout"].clone(),
            p.json["sock_connect_timeout"].clone()
        ),
        (json!("streamed"), Value::Null, json!(5.0))
    );
    assert_eq!(p.json["headers"], json!([{"X-Foo": "bar"}]));
    assert_ne!(p.json["pulp_last_updated"], r["pulp_last_updated"]);
    assert_eq!(p.json["pulp_created"], r["pulp_created"]);
    // PUT: required fields again; `policy` returns to its default, labels are kept.
    let put = h
        .changed(
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
    let cleared = h
        .changed("PATCH", href, Some(json!({"hf_token": "x"})))
        .await;
    assert_eq!(cleared.json["hidden_fields"][5]["is_set"], true);
    let cleared = h
        .changed("PATCH", href, Some(json!({"hf_token": ""})))
        .await;
    assert_eq!(cleared.json["hidden_fields"][5]["is_set"], false);
}
