//! `HandleHit` for committed objects and for fills in flight: positional reads of the body
//! file on a blocking thread, seekable in both cases.
//!
//! Rules that come from pingora's behaviour:
//! - Partial readers are seekable: pingora answers a `Range` on a joined request only when the
//!   reader `can_seek()`; otherwise every resume would get a 200 with the whole body.
//! - `read_body` is polled inside `tokio::select!` (pingora-proxy `proxy_h1.rs`), so it must be
//!   cancel-safe: the offset lives in the handler and moves only after a read has returned.
//! - A failed fill gives `Err`, never `Ok(None)` (pingora #932: `MemCache` ends a truncated
//!   body cleanly). And the last byte of an object still filling is held back until the fill
//!   is verified and published, so no client ever sees a complete-looking body that failed
//!   its length or digest check. A range that ends before the object's end is served as the
//!   bytes arrive.
//! - A seek far ahead of the fill waits for the bytes; the storage sets no deadline (a stalled
//!   upstream fails the fill through pingora's read timeout, which fails the readers). Callers
//!   that must not wait bypass the cache for such ranges, using `DiskCache::fill_progress`.

mod hot;

use std::any::Any;
use std::fs::File;
use std::io::IoSliceMut;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::cache::storage::HandleHit;
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, Storage};
use rustix::io::{Errno, ReadWriteFlags};
use tokio::sync::watch;

use pingora::cache::{CacheMeta, HitHandler};

use super::fill::{FillState, Inflight, Progress};
use super::layout::{io_err, BODY, META};
use super::meta::StoredMeta;
use super::scan::remove_any;
use super::{blocking, DiskCache, Error};

/// Bytes per `read_body` chunk.
const CHUNK: u64 = 512 * 1024;
/// Committed bodies up to this size are read in the same blocking call that opens them, and
/// served from memory: for small files the hand-offs to the blocking pool cost more than the
/// read (config.json, tokenizer files — most requests of a model download).
const INLINE: u64 = 64 * 1024;
/// The access time on disk (LRU order across restarts) is written at most this often per
/// object: one `utimensat` per hit would be most of a small hit's syscalls.
pub(crate) const PERSIST_ACCESS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) use hot::HotObjects;

/// A reader of one object's body, committed or still filling.
pub(crate) struct Reader {
    name: String,
    /// `None` only for a body held in memory (`inline`).
    file: Option<Arc<File>>,
    size: u64,
    /// Next byte to return.
    pos: u64,
    /// End of the requested range (exclusive).
    end: u64,
    /// `None` for a committed object; the fill's progress otherwise.
    progress: Option<watch::Receiver<Progress>>,
    /// The whole body of a small committed object, read when it was opened.
    inline: Option<Bytes>,
    /// For a reader of a fill: the credentials that fill is fetched with.
    filled_by: Option<super::Credentials>,
    /// The last chunk returned: its buffer is read into again once pingora has dropped it.
    spare: Option<Bytes>,
}

impl Reader {
    /// A reader of a committed object whose body has been checked to be `size` bytes.
    pub(crate) fn complete(name: String, file: File, size: u64) -> Self {
        Self {
            name,
            file: Some(Arc::new(file)),
            size,
            pos: 0,
            end: size,
            progress: None,
            inline: None,
            filled_by: None,
            spare: None,
        }
    }

    /// A reader of a small committed object already in memory.
    pub(crate) fn in_memory(name: String, body: Bytes) -> Self {
        let size = body.len() as u64;
        Self {
            name,
            file: None,
            size,
            pos: 0,
            end: size,
            progress: None,
            inline: Some(body),
            filled_by: None,
            spare: None,
        }
    }

    /// A reader of a fill in flight.
    pub(crate) fn partial(
        name: String,
        file: Arc<File>,
        size: u64,
        progress: watch::Receiver<Progress>,
        filled_by: Option<super::Credentials>,
    ) -> Self {
        Self {
            name,
            file: Some(file),
            size,
            pos: 0,
            end: size,
            progress: Some(progress),
            inline: None,
            filled_by,
            spare: None,
        }
    }

    /// Whether this reads a fill in flight fetched with the credentials `who`.
    pub(crate) fn reads_fill_by(&self, who: &super::Credentials) -> bool {
        self.progress.is_some() && self.filled_by.as_ref() == Some(who)
    }

