//! `HubMemory`: what hubcache remembers of the Hub, per remote, so that known answers are
//! served without asking again (rate limit: 3000 resolves / 5 min / token) and keep being
//! served while the Hub is down.
//!
//! * branch/tag → commit: trusted for `cache.revision_ttl`;
//! * `(commit, path)` → file metadata: immutable;
//! * `api/…/revision/<rev>` and `api/…/tree/<rev>…` answers: immutable at a commit, TTL otherwise;
//! * 404 `EntryNotFound` / `RevisionNotFound` / `RepoNotFound`: `cache.negative_ttl`, in
//!   memory only (bounded).
//!
//! Keys always start with the remote's id: a private remote's answers are never used for
//! another remote's distributions. Concurrent identical questions share one upstream request.

mod api;
mod store;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{FutureExt, Shared};
use http::{HeaderMap, StatusCode};
use parking_lot::Mutex;

pub use store::{MetaStore, Remembered, StoredAnswer, StoredFile, Value};

use super::{Fetched, FileTarget, HubClient, Resolution, UpstreamError};
use crate::cache::Credentials;
use crate::hub::{is_commit, Etag, HubRoute};
use crate::model::Remote;

/// How an answer was obtained: the `result` label of `hubcache_cache_lookups_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Known and fresh: the Hub was not asked.
    Hit,
    /// Asked the Hub.
    Miss,
    /// The Hub failed; an older answer was served.
    Stale,
    /// Expired, asked the Hub, and it confirmed what we had.
    Revalidated,
    /// Not remembered by policy (`streamed` remote, or an uncacheable route).
    Bypass,
}

impl Lookup {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Stale => "stale",
            Lookup::Revalidated => "revalidated",
            Lookup::Bypass => "bypass",
        }
    }
}

/// A resolved file: fresh from the Hub (with a download URL) or remembered (without).
#[derive(Debug, Clone)]
pub struct KnownFile {
    /// The metadata; `url` is empty when it came from memory.
    pub target: FileTarget,
    /// How it was obtained.
    pub source: Lookup,
}

type SharedResolve =
    Shared<Pin<Box<dyn Future<Output = Result<Resolution, Arc<UpstreamError>>> + Send>>>;

/// The remembered Hub, in front of a `HubClient`.
pub struct HubMemory {
    hub: Arc<HubClient>,
    store: MetaStore,
    revision_ttl: Duration,
    negative_ttl: Duration,
    in_flight: Arc<Mutex<HashMap<String, (u64, SharedResolve)>>>,
    generation: std::sync::atomic::AtomicU64,
    /// Per namespace: until when the Hub is known to be failing (answer stale at once).
    failing_until: Mutex<HashMap<String, std::time::Instant>>,
    /// Per remote id: the remote snapshot a namespace was computed for, and the namespace
    /// (every request needs it; a changed remote is a new `Arc`, so it is computed again).
    namespaces: Mutex<HashMap<uuid::Uuid, Namespaced>>,
}

/// A remote snapshot, its [`namespace`] and its credentials fingerprint.
type Namespaced = (Arc<Remote>, Arc<str>, Credentials);

/// With a remembered answer to fall back on, how long to wait for the Hub before serving it
/// (clients give up a HEAD after 10 s).
const STALE_WAIT: Duration = Duration::from_secs(3);
/// After the Hub failed, how long remembered answers are served without asking it again.
const FAILING_FOR: Duration = Duration::from_secs(10);

/// Query parameters that may be part of a remembered `api/…` answer's key; any other makes
/// the request pass through unremembered (so arbitrary queries cannot grow the store).
const KEPT_QUERY_PARAMS: [&str; 5] = ["recursive", "expand", "cursor", "limit", "blobs"];

fn query_is_rememberable(upstream_path: &str) -> bool {
    match upstream_path.split_once('?') {
        None => true,
        Some((_, q)) => q
            .split('&')
            .filter(|kv| !kv.is_empty())
            .all(|kv| KEPT_QUERY_PARAMS.contains(&kv.split('=').next().unwrap_or(""))),
    }
}

fn is_kept_refusal(f: &Fetched) -> bool {
    f.status == StatusCode::NOT_FOUND
        && f.headers
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| matches!(c, "EntryNotFound" | "RevisionNotFound" | "RepoNotFound"))
}

fn to_stored(f: &Fetched) -> StoredAnswer {
    StoredAnswer {
        status: f.status.as_u16(),
        headers: f
            .headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
            .collect(),
        body: f.body.to_vec(),
    }
}

fn from_stored(a: &StoredAnswer) -> Fetched {
    let mut headers = HeaderMap::new();
    for (k, v) in &a.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    Fetched {
        status: StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK),
        headers,
        body: bytes::Bytes::from(a.body.clone()),
    }
}

