//! `MetaStore`: remembered Hub answers (rev → commit, file metadata, API JSON, refusals).
//!
//! What a stored file needs to be served while the Hub is down (its commit and metadata, API
//! answers) is kept in memory and as side files of the disk cache (`v1/meta/<aa>/<hash>.json`,
//! one small JSON file per key, written atomically), so a restart with the Hub down still
//! knows it. Side files are in the cache's byte budget and LRU order: under pressure they are
//! evicted like objects. Refusals (404s) stay in memory only, in a bounded LRU: clients choose
//! the paths, and a flood of junk URLs must cost neither disk nor unbounded memory.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::DiskCache;

/// A remembered upstream answer (the body is small JSON: never a file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    /// Status code.
    pub status: u16,
    /// Headers as received (rewriting happens per request, since it depends on `Host`).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// File metadata from the first Hub hop, without the (expiring) download URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// 40-hex commit.
    pub commit: String,
    /// Normalised etag (sha1 or sha256).
    pub etag: String,
    /// Exact size.
    pub size: u64,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
}

/// What a key maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A branch or tag → commit.
    Commit(String),
    /// `(commit, path)` → file metadata (immutable).
    File(StoredFile),
    /// An `api/…` answer.
    Answer(StoredAnswer),
    /// A Hub refusal (404 `EntryNotFound`, `RevisionNotFound`, `RepoNotFound`).
    Refusal(StoredAnswer),
}

/// A value and when it was learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The value.
    pub value: Value,
    /// Seconds since the epoch when it was stored.
    pub stored_at: u64,
}

impl Remembered {
    /// How long ago it was stored.
    pub fn age(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Duration::from_secs(now.saturating_sub(self.stored_at))
    }
}

/// Memory in front of disk; the disk is the truth across restarts.
pub struct MetaStore {
    disk: Option<&'static DiskCache>,
    /// Remembered entries (not refusals), and when their side file was last marked used.
    mem: Mutex<HashMap<String, (Remembered, Instant)>>,
    /// Refusals: memory only, least recently used dropped first.
    refusals: Mutex<Refusals>,
    /// Files present on disk, by the first 128 bits of their key's sha256 (a collision costs
    /// one read: `get` checks the key stored in the file), listed once at start and kept up to
    /// date, so a key that was never stored costs no file system call (every `resolve` asks
    /// for a refusal first).
    on_disk: Mutex<HashSet<u128>>,
    /// Keys looked up and known not to be on disk, so the next lookup skips hashing them
    /// (every resolve asks for a refusal that is almost never there). Emptied when it reaches
    /// [`ABSENT_MAX_BYTES`] of keys: clients choose the paths.
    absent: Mutex<Absent>,
}

impl std::fmt::Debug for MetaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaStore")
            .field("on_disk", &self.disk.is_some())
            .field("entries", &self.mem.lock().len())
            .field("refusals", &self.refusals.lock().lru.len())
            .finish()
    }
}

/// Keys known not to be on disk, and their total length.
#[derive(Debug, Default)]
struct Absent {
    keys: HashSet<String>,
    bytes: usize,
}

/// Most bytes of keys remembered as absent from disk.
const ABSENT_MAX_BYTES: usize = 8 << 20;

/// Remembered refusals and their approximate size.
struct Refusals {
    lru: lru::LruCache<String, Remembered>,
    bytes: usize,
}

/// Most refusals remembered.
const REFUSALS_MAX: usize = 20_000;
/// Most bytes of refusals (keys, headers and bodies) remembered.
const REFUSALS_MAX_BYTES: usize = 16 << 20;

/// A side file in use is marked used in the cache's LRU at most this often (memory hits
/// would otherwise take the budget lock on every resolve).
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// The bytes a refusal holds in memory, roughly.
fn refusal_bytes(key: &str, entry: &Remembered) -> usize {
    let answer = match &entry.value {
        Value::Refusal(a) | Value::Answer(a) => a,
        _ => return key.len() + 64,
    };
    let headers: usize = answer
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 48)
        .sum();
    key.len() + answer.body.len() + headers + 128
}

