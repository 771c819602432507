//! Startup: remove leftovers of unfinished fills and deletions from `tmp/`, then rebuild the
//! LRU index from one walk of `objects/` and `meta/` (side files), dropping invalid objects
//! and evicting down to budget. The same walk makes what it visits private (0700 / 0600):
//! earlier releases created everything readable by other users.
//!
//! The disk is the truth (pingora's eviction `save()`/`load()` would be a second copy that
//! can disagree after a crash). Cost per object: one `readdir` entry, one small `meta` read
//! and one `stat` of the body; bodies are never read. Last access is the `meta` file's mtime,
//! which every hit bumps (see `DiskCache::lookup_committed`).

use std::io::Read;
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::budget::Budget;
use super::layout::{
    io_err, is_object_name, make_private, pid_is_alive, tmp_owner, Layout, BODY, META,
};
use super::meta::StoredMeta;
use super::Error;

/// What a startup scan found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Objects indexed.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// `tmp/` entries of dead processes (or of this one) removed.
    pub removed_tmp: u64,
    /// Objects removed because their meta was unreadable or their body had the wrong length.
    pub removed_invalid: u64,
    /// Objects evicted because the budget shrank.
    pub evicted: u64,
}

/// Removes `tmp/` entries whose owner is gone. Entries of our own pid are also removed: at
/// `open` this process has no fill yet, so any such entry belongs to an earlier process that
/// had the same pid. Entries of other live pids (the old process of a graceful upgrade) stay.
pub(crate) fn clean_tmp(layout: &Layout) -> Result<u64, Error> {
    let own = std::process::id();
    let mut removed = 0;
    let entries = fs_err::read_dir(layout.tmp()).map_err(io_err("listing", layout.tmp()))?;
    for entry in entries {
        let entry = entry.map_err(io_err("listing", layout.tmp()))?;
        let name = entry.file_name();
        let owner = name.to_str().and_then(tmp_owner);
        if matches!(owner, Some(pid) if pid != own && pid_is_alive(pid)) {
            continue;
        }
        remove_any(&entry.path());
        removed += 1;
    }
    Ok(removed)
}

/// One shard group's valid objects as `(last access ns, name, size)`, and its invalid count.
type ShardScan = (Vec<(u128, String, u64)>, u64);

/// Walks `objects/<aa>/<bb>/<hex>/`, indexes valid objects in last-access order and returns
/// the report; invalid objects and evicted ones are deleted.
pub(crate) fn rebuild(layout: &Layout, budget: &mut Budget) -> Result<ScanReport, Error> {
    let mut report = ScanReport::default();
    // The walk is syscall- and parse-bound: split the `aa` shards across a few threads (it
    // runs before Pingora starts its runtimes, so nothing else competes for the cores).
    let shards = list(layout.objects())?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    let chunk = shards.len().div_ceil(workers).max(1);
    let results: Vec<Result<ShardScan, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards
            .chunks(chunk)
            .map(|part| scope.spawn(move || scan_shards(layout, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok((Vec::new(), 0))))
            .collect()
    });
    let mut found = super::side::scan(layout)?;
    for result in results {
        let (objects, invalid) = result?;
        found.extend(objects);
        report.removed_invalid += invalid;
    }
    found.sort_unstable();
    for (_, name, size) in found {
        for (victim, _) in budget.insert(&name, size) {
            remove_any(&layout.object_dir(&victim));
            report.evicted += 1;
        }
    }
    let stats = budget.stats();
    (report.objects, report.bytes) = (stats.objects, stats.size_bytes);
    Ok(report)
}

/// Scans some `aa` shards: valid objects as `(last access, name, size)`, and how many invalid
/// ones were removed.
fn scan_shards(layout: &Layout, shards: &[std::path::PathBuf]) -> Result<ShardScan, Error> {
    let mut found = Vec::new();
    let mut invalid = 0;
    for aa in shards {
        for bb in list(aa)? {
            for object in list(&bb)? {
                match check(layout, &object) {
                    Some((name, size, accessed)) => found.push((accessed, name, size)),
                    None => {
                        tracing::warn!(path = %object.display(), "removing an invalid cache object");
                        remove_any(&object);
                        invalid += 1;
                    }
                }
            }
        }
    }
    Ok((found, invalid))
}

/// `(name, size, last access in ns)` of a valid object directory, `None` if invalid.
fn check(layout: &Layout, dir: &Path) -> Option<(String, u64, u128)> {
    let name = dir.file_name()?.to_str()?;
    // A misplaced or foreign name would never be found by a lookup: invalid.
    if !is_object_name(name) || layout.object_dir(name) != dir {
        return None;
    }
    let meta_path = dir.join(META);
    let mut file = fs_err::File::open(&meta_path).ok()?;
    let stat = file.metadata().ok()?;
    make_private(&meta_path, &stat);
    let mtime = stat.modified().ok()?;
    let mut bytes = Vec::with_capacity(4096);
    file.read_to_end(&mut bytes).ok()?;
    let meta = StoredMeta::decode_summary(&bytes)?;
    let body_path = dir.join(BODY);
    let body = fs_err::metadata(&body_path).ok()?;
    if !body.is_file() || body.len() != meta.size {
        return None;
    }
    make_private(&body_path, &body);
    let proofs_path = dir.join(super::proofs::PROOFS);
    if let Ok(proofs) = fs_err::symlink_metadata(&proofs_path) {
        make_private(&proofs_path, &proofs);
    }
    let accessed = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let floor = u128::from(meta.last_access) * 1_000_000_000;
    Some((name.to_owned(), meta.size, accessed.max(floor)))
}

/// Subdirectories of `dir`, made private (files at these levels are not ours: ignored).
fn list(dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let mut dirs = Vec::new();
    for entry in fs_err::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        // One `statx` per directory (the walk already opens and stats each object's files).
        if let Some(meta) = entry.metadata().ok().filter(|m| m.is_dir()) {
            let path = entry.path();
            make_private(&path, &meta);
            dirs.push(path);
        }
    }
    Ok(dirs)
}

/// Deletes a file or directory tree; failures are logged, never fatal (a leftover costs space).
pub(crate) fn remove_any(path: &Path) {
    let result = match fs_err::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs_err::remove_dir_all(path),
        Ok(_) => fs_err::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not remove from the cache directory");
    }
}
