//! The hot tier: small committed objects kept in memory after their first hit, and the
//! `DiskCache` lookups that use it only while the object is still indexed.

use std::sync::Arc;

use bytes::Bytes;

use super::PERSIST_ACCESS_EVERY;
use crate::cache::layout::META;
use crate::cache::meta::StoredMeta;
use crate::cache::DiskCache;

/// Small committed objects (≤ `INLINE`) kept in memory after their first hit, so later hits
/// never leave the runtime thread (no blocking-pool hand-off, no syscall). Bounded by bytes;
/// when full it is simply emptied. The budget index stays the source of truth: an entry is
/// used only while its object is indexed (so an evicted or removed object is never served
/// from here), and bodies were verified when stored.
#[derive(Default)]
pub(crate) struct HotObjects {
    map: parking_lot::Mutex<HotMap>,
}

/// Hot objects by object name and by etag (the content service asks by etag, which spares
/// it the key hashing), and the bytes they hold.
#[derive(Default)]
struct HotMap {
    by_name: std::collections::HashMap<String, Arc<Hot>>,
    by_etag: std::collections::HashMap<String, Arc<Hot>>,
    bytes: u64,
}

/// One hot object: its name, meta and whole body.
pub(crate) struct Hot {
    pub(crate) name: String,
    pub(crate) meta: StoredMeta,
    pub(crate) body: Bytes,
}

/// Bytes of bodies the hot tier may hold.
const HOT_BYTES: u64 = 64 * 1024 * 1024;

impl HotObjects {
    fn get(&self, name: &str) -> Option<Arc<Hot>> {
        self.map.lock().by_name.get(name).cloned()
    }

    /// By normalised etag (lowercase hex, as `StoredMeta::etag`).
    pub(crate) fn get_by_etag(&self, etag: &str) -> Option<Arc<Hot>> {
        self.map.lock().by_etag.get(etag).cloned()
    }

    pub(super) fn put(&self, name: &str, meta: &StoredMeta, body: &Bytes) {
        let mut map = self.map.lock();
        if map.bytes + body.len() as u64 > HOT_BYTES {
            *map = HotMap::default();
        }
        map.bytes += body.len() as u64;
        let hot = Arc::new(Hot {
            name: name.to_string(),
            meta: meta.clone(),
            body: body.clone(),
        });
        map.by_etag.insert(meta.etag.clone(), hot.clone());
        if let Some(old) = map.by_name.insert(name.to_string(), hot) {
            map.bytes = map.bytes.saturating_sub(old.body.len() as u64);
        }
    }

    fn forget(&self, name: &str) {
        let mut map = self.map.lock();
        if let Some(old) = map.by_name.remove(name) {
            map.by_etag.remove(&old.meta.etag);
            map.bytes = map.bytes.saturating_sub(old.body.len() as u64);
        }
    }
}

impl DiskCache {
    /// The hot copy of `name` if it is still indexed (a hit: the LRU is touched, and the
    /// access time persisted now and then); an object evicted or removed since is forgotten
    /// here and never served from memory.
    pub(crate) fn hot_hit(&self, name: &str) -> Option<Arc<Hot>> {
        let hot = self.hot.get(name)?;
        self.hot_touch(hot)
    }

    /// [`Self::hot_hit`] by normalised etag.
    pub(crate) fn hot_hit_by_etag(&self, etag: &str) -> Option<Arc<Hot>> {
        let hot = self.hot.get_by_etag(etag)?;
        self.hot_touch(hot)
    }

    fn hot_touch(&self, hot: Arc<Hot>) -> Option<Arc<Hot>> {
        let name = hot.name.as_str();
        let (indexed, persist) = {
            let mut budget = self.budget.lock();
            let indexed = budget.touch(name);
            (
                indexed,
                indexed && budget.access_due(name, PERSIST_ACCESS_EVERY),
            )
        };
        if !indexed {
            self.hot.forget(name);
            return None;
        }
        if persist {
            let meta_path = self.layout.object_dir(name).join(META);
            // Fire and forget: only the LRU order across restarts depends on it.
            drop(tokio::task::spawn_blocking(move || {
                let _ = fs_err::OpenOptions::new()
                    .write(true)
                    .open(&meta_path)
                    .and_then(|f| f.file().set_modified(std::time::SystemTime::now()));
            }));
        }
        Some(hot)
    }
}
