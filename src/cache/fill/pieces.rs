//! `PieceFill`: a fill whose bytes hubcache's own fetcher writes in place, piece by piece, at
//! their offsets (`docs/parallel-fills.md`). Pingora never sees its upstream: it finds the
//! fill in the registry like any fill in flight and serves every request from it, the one
//! that started it included.
//!
//! Readers see `written` = the contiguous prefix on disk from byte 0 (`Prefix`). The digest
//! follows the prefix: a piece written exactly where hashing stands is hashed from the buffer
//! just written; bytes written ahead of it are read back by the hasher task once the prefix
//! has reached them. `finish` waits for the hasher, checks length and digest, then publishes
//! as a Pingora fill does; until then readers hold back the last byte.

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use pingora::cache::key::CacheHashKey;
use pingora::http::ResponseHeader;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::prefix::Prefix;
use super::{FillDir, FillState, Inflight, SYNC_EVERY};
use crate::cache::layout::BODY;
use crate::cache::{blocking, key_for_etag, Credentials, DiskCache, Error};
use crate::hub::digest::Verifier;
use crate::hub::headers::normalize_etag;

/// After a fill written in pieces failed, its object is filled by Pingora's single stream for
/// this long: a failure that repeats on every try (an origin that breaks ranged answers) must
/// not make the file unservable.
pub const PIECES_FAILED_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Bytes the hasher reads back per read (from the page cache: they were just written).
const HASH_READ: usize = 1 << 20;
/// Bytes the hasher handles per hand-off to the blocking pool.
const HASH_BATCH: u64 = 8 << 20;

/// The digest and how far it has got (bytes `[0, hashed)` are in it).
struct Hashing {
    verifier: Option<Verifier>,
    hashed: u64,
    /// Reused by the read-back.
    buf: Vec<u8>,
}

struct Shared {
    cache: &'static DiskCache,
    entry: Arc<Inflight>,
    /// `None` once the fill has let go of it (failed or published).
    dir: Mutex<Option<Arc<FillDir>>>,
    prefix: Mutex<Prefix>,
    hashing: Mutex<Hashing>,
    settled: AtomicBool,
}

/// A fill written in pieces (see the module docs). Cheap to clone: every worker of the fill
/// holds one. A fill that is neither finished nor failed when its driver goes away must be
/// failed by it ([`PieceFill::fail`]); the driver keeps a guard for that.
#[derive(Clone)]
pub struct PieceFill {
    shared: Arc<Shared>,
    hasher: Arc<Mutex<Option<Hasher>>>,
}

/// The hasher task of a fill (see [`hash_loop`]).
type Hasher = JoinHandle<Result<(), Error>>;

/// The right to start a fill of one body, held while its first request is on its way; a
/// second request for the body waits for it to be dropped (see [`DiskCache::claim_start`]).
pub struct StartClaim {
    cache: &'static DiskCache,
    name: String,
}

impl Drop for StartClaim {
    fn drop(&mut self) {
        // Dropping the sender wakes every request waiting on this start.
        self.cache.starts.lock().remove(&self.name);
    }
}

impl DiskCache {
    /// Claims the start of a fill of the body of `etag`; `Err` with a receiver whose
    /// `changed()` returns once the request holding the claim has started its fill (then a
    /// lookup joins it) or given up.
    pub fn claim_start(&'static self, etag: &str) -> Result<StartClaim, watch::Receiver<()>> {
        let name = key_for_etag(etag).combined();
        let mut starts = self.starts.lock();
        if let Some(started) = starts.get(&name) {
            return Err(started.subscribe());
        }
        starts.insert(name.clone(), watch::channel(()).0);
        Ok(StartClaim { cache: self, name })
    }

    /// Whether a fill of `etag` written in pieces failed in the last `PIECES_FAILED_FOR` (10 min).
    pub fn pieces_failed_recently(&self, etag: &str) -> bool {
        let name = key_for_etag(etag).combined();
        self.pieces_failed
            .lock()
            .get(&name)
            .is_some_and(|at| at.elapsed() < PIECES_FAILED_FOR)
    }

    fn note_pieces_failed(&self, name: &str) {
        let mut failed = self.pieces_failed.lock();
        if failed.len() >= 1024 {
            failed.retain(|_, at| at.elapsed() < PIECES_FAILED_FOR);
        }
        failed.insert(name.to_owned(), std::time::Instant::now());
    }