    /// How far the body may be read now: the whole body when committed or published; while
    /// writing, what is on disk minus the object's last byte (held back until verified).
    fn readable(&mut self) -> Result<u64, Error> {
        let Some(progress) = self.progress.as_mut() else {
            return Ok(self.size);
        };
        let now = *progress.borrow_and_update();
        match now.state {
            FillState::Done => Ok(self.size),
            FillState::Failed => Err(Error::FillFailed {
                key: self.name.clone(),
            }),
            FillState::Writing => Ok(now.written.min(self.size.saturating_sub(1))),
        }
    }

    /// A buffer of `len` initialised bytes to read into: the last chunk's when nobody else
    /// holds it any more (no allocation, no zero-filling), a new one otherwise. Allocated
    /// here, on a runtime thread, where pingora frees it once sent: with a per-thread
    /// allocator, buffers made on short-lived blocking threads and freed elsewhere stayed
    /// committed (2.5× the peak RSS serving 4 large files).
    fn buffer(&mut self, len: usize) -> BytesMut {
        let reused = self
            .spare
            .take()
            .and_then(|spare| spare.try_into_mut().ok())
            .filter(|buf| buf.capacity() >= len);
        match reused {
            Some(mut buf) => {
                // Only bytes past the last chunk's end are zero-filled (none for equal chunks).
                buf.resize(len, 0);
                buf
            }
            None => {
                let mut buf = BytesMut::zeroed(len.max(CHUNK as usize));
                buf.truncate(len);
                buf
            }
        }
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if self.pos >= self.end {
                return Ok(None);
            }
            if let Some(body) = &self.inline {
                let chunk = body.slice(self.pos as usize..self.end as usize);
                self.pos = self.end;
                return Ok(Some(chunk));
            }
            let available = self.readable()?.min(self.end);
            if available > self.pos {
                let len = (available - self.pos).min(CHUNK);
                let Some(file) = self.file.clone() else {
                    return Err(Error::FillFailed {
                        key: self.name.clone(),
                    });
                };
                let pos = self.pos;
                let mut buf = self.buffer(len as usize);
                // From the page cache on this thread when it holds the bytes (most hits, and
                // fills in flight, whose bytes were just written): no blocking-pool hand-off.
                let cached = read_cached(&file, &mut buf, pos);
                let chunk = if cached == buf.len() {
                    buf.freeze()
                } else {
                    // The rest on a blocking thread. The read is positional: a cancelled
                    // `read_body` may leave its read running.
                    let name = self.name.clone();
                    blocking("reading a body", move || {
                        file.read_exact_at(&mut buf[cached..], pos + cached as u64)
                            .map_err(|source| Error::Read { key: name, source })?;
                        Ok(buf.freeze())
                    })
                    .await?
                };
                // Kept to be reused once pingora has sent and dropped its handle.
                self.spare = Some(chunk.clone());
                // Moved only now: a read_body future dropped above leaves the offset alone.
                self.pos += len;
                return Ok(Some(chunk));
            }
            let Some(progress) = self.progress.as_mut() else {
                // A committed body is checked to be `size` bytes; not reachable.
                return Err(Error::FillFailed {
                    key: self.name.clone(),
                });
            };
            if progress.changed().await.is_err() && progress.borrow().state == FillState::Writing {
                // The writer vanished without settling; `Fill::drop` prevents this, but a
                // reader must never take it for the end of the body.
                return Err(Error::FillFailed {
                    key: self.name.clone(),
                });
            }
        }
    }
}

