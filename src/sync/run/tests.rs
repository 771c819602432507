//! The runner against a fake content listener answering revision, tree, `HEAD` and `GET` as
//! hubcache's content path would (the real path is exercised by `tests/it/sync.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use uuid::Uuid;

use super::progress::{BYTES, FILES};
use super::version::version_href;
use super::*;
use crate::model::{Origin, Repository};
use crate::registry::Snapshot;
use crate::sync::access::sync_path;
use crate::tasks::{Task, TaskState};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A fake content listener for one remote and the model `org/m`.
#[derive(Default)]
struct Fake {
    remote: Uuid,
    files: BTreeMap<String, Vec<u8>>,
    /// Time between two 1 KiB chunks of a file body.
    slow: Option<Duration>,
    gets: AtomicUsize,
    heads: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

struct InFlight(Arc<Fake>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn etag(path: &str) -> String {
    format!("{:064x}", path.len() * 7919 + path.as_bytes()[0] as usize)
}

async fn answer(State(fake): State<Arc<Fake>>, req: Request) -> Response {
    let prefix = sync_path(fake.remote, "");
    let path = req.uri().path().to_string();
    let Some(hub) = path.strip_prefix(&prefix) else {
        return status(404, "not the sync path");
    };
    if hub == "api/models/org/m/revision/main" {
        return json(format!("{{\"sha\":\"{COMMIT}\"}}"));
    }
    if hub == format!("api/models/org/m/tree/{COMMIT}") {
        let entries: Vec<_> = fake
            .files
            .iter()
            .map(|(p, b)| serde_json::json!({"type": "file", "path": p, "size": b.len(), "oid": etag(p)}))
            .collect();
        return json(serde_json::to_string(&entries).unwrap());
    }
    if hub.starts_with("api/models/") {
        let mut r = status(404, "");
        r.headers_mut()
            .insert("x-error-message", "Repository not found".parse().unwrap());
        return r;
    }
    let Some(file) = hub.strip_prefix(&format!("org/m/resolve/{COMMIT}/")) else {
        return status(404, "no such path");
    };
    let Some(body) = fake.files.get(file).cloned() else {
        return status(404, "Entry not found");
    };
    if req.method() == http::Method::HEAD {
        fake.heads.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .header("content-length", body.len())
            .body(Body::empty())
            .unwrap();
    }
    fake.gets.fetch_add(1, Ordering::SeqCst);
    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let guard = InFlight(fake.clone());
    let slow = fake.slow;
    let chunks: Vec<Bytes> = body.chunks(1024).map(Bytes::copy_from_slice).collect();
    let stream =
        futures::stream::unfold((chunks.into_iter(), guard), move |(mut it, g)| async move {
            let chunk = it.next()?;
            if let Some(d) = slow {
                tokio::time::sleep(d).await;
            }
            Some((Ok::<_, std::io::Error>(chunk), (it, g)))
        });
    Response::builder()
        .header("content-length", body.len())
        .body(Body::from_stream(stream))
        .unwrap()
}

fn status(code: u16, text: &str) -> Response {
    Response::builder()
        .status(code)
        .body(Body::from(text.to_string()))
        .unwrap()
}

fn json(text: String) -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(text))
        .unwrap()
}

struct Setup {
    fake: Arc<Fake>,
    deps: Arc<SyncDeps>,
    job: SyncJob,
    _dir: tempfile::TempDir,
}

