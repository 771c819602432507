//! `DiskCache`: the `pingora_cache::Storage` on local disk, hubcache's only pingora-cache user.
//!
//! Objects are Hub file bodies, content-addressed by their etag: build keys with
//! [`key_for_etag`] (`CacheKey::new(<normalised etag>, "")`). A fill is accepted only when the
//! response header pingora stores carries `Content-Length` (the exact body length, reserved in
//! the budget when the fill starts) and, in `X-Linked-Etag` or else `ETag`, the key's etag or
//! none; the body is then checked against that length and digest before it is published.
//! Anything else makes `get_miss_handler` fail, and pingora streams the response uncached.
//! Pass `None` as the eviction manager to `HttpCache::enable`: the budget is kept here.
//!
//! Files: `layout` (paths), `meta` (on-disk meta), `fill` (writes, publish), `read`
//! (readers), `budget` (LRU + reservations), `scan` (startup), `side` (other subsystems'
//! small files, in the same budget), `pins` (blobs kept out of eviction).

mod budget;
mod error;
mod fill;
mod layout;
mod meta;
mod pins;
mod proofs;
mod read;
mod scan;
mod side;
mod store_failure;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use parking_lot::Mutex;
use pingora::cache::key::CacheHashKey;
use pingora::cache::storage::PurgeOutcome;
use pingora::cache::trace::SpanHandle;
use pingora::cache::{
    CacheKey, CacheMeta, HitHandler, MissHandler, PurgeTarget, PurgeType, Storage,
};
use pingora::http::ResponseHeader;
use pingora::Result;
use tokio::sync::watch;

pub use budget::CacheStats;
pub use error::Error;
pub use fill::{PieceFill, StartClaim};
pub use pins::{PinFiles, PinOwner, PinTooLarge};
pub use proofs::Credentials;
pub use scan::ScanReport;
pub use store_failure::{StoreFailure, StoreFailures};

use crate::hub::digest::Verifier;
use crate::hub::headers::normalize_etag;
use budget::{Budget, Victim};
use fill::{Fill, Fills};
use layout::Layout;
use meta::StoredMeta;

/// Response header through which the content service tells a fill whose credentials fetched
/// it (32 hex digits, see [`Credentials`]). Read and removed before the header is stored.
pub const FILLED_BY: &str = "x-hubcache-filled-by";

/// The cache key of a Hub file body: its normalised etag (quotes and `W/` removed, lowercase),
/// no user tag. One blob seen under several revisions, repos or remotes is stored once.
pub fn key_for_etag(etag: &str) -> CacheKey {
    CacheKey::new(normalize_etag(etag).to_ascii_lowercase(), "")
}

/// How far a fill in flight has got (see [`DiskCache::fill_progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillProgress {
    /// Bytes on disk.
    pub written: u64,
    /// Announced body length.
    pub size: u64,
}

/// A small stored body answered from memory (see [`DiskCache::memory_hit`]).
#[derive(Debug, Clone)]
pub struct MemoryHit {
    /// The whole verified body.
    pub body: bytes::Bytes,
    /// When it was fetched (the reference for the `Age` header, as on pingora-cache hits).
    pub stored: std::time::SystemTime,
}

/// Hubcache's disk storage for pingora-cache. See the module docs.
pub struct DiskCache {
    layout: Layout,
    budget: Mutex<Budget>,
    fills: Fills,
    next_write_id: AtomicU64,
    scan: ScanReport,
    /// Small committed objects already read once (see `read::Hot`).
    hot: read::HotObjects,
    /// Which credentials may be served which blob (see `proofs`).
    proofs: proofs::Proofs,
    /// Fills that could not be stored, by reason.
    store_failures: store_failure::Recorder,
    /// Each holder's pins (locked before `budget` when both are).
    pins: Mutex<pins::Holders>,
    /// Parallel fills being started, by object name (see `fill::pieces`).
    starts: Mutex<std::collections::HashMap<String, watch::Sender<()>>>,
    /// When fills written in pieces last failed, by object name (see `fill::pieces`).
    pieces_failed: Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl DiskCache {
    /// Opens (creating if needed) the cache under `dir` with a budget of `max_size` bytes:
    /// removes leftovers of unfinished fills, rebuilds the index from `objects/`, drops invalid
    /// objects and evicts down to the budget. Synchronous: call it before `run_forever`.
    /// Leaked, because pingora wants `&'static` storage. With pins: [`DiskCache::open_pinned`].
    pub fn open(dir: &Path, max_size: u64) -> Result<&'static DiskCache, Error> {
        Self::open_with(dir, max_size, pins::Holders::default())
    }

