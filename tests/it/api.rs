//! Admin API scenarios (issue 4): the Pulp-style `/pulp/api/v3/` driven over HTTP against the
//! real hubcache binary and the fake Hub — the pulp_hugging_face authentication guide run with
//! `curl`, live token rotation, persistence across restarts, header content guards with real
//! `huggingface_hub` clients, the `api.listen` sidecar, the bad-input battery, and secrets that
//! never reach a response or a log line.
//!
//! Shared here: [`Admin`], an authenticated caller that keeps every response body so a test can
//! search them all for a secret, and small assertions on DRF-shaped bodies and the state file.

mod battery;
mod generic;
mod guard;
mod guide;
mod live;
mod openapi;
mod repositories;
mod tasks;

use std::sync::Mutex;

use http::Method;
use serde_json::Value;

use crate::support::{TestResponse, TestServer};

pub(crate) const REMOTES: &str = "/pulp/api/v3/remotes/hugging_face/hugging-face/";
pub(crate) const DISTRIBUTIONS: &str = "/pulp/api/v3/distributions/hugging_face/hugging-face/";
pub(crate) const GUARDS: &str = "/pulp/api/v3/contentguards/core/header/";
pub(crate) const STATUS: &str = "/pulp/api/v3/status/";
pub(crate) const TASKS: &str = "/pulp/api/v3/tasks/";

/// An API caller with the server's admin credentials. `path` arguments are API paths or
/// hrefs (both relative); every response body is kept for [`Admin::transcript`].
pub(crate) struct Admin {
    client: reqwest::Client,
    origin: String,
    user: String,
    password: String,
    seen: Mutex<Vec<String>>,
}

impl Admin {
    /// Talks to the API listener (`api.listen` when set, else `listen`).
    pub(crate) fn new(server: &TestServer) -> Self {
        Self::at(server, server.api_url(""))
    }