#[async_trait]
impl HandleHit for Reader {
    async fn read_body(&mut self) -> pingora::Result<Option<Bytes>> {
        Ok(self.next_chunk().await?)
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> pingora::Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    /// `end` is exclusive; past the body it is clamped. Seeking only moves the offsets:
    /// a partial reader waits in `read_body` for the bytes to arrive.
    fn seek(&mut self, start: usize, end: Option<usize>) -> pingora::Result<()> {
        let start = start as u64;
        let end = end.map_or(self.size, |end| (end as u64).min(self.size));
        if start >= self.size || start > end {
            return Err(Error::Seek {
                key: self.name.clone(),
                start,
                end,
                size: self.size,
            }
            .into());
        }
        self.pos = start;
        self.end = end;
        Ok(())
    }

    fn should_count_access(&self) -> bool {
        true
    }

    fn get_eviction_weight(&self) -> usize {
        usize::try_from(self.size).unwrap_or(usize::MAX)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// Whether `preadv2(RWF_NOWAIT)` may work here; cleared when the kernel or file system
/// refuses the flag.
static NOWAIT: AtomicBool = AtomicBool::new(true);

/// Reads into `buf` from `pos` what the page cache already holds, without blocking
/// (`RWF_NOWAIT`); the bytes read, 0 when none are cached or the flag is unsupported. Errors
/// are left to the blocking read of the rest, which sees them again.
fn read_cached(file: &File, buf: &mut [u8], pos: u64) -> usize {
    let mut done = 0;
    while done < buf.len() && NOWAIT.load(Ordering::Relaxed) {
        let mut slice = [IoSliceMut::new(&mut buf[done..])];
        match rustix::io::preadv2(file, &mut slice, pos + done as u64, ReadWriteFlags::NOWAIT) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => {
                NOWAIT.store(false, Ordering::Relaxed);
            }
            // EAGAIN: not (all) in the page cache.
            Err(_) => break,
        }
    }
    done
}

impl DiskCache {
    pub(crate) fn partial_hit(&self, fill: &Inflight) -> Result<(CacheMeta, HitHandler), Error> {
        let reader = Reader::partial(
            fill.name.clone(),
            fill.file.clone(),
            fill.size,
            fill.progress.subscribe(),
            fill.filled_by,
        );
        Ok((fill.meta.to_cache_meta()?, Box::new(reader)))
    }

    pub(crate) async fn lookup_committed(
        &'static self,
        name: String,
    ) -> Result<Option<(CacheMeta, HitHandler)>, Error> {
        if let Some(hot) = self.hot_hit(&name) {
            let reader = Reader::in_memory(name, hot.body.clone());
            return Ok(Some((hot.meta.to_cache_meta()?, Box::new(reader))));
        }
        let opened = name.clone();
        let found = blocking("opening an object", move || self.open_committed(&opened)).await?;
        let Some((meta, body, inline)) = found else {
            return Ok(None);
        };
        let reader = match inline {
            Some(bytes) => {
                self.hot.put(&name, &meta, &bytes);
                Reader::in_memory(name, bytes)
            }
            None => Reader::complete(name, body, meta.size),
        };
        Ok(Some((meta.to_cache_meta()?, Box::new(reader))))
    }

    /// Opens a committed object's meta and body; an invalid one is removed and is a miss.
    #[allow(clippy::type_complexity)]
    fn open_committed(
        &self,
        name: &str,
    ) -> Result<Option<(StoredMeta, File, Option<Bytes>)>, Error> {
        let dir = self.layout.object_dir(name);
        let body_path = dir.join(BODY);
        let opened = StoredMeta::read(&dir).and_then(|meta| {
            let body = fs_err::File::open(&body_path)
                .map(|f| f.into_parts().0)
                .map_err(io_err("opening", &body_path))?;
            let len = body
                .metadata()
                .map_err(io_err("reading", &body_path))?
                .len();
            Ok((meta, body, len))
        });
        let (meta, body) = match opened {
            Ok((meta, body, len)) if len == meta.size => (meta, body),
            Err(_) if !dir.exists() => {
                // Gone (purged, evicted, or never here): forget it if indexed.
                self.budget.lock().remove(name);
                return Ok(None);
            }
            other => {
                let reason = other
                    .map(|(meta, _, len)| format!("body {len} bytes, meta says {}", meta.size));
                tracing::warn!(
                    object = name,
                    ?reason,
                    "invalid cache object: removed, served as a miss"
                );
                self.remove_object(name);
                return Ok(None);
            }
        };
        let (trash, persist) = {
            let mut budget = self.budget.lock();
            if budget.touch(name) {
                (Vec::new(), budget.access_due(name, PERSIST_ACCESS_EVERY))
            } else {
                // Published by another process sharing the directory (graceful upgrade).
                let victims = budget.insert(name, meta.size);
                (self.discard(&mut budget, victims), true)
            }
        };
        trash.iter().for_each(|t| remove_any(t));
        if persist {
            // The LRU position survives restarts as the meta file's mtime (scan.rs).
            let meta_path = dir.join(META);
            let touched = fs_err::OpenOptions::new()
                .write(true)
                .open(&meta_path)
                .and_then(|f| f.file().set_modified(std::time::SystemTime::now()));
            if let Err(e) = touched {
                tracing::debug!(object = name, error = %e, "could not record the access time");
            }
        }
        let inline = if meta.size <= INLINE {
            let mut buf = vec![0; meta.size as usize];
            body.read_exact_at(&mut buf, 0)
                .map_err(|source| Error::Read {
                    key: name.to_string(),
                    source,
                })?;
            Some(Bytes::from(buf))
        } else {
            None
        };
        Ok(Some((meta, body, inline)))
    }
}

#[cfg(test)]
mod tests;