    fn open_with(
        dir: &Path,
        max_size: u64,
        holders: pins::Holders,
    ) -> Result<&'static DiskCache, Error> {
        let layout = Layout::new(dir);
        layout.create()?;
        let removed_tmp = scan::clean_tmp(&layout)?;
        let mut budget = Budget::new(max_size);
        // Before the scan, so that its trim to the budget passes over pinned objects.
        holders.pin_all(&mut budget);
        let scan = ScanReport {
            removed_tmp,
            ..scan::rebuild(&layout, &mut budget)?
        };
        tracing::info!(dir = %dir.display(), ?scan, "disk cache opened");
        Ok(Box::leak(Box::new(DiskCache {
            layout,
            budget: Mutex::new(budget),
            fills: Fills::default(),
            next_write_id: AtomicU64::new(1),
            scan,
            hot: read::HotObjects::default(),
            proofs: proofs::Proofs::default(),
            store_failures: store_failure::Recorder::default(),
            pins: Mutex::new(holders),
            starts: Mutex::default(),
            pieces_failed: Mutex::default(),
        })))
    }

    /// Counters for metrics.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            fills_in_flight: self.fills.count(),
            ..self.budget.lock().stats()
        }
    }

    /// Fills not stored since startup (full disk, budget, I/O errors), by reason.
    pub fn store_failures(&self) -> StoreFailures {
        self.store_failures.snapshot()
    }

    /// What the startup scan found.
    pub fn scan_report(&self) -> &ScanReport {
        &self.scan
    }

    /// Whether the body with this etag is stored complete (per this process's index).
    pub fn contains(&self, etag: &str) -> bool {
        self.budget.lock().contains(&key_for_etag(etag).combined())
    }

    /// The whole body of this etag if it is a small object held in memory and still indexed
    /// (a hit, as for [`Storage::lookup`]). Lets the content service answer the commonest hit
    /// (a whole small file) without pingora-cache's lookup; `None`: ask pingora-cache.
    pub fn memory_hit(&self, etag: &str) -> Option<MemoryHit> {
        // Normalised as the etag a fill stores in its meta (see `get_miss_handler`).
        let etag = normalize_etag(etag).to_ascii_lowercase();
        self.hot_hit_by_etag(&etag).map(|hot| MemoryHit {
            body: hot.body.clone(),
            stored: hot.meta.created_at(),
        })
    }

    /// Progress of a fill in flight of this etag, if any: lets the caller bypass the cache
    /// for a range far ahead of the fill instead of making the client wait for it.
    pub fn fill_progress(&self, etag: &str) -> Option<FillProgress> {
        let fill = self.fills.any(&key_for_etag(etag).combined())?;
        let written = fill.progress.borrow().written;
        Some(FillProgress {
            written,
            size: fill.size,
        })
    }

    /// Renames victims' directories into `tmp/` (atomic: a reader sees the object whole or
    /// gone) and returns the trash to delete after the lock is released. Takes the budget as
    /// proof that its lock is held, so the index and the disk change together.
    fn discard(&self, _locked: &mut Budget, victims: Vec<Victim>) -> Vec<PathBuf> {
        let mut trash = Vec::new();
        for (name, _) in victims {
            if !layout::is_object_name(&name) {
                side::remove(&self.layout, &name);
                continue;
            }
            let to = self.layout.trash_dir();
            match fs_err::rename(self.layout.object_dir(&name), &to) {
                Ok(()) => trash.push(to),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(object = %name, error = %e, "could not evict a cache object")
                }
            }
        }
        trash
    }

    /// Removes a committed object (purge, or found invalid); whether it existed on disk.
    fn remove_object(&self, name: &str) -> bool {
        let trash = {
            let mut budget = self.budget.lock();
            budget.remove(name);
            self.discard(&mut budget, vec![(name.to_owned(), 0)])
        };
        let existed = !trash.is_empty();
        trash.iter().for_each(|t| scan::remove_any(t));
        existed
    }
}

