//! Which credentials have shown they can serve a stored blob.
//!
//! Blobs are shared across remotes by their etag (content-addressed), but an etag is only a
//! claim: a remote whose upstream merely *names* the digest of a private file must not be
//! handed that file. A blob is served to a remote only when that remote's credentials (a
//! fingerprint of its URL, token and extra headers) are recorded here as able to serve those
//! bytes: because they filled it (the fill verified what their upstream sent), or because their
//! upstream answered a sampled range of it with the stored bytes (the content service checks
//! that, see `content/proof.rs`).
//!
//! Records live in the object's directory (`proofs`: one 32-hex line per credentials), so they
//! are evicted with the object and survive restarts; memory holds what was read or learned.

use fs_err::os::unix::fs::{FileExt, OpenOptionsExt};
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::Path;

use parking_lot::Mutex;
use pingora::cache::key::CacheHashKey;

use super::layout::io_err;
use super::{blocking, key_for_etag, DiskCache, Error};
use crate::hub::headers::normalize_etag;

/// A fingerprint of the credentials a remote presents upstream.
pub type Credentials = [u8; 16];

/// File name of an object's proof records.
pub(crate) const PROOFS: &str = "proofs";

/// Objects whose proofs are held in memory; the least recently asked are forgotten (and read
/// again from disk when needed).
const MAX_KNOWN: usize = 100_000;
/// Credentials remembered per object: more are not recorded (they keep proving themselves).
const MAX_WHO: usize = 64;
/// (credentials, blob) pairs whose sample failed: they may only prove themselves by a
/// verified fill of their own, so an upstream cannot retry windows until one it knows comes up.
const MAX_REFUSED: usize = 100_000;

/// What this process knows of each object's proofs, by normalised etag (cheaper to get on
/// every hit than the object's name, a hash of it).
pub(crate) struct Proofs {
    known: Mutex<lru::LruCache<String, Known>>,
    refused: Mutex<lru::LruCache<(Credentials, String), ()>>,
}

impl Default for Proofs {
    fn default() -> Self {
        let cap = |n: usize| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        Proofs {
            known: Mutex::new(lru::LruCache::new(cap(MAX_KNOWN))),
            refused: Mutex::new(lru::LruCache::new(cap(MAX_REFUSED))),
        }
    }
}

#[derive(Default)]
struct Known {
    /// Whether the object's `proofs` file has been read into `who`.
    loaded: bool,
    who: Vec<Credentials>,
}

impl Proofs {
    /// `Some(answer)` when memory can answer; `None`: the file must be read first.
    fn check(&self, name: &str, who: &Credentials) -> Option<bool> {
        let mut map = self.known.lock();
        let known = map.get(name)?;
        if known.who.contains(who) {
            return Some(true);
        }
        known.loaded.then_some(false)
    }

    fn merge_loaded(&self, name: &str, read: Vec<Credentials>) {
        let mut map = self.known.lock();
        let known = map.get_or_insert_mut(name.to_owned(), Known::default);
        for who in read {
            if !known.who.contains(&who) && known.who.len() < MAX_WHO {
                known.who.push(who);
            }
        }
        known.loaded = true;
    }

    /// Records `who` in memory; `false` if it was already known (or no more are recorded).
    fn learn(&self, name: &str, who: Credentials) -> bool {
        let mut map = self.known.lock();
        let known = map.get_or_insert_mut(name.to_owned(), Known::default);
        if known.who.contains(&who) || known.who.len() >= MAX_WHO {
            return false;
        }
        known.who.push(who);
        true
    }

    fn refuse(&self, name: &str, who: Credentials) {
        self.refused.lock().put((who, name.to_owned()), ());
    }

    fn is_refused(&self, name: &str, who: &Credentials) -> bool {
        self.refused.lock().contains(&(*who, name.to_owned()))
    }
}

/// Parses a `proofs` file; malformed lines are skipped (a torn last line after a crash).
fn parse(text: &str) -> Vec<Credentials> {
    text.lines()
        .filter_map(|line| {
            let mut who = [0u8; 16];
            hex::decode_to_slice(line.trim(), &mut who).ok()?;
            Some(who)
        })
        .collect()
}