    /// Registers a fill of the body of `etag` (`size` bytes, answered with `header`) that the
    /// caller writes with [`PieceFill::write_at`]. `Ok(None)`: the body is stored already or
    /// another fill of it is in flight (join that one). Err: no room (counted as a storing
    /// failure; nothing is kept).
    pub async fn begin_piece_fill(
        &'static self,
        etag: &str,
        header: &ResponseHeader,
        size: u64,
        filled_by: Option<Credentials>,
    ) -> Result<Option<PieceFill>, Error> {
        let name = key_for_etag(etag).combined();
        if self.contains(etag) || self.fills.any(&name).is_some() {
            return Ok(None);
        }
        let etag = normalize_etag(etag).to_ascii_lowercase();
        let (dir, entry) = self.open_fill(name, size, header, &etag, filled_by).await?;
        let dir = Arc::new(FillDir {
            path: dir,
            published: AtomicBool::new(false),
        });
        if !self.fills.insert_if_absent(entry.clone()) {
            // A Pingora fill of the same body registered meanwhile: that one goes on.
            self.budget.lock().release(size);
            drop(tokio::task::spawn_blocking(move || drop(dir)));
            return Ok(None);
        }
        let shared = Arc::new(Shared {
            cache: self,
            entry,
            dir: Mutex::new(Some(dir)),
            prefix: Mutex::new(Prefix::default()),
            hashing: Mutex::new(Hashing {
                verifier: Some(Verifier::new(&etag, size)),
                hashed: 0,
                buf: Vec::new(),
            }),
            settled: AtomicBool::new(false),
        });
        let hasher = tokio::spawn(hash_loop(shared.clone()));
        Ok(Some(PieceFill {
            shared,
            hasher: Arc::new(Mutex::new(Some(hasher))),
        }))
    }
}

impl PieceFill {
    /// The body's length.
    pub fn size(&self) -> u64 {
        self.shared.entry.size
    }

    /// The bytes on disk from 0 (what readers may read).
    pub fn prefix(&self) -> u64 {
        self.shared.entry.progress.borrow().written
    }

    /// Whether the fill has failed (workers stop at their next chunk).
    pub fn is_failed(&self) -> bool {
        self.shared.entry.progress.borrow().state == FillState::Failed
    }

    fn interrupted(&self) -> Error {
        Error::Interrupted {
            key: self.shared.entry.name.clone(),
        }
    }

    /// Writes `buf` at `offset` (on the blocking pool), then makes it readable as far as the
    /// prefix reaches; hands `buf` back for reuse. Never called twice for the same bytes.
    pub async fn write_at(&self, offset: u64, buf: Vec<u8>) -> Result<Vec<u8>, Error> {
        let len = buf.len() as u64;
        if len == 0 {
            return Ok(buf);
        }
        if offset + len > self.size() {
            return Err(Error::Overrun {
                key: self.shared.entry.name.clone(),
                expected: self.size(),
            });
        }
        let shared = self.shared.clone();
        let interrupted = self.interrupted();
        let result = blocking("writing a piece", move || {
            // Held while writing: a failed fill's directory goes only after the last write.
            let Some(dir) = shared.dir.lock().clone() else {
                return Err(interrupted);
            };
            if shared.entry.progress.borrow().state == FillState::Failed {
                return Err(interrupted);
            }
            shared
                .entry
                .file
                .write_all_at(&buf, offset)
                .map_err(|source| Error::Io {
                    op: "writing",
                    path: dir.path.join(BODY),
                    source,
                })?;
            {
                // Exactly where hashing stands: hash from these buffers (no read-back).
                let mut hashing = shared.hashing.lock();
                if hashing.hashed == offset {
                    if let Some(verifier) = hashing.verifier.as_mut() {
                        verifier.update(&buf);
                    }
                    hashing.hashed += len;
                }
            }
            let prefix = shared.prefix.lock().add(offset, len);
            shared.entry.progress.send_if_modified(|p| {
                let grew = prefix > p.written;
                p.written = p.written.max(prefix);
                grew
            });
            Ok(buf)
        })
        .await;
        if let Err(e) = &result {
            self.shared.cache.store_failures.record(e, "writing a fill");
        }
        result
    }

