//! `HubClient`: every metadata exchange with a remote's Hub (resolve HEADs, `api/…` JSON, the
//! ranged samples that prove a blob), with redirects off, same-origin redirects followed here,
//! and the credentials rule of `origin/credentials.rs`. File bodies pass through here only as
//! the pieces of a parallel fill ([`HubClient::body_piece`], `docs/parallel-fills.md`), on
//! HTTP/1.1 connections of their own; Pingora streams every other body (`content/fetch.rs`),
//! under the same rule.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::hub::headers::{file_meta_from_first_hop, resolve_relative, FileMeta};
use crate::model::Remote;

use super::credentials::{is_remote_origin, upstream_headers};
use super::limits::RemoteLimits;
use super::target::Download;
use super::{FileTarget, UpstreamError};
use crate::hub::Etag;

/// How many redirects one metadata exchange may follow.
const MAX_HOPS: usize = 10;
/// Sent upstream as `User-Agent`.
pub const USER_AGENT: &str = concat!("hubcache/", env!("CARGO_PKG_VERSION"));

/// A complete upstream answer (metadata only: bodies here are small JSON).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Status of the last hop.
    pub status: StatusCode,
    /// Headers of the last hop.
    pub headers: HeaderMap,
    /// Body of the last hop (empty for HEAD).
    pub body: Bytes,
}

/// The outcome of resolving a `resolve` URL.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// The file exists; here is where to get it.
    Found(FileTarget),
    /// The Hub said 4xx (missing file, revision or repo, auth, rate limit): relay it.
    Refused(Fetched),
}

/// Told about every upstream exchange: remote name, status (0: no answer), duration.
pub type UpstreamObserver = Arc<dyn Fn(&str, u16, Duration) + Send + Sync>;

/// What a client is for: metadata (HTTP/2 where the server offers it: many small exchanges on
/// one connection) or body pieces (HTTP/1.1 only: one connection per piece, as parallel
/// downloaders do, so each gets the CDN's per-connection rate; no `total_timeout`, which
/// never applies to a body stream). Body pieces from a CDN do not trust the remote's own
/// `ca_cert` (as on Pingora's path: it is for the remote's origin only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Purpose {
    Metadata,
    Bodies,
    CdnBodies,
}

/// One HTTP client per remote version and purpose, rebuilt when the remote changes.
#[derive(Default)]
pub struct HubClient {
    clients: Mutex<HashMap<(Uuid, Purpose), (SystemTime, reqwest::Client)>>,
    limits: RemoteLimits,
    observer: Option<UpstreamObserver>,
}

impl HubClient {
    /// A client with no connections yet.
    pub fn new() -> Self {
        HubClient::default()
    }