fn read(dir: &Path) -> Vec<Credentials> {
    fs_err::read_to_string(dir.join(PROOFS))
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// Appends one record to `<dir>/proofs` (created 0600). A lost record costs one more sampled
/// range later, so no fsync.
pub(crate) fn append(dir: &Path, who: &Credentials) -> Result<(), Error> {
    let path = dir.join(PROOFS);
    let mut file = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(super::layout::FILE_MODE)
        .open(&path)
        .map_err(io_err("opening", &path))?;
    file.write_all(format!("{}\n", hex::encode(who)).as_bytes())
        .map_err(io_err("writing", &path))
}

/// Keeps the records of an object being replaced by a new fill of the same etag.
pub(crate) fn carry_over(from: &Path, to: &Path) {
    for who in read(from) {
        if let Err(e) = append(to, &who) {
            tracing::warn!(error = %e, "could not carry a blob's proof records over");
        }
    }
}

impl DiskCache {
    /// Whether the stored blob of `etag` may be served to `who` (see the module docs).
    pub async fn is_proven(&'static self, etag: &str, who: &Credentials) -> bool {
        let etag = normalize_etag(etag).to_ascii_lowercase();
        if let Some(answer) = self.proofs.check(&etag, who) {
            return answer;
        }
        let dir = self.layout.object_dir(&key_for_etag(&etag).combined());
        let read = blocking("reading proofs", move || Ok(read(&dir)))
            .await
            .unwrap_or_default();
        self.proofs.merge_loaded(&etag, read);
        self.proofs.check(&etag, who).unwrap_or(false)
    }

    /// Whether memory already holds a proof of `who` for the blob of `etag` (no disk read,
    /// nothing remembered: cheap enough for every hit).
    pub fn is_proven_in_memory(&self, etag: &str, who: &Credentials) -> bool {
        let etag = normalize_etag(etag).to_ascii_lowercase();
        self.proofs.check(&etag, who) == Some(true)
    }

    /// Records that `who` can serve the blob of `etag` (in memory at once, on disk shortly).
    pub fn record_proof(&'static self, etag: &str, who: Credentials) {
        let etag = normalize_etag(etag).to_ascii_lowercase();
        if !self.proofs.learn(&etag, who) {
            return;
        }
        let dir = self.layout.object_dir(&key_for_etag(&etag).combined());
        tokio::spawn(blocking("recording a proof", move || {
            // Evicted meanwhile: nothing to record on (memory still knows).
            if dir.is_dir() {
                if let Err(e) = append(&dir, &who) {
                    tracing::warn!(error = %e, "could not record a blob's proof");
                }
            }
            Ok(())
        }));
    }

    /// Remembers that `who` failed a sample of the blob of `etag`: from now on only a verified
    /// fill of its own proves it (an upstream cannot retry windows until one it knows comes up).
    pub fn refuse_sampling(&self, etag: &str, who: Credentials) {
        self.proofs
            .refuse(&normalize_etag(etag).to_ascii_lowercase(), who);
    }

    /// Whether `who` may still prove itself for the blob of `etag` by a sample.
    pub fn may_sample(&self, etag: &str, who: &Credentials) -> bool {
        !self
            .proofs
            .is_refused(&normalize_etag(etag).to_ascii_lowercase(), who)
    }

    /// The size of the stored blob of `etag`, if it is stored whole.
    pub fn stored_size(&self, etag: &str) -> Option<u64> {
        self.budget.lock().size_of(&key_for_etag(etag).combined())
    }

    /// Remembers a record a fill has just published with its object (`etag` normalised).
    pub(crate) fn learn_proof(&self, etag: &str, who: Credentials) {
        self.proofs.learn(etag, who);
    }

    /// Whether a hit (from a lookup) reads a fill in flight fetched with the credentials
    /// `who`: a request may join its own credentials' fill before the blob is proven.
    pub fn hit_reads_fill_by(hit: &pingora::cache::HitHandler, who: &Credentials) -> bool {
        hit.as_any()
            .downcast_ref::<super::read::Reader>()
            .is_some_and(|reader| reader.reads_fill_by(who))
    }

    /// `len` bytes of the stored blob of `etag` from `offset`, `None` if it is not stored
    /// whole (or cannot be read).
    pub async fn read_stored(
        &'static self,
        etag: &str,
        offset: u64,
        len: usize,
    ) -> Option<Vec<u8>> {
        let name = key_for_etag(etag).combined();
        if !self.budget.lock().contains(&name) {
            return None;
        }
        let path = self.layout.object_dir(&name).join(super::layout::BODY);
        blocking("sampling a stored body", move || {
            let file = fs_err::File::open(&path).map_err(io_err("opening", &path))?;
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, offset)
                .map_err(io_err("reading", &path))?;
            Ok(buf)
        })
        .await
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ([1u8; 16], [2u8; 16]);
        append(dir.path(), &a).unwrap();
        append(dir.path(), &b).unwrap();
        fs_err::OpenOptions::new()
            .append(true)
            .open(dir.path().join(PROOFS))
            .unwrap()
            .write_all(b"0123")
            .unwrap();
        assert_eq!(read(dir.path()), vec![a, b]);
        let mode = fs_err::metadata(dir.path().join(PROOFS))
            .unwrap()
            .permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077, 0);
    }

    #[test]
    fn memory_answers_only_what_it_knows() {
        let proofs = Proofs::default();
        let (a, b) = ([1u8; 16], [2u8; 16]);
        assert_eq!(proofs.check("x", &a), None, "never read: ask the disk");
        assert!(proofs.learn("x", a));
        assert!(!proofs.learn("x", a));
        assert_eq!(proofs.check("x", &a), Some(true));
        assert_eq!(
            proofs.check("x", &b),
            None,
            "learned but not read: ask the disk"
        );
        proofs.merge_loaded("x", vec![]);
        assert_eq!(proofs.check("x", &b), Some(false));
        assert_eq!(proofs.check("x", &a), Some(true));
    }
}