    /// Every byte is written: waits for the digest, checks length and digest, publishes.
    /// The readers get the last byte only now.
    pub async fn finish(self) -> Result<(), Error> {
        let hasher = self.hasher.lock().take();
        let hashed = match hasher {
            Some(handle) => handle.await.unwrap_or(Err(Error::Join {
                what: "hashing a fill",
            })),
            None => Err(self.interrupted()),
        };
        if let Err(e) = hashed {
            self.fail();
            return Err(e);
        }
        let verifier = self.shared.hashing.lock().verifier.take();
        let key = self.shared.entry.name.clone();
        let verified = verifier.ok_or_else(|| self.interrupted()).and_then(|v| {
            v.finish().map_err(|source| Error::Verify {
                key: key.clone(),
                source,
            })
        });
        if let Err(e) = verified {
            self.fail();
            return Err(e);
        }
        let Some(dir) = self.shared.dir.lock().clone() else {
            return Err(self.interrupted());
        };
        let (cache, entry, path) = (
            self.shared.cache,
            self.shared.entry.clone(),
            dir.path.clone(),
        );
        let published = blocking("publishing a fill", move || cache.publish(&entry, &path)).await;
        if self.shared.settled.swap(true, Ordering::AcqRel) {
            return Err(self.interrupted());
        }
        let entry = &self.shared.entry;
        match published {
            Ok(()) => {
                dir.published.store(true, Ordering::Release);
                if let Some(who) = entry.filled_by {
                    cache.learn_proof(&entry.meta.etag, who);
                }
            }
            Err(e) => {
                cache.store_failures.record(&e, "publishing a fill");
                let no_room = matches!(&e, Error::Io { op, .. } if *op != "syncing")
                    && crate::cache::StoreFailure::of(&e)
                        == Some(crate::cache::StoreFailure::NoSpace);
                if !no_room {
                    self.shared.settled.store(false, Ordering::Release);
                    self.fail();
                    return Err(e);
                }
                // Verified but not stored: readers finish from the file they hold open.
                cache.budget.lock().release(entry.size);
            }
        }
        // Done before leaving the registry (as a Pingora fill's `finish`).
        entry.progress.send_modify(|p| p.state = FillState::Done);
        cache.fills.remove(&entry.name, entry.id);
        let dir = self.shared.dir.lock().take();
        drop(tokio::task::spawn_blocking(move || drop(dir)));
        Ok(())
    }

    /// Fails the fill: readers get an error, nothing is published, the reservation is
    /// returned, and the directory goes once the last write has let go of it.
    pub fn fail(&self) {
        if self.shared.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let (cache, entry) = (self.shared.cache, &self.shared.entry);
        cache.note_pieces_failed(&entry.name);
        entry.progress.send_modify(|p| p.state = FillState::Failed);
        cache.fills.remove(&entry.name, entry.id);
        cache.budget.lock().release(entry.size);
        let dir = self.shared.dir.lock().take();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || drop(dir))),
            Err(_) => drop(dir),
        }
    }
}

/// Follows the prefix and hashes what the writers could not hash from their buffers (bytes
/// written ahead of it), every [`SYNC_EVERY`] bytes starting a background `fdatasync` so the
/// fsync before publishing waits only for the tail. Ends once every byte is hashed; an error
/// when the fill fails first.
async fn hash_loop(shared: Arc<Shared>) -> Result<(), Error> {
    let mut progress = shared.entry.progress.subscribe();
    let size = shared.entry.size;
    let mut synced_at = 0u64;
    let mut sync: Option<JoinHandle<std::io::Result<()>>> = None;
    loop {
        let now = *progress.borrow_and_update();
        if now.state == FillState::Failed {
            return Err(Error::FillFailed {
                key: shared.entry.name.clone(),
            });
        }
        let hashed = shared.hashing.lock().hashed;
        if hashed >= size {
            break;
        }
        if now.written > hashed {
            let catch_up = shared.clone();
            let upto = now.written.min(hashed + HASH_BATCH);
            blocking("hashing a fill", move || read_back(&catch_up, upto)).await?;
            if upto - synced_at >= SYNC_EVERY && sync.as_ref().is_none_or(|s| s.is_finished()) {
                check_sync(sync.take(), &shared).await?;
                synced_at = upto;
                let file = shared.entry.file.clone();
                sync = Some(tokio::task::spawn_blocking(move || file.sync_data()));
            }
            continue;
        }
        if progress.changed().await.is_err() {
            return Err(Error::FillFailed {
                key: shared.entry.name.clone(),
            });
        }
    }
    check_sync(sync, &shared).await
}

/// Hashes `[hashed, upto)` read back from the body file.
fn read_back(shared: &Shared, upto: u64) -> Result<(), Error> {
    let mut guard = shared.hashing.lock();
    let hashing = &mut *guard;
    if hashing.buf.is_empty() {
        hashing.buf = vec![0; HASH_READ];
    }
    while hashing.hashed < upto {
        let len = (upto - hashing.hashed).min(HASH_READ as u64) as usize;
        let buf = &mut hashing.buf[..len];
        shared
            .entry
            .file
            .read_exact_at(buf, hashing.hashed)
            .map_err(|source| Error::Read {
                key: shared.entry.name.clone(),
                source,
            })?;
        if let Some(verifier) = hashing.verifier.as_mut() {
            verifier.update(buf);
        }
        hashing.hashed += len as u64;
    }
    Ok(())
}

/// Waits for a background sync and turns its failure into the fill's (a writeback error is
/// reported to one `fsync` only).
async fn check_sync(
    sync: Option<JoinHandle<std::io::Result<()>>>,
    shared: &Shared,
) -> Result<(), Error> {
    let Some(sync) = sync else {
        return Ok(());
    };
    let synced = sync.await.map_err(|_| Error::Join {
        what: "syncing a fill",
    })?;
    synced.map_err(|source| Error::Io {
        op: "syncing",
        path: shared.entry.name.clone().into(),
        source,
    })
}
