//! Fills: the `HandleMiss` that writes a body into `tmp/`, verifies it and publishes it, and
//! the registry of fills in flight that lookups join.
//!
//! Publishing: the fill directory `tmp/<hex>.<pid>.<seq>/` receives `body`, then (after the
//! length and digest check and an fsync) `meta`, and is renamed as a whole to
//! `objects/<aa>/<bb>/<hex>/`. A directory rename is atomic, so a reader finds either no
//! object or a body with its valid meta; a crash leaves only a `tmp/` entry, removed at the
//! next start.
//!
//! Writing: `write_body` is awaited between pingora's upstream reads, so it only buffers. Full
//! ~1 MiB buffers go through a bounded channel to the fill's writer thread (a `spawn_blocking`
//! loop), which writes each, then publishes the new on-disk length to readers, then hashes it
//! (hashing overlaps the network). A full channel makes `write_body` wait (bounded memory).
//! `finish` joins the writer before the length and digest check. A failed fill's directory is
//! removed only when both the `Fill` and its writer have let go of it (`FillDir`).
//!
//! The writer thread lives in `writer`, the registry (`Fills`) in `registry`, the rename into
//! `objects/` in `publish`. `DiskCache::prepare_fill` reserves the room and creates the fill's
//! directory and body file.

mod pieces;
mod prefix;
mod publish;
mod registry;
mod writer;

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::storage::{HandleMiss, MissFinishType};
use tokio::sync::watch;

use super::meta::StoredMeta;
use super::{blocking, layout, scan, DiskCache, Error};
use crate::hub::digest::Verifier;
use writer::Writer;

pub use pieces::{PieceFill, StartClaim};
pub(crate) use registry::Fills;

impl DiskCache {
    /// Starts a fill of the object `name` (`size` bytes, answered with `header`, `etag`
    /// normalised): room reserved and the directory and body made off the runtime
    /// (`prepare_fill`; a refusal is counted as a storing failure), and the `Inflight` its
    /// readers will share. The caller registers it.
    pub(super) async fn open_fill(
        &'static self,
        name: String,
        size: u64,
        header: &pingora::http::ResponseHeader,
        etag: &str,
        filled_by: Option<super::Credentials>,
    ) -> Result<(PathBuf, Arc<Inflight>), Error> {
        let prepared = name.clone();
        let prepared = blocking("starting a fill", move || {
            self.prepare_fill(&prepared, size)
        })
        .await;
        let (dir, file) = prepared.inspect_err(|e| {
            self.store_failures.record(e, "starting a fill");
        })?;
        let (progress, _) = watch::channel(Progress {
            written: 0,
            state: FillState::Writing,
        });
        let entry = Arc::new(Inflight {
            id: self.next_write_id.fetch_add(1, Ordering::Relaxed),
            name,
            size,
            file: Arc::new(file),
            meta: StoredMeta::from_response(header, size, etag, std::time::SystemTime::now()),
            progress,
            filled_by,
        });
        Ok((dir, entry))
    }

    /// Reserves room, creates the fill directory and the body file and allocates the whole
    /// body on disk; the reservation is returned if that fails.
    pub(super) fn prepare_fill(&self, name: &str, size: u64) -> Result<(PathBuf, File), Error> {
        let trash = {
            let mut budget = self.budget.lock();
            let Some(victims) = budget.reserve(size) else {
                return Err(Error::NoRoom {
                    key: name.to_owned(),
                    size,
                    max: budget.stats().max_size,
                });
            };
            self.discard(&mut budget, victims)
        };
        trash.iter().for_each(|t| scan::remove_any(t));
        let dir = self.layout.fill_dir(name);
        let body_path = dir.join(layout::BODY);
        let created = layout::create_private_dir(&dir)
            .and_then(|()| {
                layout::private_file_options()
                    .open(&body_path)
                    .map(|file| file.into_parts().0)
                    .map_err(layout::io_err("creating", &body_path))
            })
            .and_then(|file| {
                allocate(&file, size).map_err(layout::io_err("allocating", &body_path))?;
                Ok(file)
            });
        match created {
            Ok(file) => Ok((dir, file)),
            Err(e) => {
                self.budget.lock().release(size);
                scan::remove_any(&dir);
                Err(e)
            }
        }
    }
}

