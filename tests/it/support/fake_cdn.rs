//! `FakeCdn`: where the fake Hub's LFS 302s point — another hostname (`127.0.0.2`), signed
//! expiring URLs, `ETag` = Xet hash, no Hub headers, ranges, and a record of any
//! `Authorization` it receives (it must never get one).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{Request, Response};
use hyper::body::Incoming;
use sha2::Sha256;
use tokio::net::TcpListener;

use super::fake_hub::Shared;
use super::file_response::{file_response, ByteRequest};
use super::http::{header, set, text, Body, FakeServer};
use super::hub_routes::{quote, strip_body_for_head, unquote};
use super::model::FileEntry;
use super::recorder::{RecordedRequest, Recorder, Transfer};

pub struct FakeCdn {
    shared: Arc<Shared>,
    recorder: Recorder,
    server: FakeServer,
}

pub(super) fn start(listener: TcpListener, shared: Arc<Shared>) -> FakeCdn {
    let recorder = Recorder::default();
    let handler_shared = shared.clone();
    let server = FakeServer::serve(listener, "cdn", recorder.clone(), move |req| {
        handle(handler_shared.clone(), req)
    });
    FakeCdn {
        shared,
        recorder,
        server,
    }
}

impl FakeCdn {
    /// `http://127.0.0.2:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder.requests()
    }

    pub fn count(&self, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.recorder.count(pred)
    }

    /// Whether any request reached the CDN with an `Authorization` header (a leaked token).
    pub fn saw_authorization(&self) -> bool {
        self.recorder.saw_header("authorization")
    }

    pub fn saw_header_value(&self, name: &str, value: &str) -> bool {
        self.recorder.saw_header_value(name, value)
    }

    /// Caps every file body the CDN sends at `bytes_per_sec` per connection (like nginx
    /// `limit_rate`), from the next response on; `None` lifts the cap.
    pub fn set_rate_per_connection(&self, bytes_per_sec: Option<u64>) {
        self.shared.lock().cdn_rate = bytes_per_sec;
    }

    /// The CDN's file-byte transfers (200/206 GETs) whose `{repo}/{path}` contains
    /// `path_part`, in arrival order: asked range, status, bytes sent, when the body moved.
    pub fn transfers(&self, path_part: &str) -> Vec<Transfer> {
        self.recorder.transfers(path_part)
    }

    /// Most file-byte transfers matching `path_part` (`""`: all files) whose bodies were
    /// moving at the same time.
    pub fn max_simultaneous(&self, path_part: &str) -> usize {
        Transfer::max_simultaneous(&self.transfers(path_part))
    }

    /// Every URL signed so far now answers 403, as after expiry.
    pub fn invalidate_signed_urls(&self) {
        let mut key = self.shared.signing_key.lock().expect("signing key lock");
        key.push(b'+');
    }

    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    pub async fn restart(&self) {
        self.server.restart().await;
    }

    pub(super) fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn signature(shared: &Shared, sha256: &str, repo: &str, file: &str, expires: u64) -> String {
    let key = shared.signing_key.lock().expect("signing key lock").clone();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac takes any key");
    mac.update(format!("{sha256}\n{repo}\n{file}\n{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `http://127.0.0.2:<port>/xet-bridge-us/{sha256}?repo=…&file=…&Expires=…&Signature=…`
pub(super) fn signed_url(shared: &Shared, repo: &str, entry: &FileEntry) -> String {
    let expires = now() + shared.lock().signed_url_ttl.as_secs();
    let sig = signature(shared, &entry.sha256, repo, &entry.path, expires);
    format!(
        "http://{}/xet-bridge-us/{}?repo={}&file={}&Expires={expires}&Signature={sig}",
        shared.cdn_addr,
        entry.sha256,
        quote(repo),
        quote(&entry.path)
    )
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    strip_body_for_head(&method, route(&shared, &req).await)
}

async fn route(shared: &Shared, req: &Request<Incoming>) -> Response<Body> {
    if header(req, "authorization").is_some() {
        // Like S3 behind a presigned URL: a second auth mechanism is an error.
        return text(400, "InvalidArgument: Only one auth mechanism allowed");
    }
    let Some(sha256) = req.uri().path().strip_prefix("/xet-bridge-us/") else {
        return text(404, "Not Found");
    };
    let query: Vec<(&str, String)> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, unquote(v)))
        .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (repo, file, sig) = (param("repo"), param("file"), param("Signature"));
    let expires: u64 = param("Expires").parse().unwrap_or(0);
    if expires <= now() || sig != signature(shared, sha256, &repo, &file, expires) {
        return text(403, "<Error><Code>AccessDenied</Code><Message>Request has expired or signature is invalid</Message></Error>");
    }

    let entry = {
        let state = shared.lock();
        let found = state
            .repos
            .get(&repo)
            .into_iter()
            .flat_map(|r| r.commits.values())
            .find_map(|tree| tree.get(&file).filter(|e| e.sha256 == sha256).cloned());
        match found {
            Some(entry) => entry,
            None => return text(404, "<Error><Code>NoSuchKey</Code></Error>"),
        }
    };
    let etag = format!("\"{}\"", entry.xet_hash);
    let mut byte_req = ByteRequest::from_request(req);
    byte_req.honour_if_range(&etag);
    let faults = {
        let mut state = shared.lock();
        byte_req.rate = state.cdn_rate;
        byte_req.take_faults(&mut state, &repo, &entry)
    };
    let mut resp = file_response(&byte_req, &repo, &entry, &faults).await;
    set(&mut resp, "etag", etag);
    set(
        &mut resp,
        "cache-control",
        "public, max-age=604800, immutable",
    );
    set(&mut resp, "x-cache", "Miss from cloudfront");
    resp
}