fn stored_file(t: &FileTarget) -> StoredFile {
    StoredFile {
        commit: t.commit.clone(),
        etag: t.etag.as_str().to_owned(),
        size: t.size,
        content_type: t.content_type.clone(),
        content_disposition: t.content_disposition.clone(),
    }
}

fn from_stored_file(f: StoredFile) -> FileTarget {
    FileTarget {
        commit: f.commit,
        etag: Etag::parse(&f.etag),
        size: f.size,
        content_type: f.content_type,
        content_disposition: f.content_disposition,
        download: None,
    }
}

/// The outcome of resolving a file with memory.
#[derive(Debug)]
pub enum FileAnswer {
    /// The file exists.
    Found(KnownFile),
    /// The Hub refused (possibly remembered).
    Refused(Fetched, Lookup),
}

/// The namespace of a remote's remembered answers: its id and a fingerprint of everything
/// that decides what the Hub answers it (URL, token, extra headers). Rotating the token or
/// changing the URL starts a fresh namespace, so nothing learned with the old credentials —
/// a 404 for a repo the old token could not see, or a private answer — is served for the new.
/// The same fingerprint, longer, names the remote's credentials for stored blobs (see
/// [`crate::cache::Credentials`]).
fn namespace(remote: &Remote) -> (String, Credentials) {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(remote.url.as_bytes());
    h.update([0]);
    h.update(remote.token().unwrap_or("").as_bytes());
    for (k, v) in &remote.headers {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
    }
    let digest = h.finalize();
    let mut credentials: Credentials = [0; 16];
    credentials.copy_from_slice(&digest[..16]);
    (
        format!("{}.{}", remote.meta.id, &hex::encode(digest)[..16]),
        credentials,
    )
}

impl HubMemory {
    /// Remembers as side files of `disk` (`None`: memory only).
    pub fn new(
        hub: Arc<HubClient>,
        disk: Option<&'static crate::cache::DiskCache>,
        revision_ttl: Duration,
        negative_ttl: Duration,
    ) -> Self {
        HubMemory {
            hub,
            store: MetaStore::new(disk),
            revision_ttl,
            negative_ttl,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            generation: std::sync::atomic::AtomicU64::new(0),
            failing_until: Mutex::new(HashMap::new()),
            namespaces: Mutex::new(HashMap::new()),
        }
    }

    /// [`namespace`] of `remote`, computed once per remote snapshot.
    fn namespace_of(&self, remote: &Arc<Remote>) -> Arc<str> {
        self.namespaced(remote).0
    }

    /// The fingerprint of the credentials `remote` presents upstream (URL, token, extra
    /// headers), computed once per remote snapshot.
    pub fn credentials_of(&self, remote: &Arc<Remote>) -> Credentials {
        self.namespaced(remote).1
    }

    fn namespaced(&self, remote: &Arc<Remote>) -> (Arc<str>, Credentials) {
        let mut known = self.namespaces.lock();
        if let Some((seen, ns, who)) = known.get(&remote.meta.id) {
            if Arc::ptr_eq(seen, remote) {
                return (ns.clone(), *who);
            }
        }
        let (ns, who) = namespace(remote);
        let ns: Arc<str> = ns.into();
        known.insert(remote.meta.id, (remote.clone(), ns.clone(), who));
        (ns, who)
    }

    /// The Hub client behind it.
    pub fn hub(&self) -> &Arc<HubClient> {
        &self.hub
    }