    /// Reports every upstream exchange to `observer` (metrics).
    pub fn with_observer(mut self, observer: UpstreamObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe(&self, remote: &Remote, status: u16, started: std::time::Instant) {
        if let Some(observer) = &self.observer {
            observer(&remote.name, status, started.elapsed());
        }
    }

    /// Concurrency and rate limits per remote (also used for file bodies).
    pub fn limits(&self) -> &RemoteLimits {
        &self.limits
    }

    fn client_for(&self, remote: &Remote) -> Result<reqwest::Client, UpstreamError> {
        self.client_of(remote, Purpose::Metadata)
    }

    fn client_of(
        &self,
        remote: &Remote,
        purpose: Purpose,
    ) -> Result<reqwest::Client, UpstreamError> {
        let mut clients = self.clients.lock();
        if let Some((version, client)) = clients.get(&(remote.meta.id, purpose)) {
            // A caller holding an older snapshot (a long fill) uses the newer client rather
            // than replacing it back and forth.
            if *version >= remote.meta.updated {
                return Ok(client.clone());
            }
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .connect_timeout(remote.connect_timeout())
            .read_timeout(remote.read_timeout())
            .pool_idle_timeout(Duration::from_secs(60))
            .danger_accept_invalid_certs(!remote.tls_validation);
        if purpose == Purpose::Metadata {
            if let Some(total) = remote.total_timeout {
                builder = builder.timeout(total);
            }
        } else {
            builder = builder.http1_only();
        }
        if let Some(pem) = remote
            .ca_cert
            .as_ref()
            .filter(|_| purpose != Purpose::CdnBodies)
        {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|_| UpstreamError::Client)?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|_| UpstreamError::Client)?;
        clients.insert(
            (remote.meta.id, purpose),
            (remote.meta.updated, client.clone()),
        );
        Ok(client)
    }

    /// One request to `url`, with the token only when `url` is on the remote's origin.
    async fn send_once(
        &self,
        remote: &Remote,
        method: &Method,
        url: &str,
        body: Option<(Bytes, Option<String>)>,
    ) -> Result<Fetched, UpstreamError> {
        let client = self.client_for(remote)?;
        self.limits.pace(remote).await;
        let attempts = remote.max_retries.unwrap_or(2) + 1;
        let mut last = UpstreamError::Connect;
        for _ in 0..attempts {
            let req = client
                .request(method.clone(), url)
                .header("accept-encoding", "identity");
            let mut req = authorize(req, remote, url);
            if let Some((bytes, content_type)) = &body {
                req = req.body(bytes.clone());
                if let Some(ct) = content_type {
                    req = req.header("content-type", ct.as_str());
                }
            }
            let started = std::time::Instant::now();
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp
                        .bytes()
                        .await
                        .map_err(|e| UpstreamError::from_reqwest(&e));
                    self.observe(
                        remote,
                        if body.is_ok() { status.as_u16() } else { 0 },
                        started,
                    );
                    return Ok(Fetched {
                        status,
                        headers,
                        body: body?,
                    });
                }
                // Only connect failures are retried: the request never reached the Hub.
                Err(e) if e.is_connect() && !e.is_timeout() => {
                    self.observe(remote, 0, started);
                    last = UpstreamError::Connect;
                }
                Err(e) => {
                    self.observe(remote, 0, started);
                    return Err(UpstreamError::from_reqwest(&e));
                }
            }
        }
        Err(last)
    }

    /// Sends `method path_and_query` to the remote and follows redirects that stay on the
    /// remote's origin (relative ones included, query kept). A redirect elsewhere is returned
    /// as is, for the caller to decide.
    pub async fn fetch(
        &self,
        remote: &Remote,
        method: Method,
        path_and_query: &str,
        body: Option<(Bytes, Option<String>)>,
    ) -> Result<Fetched, UpstreamError> {
        let mut url = format!("{}/{}", remote.url, path_and_query.trim_start_matches('/'));
        for _ in 0..MAX_HOPS {
            let fetched = self.send_once(remote, &method, &url, body.clone()).await?;
            let Some(next) = redirect_target(&url, &fetched) else {
                return Ok(fetched);
            };
            if !is_remote_origin(remote, &next) {
                return Ok(fetched);
            }
            url = next;
        }
        Err(UpstreamError::Protocol("too many redirects"))
    }

    /// `len` bytes of the file at `url` from `offset`, asked as one ranged GET with the
    /// remote's credentials rule. `Ok(None)` when the answer is not exactly that range (no
    /// 206, another range, a short body): the caller cannot compare, and must not trust it.
    /// Never reads more than `len` bytes of the body.
    pub async fn sample(
        &self,
        remote: &Remote,
        url: &str,
        offset: u64,
        len: usize,
    ) -> Result<Option<Vec<u8>>, UpstreamError> {
        let Some(last) = (offset + len as u64).checked_sub(1) else {
            return Ok(Some(Vec::new()));
        };
        let client = self.client_for(remote)?;
        self.limits.pace(remote).await;
        let req = client
            .get(url)
            .header("accept-encoding", "identity")
            .header(http::header::RANGE, format!("bytes={offset}-{last}"));
        let started = std::time::Instant::now();
        let mut resp = authorize(req, remote, url).send().await.map_err(|e| {
            self.observe(remote, 0, started);
            UpstreamError::from_reqwest(&e)
        })?;
        self.observe(remote, resp.status().as_u16(), started);
        if resp.status().is_server_error() {
            return Err(UpstreamError::Status(resp.status()));
        }
        let announced = resp
            .headers()
            .get(http::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split_once('/'))
            .map(|(range, _)| range.to_owned());
        if resp.status() != StatusCode::PARTIAL_CONTENT
            || announced.as_deref() != Some(format!("{offset}-{last}").as_str())
        {
            return Ok(None);
        }
        let mut got = Vec::with_capacity(len);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| UpstreamError::from_reqwest(&e))?
        {
            if got.len() + chunk.len() > len {
                return Ok(None);
            }
            got.extend_from_slice(&chunk);
        }
        Ok((got.len() == len).then_some(got))
    }

    /// One piece of a file body: `GET url` with `Range: bytes=<start>-<end - 1>` (and
    /// `If-Range` when given), the remote's credentials by the one rule, no redirects. The
    /// caller takes the remote's `download_concurrency` permit first and checks the answer;
    /// the status is reported to the observer when the headers arrive.
    pub async fn body_piece(
        &self,
        remote: &Remote,
        url: &str,
        range: std::ops::Range<u64>,
        if_range: Option<&str>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let purpose = if is_remote_origin(remote, url) {
            Purpose::Bodies
        } else {
            Purpose::CdnBodies
        };
        let client = self.client_of(remote, purpose)?;
        let mut req = client
            .get(url)
            .header("accept-encoding", "identity")
            .header(
                http::header::RANGE,
                format!("bytes={}-{}", range.start, range.end.saturating_sub(1)),
            );
        if let Some(validator) = if_range {
            req = req.header(http::header::IF_RANGE, validator);
        }
        let started = std::time::Instant::now();
        let resp = authorize(req, remote, url).send().await;
        self.observe(
            remote,
            resp.as_ref().map_or(0, |r| r.status().as_u16()),
            started,
        );
        resp.map_err(|e| UpstreamError::from_reqwest(&e))
    }

    /// Resolves a `resolve` path with HEAD requests only (never a body download): follows
    /// the Hub's own redirects, stops at the CDN, and keeps the first hop's metadata.
    pub async fn resolve_file(
        &self,
        remote: &Remote,
        path_and_query: &str,
    ) -> Result<Resolution, UpstreamError> {
        let mut url = format!("{}/{}", remote.url, path_and_query.trim_start_matches('/'));
        // The metadata hop: the first one that names the commit (a rename 307 before it may
        // carry none); later hops only fill what it lacks.
        let mut first: Option<FileMeta> = None;
        for _ in 0..MAX_HOPS {
            let fetched = self.send_once(remote, &Method::HEAD, &url, None).await?;
            let status = fetched.status;
            if status.is_server_error() {
                return Err(UpstreamError::Status(status));
            }
            if status.is_client_error() {
                return Ok(Resolution::Refused(fetched));
            }
            if first.is_none() && fetched.headers.contains_key("x-repo-commit") {
                first = Some(file_meta_from_first_hop(status, &fetched.headers));
            }
            if status.is_redirection() {
                let next = redirect_target(&url, &fetched)
                    .ok_or(UpstreamError::Protocol("redirect without Location"))?;
                if is_remote_origin(remote, &next) {
                    url = next;
                    continue;
                }
                // A CDN: its own headers describe a Xet object, not the file; the Hub's hop does.
                let hop = file_meta_from_first_hop(status, &fetched.headers);
                let target = target_from(first.unwrap_or(hop), None, next, false)?;
                return Ok(Resolution::Found(target));
            }
            if status.is_success() {
                let last = file_meta_from_first_hop(status, &fetched.headers);
                let target =
                    target_from(first.unwrap_or_else(|| last.clone()), Some(last), url, true)?;
                return Ok(Resolution::Found(target));
            }
            return Err(UpstreamError::Protocol("unexpected status"));
        }
        Err(UpstreamError::Protocol("too many redirects"))
    }
}

