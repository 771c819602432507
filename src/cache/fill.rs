//! Fills: the `HandleMiss` that writes a body into `tmp/`, verifies it and publishes it, and
//! the registry of fills in flight that lookups join.
//!
//! Publishing: the fill directory `tmp/<hex>.<pid>.<seq>/` receives `body`, then (after the
//! length and digest check and an fsync) `meta`, and is renamed as a whole to
//! `objects/<aa>/<bb>/<hex>/`. A directory rename is atomic, so a reader finds either no
//! object or a body with its valid meta; a crash leaves only a `tmp/` entry, removed at the
//! next start.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use pingora::cache::storage::{HandleMiss, MissFinishType};
use tokio::sync::watch;

use super::layout::{io_err, sync_dir, BODY};
use super::meta::StoredMeta;
use super::scan::remove_any;
use super::{blocking, DiskCache, Error};
use crate::hub::digest::Verifier;

/// Bytes buffered before a write to disk. `write_body` is awaited inline on pingora's upstream
/// read path ("TODO: do this async" in `proxy_cache.rs`), so writes go to a blocking thread.
const FLUSH_AT: usize = 1 << 20;

/// Where a fill stands; readers wait on a `watch` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FillState {
    Writing,
    /// Verified and published.
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
}

/// Fills in flight by object name (several per name are possible when pingora's lock times
/// out; a lookup joins any of them, `lookup_streaming_write` a precise one).
#[derive(Default)]
pub(crate) struct Registry(Mutex<HashMap<String, Vec<Arc<Inflight>>>>);

impl Registry {
    pub(crate) fn insert(&self, fill: Arc<Inflight>) {
        self.0
            .lock()
            .entry(fill.name.clone())
            .or_default()
            .push(fill);
    }

    pub(crate) fn remove(&self, name: &str, id: u64) {
        let mut map = self.0.lock();
        if let Some(fills) = map.get_mut(name) {
            fills.retain(|f| f.id != id);
            if fills.is_empty() {
                map.remove(name);
            }
        }
    }

    pub(crate) fn any(&self, name: &str) -> Option<Arc<Inflight>> {
        self.0
            .lock()
            .get(name)
            .and_then(|fills| fills.first().cloned())
    }

    pub(crate) fn find(&self, name: &str, id: u64) -> Option<Arc<Inflight>> {
        self.0
            .lock()
            .get(name)
            .and_then(|fills| fills.iter().find(|f| f.id == id).cloned())
    }

    pub(crate) fn count(&self) -> u64 {
        self.0.lock().values().map(|fills| fills.len() as u64).sum()
    }
}

/// The `MissHandler` of one fill.
pub(crate) struct Fill {
    pub(crate) cache: &'static DiskCache,
    pub(crate) entry: Arc<Inflight>,
    /// `entry.id` as the streaming write tag pingora hands back to `lookup_streaming_write`.
    pub(crate) tag: [u8; 8],
    pub(crate) dir: PathBuf,
    pub(crate) verifier: Verifier,
    pub(crate) pending: Vec<Bytes>,
    pub(crate) pending_len: usize,
    /// Bytes on disk.
    pub(crate) written: u64,
    /// Set while a disk write is awaited; still set on entry means that write's future was
    /// dropped, and the file no longer matches what was hashed.
    pub(crate) flushing: bool,
    /// Published or failed; `Drop` has nothing left to do.
    pub(crate) settled: bool,
}

impl Fill {
    async fn flush(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.pending);
        let len = std::mem::take(&mut self.pending_len) as u64;
        let (file, offset, path) = (self.entry.file.clone(), self.written, self.dir.clone());
        self.flushing = true;
        blocking("writing a fill", move || {
            let mut at = offset;
            for chunk in &chunks {
                file.write_all_at(chunk, at).map_err(|source| Error::Io {
                    op: "writing",
                    path: path.clone(),
                    source,
                })?;
                at += chunk.len() as u64;
            }
            Ok(())
        })
        .await?;
        self.flushing = false;
        self.written += len;
        // Published only now that the bytes are on disk (readers pread them).
        self.entry
            .progress
            .send_modify(|p| p.written = self.written);
        Ok(())
    }

    /// Marks the fill failed, wakes its readers (they get `Err`: pingora #932), forgets it,
    /// returns its reservation and deletes its directory.
    fn fail(&mut self) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        self.entry
            .progress
            .send_modify(|p| p.state = FillState::Failed);
        self.cache.fills.remove(&self.entry.name, self.entry.id);
        self.cache.budget.lock().release(self.entry.size);
        let dir = self.dir.clone();
        let remove = move || {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a failed fill");
            }
        };
        // Drop may run outside a runtime (shutdown); then delete inline.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }

    fn check<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() {
            self.fail();
        }
        result
    }
}

