//! Pins: blobs that holders (repositories) keep out of eviction (`docs/cache-format.md` "Pins").
//!
//! A holder names its whole pin set at once ([`DiskCache::set_pins`]); a blob pinned by any
//! holder is never an eviction victim, and its bytes count against `cache.max_size` once it is
//! stored. Pins live in memory only: the state file is their single source, and the start-up
//! code passes them to [`DiskCache::open_pinned`] so the start-up trim already respects them.

use std::collections::HashMap;
use std::path::Path;

use bytesize::ByteSize;
use pingora::cache::key::CacheHashKey;

use super::budget::Budget;
use super::{key_for_etag, scan, DiskCache, Error};

/// Who holds a pin: a repository's id.
pub type PinOwner = uuid::Uuid;

/// A holder's pin set as given: `(Hub etag, size in bytes)` per file.
pub type PinFiles = Vec<(String, u64)>;

/// Each holder's pins: object name → size in bytes (as the holder announced it).
#[derive(Debug, Default)]
pub(super) struct Holders(HashMap<PinOwner, HashMap<String, u64>>);

impl Holders {
    /// Pins every holder's names in a fresh budget.
    pub(super) fn pin_all(&self, budget: &mut Budget) {
        self.0.values().flatten().for_each(|(n, _)| budget.pin(n));
    }

    /// Bytes pinned by holders other than `owner`, each object counted once.
    fn others(&self, owner: PinOwner) -> HashMap<&str, u64> {
        self.0
            .iter()
            .filter(|(o, _)| **o != owner)
            .flat_map(|(_, names)| names.iter().map(|(n, s)| (n.as_str(), *s)))
            .collect()
    }
}

/// A pin set that would not fit in the budget next to the other holders' pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the files to pin need {} beyond the {} already pinned by other repositories, \
     but cache.max_size is {}",
    human(*wanted),
    human(*pinned),
    human(*budget)
)]
pub struct PinTooLarge {
    /// Bytes already pinned by other holders.
    pub pinned: u64,
    /// Bytes this pin set adds to theirs (files they already pin are not counted again).
    pub wanted: u64,
    /// `cache.max_size`.
    pub budget: u64,
}

fn human(bytes: u64) -> String {
    ByteSize(bytes).display().iec().to_string()
}

/// Object names and sizes of a pin set, each blob once.
fn named(files: &[(String, u64)]) -> HashMap<String, u64> {
    files
        .iter()
        .map(|(etag, size)| (key_for_etag(etag).combined(), *size))
        .collect()
}

impl DiskCache {
    /// [`DiskCache::open`] with pins already in place, so the start-up trim to the budget
    /// never evicts a pinned blob. `pins`: every holder's set, as for [`DiskCache::set_pins`].
    /// If the pinned blobs alone exceed the budget they are all kept, a warning is logged and
    /// nothing else can be stored until pins are released.
    pub fn open_pinned(
        dir: &Path,
        max_size: u64,
        pins: impl IntoIterator<Item = (PinOwner, PinFiles)>,
    ) -> Result<&'static DiskCache, Error> {
        let mut holders = Holders::default();
        for (owner, files) in pins {
            holders.0.insert(owner, named(&files));
        }
        let cache = Self::open_with(dir, max_size, holders)?;
        let stats = cache.stats();
        if stats.pinned_bytes > max_size {
            tracing::warn!(
                pinned = stats.pinned_bytes,
                max_size,
                "pinned files alone exceed cache.max_size: nothing else can be stored until pins are released"
            );
        }
        Ok(cache)
    }

    /// Makes `files` (Hub etag, size) the whole pin set of `owner`, replacing its previous one:
    /// newly pinned blobs stop being eviction candidates (those not stored yet count once
    /// they are), and blobs no holder pins any longer are evictable again at their LRU
    /// position. Does not check the budget: see [`DiskCache::check_pin_fits`].
    pub fn set_pins(&self, owner: PinOwner, files: PinFiles) {
        let new = named(&files);
        let mut holders = self.pins.lock();
        let old = holders.0.remove(&owner).unwrap_or_default();
        let trash = {
            let mut budget = self.budget.lock();
            new.keys()
                .filter(|n| !old.contains_key(*n))
                .for_each(|n| budget.pin(n));
            let victims: Vec<_> = old
                .keys()
                .filter(|n| !new.contains_key(*n))
                .flat_map(|n| budget.unpin(n))
                .collect();
            self.discard(&mut budget, victims)
        };
        if !new.is_empty() {
            holders.0.insert(owner, new);
        }
        drop(holders);
        trash.iter().for_each(|t| scan::remove_any(t));
    }

    /// Releases every pin of `owner` (a repository unpinned or deleted).
    pub fn release_pins(&self, owner: PinOwner) {
        self.set_pins(owner, Vec::new());
    }

    /// Bytes of stored blobs that are pinned (the `hubcache_pinned_bytes` gauge).
    pub fn pinned_bytes(&self) -> u64 {
        self.budget.lock().stats().pinned_bytes
    }

    /// Whether the blob with this etag is pinned by some holder (stored or not).
    pub fn is_pinned(&self, etag: &str) -> bool {
        self.budget.lock().is_pinned(&key_for_etag(etag).combined())
    }

    /// Whether `files` would fit as `owner`'s pin set: the other holders' pins plus these
    /// (each blob counted once, with the announced sizes, stored or not) within
    /// `cache.max_size`. `owner`'s current pins are not counted: the set replaces them. Call
    /// it before downloading, with the sizes of every file the new set will pin.
    pub fn check_pin_fits(
        &self,
        owner: PinOwner,
        files: &[(String, u64)],
    ) -> Result<(), PinTooLarge> {
        let budget = self.budget.lock().stats().max_size;
        let holders = self.pins.lock();
        let others = holders.others(owner);
        let pinned: u64 = others.values().sum();
        let wanted: u64 = named(files)
            .iter()
            .filter(|(n, _)| !others.contains_key(n.as_str()))
            .map(|(_, s)| *s)
            .sum();
        if pinned.saturating_add(wanted) > budget {
            return Err(PinTooLarge {
                pinned,
                wanted,
                budget,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_says_what_is_pinned_and_the_budget() {
        let e = PinTooLarge {
            pinned: 3 << 30,
            wanted: 1536 << 20,
            budget: 4 << 30,
        };
        assert_eq!(
            e.to_string(),
            "the files to pin need 1.5 GiB beyond the 3.0 GiB already pinned by other \
             repositories, but cache.max_size is 4.0 GiB"
        );
    }
}