async fn setup(fake: Fake, repo_id: &str, pinned: bool, disk: Option<&'static DiskCache>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut remote = Remote::new(Origin::Api, "hf", "https://huggingface.co");
    remote.download_concurrency = Some(2);
    let fake = Arc::new(Fake {
        remote: remote.meta.id,
        ..fake
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut repository = Repository::new(Origin::Api, "r");
    repository.pinned = pinned;
    let registry = Arc::new(Registry::new(Snapshot {
        repositories: vec![Arc::new(repository.clone())],
        ..Snapshot::default()
    }));
    let state: PathBuf = dir.path().join("state.yaml");
    let deps = Arc::new(SyncDeps {
        tasks: Tasks::new(registry.clone(), state),
        registry,
        disk,
        access: SyncAccess::new(),
        content_base: base,
        metrics: Arc::new(Metrics::new().unwrap()),
    });
    let job = SyncJob {
        repository: repository.meta.id,
        remote: Arc::new(remote),
        repo: RepoRef {
            repo_type: "models".into(),
            repo_id: repo_id.into(),
        },
        revision: "main".into(),
        patterns: Patterns::new(&[], &["*.bin".to_string()]).unwrap(),
        pinned,
    };
    Setup {
        fake,
        deps,
        job,
        _dir: dir,
    }
}

fn files(list: &[(&str, usize)]) -> BTreeMap<String, Vec<u8>> {
    list.iter()
        .map(|(p, n)| (p.to_string(), vec![b'x'; *n]))
        .collect()
}

impl Setup {
    fn start(&self) -> Uuid {
        let handle = self
            .deps
            .tasks
            .start("sync", "cid".into(), Vec::new())
            .unwrap();
        let id = handle.id();
        spawn(self.deps.clone(), self.job.clone(), handle);
        id
    }

    fn task(&self, id: Uuid) -> Arc<Task> {
        self.deps.registry.snapshot().task(id).unwrap().clone()
    }

    async fn ended(&self, id: Uuid) -> Arc<Task> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let task = self.task(id);
            if task.state.is_final() {
                return task;
            }
            assert!(Instant::now() < deadline, "the task did not end: {task:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn repository(&self) -> Arc<Repository> {
        self.deps.registry.snapshot().repositories[0].clone()
    }
}

#[tokio::test]
async fn a_sync_fetches_the_files_the_patterns_take_and_records_a_version() {
    let fake = Fake {
        files: files(&[("config.json", 10), ("w.safetensors", 5000), ("w.bin", 7)]),
        ..Fake::default()
    };
    let s = setup(fake, "org/m", false, None).await;
    let id = s.start();
    let task = s.ended(id).await;
    assert_eq!(task.state, TaskState::Completed, "{:?}", task.error);
    let reports = &task.progress_reports;
    assert_eq!(reports[0].code, FILES);
    assert_eq!((reports[0].total, reports[0].done), (Some(2), 2));
    assert_eq!(reports[1].code, BYTES);
    assert_eq!((reports[1].total, reports[1].done), (Some(5010), 5010));
    assert!(reports.iter().all(|r| r.state == TaskState::Completed));
    assert_eq!(s.fake.gets.load(Ordering::SeqCst), 2, "w.bin is ignored");
    assert_eq!(s.fake.heads.load(Ordering::SeqCst), 2);
    let repo = s.repository();
    assert_eq!(repo.versions.len(), 1);
    assert_eq!(repo.versions[0].commit, COMMIT);
    assert_eq!(repo.versions[0].bytes(), 5010);
    assert_eq!(task.created_resources, [version_href(repo.meta.id, 1)]);
    assert!(s
        .deps
        .metrics
        .encode()
        .contains("hubcache_task_bytes_total 5010"));

    // Nothing stored (no disk here), so the same commit is fetched again, but the content is
    // the same: no new version.
    let task = s.ended(s.start()).await;
    assert_eq!(task.state, TaskState::Completed);
    assert!(task.created_resources.is_empty());
    assert_eq!(s.repository().versions.len(), 1);
}

#[tokio::test]
async fn files_are_fetched_a_few_at_a_time() {
    let fake = Fake {
        files: files(&[
            ("a", 3000),
            ("b", 3000),
            ("c", 3000),
            ("d", 3000),
            ("e", 3000),
        ]),
        slow: Some(Duration::from_millis(30)),
        ..Fake::default()
    };
    let s = setup(fake, "org/m", false, None).await;
    let task = s.ended(s.start()).await;
    assert_eq!(task.state, TaskState::Completed, "{:?}", task.error);
    assert_eq!(s.fake.gets.load(Ordering::SeqCst), 5);
    assert_eq!(
        s.fake.most_in_flight.load(Ordering::SeqCst),
        2,
        "download_concurrency: 2"
    );
}

#[tokio::test]
async fn a_hub_refusal_fails_the_task_with_the_hubs_message() {
    let s = setup(Fake::default(), "org/missing", false, None).await;
    let task = s.ended(s.start()).await;
    assert_eq!(task.state, TaskState::Failed);
    let description = task.error.clone().unwrap();
    assert!(
        description.contains("Repository not found") && description.contains("org/missing"),
        "{description}"
    );
    assert!(s.repository().versions.is_empty());
}

#[tokio::test]
async fn a_cancel_stops_the_downloads_within_a_second() {
    let fake = Fake {
        files: files(&[("big", 1024 * 1024)]),
        slow: Some(Duration::from_millis(20)),
        ..Fake::default()
    };
    let s = setup(fake, "org/m", false, None).await;
    let id = s.start();
    while s.fake.gets.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let asked = Instant::now();
    let _: Result<(), ()> = s.deps.registry.update(
        |snap| {
            crate::tasks::cancel(snap, id, SystemTime::now()).unwrap();
            Ok(())
        },
        |_| Ok(()),
    );
    let task = s.ended(id).await;
    assert_eq!(task.state, TaskState::Canceled);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert!(s.repository().versions.is_empty());
    // The download was dropped: the listener's body stream ends soon after.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.fake.in_flight.load(Ordering::SeqCst) > 0 {
        assert!(Instant::now() < deadline, "the download was not dropped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_pin_over_the_budget_fails_before_downloading_and_a_fitting_one_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskCache::open(dir.path(), 4096).unwrap();
    let fake = Fake {
        files: files(&[("config.json", 10), ("w.safetensors", 5000)]),
        ..Fake::default()
    };
    let s = setup(fake, "org/m", true, Some(disk)).await;
    let task = s.ended(s.start()).await;
    assert_eq!(task.state, TaskState::Failed);
    let description = task.error.clone().unwrap();
    assert!(
        description.contains("cannot pin models/org/m")
            && description.contains("cache.max_size is 4.0 KiB"),
        "{description}"
    );
    assert_eq!(s.fake.gets.load(Ordering::SeqCst), 0, "nothing downloaded");
    assert!(!disk.is_pinned(&etag("config.json")), "no pin left behind");

    let fake = Fake {
        files: files(&[("config.json", 10)]),
        ..Fake::default()
    };
    let s = setup(fake, "org/m", true, Some(disk)).await;
    let task = s.ended(s.start()).await;
    assert_eq!(task.state, TaskState::Completed, "{:?}", task.error);
    assert!(
        disk.is_pinned(&etag("config.json")),
        "the version's files stay pinned"
    );
}