#[async_trait]
impl HandleMiss for Fill {
    async fn write_body(&mut self, data: Bytes, eof: bool) -> pingora::Result<()> {
        if self.settled || self.flushing {
            let err = Error::Interrupted {
                key: self.entry.name.clone(),
            };
            self.fail();
            return Err(err.into());
        }
        self.verifier.update(&data);
        if self.verifier.is_overrun() {
            // Stop at once instead of buffering a body that can never be published.
            let err = Error::Overrun {
                key: self.entry.name.clone(),
                expected: self.entry.size,
            };
            self.fail();
            return Err(err.into());
        }
        self.pending_len += data.len();
        if !data.is_empty() {
            self.pending.push(data);
        }
        if eof || self.pending_len >= FLUSH_AT {
            let result = self.flush().await;
            self.check(result)?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> pingora::Result<MissFinishType> {
        if self.settled || self.flushing {
            let err = Error::Interrupted {
                key: self.entry.name.clone(),
            };
            self.fail();
            return Err(err.into());
        }
        let result = self.flush().await;
        self.check(result)?;
        let verdict = std::mem::replace(&mut self.verifier, Verifier::new("", 0)).finish();
        let key = self.entry.name.clone();
        self.check(verdict.map_err(|source| Error::Verify { key, source }))?;
        let (cache, entry, dir) = (self.cache, self.entry.clone(), self.dir.clone());
        let result = blocking("publishing a fill", move || cache.publish(&entry, &dir)).await;
        self.check(result)?;
        self.settled = true;
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

impl DiskCache {
    /// Publishes a verified fill: fsync the body, write `meta` last inside the fill directory,
    /// then rename the directory into `objects/` under the budget lock, so the index and the
    /// disk change together (an eviction cannot interleave).
    fn publish(&self, entry: &Inflight, dir: &Path) -> Result<(), Error> {
        let body = dir.join(BODY);
        entry.file.sync_all().map_err(io_err("syncing", &body))?;
        entry.meta.write(dir)?;
        let target = self.layout.object_dir(&entry.name);
        let parent = target
            .parent()
            .unwrap_or(self.layout.objects())
            .to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io_err("creating", &parent))?;
        let trash = {
            let mut budget = self.budget.lock();
            let mut trash = Vec::new();
            if let Err(e) = std::fs::rename(dir, &target) {
                if !target.exists() {
                    return Err(Error::Io {
                        op: "publishing",
                        path: dir.to_path_buf(),
                        source: e,
                    });
                }
                // A concurrent fill of the same etag published first: same verified bytes.
                // Replace it, so the index entry and the directory are one generation.
                let old = self.layout.trash_dir();
                std::fs::rename(&target, &old).map_err(io_err("replacing", &target))?;
                trash.push(old);
                std::fs::rename(dir, &target).map_err(io_err("publishing", dir))?;
            }
            // From here on the object is published: nothing below may fail the fill (its
            // reservation is now the object's accounted size).
            let victims = budget.commit(&entry.name, entry.size, entry.size);
            trash.extend(self.discard(&mut budget, victims));
            trash
        };
        trash.iter().for_each(|t| remove_any(t));
        if let Err(e) = sync_dir(&parent) {
            tracing::warn!(error = %e, "published object may not survive a crash");
        }
        Ok(())
    }
}

impl Drop for Fill {
    /// A `MissHandler` dropped without `finish()` is a failed write (storage.rs contract):
    /// upstream reset, client-side abort of the whole request, runtime shutdown.
    fn drop(&mut self) {
        self.fail();
    }
}