/// Allocates `size` bytes for a body about to be written, so a file system without room (or
/// over quota) refuses the fill before its response starts (then pingora streams it
/// uncached) instead of failing a write in the middle of clients' downloads. File systems
/// that cannot preallocate are written as before.
fn allocate(file: &File, size: u64) -> std::io::Result<()> {
    if size == 0 {
        return Ok(());
    }
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, size) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Bytes buffered before a write to disk. `write_body` is awaited inline on pingora's upstream
/// read path ("TODO: do this async" in `proxy_cache.rs`), so it must not wait for the disk:
/// full buffers go to the fill's writer thread.
const FLUSH_AT: usize = 1 << 20;
/// Bytes written between two background `fdatasync`s of a fill: the disk writes the body
/// while it arrives, so the fsync before publishing (which holds back the last byte) only
/// waits for the tail. Without it a 1 GiB fill ended with ~1 s of writeback.
const SYNC_EVERY: u64 = 64 << 20;
/// Buffers queued for the writer before `write_body` waits (memory per fill stays bounded:
/// about `(IN_FLIGHT + 2) * FLUSH_AT`).
const IN_FLIGHT: usize = 8;

/// Where a fill stands; readers wait on a `watch` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FillState {
    Writing,
    /// Verified: readers may read to the end. Published too, unless the disk had no room
    /// left for it (then readers finish from the body file they hold open).
    Done,
    /// Dropped, short, too long or not matching its digest: never published.
    Failed,
}

/// Progress of a fill: `written` bytes are on disk (readers may `pread` them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    pub(crate) written: u64,
    pub(crate) state: FillState,
}

/// A fill in flight, shared by its writer, the registry and its readers.
pub(crate) struct Inflight {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) size: u64,
    /// The body file, opened read-write; readers `pread` it, so they keep working after the
    /// rename into `objects/`.
    pub(crate) file: Arc<File>,
    pub(crate) meta: StoredMeta,
    pub(crate) progress: watch::Sender<Progress>,
    /// The credentials whose upstream is sending this body: proven for it once published.
    pub(crate) filled_by: Option<super::Credentials>,
}

/// The fill directory in `tmp/`, removed when the last holder (the `Fill` or its writer
/// thread) lets go of it unless the fill was published: a failed fill's directory is never
/// removed while its writer may still write into it.
pub(crate) struct FillDir {
    path: PathBuf,
    published: AtomicBool,
}

impl Drop for FillDir {
    fn drop(&mut self) {
        if self.published.load(Ordering::Acquire) {
            return;
        }
        match fs_err::remove_dir_all(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %self.path.display(), error = %e, "could not remove a failed fill")
            }
        }
    }
}

/// The `MissHandler` of one fill.
///
/// `write_body` only buffers: every `FLUSH_AT` bytes the buffer goes to the fill's writer
/// thread, which writes it, publishes the new length on disk to the readers, then hashes it
/// (so hashing overlaps the upstream reads). At most `IN_FLIGHT` buffers wait for it; a
/// full channel makes `write_body` wait (backpressure). `finish` flushes, closes the channel,
/// joins the writer, then checks length and digest and publishes.
pub(crate) struct Fill {
    cache: &'static DiskCache,
    entry: Arc<Inflight>,
    /// `entry.id` as the streaming write tag pingora hands back to `lookup_streaming_write`.
    tag: [u8; 8],
    /// `None` once the fill has let go of it (failed, or published).
    dir: Option<Arc<FillDir>>,
    /// Until the writer starts; then the writer owns it and returns it when joined.
    verifier: Option<Verifier>,
    /// Started with the first full buffer; `None` again once joined.
    writer: Option<Writer>,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Bytes accepted by `write_body` (buffered or sent to the writer).
    received: u64,
    /// Published or failed; `Drop` has nothing left to do.
    settled: bool,
}

impl Fill {
    pub(crate) fn new(
        cache: &'static DiskCache,
        entry: Arc<Inflight>,
        dir: PathBuf,
        verifier: Verifier,
    ) -> Self {
        Self {
            cache,
            tag: entry.id.to_be_bytes(),
            entry,
            dir: Some(Arc::new(FillDir {
                path: dir,
                published: AtomicBool::new(false),
            })),
            verifier: Some(verifier),
            writer: None,
            pending: Vec::new(),
            pending_len: 0,
            received: 0,
            settled: false,
        }
    }

