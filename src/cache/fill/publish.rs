//! Publishing a verified fill: its directory renamed into `objects/` under the budget lock.

use std::path::Path;

use super::Inflight;
use crate::cache::layout::{create_private_dir_all, io_err, sync_dir, BODY};
use crate::cache::scan::remove_any;
use crate::cache::{DiskCache, Error};

impl DiskCache {
    /// Publishes a verified fill: fsync the body, write `meta` last inside the fill directory,
    /// then rename the directory into `objects/` under the budget lock, so the index and the
    /// disk change together (an eviction cannot interleave).
    pub(super) fn publish(&self, entry: &Inflight, dir: &Path) -> Result<(), Error> {
        let body = dir.join(BODY);
        entry.file.sync_all().map_err(io_err("syncing", &body))?;
        entry.meta.write(dir)?;
        if let Some(who) = &entry.filled_by {
            crate::cache::proofs::append(dir, who)?;
        }
        let target = self.layout.object_dir(&entry.name);
        let parent = target
            .parent()
            .unwrap_or(self.layout.objects())
            .to_path_buf();
        create_private_dir_all(&parent)?;
        let trash = {
            let mut budget = self.budget.lock();
            let mut trash = Vec::new();
            if let Err(e) = fs_err::rename(dir, &target) {
                if !target.exists() {
                    return Err(Error::Io {
                        op: "publishing",
                        path: dir.to_path_buf(),
                        source: e,
                    });
                }
                // A concurrent fill of the same etag published first: same verified bytes.
                // Replace it, so the index entry and the directory are one generation.
                crate::cache::proofs::carry_over(&target, dir);
                let old = self.layout.trash_dir();
                fs_err::rename(&target, &old).map_err(io_err("replacing", &target))?;
                trash.push(old);
                fs_err::rename(dir, &target).map_err(io_err("publishing", dir))?;
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
