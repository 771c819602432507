//! The steps of one sync, in order (`docs/prewarm.md` "The runner"): resolve the revision,
//! list the tree, keep what the patterns take, check and set the pin, then `HEAD` every file
//! and `GET` those not stored yet, a few at a time — all while watching for a cancel and
//! publishing progress.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::TryStreamExt;

use super::progress::Counters;
use super::version::{pin_after, version_files};
use super::{SyncDeps, SyncJob};
use crate::model::VersionFile;
use crate::sync::hub::{Loopback, SyncError, TreeFile};
use crate::tasks::{TaskHandle, TaskState};

/// Files fetched at once when the remote sets no `download_concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Most files fetched at once whatever the remote says.
pub const MAX_CONCURRENCY: usize = 64;
/// How often the runner looks for a cancel.
pub const CANCEL_POLL: Duration = Duration::from_millis(200);
/// Progress is published at least this often (plus one poll at most).
pub const PROGRESS_EVERY: Duration = Duration::from_millis(800);

/// Why a sync stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Someone canceled the task.
    Canceled,
    /// It failed: the task's `error.description`.
    Failed(String),
}

/// What a sync found and fetched.
#[derive(Debug)]
pub struct Synced {
    /// The commit the revision named.
    pub commit: String,
    /// The files taken, in tree order.
    pub files: Vec<VersionFile>,
}

/// How many files to fetch at once for `job`.
pub fn concurrency(job: &SyncJob) -> usize {
    job.remote
        .download_concurrency
        .map_or(DEFAULT_CONCURRENCY, |n| n as usize)
        .clamp(1, MAX_CONCURRENCY)
}

/// Runs `work` while polling for a cancel every [`CANCEL_POLL`] (a cancel drops `work`, and
/// with it every download in flight) and publishing `counters` every [`PROGRESS_EVERY`].
pub async fn watch<T>(
    handle: &TaskHandle,
    counters: &Counters,
    work: impl Future<Output = Result<T, Stop>>,
) -> Result<T, Stop> {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(CANCEL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    handle.progress(counters.reports(TaskState::Running));
    let mut published = Instant::now();
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                if handle.is_canceling() {
                    return Err(Stop::Canceled);
                }
                if published.elapsed() >= PROGRESS_EVERY {
                    handle.progress(counters.reports(TaskState::Running));
                    published = Instant::now();
                }
            }
        }
    }
}

/// The sync itself, without the watching: see the module docs.
pub async fn sync(deps: &SyncDeps, job: &SyncJob, counters: &Counters) -> Result<Synced, Stop> {
    let repo = &job.repo;
    let what = format!("{}/{}", repo.repo_type, repo.repo_id);
    let hub = Loopback::new(
        deps.content_base.clone(),
        deps.access.clone(),
        job.remote.meta.id,
    )
    .map_err(|e| failed(e, &what))?;
    let commit = hub
        .resolve(repo, &job.revision)
        .await
        .map_err(|e| failed(e, &format!("{what} revision '{}'", job.revision)))?;
    let files: Vec<TreeFile> = hub
        .files(repo, &commit)
        .await
        .map_err(|e| failed(e, &format!("listing the files of {what} at {commit}")))?
        .into_iter()
        .filter(|f| job.patterns.takes(&f.path))
        .collect();
    let version = version_files(&files);
    counters.set_totals(files.len() as u64, files.iter().map(|f| f.size).sum());
    if job.pinned {
        pin_before_fetching(deps, job, &what, &version)?;
    }
    let commit_ref = commit.as_str();
    futures::stream::iter(files.iter().map(Ok))
        .try_for_each_concurrent(concurrency(job), |file| {
            fetch(deps, &hub, job, commit_ref, file, counters)
        })
        .await?;
    Ok(Synced {
        commit,
        files: version,
    })
}

/// Checks that the repository's pin after this sync fits the budget and sets it now, so the
/// files land pinned. The caller restores the pin from the saved versions when the sync ends.
fn pin_before_fetching(
    deps: &SyncDeps,
    job: &SyncJob,
    what: &str,
    version: &[VersionFile],
) -> Result<(), Stop> {
    let Some(disk) = deps.disk else {
        return Ok(());
    };
    let snap = deps.registry.snapshot();
    let Some(repo) = snap
        .repositories
        .iter()
        .find(|r| r.meta.id == job.repository)
    else {
        return Err(Stop::Failed("the repository was deleted".into()));
    };
    let pins = pin_after(repo, version);
    disk.check_pin_fits(job.repository, &pins)
        .map_err(|e| Stop::Failed(format!("cannot pin {what}: {e}")))?;
    disk.set_pins(job.repository, pins);
    Ok(())
}

/// `HEAD` of one file (what an offline client will ask), then its `GET` unless the cache
/// already stores that etag.
async fn fetch(
    deps: &SyncDeps,
    hub: &Loopback,
    job: &SyncJob,
    commit: &str,
    file: &TreeFile,
    counters: &Counters,
) -> Result<(), Stop> {
    let context = |e| failed(e, &file.path);
    hub.head(&job.repo, commit, &file.path)
        .await
        .map_err(context)?;
    if deps.disk.is_some_and(|d| d.contains(&file.etag)) {
        counters.file_done(file.size);
        return Ok(());
    }
    let read = hub
        .download(&job.repo, commit, &file.path, |n| {
            counters.downloaded(n);
            deps.metrics.add_task_bytes(n);
        })
        .await
        .map_err(context)?;
    counters.file_done(file.size.saturating_sub(read));
    Ok(())
}

/// The task's description of `err` met while doing `what`.
fn failed(err: SyncError, what: &str) -> Stop {
    match err {
        SyncError::Canceled => Stop::Canceled,
        SyncError::Hub { message, .. } => Stop::Failed(format!("{what}: {message}")),
        SyncError::Broken(message) if message.contains(what) => Stop::Failed(message),
        SyncError::Broken(message) => Stop::Failed(format!("{what}: {message}")),
    }
}
