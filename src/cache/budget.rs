//! The byte budget: an exact LRU index of committed objects plus reservations for fills in
//! flight.
//!
//! Why our own instead of pingora's eviction managers: pingora admits an object only when its
//! fill finishes, so bytes in flight are not counted and concurrent fills overshoot the budget;
//! `lru::Manager<N>` is approximate across shards (`docs/pingora.md` "Storage and metadata").
//! Here a fill reserves its announced size when it starts, and least recently used objects are
//! evicted then, so committed + reserved never exceeds `max`. The caller passes no eviction
//! manager to `HttpCache::enable`.
//!
//! Side files (the metadata store's, see `side.rs`) are entries too, so they share the
//! budget and the LRU order with objects; the figures in [`CacheStats`] keep them apart.
//!
//! Pins (`docs/cache-format.md` "Pins"): a pinned name is counted per pin holder. A pinned
//! entry stays indexed and counted in `used`, but is kept out of the LRU `order`, so eviction
//! never sees it; its tick still moves on hits, and unpinning puts it back at that position.
//! A reservation fits only within what pins leave free.
//!
//! Pure bookkeeping: the caller deletes the victims it gets back, under the same lock.

use std::collections::{BTreeMap, HashMap};

/// Counters for metrics (see `DiskCache::stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Bytes of committed objects.
    pub size_bytes: u64,
    /// Committed objects.
    pub objects: u64,
    /// Objects evicted to make room since startup (startup trimming included).
    pub evictions: u64,
    /// Fills currently writing.
    pub fills_in_flight: u64,
    /// Bytes reserved by fills in flight.
    pub reserved_bytes: u64,
    /// The budget, `cache.max_size`.
    pub max_size: u64,
    /// Bytes of side files (remembered Hub metadata), counted in the budget besides objects.
    pub side_bytes: u64,
    /// Side files.
    pub side_files: u64,
    /// Of `size_bytes`: bytes of objects that are pinned (never evicted).
    pub pinned_bytes: u64,
}

#[derive(Debug)]
struct Entry {
    size: u64,
    tick: u64,
    /// When the access time was last written to disk by this process.
    persisted: Option<std::time::Instant>,
}

/// LRU index and reservations. Not synchronised: `DiskCache` keeps it under a mutex.
#[derive(Debug)]
pub(crate) struct Budget {
    max: u64,
    used: u64,
    reserved: u64,
    evictions: u64,
    tick: u64,
    /// Of `used` and `entries`: side files (names that are not object names).
    side_used: u64,
    side_count: u64,
    entries: HashMap<String, Entry>,
    /// tick → object name of every unpinned entry; the first is the least recently used.
    order: BTreeMap<u64, String>,
    /// Pinned names (stored or not) → how many holders pin them.
    pins: HashMap<String, u32>,
    /// Of `used`: indexed entries that are pinned.
    pinned_used: u64,
}

/// An object to delete from disk: name and size.
pub(crate) type Victim = (String, u64);

