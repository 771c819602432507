//! A fake of the hubcache API for `hubcache prewarm`: the remotes, repositories, `sync/` and
//! task endpoints answer canned JSON that follows `docs/pulp-api.md` (repositories and
//! `sync/`, tasks), behind basic auth; every request is recorded.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};

pub const PASSWORD: &str = "s3cret-admin";
pub const REMOTES: &str = "/pulp/api/v3/remotes/hugging_face/hugging-face/";
pub const REPOS: &str = "/pulp/api/v3/repositories/hugging_face/hugging-face/";
pub const REPO: &str = "/pulp/api/v3/repositories/hugging_face/hugging-face/0195-repo/";
pub const TASK: &str = "/pulp/api/v3/tasks/0195-sync/";
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// What the fake holds and how it answers.
#[derive(Default)]
pub struct Fake {
    pub remotes: Vec<&'static str>,
    pub repository: Option<Value>,
    /// Answered in turn to each GET of the sync task; the last one repeats.
    pub task: VecDeque<Value>,
    /// A create (POST) of a repository answers this 400 body.
    pub refuse_create: Option<Value>,
    /// Every request: method, path, JSON body (null when none).
    pub seen: Vec<(String, String, Value)>,
}

impl Fake {
    pub fn saw(&self, method: &str, path: &str) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|(m, p, _)| m == method && p == path)
            .map(|(_, _, body)| body.clone())
            .collect()
    }
}

type Shared = Arc<Mutex<Fake>>;

pub struct FakeApi {
    pub addr: SocketAddr,
    fake: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl FakeApi {
    pub async fn start(fake: Fake) -> Self {
        let fake = Arc::new(Mutex::new(fake));
        let app = Router::new().fallback(answer).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, fake, server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn fake(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().unwrap()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn remote(name: &str) -> Value {
    json!({"name": name, "pulp_href": format!("{REMOTES}{name}/")})
}

fn list(results: Vec<Value>) -> Value {
    json!({"count": results.len(), "next": null, "previous": null, "results": results})
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub fn task(state: &str, files: (u64, u64), bytes: (u64, u64), error: Value) -> Value {
    json!({"pulp_href": TASK, "state": state, "name": "sync", "logging_cid": "x", "error": error,
           "progress_reports": [
             {"message": "Downloading files", "code": "sync.downloading.files", "state": state,
              "total": files.1, "done": files.0, "suffix": null},
             {"message": "Downloading bytes", "code": "sync.downloading.bytes", "state": state,
              "total": bytes.1, "done": bytes.0, "suffix": "B"}]})
}

async fn answer(
    State(fake): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"detail": "Invalid username/password."}),
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut fake = fake.lock().unwrap();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    fake.seen
        .push((method.to_string(), path.clone(), body.clone()));
    let name_filter = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("name="))
        .map(|v| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        });
    match (method.as_str(), path.as_str()) {
        ("GET", REMOTES) => {
            let found = fake
                .remotes
                .iter()
                .filter(|n| name_filter.as_deref().is_none_or(|f| f == **n))
                .map(|n| remote(n))
                .collect();
            reply(StatusCode::OK, list(found))
        }
        ("GET", REPOS) => {
            let found = fake
                .repository
                .iter()
                .filter(|r| name_filter.as_deref().is_none_or(|f| r["name"] == f))
                .cloned()
                .collect();
            reply(StatusCode::OK, list(found))
        }
        ("POST", REPOS) => {
            if let Some(refusal) = fake.refuse_create.clone() {
                return reply(StatusCode::BAD_REQUEST, refusal);
            }
            let mut repo = body.clone();
            repo["pulp_href"] = json!(REPO);
            repo["latest_version_href"] = Value::Null;
            fake.repository = Some(repo.clone());
            reply(StatusCode::CREATED, repo)
        }
        ("PATCH", REPO) => {
            let repo = fake.repository.as_mut().unwrap();
            for (k, v) in body.as_object().unwrap() {
                repo[k] = v.clone();
            }
            reply(
                StatusCode::ACCEPTED,
                json!({"task": "/pulp/api/v3/tasks/0195-write/"}),
            )
        }
        ("GET", "/pulp/api/v3/tasks/0195-write/") => reply(
            StatusCode::OK,
            json!({"state": "completed", "error": null, "progress_reports": []}),
        ),
        ("GET", REPO) => reply(StatusCode::OK, fake.repository.clone().unwrap()),
        ("POST", "/pulp/api/v3/repositories/hugging_face/hugging-face/0195-repo/sync/") => {
            reply(StatusCode::ACCEPTED, json!({"task": TASK}))
        }
        ("GET", TASK) => {
            let now = if fake.task.len() > 1 {
                fake.task.pop_front().unwrap()
            } else {
                fake.task[0].clone()
            };
            if now["state"] == "completed" {
                fake.repository.as_mut().unwrap()["latest_version_href"] =
                    json!(format!("{REPO}versions/1/"));
            }
            reply(StatusCode::OK, now)
        }
        ("PATCH", TASK) => {
            // Canceling, then canceled on the next poll.
            fake.task = [
                task("canceling", (1, 3), (100, 300), Value::Null),
                task("canceled", (1, 3), (100, 300), Value::Null),
            ]
            .into();
            reply(
                StatusCode::OK,
                task("canceling", (1, 3), (100, 300), Value::Null),
            )
        }
        ("GET", "/pulp/api/v3/repositories/hugging_face/hugging-face/0195-repo/versions/1/") => {
            reply(
                StatusCode::OK,
                json!({"number": 1, "commit": COMMIT, "files": 3, "bytes": 300}),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"detail": "Not found."})),
    }
}

/// A sync that moves, then completes.
pub fn moving_then_completed() -> VecDeque<Value> {
    [
        task("waiting", (0, 0), (0, 0), Value::Null),
        task("running", (1, 3), (100, 300), Value::Null),
        task("running", (2, 3), (200, 300), Value::Null),
        task("completed", (3, 3), (300, 300), Value::Null),
    ]
    .into()
}
