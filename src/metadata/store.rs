//! `MetaStore`: remembered Hub answers (rev → commit, file metadata, API JSON, refusals),
//! in memory and on disk under `<cache.dir>/v1/meta/`, one small JSON file per key written
//! atomically (temp, fsync, rename), so a restart with the Hub down still knows them.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Seconds since the epoch when it was stored.
    pub stored_at: u64,
}

impl Entry {
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
#[derive(Debug)]
pub struct MetaStore {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<String, Entry>>,
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

/// Keys known not to be on disk, and their total length.
#[derive(Debug, Default)]
struct Absent {
    keys: HashSet<String>,
    bytes: usize,
}

/// Most bytes of keys remembered as absent from disk.
const ABSENT_MAX_BYTES: usize = 8 << 20;

impl MetaStore {
    /// A store persisting under `dir` (`None`: memory only).
    pub fn new(dir: Option<PathBuf>) -> Self {
        if let Some(d) = &dir {
            if let Err(err) = fs_err::create_dir_all(d) {
                tracing::warn!(error = %err, "metadata directory unusable; keeping metadata in memory only");
            }
        }
        let on_disk = dir.as_deref().map(list_stored).unwrap_or_default();
        MetaStore {
            dir,
            mem: Mutex::new(HashMap::new()),
            on_disk: Mutex::new(on_disk),
            absent: Mutex::new(Absent::default()),
        }
    }

    /// The file of `key` (`None` without a directory) and its `on_disk` id.
    fn file_for(&self, key: &str) -> Option<(PathBuf, u128)> {
        let dir = self.dir.as_ref()?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let hash = hex::encode(digest);
        let path = dir.join(&hash[..2]).join(format!("{hash}.json"));
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        Some((path, u128::from_be_bytes(id)))
    }

    /// The entry for `key`, from memory or disk. A corrupt file is removed and is a miss.
    pub fn get(&self, key: &str) -> Option<Entry> {
        if let Some(e) = self.mem.lock().get(key) {
            return Some(e.clone());
        }
        if self.absent.lock().keys.contains(key) {
            return None;
        }
        let (path, id) = self.file_for(key)?;
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
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<(String, Entry)>(&bytes) {
            Ok((stored_key, entry)) if stored_key == key => {
                self.mem.lock().insert(key.to_string(), entry.clone());
                Some(entry)
            }
            _ => {
                let _ = std::fs::remove_file(&path);
                self.on_disk.lock().remove(&id);
                None
            }
        }
    }

    /// Remembers `value` for `key` now (memory at once; disk best-effort, atomically).
    pub fn put(&self, key: &str, value: Value) {
        let stored_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let entry = Entry { value, stored_at };
        self.mem.lock().insert(key.to_string(), entry.clone());
        {
            let mut absent = self.absent.lock();
            if absent.keys.remove(key) {
                absent.bytes -= key.len();
            }
        }
        if let Some((path, id)) = self.file_for(key) {
            match write_atomically(&path, &(key, &entry)) {
                Ok(()) => {
                    self.on_disk.lock().insert(id);
                }
                Err(err) => tracing::warn!(error = %err, "could not persist Hub metadata"),
            }
        }
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &str) {
        self.mem.lock().remove(key);
        if let Some((path, id)) = self.file_for(key) {
            let _ = std::fs::remove_file(path);
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

/// The stems of the `<aa>/<hash>.json` files under `dir` (temp files and strays ignored).
fn list_stored(dir: &std::path::Path) -> HashSet<u128> {
    let mut stems = HashSet::new();
    let Ok(shards) = std::fs::read_dir(dir) else {
        return stems;
    };
    for shard in shards.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            if let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) {
                stems.insert(stem_id(stem));
            }
        }
    }
    stems
}

fn write_atomically(path: &std::path::Path, value: &impl Serialize) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut tmp, value).map_err(std::io::Error::other)?;
    tmp.flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_restart_and_drops_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetaStore::new(Some(dir.path().to_path_buf()));
        store.put("rev:a", Value::Commit("c".repeat(40)));
        let reopened = MetaStore::new(Some(dir.path().to_path_buf()));
        assert_eq!(
            reopened.get("rev:a").map(|e| e.value),
            Some(Value::Commit("c".repeat(40)))
        );
        assert!(reopened.get("rev:b").is_none());

        let (path, _) = reopened.file_for("rev:a").unwrap();
        std::fs::write(&path, b"{not json").unwrap();
        let third = MetaStore::new(Some(dir.path().to_path_buf()));
        assert!(third.get("rev:a").is_none());
        assert!(!path.exists(), "a corrupt entry is removed");
    }

    #[test]
    fn keys_remembered_as_absent_stay_within_their_byte_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetaStore::new(Some(dir.path().to_path_buf()));
        for i in 0..40 {
            let key = format!("{i}:{}", "p".repeat(1 << 20));
            assert!(store.get(&key).is_none());
            let absent = store.absent.lock();
            assert!(absent.keys.contains(&key), "just looked up");
            assert!(absent.bytes <= ABSENT_MAX_BYTES, "{} bytes", absent.bytes);
        }
        assert!(store.get("rev:x").is_none());
        store.put("rev:x", Value::Commit("x".repeat(40)));
        let reopened = MetaStore::new(Some(dir.path().to_path_buf()));
        assert!(store.get("rev:x").is_some() && reopened.get("rev:x").is_some());
    }

    #[test]
    fn only_files_listed_at_start_or_written_since_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let first = MetaStore::new(Some(dir.path().to_path_buf()));
        let second = MetaStore::new(Some(dir.path().to_path_buf()));
        first.put("rev:a", Value::Commit("a".repeat(40)));
        // `second` listed the directory before the file existed: a key it never saw costs it
        // no file system call (every resolve asks for a refusal that is almost never there).
        assert!(second.get("rev:a").is_none());
        second.put("rev:b", Value::Commit("b".repeat(40)));
        second.remove("rev:b");
        assert!(second.get("rev:b").is_none());
        let third = MetaStore::new(Some(dir.path().to_path_buf()));
        assert!(third.get("rev:a").is_some() && third.get("rev:b").is_none());
    }
}
