//! The fill driver: the workers of one parallel fill (`docs/parallel-fills.md` "The fill
//! driver"). Each worker takes the lowest piece nobody has taken, holds one of the remote's
//! `download_concurrency` permits while its request runs, and writes the body in place as it
//! arrives; failures are retried from where the piece stopped, an expired signed URL is
//! resolved again once for all workers, and anything that puts the file in doubt fails the
//! whole fill (never published; its readers get an error).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::checks::{check_piece, Answerer, First, Stop};

use crate::cache::PieceFill;
use crate::hub::route::HubRoute;
use crate::model::Remote;
use crate::origin::{Download, FileAnswer, FileTarget, HubMemory, Permit};

/// Bytes a worker gathers before writing them (one `pwrite`, one hand-off): its one buffer.
const FLUSH: usize = 256 << 10;
/// The first write of the file's first piece comes sooner: the time to first byte.
const FIRST_FLUSH: usize = 64 << 10;
/// Re-resolves of the download URL one fill may make (signed URLs last about an hour).
const MAX_RE_RESOLVES: u32 = 3;
/// The longest `Retry-After` a piece waits for before its retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How a worker ended early.
enum End {
    Failed(String),
    /// Its piece came back whole (see [`Stop::Whole`]): the fill goes on as one stream on
    /// that answer, under that permit.
    Whole(reqwest::Response, Permit),
}

impl From<String> for End {
    fn from(e: String) -> Self {
        End::Failed(e)
    }
}

/// The URL pieces are asked at, replaced when the CDN says it has expired.
struct Url {
    generation: u64,
    download: Download,
    re_resolved: u32,
}

/// One parallel fill, shared by its workers.
pub(super) struct Driver {
    memory: Arc<HubMemory>,
    remote: Arc<Remote>,
    route: HubRoute,
    upstream_path: String,
    target: FileTarget,
    url: tokio::sync::Mutex<Url>,
    /// The generation and URL workers use now (a copy, read without waiting).
    current: parking_lot::Mutex<(u64, Download)>,
    fill: PieceFill,
    plan: Vec<Range<u64>>,
    /// The next piece nobody has taken.
    next: AtomicUsize,
    workers: u32,
    validator: parking_lot::Mutex<Option<String>>,
}

/// Fails the fill when the driver is dropped: one dropped half-way (runtime shutdown, a
/// panic) leaves no fill that readers would wait on forever; after `finish` it is a no-op.
struct FailOnDrop(Option<PieceFill>);