impl Refusals {
    fn insert(&mut self, key: &str, entry: Remembered) {
        self.remove(key);
        self.bytes += refusal_bytes(key, &entry);
        self.lru.put(key.to_string(), entry);
        while self.lru.len() > REFUSALS_MAX || self.bytes > REFUSALS_MAX_BYTES {
            let Some((k, e)) = self.lru.pop_lru() else {
                break;
            };
            self.bytes -= refusal_bytes(&k, &e);
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.lru.pop(key) {
            self.bytes -= refusal_bytes(key, &old);
        }
    }
}

impl MetaStore {
    /// A store persisting as side files of `disk` (`None`: memory only).
    pub fn new(disk: Option<&'static DiskCache>) -> Self {
        let on_disk = disk
            .map(|d| {
                d.side_files()
                    .iter()
                    .filter_map(|rel| rel.split('/').nth(1)?.strip_suffix(".json"))
                    .map(stem_id)
                    .collect()
            })
            .unwrap_or_default();
        MetaStore {
            disk,
            mem: Mutex::new(HashMap::new()),
            refusals: Mutex::new(Refusals {
                lru: lru::LruCache::unbounded(),
                bytes: 0,
            }),
            on_disk: Mutex::new(on_disk),
            absent: Mutex::new(Absent::default()),
        }
    }

    /// The side file of `key` (`<aa>/<hash>.json`) and its `on_disk` id.
    fn file_for(key: &str) -> (String, u128) {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let hash = hex::encode(digest);
        let rel = format!("{}/{hash}.json", &hash[..2]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        (rel, u128::from_be_bytes(id))
    }

    /// The entry for `key`, from memory or disk. A corrupt file is removed and is a miss.
    pub fn get(&self, key: &str) -> Option<Remembered> {
        let touch = {
            let mut mem = self.mem.lock();
            match mem.get_mut(key) {
                Some((entry, touched)) => {
                    let due = touched.elapsed() >= TOUCH_EVERY;
                    if due {
                        *touched = Instant::now();
                    }
                    Some((entry.clone(), due))
                }
                None => None,
            }
        };
        if let Some((entry, due)) = touch {
            if let (true, Some(disk)) = (due, self.disk) {
                disk.touch_side_file(&Self::file_for(key).0);
            }
            return Some(entry);
        }
        if let Some(e) = self.refusals.lock().lru.get(key) {
            return Some(e.clone());
        }
        if self.absent.lock().keys.contains(key) {
            return None;
        }
        let disk = self.disk?;
        let (rel, id) = Self::file_for(key);
        if !self.on_disk.lock().contains(&id) {
            let mut absent = self.absent.lock();
            if absent.bytes + key.len() > ABSENT_MAX_BYTES {
                *absent = Absent::default();
            }
            if absent.keys.insert(key.to_string()) {
                absent.bytes += key.len();
            }
            return None;
        }
        let Some(bytes) = disk.read_side_file(&rel) else {
            // Evicted to make room.
            self.on_disk.lock().remove(&id);
            return None;
        };
        match serde_json::from_slice::<(String, Remembered)>(&bytes) {
            Ok((stored_key, entry)) if stored_key == key => {
                self.mem
                    .lock()
                    .insert(key.to_string(), (entry.clone(), Instant::now()));
                Some(entry)
            }
            _ => {
                disk.remove_side_file(&rel);
                self.on_disk.lock().remove(&id);
                None
            }
        }
    }

    /// Remembers `value` for `key` now: a refusal in memory only; anything else in memory at
    /// once and on disk best-effort, atomically.
    pub fn put(&self, key: &str, value: Value) {
        let stored_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let entry = Remembered { value, stored_at };
        if matches!(entry.value, Value::Refusal(_)) {
            self.mem.lock().remove(key);
            self.refusals.lock().insert(key, entry);
            return;
        }
        self.refusals.lock().remove(key);
        self.mem
            .lock()
            .insert(key.to_string(), (entry.clone(), Instant::now()));
        {
            let mut absent = self.absent.lock();
            if absent.keys.remove(key) {
                absent.bytes -= key.len();
            }
        }
        if let Some(disk) = self.disk {
            let (rel, id) = Self::file_for(key);
            let written = serde_json::to_vec(&(key, &entry))
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    disk.write_side_file(&rel, &bytes)
                        .map_err(|e| e.to_string())
                });
            match written {
                Ok(()) => {
                    self.on_disk.lock().insert(id);
                }
                Err(error) => tracing::warn!(%error, "could not persist Hub metadata"),
            }
        }
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &str) {
        self.mem.lock().remove(key);
        self.refusals.lock().remove(key);
        if let Some(disk) = self.disk {
            let (rel, id) = Self::file_for(key);
            disk.remove_side_file(&rel);
            self.on_disk.lock().remove(&id);
        }
    }
}

/// The `on_disk` id of a file stem (the key's sha256 in hex): its first 128 bits; `0` for a
/// stray name.
fn stem_id(stem: &str) -> u128 {
    stem.get(..32)
        .and_then(|prefix| u128::from_str_radix(prefix, 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
