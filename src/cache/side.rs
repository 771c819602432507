//! Side files: the small files other parts of hubcache keep under `cache.dir` (the metadata
//! store's remembered Hub answers), at `v1/meta/<shard>/<file>`. They are entries of the same
//! byte budget and LRU order as objects, so everything under `cache.dir` stays within
//! `cache.max_size` and a flood of new metadata evicts like a flood of new objects.
//!
//! A side file's budget name is its path under `v1/` (`meta/<shard>/<file>`), which can never
//! be an object name. Its last access survives restarts as its mtime, like an object's meta.

use std::io::Read;
use std::time::UNIX_EPOCH;

use super::layout::{create_private_dir_all, io_err, make_private, next_seq, Layout, SIDE_DIR};
use super::read::PERSIST_ACCESS_EVERY;
use super::scan::remove_any;
use super::{DiskCache, Error};

/// The budget name of the side file `<shard>/<file>`; `None` unless both parts are plain
/// names (letters, digits, `.`, `-`, `_`, not starting with `.`).
fn side_name(rel: &str) -> Option<String> {
    let (shard, file) = rel.split_once('/')?;
    let plain = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    (plain(shard) && plain(file)).then(|| format!("{SIDE_DIR}/{rel}"))
}

impl DiskCache {
    /// Writes `bytes` as the side file `<shard>/<file>`: a temp file (mode 0600) in `tmp/`,
    /// fsynced, then renamed into place and indexed under the budget lock (so an eviction
    /// cannot interleave), evicting least recently used entries to stay within the budget.
    /// Blocking: a few small file operations.
    pub fn write_side_file(&self, rel: &str, bytes: &[u8]) -> Result<(), Error> {
        let Some(name) = side_name(rel) else {
            return Err(Error::Io {
                op: "naming",
                path: self.layout.side().join(rel),
                source: std::io::Error::other("not a side file name"),
            });
        };
        let target = self.layout.root().join(&name);
        if let Some(parent) = target.parent() {
            create_private_dir_all(parent)?;
        }
        let tmp = self
            .layout
            .tmp()
            .join(format!("side.{}.{}", std::process::id(), next_seq()));
        let written = crate::atomic::write_new(&tmp, bytes).map_err(io_err("writing", &tmp));
        if let Err(e) = written {
            remove_any(&tmp);
            return Err(e);
        }
        let size = bytes.len() as u64;
        let trash = {
            let mut budget = self.budget.lock();
            if let Err(e) = fs_err::rename(&tmp, &target) {
                drop(budget);
                remove_any(&tmp);
                return Err(io_err("publishing", &target)(e));
            }
            let victims = budget.insert(&name, size);
            self.discard(&mut budget, victims)
        };
        trash.iter().for_each(|t| remove_any(t));
        Ok(())
    }

    /// The side file `<shard>/<file>`, marked most recently used; `None` when it is not
    /// stored (never written, or evicted).
    pub fn read_side_file(&self, rel: &str) -> Option<Vec<u8>> {
        let name = side_name(rel)?;
        let path = self.layout.root().join(&name);
        let mut bytes = Vec::new();
        match fs_err::File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
            Ok(_) => {
                self.touch_side_file(rel);
                Some(bytes)
            }
            Err(_) => {
                // Evicted by another process sharing the directory, or removed by hand.
                self.budget.lock().remove(&name);
                None
            }
        }
    }

    /// Marks the side file `<shard>/<file>` most recently used (also on disk, at most once a
    /// minute); false when it is not indexed.
    pub fn touch_side_file(&self, rel: &str) -> bool {
        let Some(name) = side_name(rel) else {
            return false;
        };
        let (indexed, persist) = {
            let mut budget = self.budget.lock();
            let indexed = budget.touch(&name);
            (
                indexed,
                indexed && budget.access_due(&name, PERSIST_ACCESS_EVERY),
            )
        };
        if persist {
            let path = self.layout.root().join(&name);
            let touched = fs_err::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.file().set_modified(std::time::SystemTime::now()));
            if let Err(e) = touched {
                tracing::debug!(path = %path.display(), error = %e, "could not record the access time");
            }
        }
        indexed
    }

    /// Deletes the side file `<shard>/<file>` (if stored).
    pub fn remove_side_file(&self, rel: &str) {
        if let Some(name) = side_name(rel) {
            let mut budget = self.budget.lock();
            budget.remove(&name);
            remove(&self.layout, &name);
        }
    }

    /// The stored side files, as `<shard>/<file>`.
    pub fn side_files(&self) -> Vec<String> {
        let prefix = format!("{SIDE_DIR}/");
        self.budget
            .lock()
            .side_names()
            .into_iter()
            .filter_map(|n| n.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

/// Deletes the side file with this budget name (an evicted victim); a failure is logged.
pub(crate) fn remove(layout: &Layout, name: &str) {
    remove_any(&layout.root().join(name));
}

/// Startup: every side file as `(last access ns, budget name, size)`. Anything else under
/// `meta/` (temp files of an earlier release, strays) is removed; modes are made private.
pub(crate) fn scan(layout: &Layout) -> Result<Vec<(u128, String, u64)>, Error> {
    let mut found = Vec::new();
    let dir = layout.side();
    for shard in fs_err::read_dir(dir).map_err(io_err("listing", dir))? {
        let shard = shard.map_err(io_err("listing", dir))?;
        let shard_path = shard.path();
        let Ok(meta) = fs_err::symlink_metadata(&shard_path) else {
            continue;
        };
        if !meta.is_dir() {
            remove_any(&shard_path);
            continue;
        }
        make_private(&shard_path, &meta);
        for file in fs_err::read_dir(&shard_path).map_err(io_err("listing", &shard_path))? {
            let file = file.map_err(io_err("listing", &shard_path))?;
            let path = file.path();
            let rel = format!(
                "{}/{}",
                shard.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            let name = side_name(&rel);
            let meta = fs_err::symlink_metadata(&path);
            match (name, meta) {
                (Some(name), Ok(meta)) if meta.is_file() => {
                    make_private(&path, &meta);
                    let accessed = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    found.push((accessed, name, meta.len()));
                }
                _ => remove_any(&path),
            }
        }
    }
    Ok(found)
}