    /// Resolves a `resolve` route. With `remember` false (a `streamed` remote) nothing is
    /// read from or written to memory. `need_url`: the caller must download, so a remembered
    /// answer is not enough — the Hub is asked for a fresh (signed) URL.
    pub async fn resolve(
        &self,
        remote: &Arc<Remote>,
        route: &HubRoute,
        upstream_path: &str,
        remember: bool,
        need_url: bool,
    ) -> Result<FileAnswer, UpstreamError> {
        let HubRoute::Resolve {
            repo_type,
            repo_id,
            revision,
            path,
        } = route
        else {
            return Err(UpstreamError::Protocol("not a resolve route"));
        };
        let id = self.namespace_of(remote);
        let t = repo_type.api_segment();
        let rev_key = format!("{id}:rev:{t}:{repo_id}:{revision}");
        // Clients send no query on resolve; ignoring it keeps arbitrary queries out of the store.
        let bare_path = upstream_path.split('?').next().unwrap_or(upstream_path);
        let neg_key = format!("{id}:neg:{bare_path}");
        let file_key = |commit: &str| format!("{id}:file:{t}:{repo_id}:{commit}:{path}");
        let pinned = is_commit(revision);

        // What memory knows, and whether it is still fresh.
        let mut remembered: Option<(FileTarget, bool)> = None;
        if remember {
            if let Some(e) = self.store.get(&neg_key) {
                if let Value::Refusal(a) = &e.value {
                    if e.age() < self.negative_ttl {
                        return Ok(FileAnswer::Refused(from_stored(a), Lookup::Hit));
                    }
                }
            }
            let commit = if pinned {
                Some((revision.clone(), true))
            } else {
                self.store.get(&rev_key).and_then(|e| match &e.value {
                    Value::Commit(c) => Some((c.clone(), e.age() < self.revision_ttl)),
                    _ => None,
                })
            };
            if let Some((commit, fresh)) = commit {
                if let Some(Value::File(f)) = self.store.get(&file_key(&commit)).map(|e| e.value) {
                    remembered = Some((from_stored_file(f), fresh));
                }
            }
        }
        if let Some((target, true)) = &remembered {
            if !need_url {
                return Ok(FileAnswer::Found(KnownFile {
                    target: target.clone(),
                    source: Lookup::Hit,
                }));
            }
        }

        let asked = if remembered.is_some() {
            if self.is_failing(&id) && !need_url {
                Err(Arc::new(UpstreamError::Connect))
            } else {
                // Something to fall back on: don't let a black-holed Hub eat the client's timeout.
                match tokio::time::timeout(STALE_WAIT, self.resolve_shared(remote, upstream_path))
                    .await
                {
                    Ok(answer) => answer,
                    Err(_) => Err(Arc::new(UpstreamError::Timeout)),
                }
            }
        } else {
            self.resolve_shared(remote, upstream_path).await
        };
        if matches!(&asked, Err(e) if matches!(**e, UpstreamError::Connect | UpstreamError::Timeout))
        {
            self.mark_failing(&id);
        }
        match asked {
            Ok(Resolution::Refused(fetched)) if fetched.status == StatusCode::TOO_MANY_REQUESTS => {
                match remembered {
                    // Rate limited: what we knew is better than nothing.
                    Some((target, _)) => Ok(FileAnswer::Found(KnownFile {
                        target,
                        source: Lookup::Stale,
                    })),
                    None => Ok(FileAnswer::Refused(fetched, Lookup::Miss)),
                }
            }
            Ok(Resolution::Found(target)) => {
                let source = match &remembered {
                    Some((old, false)) if old.commit == target.commit => Lookup::Revalidated,
                    Some((_, true)) => Lookup::Hit,
                    _ => Lookup::Miss,
                };
                if remember {
                    if !pinned {
                        self.store
                            .put(&rev_key, Value::Commit(target.commit.clone()));
                    }
                    self.store
                        .put(&file_key(&target.commit), Value::File(stored_file(&target)));
                }
                Ok(FileAnswer::Found(KnownFile { target, source }))
            }
            Ok(Resolution::Refused(fetched)) => {
                if remember && is_kept_refusal(&fetched) {
                    self.store
                        .put(&neg_key, Value::Refusal(to_stored(&fetched)));
                }
                Ok(FileAnswer::Refused(fetched, Lookup::Miss))
            }
            Err(err) => match remembered {
                // The Hub is down, slow or failing: serve the last known answer.
                // Without a download URL: the caller serves it only if the bytes are stored.
                Some((target, _)) => Ok(FileAnswer::Found(KnownFile {
                    target,
                    source: Lookup::Stale,
                })),
                None => Err(Arc::unwrap_or_clone(err)),
            },
        }
    }

    fn is_failing(&self, ns: &str) -> bool {
        self.failing_until
            .lock()
            .get(ns)
            .is_some_and(|until| std::time::Instant::now() < *until)
    }

    fn mark_failing(&self, ns: &str) {
        self.failing_until
            .lock()
            .insert(ns.to_string(), std::time::Instant::now() + FAILING_FOR);
    }

    /// One upstream resolve per (remote, path) at a time; joiners share its answer. The
    /// exchange runs in its own task, so a joiner that stops waiting cancels nothing, and the
    /// task takes itself out of the map when done (only its own entry).
    async fn resolve_shared(
        &self,
        remote: &Arc<Remote>,
        upstream_path: &str,
    ) -> Result<Resolution, Arc<UpstreamError>> {
        let key = format!("{}:{upstream_path}", self.namespace_of(remote));
        let fut = {
            let mut map = self.in_flight.lock();
            if let Some((_, f)) = map.get(&key) {
                f.clone()
            } else {
                let gen = self
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let hub = self.hub.clone();
                let remote = remote.clone();
                let path = upstream_path.to_string();
                let map_ref = self.in_flight.clone();
                let task_key = key.clone();
                let handle = tokio::spawn(async move {
                    let out = hub.resolve_file(&remote, &path).await.map_err(Arc::new);
                    let mut map = map_ref.lock();
                    if map.get(&task_key).is_some_and(|(g, _)| *g == gen) {
                        map.remove(&task_key);
                    }
                    out
                });
                let fut: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
                    handle.await.unwrap_or_else(|_| {
                        Err(Arc::new(UpstreamError::Protocol("resolve task failed")))
                    })
                });
                let shared = fut.shared();
                map.insert(key.clone(), (gen, shared.clone()));
                shared
            }
        };
        fut.await
    }
}
