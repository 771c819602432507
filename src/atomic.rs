//! Replacing a file so that a reader (or a crash) sees the old content or the new, never a
//! torn one: the state file, a cache object's `meta`, the metadata store's files. Every file
//! written this way is private (0600): they hold private metadata and secrets' fingerprints.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fs_err::os::unix::fs::OpenOptionsExt;

/// Mode of every file hubcache writes.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of every directory hubcache makes.
pub const PRIVATE_DIR: u32 = 0o700;

/// Process-wide sequence for temp names; with the pid it makes every name unique, also
/// between two processes sharing a directory during a graceful upgrade.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// The next number of the process-wide temp-name sequence.
pub fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// A temp name for `path` in its own directory (so a rename onto `path` is atomic).
fn temp_beside(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no file name", path.display())))?;
    Ok(path.with_file_name(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        next_seq()
    )))
}

/// Writes `bytes` into a new private file `path` and fsyncs it; the file must not exist. The
/// caller publishes it with a rename (under whatever lock its index needs).
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces `path` with `bytes`: a private temp file beside it, fsync, rename, then an fsync
/// of the directory (the rename is durable only once the directory entry is on disk). On
/// failure the temp file is removed and `path` is untouched.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_beside(path)?;
    if let Err(e) = write_new(&tmp, bytes).and_then(|()| fs_err::rename(&tmp, path)) {
        let _ = fs_err::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

/// Fsyncs a directory, so a rename or create inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn replace_writes_a_private_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        replace(&path, b"one").unwrap();
        replace(&path, b"two").unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"two");
        let mode = fs_err::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, PRIVATE_FILE);
        let names: Vec<_> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.yaml"], "no temp file left behind");
    }

    #[test]
    fn a_failed_replace_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta");
        replace(&path, b"old").unwrap();
        // A directory where the file should go: the rename fails.
        let blocked = dir.path().join("blocked");
        fs_err::create_dir_all(blocked.join("x")).unwrap();
        assert!(replace(&blocked, b"new").is_err());
        assert_eq!(fs_err::read(&path).unwrap(), b"old");
        assert!(
            write_new(&path, b"again").is_err(),
            "write_new never overwrites"
        );
    }
}
