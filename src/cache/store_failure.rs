//! Fills that could not be stored (full disk, quota, budget, I/O error): counted by reason
//! for the metrics, and logged at most once per reason and interval, never per request.
//!
//! Such a download still succeeds: a fill refused at its start is streamed by pingora
//! without storage, and one whose body is verified but cannot be published still gives its
//! readers every byte (see `fill.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Error;

/// How often each reason may be logged: a full disk fails every cold download, and one line
/// per request would flood the log while saying nothing new.
const LOG_EVERY: Duration = Duration::from_secs(300);

/// Why a fill was not stored; the `reason` label of `hubcache_cache_store_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// The file system has no room (`ENOSPC`) or the quota is exhausted (`EDQUOT`).
    NoSpace,
    /// The byte budget could not make room (`cache.max_size` taken by pins and fills in
    /// flight).
    Budget,
    /// Any other file error while preparing, writing or publishing.
    Io,
}

impl StoreFailure {
    /// Every reason, in label order.
    pub const ALL: [StoreFailure; 3] = [Self::NoSpace, Self::Budget, Self::Io];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoSpace => "no_space",
            Self::Budget => "budget",
            Self::Io => "io_error",
        }
    }

    /// The reason a storage error stands for; `None` for errors that are not about storing
    /// (a refused response, a body that failed its check, a reader's error).
    pub(crate) fn of(err: &Error) -> Option<Self> {
        match err {
            Error::NoRoom { .. } => Some(Self::Budget),
            // By kind, not errno: fs_err keeps the kind but not the raw code.
            Error::Io { source, .. } => Some(match source.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    Self::NoSpace
                }
                _ => Self::Io,
            }),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Fills not stored since startup, by reason (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreFailures {
    /// Per [`StoreFailure::ALL`] entry.
    pub counts: [u64; 3],
}

impl StoreFailures {
    /// The count for `reason`.
    pub fn get(&self, reason: StoreFailure) -> u64 {
        self.counts[reason.index()]
    }
}

/// The counters and the log limiter.
#[derive(Default)]
pub(crate) struct Recorder {
    counts: [AtomicU64; 3],
    logged: Mutex<[Option<Instant>; 3]>,
}

impl Recorder {
    /// Counts `err` if it is a storing failure, and logs it unless its reason was logged
    /// within [`LOG_EVERY`]. Returns its reason.
    pub(crate) fn record(&self, err: &Error, when: &'static str) -> Option<StoreFailure> {
        let reason = StoreFailure::of(err)?;
        self.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let due = {
            let mut logged = self.logged.lock();
            let slot = &mut logged[reason.index()];
            let due = slot.is_none_or(|at| now.duration_since(at) >= LOG_EVERY);
            if due {
                *slot = Some(now);
            }
            due
        };
        if due {
            tracing::warn!(
                reason = reason.label(),
                when,
                error = %err,
                "the disk cache cannot store files: downloads are served without being stored \
                 (counted in hubcache_cache_store_failures_total; logged again in at most {} s)",
                LOG_EVERY.as_secs()
            );
        }
        Some(reason)
    }

    pub(crate) fn snapshot(&self) -> StoreFailures {
        StoreFailures {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(code: i32) -> Error {
        Error::Io {
            op: "writing",
            path: "x".into(),
            source: std::io::Error::from_raw_os_error(code),
        }
    }

    #[test]
    fn reasons_of_errors() {
        let rows = [
            (io(libc::ENOSPC), Some(StoreFailure::NoSpace)),
            (io(libc::EDQUOT), Some(StoreFailure::NoSpace)),
            (io(libc::EIO), Some(StoreFailure::Io)),
            // fs_err wraps the OS error: its kind survives, its errno does not.
            (
                Error::Io {
                    op: "writing",
                    path: "x".into(),
                    source: std::io::Error::new(std::io::ErrorKind::StorageFull, "wrapped"),
                },
                Some(StoreFailure::NoSpace),
            ),
            (
                Error::NoRoom {
                    key: "k".into(),
                    size: 2,
                    max: 1,
                },
                Some(StoreFailure::Budget),
            ),
            (Error::Interrupted { key: "k".into() }, None),
        ];
        for (err, want) in rows {
            assert_eq!(StoreFailure::of(&err), want, "{err:?}");
        }
    }

    #[test]
    fn counts_every_failure_and_ignores_other_errors() {
        let r = Recorder::default();
        for _ in 0..3 {
            r.record(&io(libc::ENOSPC), "test");
        }
        r.record(&io(libc::EIO), "test");
        r.record(&Error::Interrupted { key: "k".into() }, "test");
        let s = r.snapshot();
        assert_eq!(s.get(StoreFailure::NoSpace), 3);
        assert_eq!(s.get(StoreFailure::Io), 1);
        assert_eq!(s.get(StoreFailure::Budget), 0);
    }
}
