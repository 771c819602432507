//! Where things live under `cache.dir`: `v1/objects/<aa>/<bb>/<hex>/{meta,body}` for
//! committed objects, `v1/meta/<aa>/<file>` for side files (the metadata store's, see
//! `side.rs`) and `v1/tmp/` for fills in progress, side files being written and objects being
//! deleted.
//!
//! Everything is private to the owner (directories 0700, files 0600): the cache holds the
//! bytes of private repositories. Modes are given explicitly at creation, so the process
//! umask cannot widen them.
//!
//! The format version is part of the path (`v1`), so a future format lives beside this one
//! instead of being misread by it. Every name in `tmp/` carries the pid of the process that
//! made it (`<hex>.<pid>.<seq>` for a fill, `trash.<pid>.<seq>` for a deletion): during a
//! graceful upgrade two processes share the directory, and neither may delete the other's
//! fills (`docs/cache-format.md` "Graceful upgrade").

use std::io;
use std::path::{Path, PathBuf};

use super::Error;

/// The on-disk format version, as a path component.
pub(crate) const FORMAT_DIR: &str = "v1";
/// File name of an object's meta (see `meta.rs`).
pub(crate) const META: &str = "meta";
/// File name of an object's body.
pub(crate) const BODY: &str = "body";
/// Directory of side files, under the format directory; also the first component of their
/// budget names (`meta/<aa>/<file>`).
pub(crate) const SIDE_DIR: &str = "meta";
/// Mode of every directory the cache creates.
pub(crate) const DIR_MODE: u32 = crate::atomic::PRIVATE_DIR;
/// Mode of every file the cache creates.
pub(crate) const FILE_MODE: u32 = crate::atomic::PRIVATE_FILE;
/// Prefix of directories that are being deleted.
const TRASH: &str = "trash";

/// The paths of one cache directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    dir: PathBuf,
    root: PathBuf,
    objects: PathBuf,
    tmp: PathBuf,
    side: PathBuf,
}

impl Layout {
    /// The layout under `dir` (nothing is created).
    pub(crate) fn new(dir: &Path) -> Self {
        let root = dir.join(FORMAT_DIR);
        Self {
            dir: dir.to_path_buf(),
            objects: root.join("objects"),
            tmp: root.join("tmp"),
            side: root.join(SIDE_DIR),
            root,
        }
    }

    /// Creates `objects/`, `tmp/` and `meta/` (mode 0700), and makes `cache.dir` and those
    /// directories private if an earlier release or the operator left them open (the walk
    /// at start fixes what is below them).
    pub(crate) fn create(&self) -> Result<(), Error> {
        for dir in [&self.objects, &self.tmp, &self.side] {
            create_private_dir_all(dir)?;
        }
        for dir in [&self.dir, &self.root, &self.objects, &self.tmp, &self.side] {
            if let Ok(meta) = fs_err::metadata(dir) {
                make_private(dir, &meta);
            }
        }
        Ok(())
    }

    /// `v1/`: side files' budget names are relative to it.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `v1/meta/`.
    pub(crate) fn side(&self) -> &Path {
        &self.side
    }

    pub(crate) fn objects(&self) -> &Path {
        &self.objects
    }

    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// `objects/<aa>/<bb>/<hex>`: two fan-out levels keep directories small at 100k objects.
    pub(crate) fn object_dir(&self, hex: &str) -> PathBuf {
        let (aa, bb) = fan_out(hex);
        self.objects.join(aa).join(bb).join(hex)
    }

    /// A fresh `tmp/<hex>.<pid>.<seq>` directory name for a fill.
    pub(crate) fn fill_dir(&self, hex: &str) -> PathBuf {
        self.tmp
            .join(format!("{hex}.{}.{}", std::process::id(), next_seq()))
    }

    /// A fresh `tmp/trash.<pid>.<seq>` name: an object is renamed there (atomic, so readers see
    /// it either whole or gone) and then deleted at leisure.
    pub(crate) fn trash_dir(&self) -> PathBuf {
        self.tmp
            .join(format!("{TRASH}.{}.{}", std::process::id(), next_seq()))
    }
}

pub(crate) use crate::atomic::next_seq;

/// The two fan-out components of an object name (`"ab"`, `"cd"` for `"abcd…"`).
fn fan_out(hex: &str) -> (&str, &str) {
    // Names come from `CacheKey::combined()` (32 hex digits); guard anyway so a short name
    // cannot panic.
    match (hex.get(0..2), hex.get(2..4)) {
        (Some(aa), Some(bb)) => (aa, bb),
        _ => ("__", "__"),
    }
}

/// Whether `name` is an object directory name: 32 lowercase hex digits.
pub(crate) fn is_object_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The pid that owns a `tmp/` entry named `<x>.<pid>.<seq>`, if the name has that shape.
pub(crate) fn tmp_owner(name: &str) -> Option<u32> {
    let mut parts = name.rsplitn(3, '.');
    let _seq: u64 = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next()?;
    Some(pid)
}

/// Whether a process with this pid exists (Linux: `/proc/<pid>`). A reused pid keeps a
/// leftover alive until the next start; that costs disk space, never correctness.
pub(crate) fn pid_is_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// `create_dir_all` with mode 0700 for every directory it creates.
pub(crate) fn create_private_dir_all(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err("creating", dir))
}

/// Creates one directory, mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err("creating", dir))
}

/// Options that create a new file of mode 0600 for reading and writing.
pub(crate) fn private_file_options() -> fs_err::OpenOptions {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let mut options = fs_err::OpenOptions::new();
    options
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE);
    options
}

/// Removes group and other permissions from `path` (described by `meta`, from a walk that
/// stat'ed it anyway) if it has any; a failure is logged (the cache still works, but its
/// bytes may be readable by other users). Whether the mode was changed.
pub(crate) fn make_private(path: &Path, meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o077 == 0 || meta.file_type().is_symlink() {
        return false;
    }
    let private = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
    match fs_err::set_permissions(path, std::fs::Permissions::from_mode(private)) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), error = %e, "cache path readable by other users and its mode cannot be fixed");
            false
        }
    }
}

/// Fsyncs a directory, so a rename or create inside it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    crate::atomic::sync_dir(dir).map_err(io_err("syncing", dir))
}

/// Maps an `io::Error` to [`Error::Io`] naming the operation and the path.
pub(crate) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let layout = Layout::new(Path::new("/c"));
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            layout.object_dir(hex),
            Path::new("/c/v1/objects/01/23").join(hex)
        );
        assert!(is_object_name(hex));
        for bad in ["0123", "0123456789ABCDEF0123456789ABCDEF", "trash.1.2"] {
            assert!(!is_object_name(bad), "{bad}");
        }
        let fill = layout.fill_dir(hex);
        let name = fill.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(tmp_owner(name), Some(std::process::id()), "{name}");
        let trash = layout.trash_dir();
        let name = trash.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(tmp_owner(name), Some(std::process::id()), "{name}");
        for (name, want) in [
            ("x.12.3", Some(12)),
            ("x.y", None),
            ("x.12.y", None),
            ("12.3", None),
        ] {
            assert_eq!(tmp_owner(name), want, "{name}");
        }
        assert!(pid_is_alive(std::process::id()));
    }
}