impl Budget {
    pub(crate) fn new(max: u64) -> Self {
        Self {
            max,
            used: 0,
            reserved: 0,
            evictions: 0,
            tick: 0,
            side_used: 0,
            side_count: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            pins: HashMap::new(),
            pinned_used: 0,
        }
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The accounted size of an indexed entry.
    pub(crate) fn size_of(&self, name: &str) -> Option<u64> {
        self.entries.get(name).map(|e| e.size)
    }

    /// Marks `name` most recently used; false when it is not indexed.
    pub(crate) fn touch(&mut self, name: &str) -> bool {
        self.tick += 1;
        let Some(entry) = self.entries.get_mut(name) else {
            return false;
        };
        let old = std::mem::replace(&mut entry.tick, self.tick);
        if !self.pins.contains_key(name) {
            self.order.remove(&old);
            self.order.insert(self.tick, name.to_owned());
        }
        true
    }

    /// Whether `name`'s access time on disk is due for an update (never written by this
    /// process, or longer ago than `every`); if so, records that it is being written now.
    pub(crate) fn access_due(&mut self, name: &str, every: std::time::Duration) -> bool {
        let now = std::time::Instant::now();
        match self.entries.get_mut(name) {
            Some(e) if e.persisted.is_none_or(|t| now.duration_since(t) >= every) => {
                e.persisted = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Indexes a committed object as most recently used (replacing an older entry of the same
    /// name) and returns the victims needed to get back within budget — never `name` itself
    /// unless it alone exceeds the budget.
    pub(crate) fn insert(&mut self, name: &str, size: u64) -> Vec<Victim> {
        self.remove(name);
        self.tick += 1;
        self.entries.insert(
            name.to_owned(),
            Entry {
                size,
                tick: self.tick,
                persisted: None,
            },
        );
        if self.pins.contains_key(name) {
            self.pinned_used += size;
        } else {
            self.order.insert(self.tick, name.to_owned());
        }
        self.used += size;
        if is_side(name) {
            self.side_used += size;
            self.side_count += 1;
        }
        self.evict_while(|b| b.used + b.reserved > b.max)
    }

    /// Forgets `name`; returns its size if it was indexed.
    pub(crate) fn remove(&mut self, name: &str) -> Option<u64> {
        let entry = self.entries.remove(name)?;
        if self.pins.contains_key(name) {
            self.pinned_used -= entry.size;
        } else {
            self.order.remove(&entry.tick);
        }
        self.forget(name, entry.size);
        Some(entry.size)
    }

    /// Adds a pin holder to `name` (stored or not): while pinned it is never a victim.
    pub(crate) fn pin(&mut self, name: &str) {
        let holders = self.pins.entry(name.to_owned()).or_insert(0);
        *holders += 1;
        if *holders > 1 {
            return;
        }
        if let Some(entry) = self.entries.get(name) {
            self.order.remove(&entry.tick);
            self.pinned_used += entry.size;
        }
    }

    /// Removes a pin holder from `name`. When none is left, a stored entry is evictable again
    /// at its LRU position; the returned victims are what it takes to get back within budget
    /// (only when pins alone exceeded it, e.g. after `cache.max_size` shrank).
    pub(crate) fn unpin(&mut self, name: &str) -> Vec<Victim> {
        let Some(holders) = self.pins.get_mut(name) else {
            return Vec::new();
        };
        *holders -= 1;
        if *holders > 0 {
            return Vec::new();
        }
        self.pins.remove(name);
        if let Some(entry) = self.entries.get(name) {
            self.order.insert(entry.tick, name.to_owned());
            self.pinned_used -= entry.size;
        }
        self.evict_while(|b| b.used + b.reserved > b.max)
    }

    /// Whether `name` is pinned by at least one holder.
    pub(crate) fn is_pinned(&self, name: &str) -> bool {
        self.pins.contains_key(name)
    }

    /// Reserves `size` bytes for a fill, evicting least recently used objects as needed.
    /// `None` (and nothing evicted) when the fill cannot fit even with every unpinned object
    /// evicted: larger than the budget, or the budget is taken by pins and other fills in
    /// flight.
    pub(crate) fn reserve(&mut self, size: u64) -> Option<Vec<Victim>> {
        if self
            .reserved
            .checked_add(self.pinned_used)?
            .checked_add(size)?
            > self.max
        {
            return None;
        }
        self.reserved += size;
        Some(self.evict_while(|b| b.used + b.reserved > b.max))
    }

    /// Returns a reservation of a fill that failed.
    pub(crate) fn release(&mut self, size: u64) {
        self.reserved = self.reserved.saturating_sub(size);
    }

    /// Turns a fill's reservation into the committed object `name` of `size` bytes.
    pub(crate) fn commit(&mut self, name: &str, reserved: u64, size: u64) -> Vec<Victim> {
        self.release(reserved);
        self.insert(name, size)
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            size_bytes: self.used - self.side_used,
            objects: self.entries.len() as u64 - self.side_count,
            evictions: self.evictions,
            fills_in_flight: 0,
            reserved_bytes: self.reserved,
            max_size: self.max,
            side_bytes: self.side_used,
            side_files: self.side_count,
            pinned_bytes: self.pinned_used,
        }
    }

    /// The indexed side files' names.
    pub(crate) fn side_names(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter(|n| is_side(n))
            .cloned()
            .collect()
    }

    /// Takes an entry that left the index out of the totals.
    fn forget(&mut self, name: &str, size: u64) {
        self.used -= size;
        if is_side(name) {
            self.side_used -= size;
            self.side_count -= 1;
        }
    }

    /// Evicts from the LRU order (which holds no pinned entry) while `over`.
    fn evict_while(&mut self, over: impl Fn(&Self) -> bool) -> Vec<Victim> {
        let mut victims = Vec::new();
        while over(self) {
            let Some((_, name)) = self.order.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&name) {
                self.forget(&name, entry.size);
                if !is_side(&name) {
                    self.evictions += 1;
                }
                victims.push((name, entry.size));
            }
        }
        victims
    }
}

/// Whether a name is a side file's (anything but an object name).
fn is_side(name: &str) -> bool {
    !super::layout::is_object_name(name)
}

#[cfg(test)]
mod tests;
