//! Every request a fake receives, with the status it got and the file bytes it carried.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, Method};

/// Marker a handler puts in a response's extensions when the body carries file bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedFile {
    /// Repo key, e.g. `org/model` or `datasets/org/data`.
    pub repo: String,
    pub path: String,
}

impl ServedFile {
    /// `"{repo}/{path}"`, what `body_transfers` matches against.
    pub fn full_path(&self) -> String {
        format!("{}/{}", self.repo, self.path)
    }
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `"hub"` or `"cdn"`.
    pub server: &'static str,
    pub method: Method,
    /// The raw (still percent-encoded) path.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// `None` while the request is still being answered.
    pub status: Option<u16>,
    /// Set when a GET was answered with file bytes (200/206).
    pub served: Option<ServedFile>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `method` matches and the path contains `path_part`.
    pub fn is(&self, method: &str, path_part: &str) -> bool {
        self.method.as_str() == method && self.path.contains(path_part)
    }

    /// Path and query as sent, e.g. `/api/models/org/m/tree/main?recursive=true`.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// A shared, append-only log of requests.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    log: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl Recorder {
    /// Logs an arriving request; returns its index for [`Recorder::finish`].
    pub fn start<B>(&self, server: &'static str, req: &http::Request<B>) -> usize {
        let mut log = self.log.lock().expect("recorder lock");
        log.push(RecordedRequest {
            server,
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(str::to_string),
            headers: req.headers().clone(),
            status: None,
            served: None,
        });
        log.len() - 1
    }

    pub fn finish(&self, index: usize, status: u16, served: Option<ServedFile>) {
        let mut log = self.log.lock().expect("recorder lock");
        if let Some(r) = log.get_mut(index) {
            r.status = Some(status);
            r.served = served;
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.lock().expect("recorder lock").clone()
    }

    pub fn count(&self, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.log
            .lock()
            .expect("recorder lock")
            .iter()
            .filter(|r| pred(r))
            .count()
    }

    pub fn clear(&self) {
        self.log.lock().expect("recorder lock").clear();
    }

    /// GETs answered with file bytes whose `{repo}/{path}` contains `needle`.
    pub fn body_transfers(&self, needle: &str) -> usize {
        self.count(|r| {
            r.served
                .as_ref()
                .is_some_and(|s| s.full_path().contains(needle))
        })
    }

    /// Whether any request carried header `name` with exactly `value`.
    pub fn saw_header_value(&self, name: &str, value: &str) -> bool {
        self.count(|r| {
            r.headers
                .get_all(name)
                .iter()
                .any(|v| v.as_bytes() == value.as_bytes())
        }) > 0
    }

    /// Whether any request carried header `name` at all.
    pub fn saw_header(&self, name: &str) -> bool {
        self.count(|r| r.headers.contains_key(name)) > 0
    }
}