    /// Talks to the API at `origin` (e.g. the content listener when a sidecar is also set).
    pub(crate) fn at(server: &TestServer, origin: String) -> Self {
        let (user, password) = server.admin_credentials();
        Admin {
            client: server.client().clone(),
            origin,
            user: user.to_string(),
            password: password.to_string(),
            seen: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Sends `method path` with basic auth and, if given, a JSON body.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut req = self
            .client
            .request(method, self.url(path))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.keep(TestResponse::send(req).await)
    }

    /// Sends a request built by the caller (raw bodies, other credentials, …), keeping its body.
    pub(crate) async fn raw(&self, req: reqwest::RequestBuilder) -> TestResponse {
        self.keep(TestResponse::send(req).await)
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A request builder with the admin credentials and no body.
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth(&self.user, Some(&self.password))
    }

    fn keep(&self, resp: TestResponse) -> TestResponse {
        let mut seen = self.seen.lock().expect("transcript lock");
        seen.push(format!(
            "{} {:?}\n{}",
            resp.status(),
            resp.headers,
            resp.text()
        ));
        resp
    }

    pub(crate) async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.send(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn patch(&self, path: &str, body: &Value) -> TestResponse {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> TestResponse {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, None).await
    }

    /// POSTs `body` to `collection` and returns the object: from a 201, or (a kind Pulp
    /// creates by a task) read at the first `created_resources` of the 202's task, which is
    /// already completed.
    pub(crate) async fn create(&self, collection: &str, body: &Value) -> Value {
        let resp = self.post(collection, body).await;
        let obj = match resp.status().as_u16() {
            201 => resp.json(),
            202 => {
                let task = self.task_of(&resp).await;
                let created = task["created_resources"][0]
                    .as_str()
                    .unwrap_or_else(|| panic!("no created_resources: {task}"))
                    .to_string();
                let read = self.get(&created).await;
                assert_eq!(read.status(), 200, "{created}: {}", read.text());
                read.json()
            }
            other => panic!("create in {collection}: {other} {}", resp.text()),
        };
        let href = obj["pulp_href"]
            .as_str()
            .unwrap_or_else(|| panic!("no pulp_href: {obj}"));
        assert!(
            href.starts_with(collection) && href.ends_with('/'),
            "href {href} not under {collection}"
        );
        obj
    }

    /// The task a 202 `{"task": href}` names, read at once: hubcache records it `completed`
    /// before it answers.
    pub(crate) async fn task_of(&self, resp: &TestResponse) -> Value {
        assert_eq!(resp.status(), 202, "{}", resp.text());
        let body = resp.json();
        let task_href = body["task"]
            .as_str()
            .unwrap_or_else(|| panic!("no task in {body}"));
        assert!(task_href.starts_with(TASKS), "{task_href}");
        let task = self.get(task_href).await;
        assert_eq!(task.status(), 200, "{task_href}: {}", task.text());
        let task = task.json();
        assert_eq!(task["state"], "completed", "{task}");
        task
    }

    /// A write Pulp answers with a task (202, completed at first read, reserving `path`);
    /// returns `path` as read back afterwards (`Null` once deleted, after asserting its 404).
    pub(crate) async fn changed(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let resp = self.send(method, path, body).await;
        let task = self.task_of(&resp).await;
        assert_eq!(task["reserved_resources_record"][0], path, "{task}");
        let read = self.get(path).await;
        match read.status().as_u16() {
            200 => read.json(),
            404 => Value::Null,
            other => panic!("{path} after the write: {other} {}", read.text()),
        }
    }

    /// GETs every page of `collection` (asserting 200) and returns the results.
    pub(crate) async fn list(&self, collection: &str) -> Vec<Value> {
        let resp = self.get(collection).await;
        assert_eq!(resp.status(), 200, "list {collection}: {}", resp.text());
        let page = resp.json();
        assert_eq!(
            page["next"],
            Value::Null,
            "more than one page in {collection}"
        );
        let results = page["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            page["count"].as_u64(),
            Some(results.len() as u64),
            "count of {collection}: {page}"
        );
        results
    }

    /// Every response this caller received: status, headers and body.
    pub(crate) fn transcript(&self) -> String {
        self.seen.lock().expect("transcript lock").join("\n")
    }
}

/// `pulp_href` of an object.
pub(crate) fn href(obj: &Value) -> String {
    obj["pulp_href"]
        .as_str()
        .unwrap_or_else(|| panic!("no pulp_href in {obj}"))
        .to_string()
}

/// The names in a list of objects, sorted.
pub(crate) fn names(objs: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = objs
        .iter()
        .map(|o| o["name"].as_str().unwrap_or("?").to_string())
        .collect();
    names.sort();
    names
}

/// `is_set` of the write-only field `name` in `obj`'s `hidden_fields`.
pub(crate) fn hidden_is_set(obj: &Value, name: &str) -> bool {
    let fields = obj["hidden_fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no hidden_fields in {obj}"));
    let entry = fields
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in hidden_fields: {obj}"));
    entry["is_set"]
        .as_bool()
        .unwrap_or_else(|| panic!("is_set not a bool: {entry}"))
}

/// None of `secrets` occurs in `text`.
pub(crate) fn assert_no_secrets(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} contains the secret {secret:?}:\n{text}"
        );
    }
}

/// A DRF error: `status`, JSON, and `key` holding a string (`detail`) or a non-empty list of
/// strings (a field). Returns the body.
pub(crate) fn assert_drf_error(resp: &TestResponse, status: u16, key: &str, case: &str) -> Value {
    assert_eq!(resp.status(), status, "{case}: {}", resp.text());
    let ct = resp.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{case}: content-type {ct:?}"
    );
    let body: Value = serde_json::from_slice(resp.body())
        .unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {}", resp.text()));
    let value = &body[key];
    let ok = match key {
        "detail" => value.as_str().is_some_and(|s| !s.is_empty()),
        _ => value.as_array().is_some_and(|a| {
            !a.is_empty() && a.iter().all(|m| m.as_str().is_some_and(|s| !s.is_empty()))
        }),
    };
    assert!(ok, "{case}: expected a DRF error under {key:?}, got {body}");
    body
}

/// The state file: parses as a YAML mapping, mode 0600. Returns its text.
pub(crate) fn read_state(server: &TestServer) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = server.state_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("state file does not parse ({e}):\n{text}"));
    assert!(doc.is_mapping(), "state file is not a mapping:\n{text}");
    let mode = std::fs::metadata(&path)
        .expect("state metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "state file mode {mode:o}");
    text
}

/// The server's log holds none of `secrets`.
pub(crate) fn assert_logs_clean(server: &TestServer, secrets: &[&str]) {
    let logs = server.logs();
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "the log contains the secret {secret:?}:\n{logs}"
        );
    }
}