/// Runs blocking file work off the runtime.
pub(crate) async fn blocking<T, F>(what: &'static str, work: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::Join { what })?
}

/// A header as text, if present and valid.
fn header_text<'h>(header: &'h ResponseHeader, name: &str) -> Option<&'h str> {
    header
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

#[async_trait]
impl Storage for DiskCache {
    /// The fill in flight first (so concurrent requests join it instead of starting a second
    /// download), then the committed object.
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let name = key.combined();
        if let Some(fill) = self.fills.any(&name) {
            return Ok(Some(self.partial_hit(&fill)?));
        }
        if let Some(found) = self.lookup_committed(name.clone()).await? {
            return Ok(Some(found));
        }
        // Pingora takes its cache lock only after this returns. A fill that registered while
        // the disk was being checked has already released that lock (streaming partial
        // writes), so a miss reported now would make this request a second writer and a
        // second upstream fetch: look for the fill once more.
        match self.fills.any(&name) {
            Some(fill) => Ok(Some(self.partial_hit(&fill)?)),
            None => Ok(None),
        }
    }

    /// The reader of exactly the write tagged `tag` (pingora serves the writer's own client
    /// from it); `None` would make pingora panic, so fall back to a plain lookup.
    async fn lookup_streaming_write(
        &'static self,
        key: &CacheKey,
        tag: Option<&[u8]>,
        trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let id = tag
            .and_then(|t| <[u8; 8]>::try_from(t).ok())
            .map(u64::from_be_bytes);
        if let Some(fill) = id.and_then(|id| self.fills.find(&key.combined(), id)) {
            return Ok(Some(self.partial_hit(&fill)?));
        }
        self.lookup(key, trace).await
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let name = key.combined();
        let mut header = meta.response_header_copy();
        let filled_by = header_text(&header, FILLED_BY).and_then(|v| {
            let mut who: Credentials = [0; 16];
            hex::decode_to_slice(v, &mut who).ok().map(|()| who)
        });
        header.remove_header(FILLED_BY);
        let header = &header;
        let size = header_text(header, "content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| Error::NoContentLength { key: name.clone() })?;
        if let Some(linked) = header_text(header, "x-linked-size") {
            if linked.parse::<u64>().ok() != Some(size) {
                return Err(Error::SizeMismatch {
                    key: name,
                    linked: linked.to_owned(),
                    size,
                }
                .into());
            }
        }
        let announced = header_text(header, "x-linked-etag")
            .or_else(|| header_text(header, "etag"))
            .map(normalize_etag)
            .filter(|e| !e.is_empty());
        let keyed = key.primary_key_str().map(normalize_etag);
        // The key is the content address: never store a body under another etag's key.
        let etag = match (announced, keyed) {
            (Some(a), Some(k)) if !a.eq_ignore_ascii_case(&k) => {
                return Err(Error::EtagMismatch { key: name, etag: a }.into());
            }
            (Some(etag), _) | (None, Some(etag)) => etag.to_ascii_lowercase(),
            (None, None) => String::new(),
        };
        // Refused before the response starts: pingora serves it without storing.
        let (dir, entry) = self.open_fill(name, size, header, &etag, filled_by).await?;
        self.fills.insert(entry.clone());
        Ok(Box::new(Fill::new(
            self,
            entry,
            dir,
            Verifier::new(&etag, size),
        )))
    }

    /// Deletes the committed object; fills in flight are left to finish.
    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let name = target.key().combined();
        let existed = blocking("purging", move || Ok(self.remove_object(&name))).await?;
        Ok(if existed {
            PurgeOutcome::Purged(None)
        } else {
            PurgeOutcome::NotFound
        })
    }

    /// Rewrites the stored response headers (tmp + rename); `false` when nothing is stored.
    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let dir = self.layout.object_dir(&key.combined());
        let header = meta.response_header_copy();
        let updated = blocking("updating meta", move || match StoredMeta::read(&dir) {
            Ok(stored) => stored
                .with_response(&header, std::time::SystemTime::now())
                .write(&dir)
                .map(|()| true),
            Err(_) if !dir.exists() => Ok(false),
            Err(e) => Err(e),
        });
        Ok(updated.await?)
    }

    fn support_streaming_partial_write(&self) -> bool {
        true
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}
