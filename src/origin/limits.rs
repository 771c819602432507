//! Per-remote `download_concurrency` (a semaphore) and `rate_limit` (evenly spaced starts).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::model::Remote;

/// Held while an upstream request runs; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

#[derive(Debug)]
struct Limit {
    concurrency: Option<u32>,
    /// The remote version `concurrency` comes from: only a newer one replaces it (a long fill
    /// holds an older snapshot; flipping between the two would hand out fresh permits).
    version: std::time::SystemTime,
    semaphore: Arc<Semaphore>,
    next_start: Instant,
}

/// Limits of every remote, keyed by id and rebuilt when the remote's settings change.
#[derive(Debug, Default)]
pub struct RemoteLimits {
    by_remote: Mutex<HashMap<Uuid, Limit>>,
}

impl RemoteLimits {
    /// Waits for the next rate-limit start time of `remote` only: for metadata exchanges,
    /// which must never queue behind multi-GB downloads (nor deadlock a download that needs
    /// to re-resolve its URL while holding a slot).
    pub async fn pace(&self, remote: &Remote) {
        let wait = {
            let mut map = self.by_remote.lock();
            let limit = map.entry(remote.meta.id).or_insert_with(|| Limit {
                concurrency: remote.download_concurrency,
                version: remote.meta.updated,
                semaphore: Arc::new(Semaphore::new(
                    remote.download_concurrency.unwrap_or(0) as usize
                )),
                next_start: Instant::now(),
            });
            next_wait(limit, remote)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits for a download slot (`download_concurrency`) and for the next rate-limit start.
    pub async fn acquire(&self, remote: &Remote) -> Permit {
        let (semaphore, wait) = {
            let mut map = self.by_remote.lock();
            let limit = map.entry(remote.meta.id).or_insert_with(|| Limit {
                concurrency: remote.download_concurrency,
                version: remote.meta.updated,
                semaphore: Arc::new(Semaphore::new(
                    remote.download_concurrency.unwrap_or(0) as usize
                )),
                next_start: Instant::now(),
            });
            if limit.concurrency != remote.download_concurrency
                && remote.meta.updated > limit.version
            {
                limit.concurrency = remote.download_concurrency;
                limit.version = remote.meta.updated;
                limit.semaphore = Arc::new(Semaphore::new(
                    remote.download_concurrency.unwrap_or(0) as usize,
                ));
            }
            let wait = next_wait(limit, remote);
            let semaphore = limit.concurrency.map(|_| limit.semaphore.clone());
            (semaphore, wait)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        match semaphore {
            Some(s) => Permit(s.acquire_owned().await.ok()),
            None => Permit(None),
        }
    }
}

/// Reserves the next start slot under `rate_limit` and returns how long to wait for it.
fn next_wait(limit: &mut Limit, remote: &Remote) -> Duration {
    match remote.rate_limit.filter(|r| *r > 0) {
        Some(rate) => {
            let now = Instant::now();
            let start = limit.next_start.max(now);
            limit.next_start = start + Duration::from_secs_f64(1.0 / f64::from(rate));
            start - now
        }
        None => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;

    fn remote(concurrency: Option<u32>, rate: Option<u32>) -> Remote {
        Remote {
            rate_limit: rate,
            download_concurrency: concurrency,
            ..Remote::new(Origin::Api, "r", "http://127.0.0.1:1")
        }
    }

    #[tokio::test]
    async fn concurrency_caps_permits() {
        let limits = RemoteLimits::default();
        let r = remote(Some(2), None);
        let a = limits.acquire(&r).await;
        let _b = limits.acquire(&r).await;
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&r)).await;
        assert!(third.is_err(), "a third permit must wait");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(500), limits.acquire(&r)).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn an_older_snapshot_of_the_remote_does_not_reset_its_limit() {
        let limits = RemoteLimits::default();
        let old = remote(Some(1), None);
        let mut new = old.clone();
        new.download_concurrency = Some(2);
        new.meta.updated = old.meta.updated + Duration::from_secs(1);
        let _a = limits.acquire(&new).await;
        let _b = limits.acquire(&new).await;
        // A fill still holding the old snapshot asks: it must wait like everyone else, not get
        // a fresh semaphore of its own (which would let 3 requests run under a limit of 2).
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&old)).await;
        assert!(
            third.is_err(),
            "the old snapshot got a permit beyond the limit"
        );
        let fourth = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&new)).await;
        assert!(fourth.is_err(), "the limit was reset");
    }

    #[tokio::test]
    async fn rate_limit_spaces_starts() {
        let limits = RemoteLimits::default();
        let r = remote(None, Some(20));
        let start = Instant::now();
        for _ in 0..5 {
            limits.acquire(&r).await;
        }
        // 5 starts at 20/s: the last one no earlier than 4 × 50 ms after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(195),
            "{:?}",
            start.elapsed()
        );
    }
}