/// The remote's credentials on a request to `url`, by the one rule (`origin/credentials.rs`).
pub(crate) fn authorize(
    mut req: reqwest::RequestBuilder,
    remote: &Remote,
    url: &str,
) -> reqwest::RequestBuilder {
    for (name, value) in upstream_headers(remote, url) {
        req = req.header(name, value);
    }
    req
}

/// The absolute URL a 3xx points at, if it is a redirect with a `Location`.
fn redirect_target(url: &str, fetched: &Fetched) -> Option<String> {
    if !fetched.status.is_redirection() {
        return None;
    }
    let location = fetched.headers.get(http::header::LOCATION)?.to_str().ok()?;
    Some(resolve_relative(url, location))
}

/// Builds the file target from the metadata hop, completed by the final 200 (`last`) when
/// the bytes are on the Hub itself. The type comes from the 200 only: a redirect's
/// `Content-Type` describes its own body.
fn target_from(
    first: FileMeta,
    last: Option<FileMeta>,
    url: String,
    same_origin: bool,
) -> Result<FileTarget, UpstreamError> {
    let last = last.unwrap_or_default();
    let commit = first
        .commit
        .or(last.commit)
        .ok_or(UpstreamError::Protocol("no X-Repo-Commit"))?;
    if !crate::hub::is_commit(&commit) {
        return Err(UpstreamError::Protocol(
            "X-Repo-Commit is not a 40-hex commit",
        ));
    }
    let download = Download::parse(url, same_origin).ok_or(UpstreamError::Protocol(
        "the file's URL is not an absolute http(s) URL",
    ))?;
    Ok(FileTarget {
        commit,
        etag: first
            .etag
            .or(last.etag)
            .map(|e| Etag::parse(&e))
            .ok_or(UpstreamError::Protocol("no etag"))?,
        size: first
            .size
            .or(last.size)
            .ok_or(UpstreamError::Protocol("no size"))?,
        content_type: last
            .content_type
            .unwrap_or_else(|| "application/octet-stream".to_string()),
        content_disposition: first.content_disposition.or(last.content_disposition),
        download: Some(download),
    })
}