    fn dir_path(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path.clone())
            .unwrap_or_default()
    }

    fn interrupted(&self) -> Error {
        Error::Interrupted {
            key: self.entry.name.clone(),
        }
    }

    /// Marks the fill failed, wakes its readers (they get `Err`: pingora #932), forgets it,
    /// returns its reservation and deletes its directory once its writer has exited.
    fn fail(&mut self) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        // Failed first: a writer still running sees it and stops before its next write.
        self.entry
            .progress
            .send_modify(|p| p.state = FillState::Failed);
        self.cache.fills.remove(&self.entry.name, self.entry.id);
        self.cache.budget.lock().release(self.entry.size);
        // Closing the channel ends the writer; it holds the directory until it exits.
        self.writer = None;
        self.pending.clear();
        if let Some(dir) = self.dir.take() {
            // The directory goes when its last holder drops it, off the runtime when possible
            // (Drop may run outside a runtime at shutdown; then inline).
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(move || drop(dir))),
                Err(_) => drop(dir),
            }
        }
    }

    /// Fails the fill on an error, counting it if it is a storing failure (disk, budget).
    fn check<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result {
            self.cache.store_failures.record(e, "writing a fill");
            self.fail();
        }
        result
    }

    /// The body is verified but could not be published for want of room (the meta file or
    /// the rename): the readers already streaming it still get its last byte, from the body
    /// file they hold open, and nothing is stored. Any other publishing error (a failed
    /// fsync above all: the bytes on disk are then in doubt) fails the fill.
    fn finish_unstored(&mut self, err: Error) -> Result<(), Error> {
        let no_room = matches!(&err, Error::Io { op, .. } if *op != "syncing")
            && super::StoreFailure::of(&err) == Some(super::StoreFailure::NoSpace);
        if !no_room {
            return self.check(Err(err));
        }
        self.cache.store_failures.record(&err, "publishing a fill");
        self.settled = true;
        self.entry
            .progress
            .send_modify(|p| p.state = FillState::Done);
        self.cache.fills.remove(&self.entry.name, self.entry.id);
        self.cache.budget.lock().release(self.entry.size);
        if let Some(dir) = self.dir.take() {
            // Not published: its directory goes (off the runtime); readers keep their file.
            drop(tokio::task::spawn_blocking(move || drop(dir)));
        }
        Ok(())
    }
}

#[async_trait]
impl HandleMiss for Fill {
    async fn write_body(&mut self, data: Bytes, eof: bool) -> pingora::Result<()> {
        if self.settled {
            let err = self.interrupted();
            self.fail();
            return Err(err.into());
        }
        if self.writer_stopped() {
            let err = self
                .join_writer()
                .await
                .err()
                .unwrap_or_else(|| self.interrupted());
            self.cache.store_failures.record(&err, "writing a fill");
            self.fail();
            return Err(err.into());
        }
        if self.received + data.len() as u64 > self.entry.size {
            // Stop at once instead of buffering a body that can never be published.
            let err = Error::Overrun {
                key: self.entry.name.clone(),
                expected: self.entry.size,
            };
            self.fail();
            return Err(err.into());
        }
        let len = self.pending_len + data.len();
        // A slot for the buffer first (the only wait): a `write_body` cancelled while waiting
        // has taken nothing, so the buffer and the file stay consistent.
        let permit = if len > 0 && (eof || len >= FLUSH_AT) {
            let permit = self.reserve().await;
            Some(self.check(permit)?)
        } else {
            None
        };
        self.received += data.len() as u64;
        self.pending_len = len;
        if !data.is_empty() {
            self.pending.push(data);
        }
        if let Some(permit) = permit {
            self.pending_len = 0;
            permit.send(std::mem::take(&mut self.pending));
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> pingora::Result<MissFinishType> {
        if self.settled {
            let err = self.interrupted();
            self.fail();
            return Err(err.into());
        }
        let result = self.flush().await;
        self.check(result)?;
        let verifier = self.join_writer().await;
        let verifier = self.check(verifier)?;
        let key = self.entry.name.clone();
        self.check(
            verifier
                .finish()
                .map_err(|source| Error::Verify { key, source }),
        )?;
        let (cache, entry, dir) = (self.cache, self.entry.clone(), self.dir_path());
        let result = blocking("publishing a fill", move || cache.publish(&entry, &dir)).await;
        if let Err(e) = result {
            self.finish_unstored(e)?;
            // Nothing was created; pingora uses the size only for an eviction manager, and
            // this storage keeps its own budget.
            return Ok(MissFinishType::Created(0));
        }
        if let Some(who) = self.entry.filled_by {
            self.cache.learn_proof(&self.entry.meta.etag, who);
        }
        self.settled = true;
        if let Some(dir) = self.dir.take() {
            dir.published.store(true, Ordering::Release);
        }
        // Done after the rename and before leaving the registry: a lookup in between joins a
        // finished fill rather than missing and starting a second download.
        self.entry
            .progress
            .send_modify(|p| p.state = FillState::Done);
        self.cache.fills.remove(&self.entry.name, self.entry.id);
        Ok(MissFinishType::Created(
            usize::try_from(self.entry.size).unwrap_or(usize::MAX),
        ))
    }

    fn streaming_write_tag(&self) -> Option<&[u8]> {
        Some(&self.tag)
    }
}

impl Drop for Fill {
    /// A `MissHandler` dropped without `finish()` is a failed write (storage.rs contract):
    /// upstream reset, client-side abort of the whole request, runtime shutdown.
    fn drop(&mut self) {
        self.fail();
    }
}