impl Drop for FailOnDrop {
    fn drop(&mut self) {
        if let Some(fill) = self.0.take() {
            fill.fail();
        }
    }
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        memory: Arc<HubMemory>,
        remote: Arc<Remote>,
        route: HubRoute,
        upstream_path: String,
        target: FileTarget,
        download: Download,
        fill: PieceFill,
        plan: Vec<Range<u64>>,
        workers: u32,
    ) -> Arc<Self> {
        Arc::new(Driver {
            memory,
            remote,
            route,
            upstream_path,
            target,
            url: tokio::sync::Mutex::new(Url {
                generation: 0,
                download: download.clone(),
                re_resolved: 0,
            }),
            current: parking_lot::Mutex::new((0, download)),
            fill,
            plan,
            next: AtomicUsize::new(1),
            workers,
            validator: parking_lot::Mutex::new(None),
        })
    }

    /// Runs the fill to its end: every piece written, then verified and published; or
    /// failed as a whole.
    pub(super) async fn run(self: Arc<Self>, first: First, permit: Permit) {
        let guard = FailOnDrop(Some(self.fill.clone()));
        let started = Instant::now();
        let (mode, result) = match first {
            First::OneStream(resp) => ("one stream", self.one_stream(resp, permit, 0).await),
            First::Pieces { resp, validator } => {
                *self.validator.lock() = validator;
                ("pieces", self.clone().pieces(resp, permit).await)
            }
        };
        let result = match result {
            Ok(()) => self.fill.clone().finish().await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let etag = self.target.etag.as_str();
        match result {
            Ok(()) => tracing::info!(
                etag,
                size = self.target.size,
                mode,
                pieces = self.plan.len(),
                seconds = started.elapsed().as_secs_f64(),
                "parallel fill stored"
            ),
            Err(error) => {
                self.fill.fail();
                tracing::warn!(etag, size = self.target.size, mode, %error, "parallel fill failed");
            }
        }
        drop(guard);
    }

    /// The origin ignored `Range`: the whole body on one answer, in order, its first `skip`
    /// bytes (on disk already) read past. A failure fails the fill (resuming would need the
    /// ranges this origin does not answer).
    async fn one_stream(
        &self,
        resp: reqwest::Response,
        permit: Permit,
        skip: u64,
    ) -> Result<(), String> {
        let mut at = 0;
        let mut buf = Vec::with_capacity(FLUSH);
        let result = self
            .stream(resp, &mut at, self.target.size, &mut buf, skip)
            .await;
        drop(permit);
        match result {
            Ok(()) => Ok(()),
            Err(Stop::Fatal(e)) => Err(e),
            Err(Stop::Retry(why, _)) => Err(format!("one stream ended early: {why}")),
            Err(Stop::Expired(_) | Stop::Whole(_)) => Err("one stream refused".into()),
        }
    }

    /// The pieces: the first on the answer already received, the others by `workers` workers.
    async fn pieces(
        self: Arc<Self>,
        first: reqwest::Response,
        permit: Permit,
    ) -> Result<(), String> {
        let mut workers = JoinSet::new();
        let head = self.clone();
        workers.spawn(async move {
            let mut buf = Vec::with_capacity(FLUSH);
            head.piece(0, Some(first), permit, &mut buf).await?;
            head.take_pieces(buf).await
        });
        let more = (self.workers as usize)
            .min(self.plan.len())
            .saturating_sub(1);
        for _ in 0..more {
            let worker = self.clone();
            workers.spawn(async move { worker.take_pieces(Vec::with_capacity(FLUSH)).await });
        }
        while let Some(done) = workers.join_next().await {
            let failed = match done {
                Ok(Ok(())) => continue,
                Ok(Err(End::Whole(resp, permit))) => {
                    // The others stop; what they wrote stays (the same bytes). The bytes on
                    // disk from 0 are read past; the rest is written again from this answer.
                    workers.abort_all();
                    let skip = self.fill.prefix();
                    tracing::info!(
                        etag = self.target.etag.as_str(),
                        skip,
                        "a piece came back whole: the fill goes on as one stream"
                    );
                    return self.one_stream(resp, permit, skip).await;
                }
                Ok(Err(End::Failed(e))) => e,
                Err(e) => format!("a worker ended: {e}"),
            };
            // The others stop now: their bytes can no longer be published.
            self.fill.fail();
            workers.abort_all();
            return Err(failed);
        }
        Ok(())
    }

    /// A worker: the lowest piece nobody has taken, until none is left; `buf` is its one
    /// buffer.
    async fn take_pieces(&self, mut buf: Vec<u8>) -> Result<(), End> {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.plan.len() {
                return Ok(());
            }
            let permit = self.memory.hub().limits().acquire(&self.remote).await;
            self.piece(i, None, permit, &mut buf).await?;
        }
    }

    /// Fetches piece `i` (on `resp` when its answer is already there), retrying from where it
    /// stopped; holds `permit` until the piece is written or given up.
    async fn piece(
        &self,
        i: usize,
        mut resp: Option<reqwest::Response>,
        permit: Permit,
        buf: &mut Vec<u8>,
    ) -> Result<(), End> {
        let Range { start, end } = self.plan[i].clone();
        let mut at = start;
        let mut tries = 0u32;
        let max_retries = self.remote.max_retries.unwrap_or(2);
        loop {
            if self.fill.is_failed() {
                return Err(End::Failed("the fill failed".into()));
            }
            let before = at;
            let stop = match resp.take() {
                Some(answered) => self.stream(answered, &mut at, end, buf, 0).await,
                None => match self.request(at..end).await {
                    Ok(answered) => self.stream(answered, &mut at, end, buf, 0).await,
                    Err(stop) => Err(stop),
                },
            };
            match stop {
                Ok(()) => {
                    drop(permit);
                    return Ok(());
                }
                Err(Stop::Fatal(e)) => return Err(End::Failed(format!("piece {i}: {e}"))),
                Err(Stop::Whole(resp)) => return Err(End::Whole(*resp, permit)),
                Err(Stop::Expired(generation)) => self.re_resolve(generation).await?,
                Err(Stop::Retry(why, wait)) => {
                    // A try that moved the piece on (by a MiB at least) starts the count
                    // afresh: only a piece that gets nowhere runs out of retries.
                    if at >= before + (1 << 20) {
                        tries = 0;
                    }
                    tries += 1;
                    if tries > max_retries {
                        return Err(End::Failed(format!(
                            "piece {i}: {why}, {max_retries} retries spent"
                        )));
                    }
                    tracing::debug!(piece = i, at, why, "retrying a piece");
                    let backoff = Duration::from_millis(100 * u64::from(tries));
                    tokio::time::sleep(wait.unwrap_or(backoff).min(MAX_RETRY_AFTER)).await;
                }
            }
        }
    }

    /// Asks for `range` at the current URL and checks the answer is exactly it.
    async fn request(&self, range: Range<u64>) -> Result<reqwest::Response, Stop> {
        let (generation, download) = self.current.lock().clone();
        let validator = self.validator.lock().clone();
        let resp = self
            .memory
            .hub()
            .body_piece(
                &self.remote,
                download.url(),
                range.clone(),
                validator.as_deref(),
            )
            .await
            .map_err(|_| Stop::Retry("no answer", None))?;
        check_piece(
            resp,
            &range,
            self.target.size,
            validator.as_deref(),
            Answerer {
                cdn: !download.is_same_origin(),
                generation,
            },
        )
    }

    /// Reads `resp`'s body into the fill from `at` up to `end` through `buf` (at most
    /// [`FLUSH`] bytes: full, it is written; it never grows); `at` moves only over bytes
    /// written, so a retry starts exactly where this one stopped.
    async fn stream(
        &self,
        mut resp: reqwest::Response,
        at: &mut u64,
        end: u64,
        buf: &mut Vec<u8>,
        mut skip: u64,
    ) -> Result<(), Stop> {
        let mut flush_at = if *at == 0 { FIRST_FLUSH } else { FLUSH };
        let outcome = loop {
            match resp.chunk().await {
                Ok(Some(mut chunk)) => {
                    if skip > 0 {
                        let past = skip.min(chunk.len() as u64);
                        skip -= past;
                        *at += past;
                        chunk = chunk.slice(past as usize..);
                    }
                    if *at + (buf.len() + chunk.len()) as u64 > end {
                        break Err(Stop::Fatal("a longer body than asked for".into()));
                    }
                    let mut rest = &chunk[..];
                    while !rest.is_empty() {
                        let take = rest.len().min(flush_at - buf.len());
                        buf.extend_from_slice(&rest[..take]);
                        rest = &rest[take..];
                        if buf.len() == flush_at {
                            self.write(at, buf).await?;
                            flush_at = FLUSH;
                        }
                    }
                }
                Ok(None) if *at + buf.len() as u64 == end => break Ok(()),
                Ok(None) => break Err(Stop::Retry("a short body", None)),
                Err(_) => break Err(Stop::Retry("the connection failed", None)),
            }
        };
        // What did arrive is kept: the retry asks only for the rest.
        self.write(at, buf).await?;
        outcome
    }

    /// Writes `buf` at `*at`, moves `at` past it and empties `buf` (its room kept).
    async fn write(&self, at: &mut u64, buf: &mut Vec<u8>) -> Result<(), Stop> {
        if buf.is_empty() {
            return Ok(());
        }
        let len = buf.len() as u64;
        let full = std::mem::take(buf);
        *buf = self
            .fill
            .write_at(*at, full)
            .await
            .map_err(|e| Stop::Fatal(e.to_string()))?;
        *at += len;
        buf.clear();
        Ok(())
    }

    /// A fresh signed URL after the CDN refused the one of `generation`: one re-resolve for
    /// all the workers that saw it (the others wait for it, then use the new one). The file
    /// must still be the same etag and size.
    async fn re_resolve(&self, generation: u64) -> Result<(), String> {
        let mut url = self.url.lock().await;
        if url.generation != generation {
            return Ok(());
        }
        if url.re_resolved >= MAX_RE_RESOLVES {
            return Err("the CDN kept refusing fresh URLs".into());
        }
        url.re_resolved += 1;
        let answer = self
            .memory
            .resolve(
                &self.remote,
                &self.route,
                &self.upstream_path,
                self.remote.policy.stores(),
                true,
            )
            .await;
        let fresh = match answer {
            Ok(FileAnswer::Found(known)) => known.target,
            _ => return Err("re-resolving the file failed".into()),
        };
        if fresh.etag != self.target.etag || fresh.size != self.target.size {
            return Err("the file changed while it was being fetched".into());
        }
        let Some(download) = fresh.download else {
            return Err("the re-resolve gave no URL".into());
        };
        url.generation += 1;
        url.download = download.clone();
        *self.current.lock() = (url.generation, download);
        Ok(())
    }
}
