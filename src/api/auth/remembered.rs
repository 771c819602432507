//! Right passwords remembered for a short while, so a script calling the API in a loop pays
//! for one argon2 check, not one per request. Memory only; what is kept is an HMAC of the
//! username and password under a key drawn at start, never the password, so the table is
//! useless outside this process. Users come only from the configuration file, which changes
//! only with a restart (a new process, a new key, an empty table).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;

/// How long a right password is taken on trust.
pub(crate) const TTL: Duration = Duration::from_secs(60);
/// Entries kept at most (expired ones are dropped first; if none has, the table starts over).
const MAX_ENTRIES: usize = 1024;

/// The keyed digest of one (username, password) pair.
pub(crate) type Fingerprint = [u8; 32];

/// The remembered logins.
pub(crate) struct Remembered {
    /// `None` when the OS gave no random key: nothing is remembered then.
    key: Option<[u8; 32]>,
    until: Mutex<HashMap<Fingerprint, Instant>>,
}

impl std::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remembered")
            .field("entries", &self.until.lock().len())
            .finish_non_exhaustive()
    }
}

impl Remembered {
    /// An empty table with a fresh random key.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 32];
        let key = match getrandom::fill(&mut key) {
            Ok(()) => Some(key),
            Err(e) => {
                tracing::warn!(error = %e, "no random key: API logins will not be remembered");
                None
            }
        };
        Remembered {
            key,
            until: Mutex::new(HashMap::new()),
        }
    }

    /// The keyed digest of `username` and `password` (`None` without a key).
    pub(crate) fn fingerprint(&self, username: &str, password: &str) -> Option<Fingerprint> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_ref()?).ok()?;
        // The length first, so ("ab", "c") and ("a", "bc") differ.
        mac.update(&(username.len() as u64).to_be_bytes());
        mac.update(username.as_bytes());
        mac.update(password.as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// Was this pair checked right less than [`TTL`] ago?
    pub(crate) fn contains(&self, fingerprint: &Fingerprint, now: Instant) -> bool {
        self.until
            .lock()
            .get(fingerprint)
            .is_some_and(|until| now < *until)
    }

    /// Remembers a pair just checked right.
    pub(crate) fn insert(&self, fingerprint: Fingerprint, now: Instant) {
        let mut until = self.until.lock();
        if until.len() >= MAX_ENTRIES && !until.contains_key(&fingerprint) {
            until.retain(|_, t| now < *t);
            if until.len() >= MAX_ENTRIES {
                until.clear();
            }
        }
        until.insert(fingerprint, now + TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_briefly_and_by_keyed_digest_only() {
        let r = Remembered::new();
        let now = Instant::now();
        let f = r.fingerprint("ops", "right").unwrap();
        assert_ne!(Some(f), r.fingerprint("ops", "wrong"));
        assert_ne!(Some(f), r.fingerprint("op", "sright"));
        assert_ne!(
            Some(f),
            Remembered::new().fingerprint("ops", "right"),
            "per-process key"
        );
        assert!(!r.contains(&f, now));
        r.insert(f, now);
        assert!(r.contains(&f, now + TTL - Duration::from_millis(1)));
        assert!(!r.contains(&f, now + TTL));
        assert!(!format!("{r:?}").contains("right"));
    }

    #[test]
    fn the_table_is_bounded() {
        let r = Remembered::new();
        let now = Instant::now();
        for i in 0..MAX_ENTRIES + 5 {
            r.insert(r.fingerprint("u", &i.to_string()).unwrap(), now);
        }
        assert!(r.until.lock().len() <= MAX_ENTRIES);
    }
}
