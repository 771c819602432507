//! May this request be served a blob another remote stored? Blobs are shared by etag, and an
//! etag is only what the remote's upstream *claims*: a remote whose credentials have not
//! shown they can serve the bytes (see `cache/proofs.rs`) is asked for a small sampled range
//! of them, through its own resolution, before the stored copy is trusted for it.

use std::sync::Arc;

use rand::Rng;

use super::ContentProxy;
use crate::cache::Credentials;
use crate::hub::HubRoute;
use crate::model::Remote;
use crate::origin::{FileAnswer, KnownFile};

/// Bytes compared by one sample: far too many to guess, few enough for one round trip.
const SAMPLE: u64 = 4096;
/// Blobs up to this size are compared whole (one ranged GET); larger ones in two samples at
/// independent random offsets.
const WHOLE_UP_TO: u64 = 64 * 1024;

/// Whether the stored (or filling) blob of `known` may be served to `remote`. When the blob
/// is stored but not yet proven for these credentials, `known` may get a fresh download URL
/// (a remembered answer has none) and the remote's upstream is sampled at random offsets of
/// the *stored* object; a match is recorded, a failure too (those credentials then prove
/// themselves only by a verified fill of their own, so an upstream cannot retry until a
/// window it happens to know comes up). `false`: this request must fetch its own bytes (a
/// fill of its own, verified against the etag, which proves it in turn).
pub(super) async fn may_share(
    proxy: &ContentProxy,
    remote: &Arc<Remote>,
    who: Credentials,
    known: &mut KnownFile,
    route: &HubRoute,
    upstream_path: &str,
) -> bool {
    let Some(disk) = proxy.disk else {
        return false;
    };
    let etag = known.target.etag.clone();
    if !remote.policy.stores() || !etag.is_digest() {
        return false;
    }
    // The commonest case, every hit after the first: a proof already in memory (it speaks of
    // the content, so it holds whether or not the blob is still stored).
    if disk.is_proven_in_memory(&etag, &who) {
        return true;
    }
    let stored = disk.stored_size(&etag);
    if stored.is_none() && disk.fill_progress(&etag).is_none() {
        // Cold: nothing to share.
        return false;
    }
    if disk.is_proven(&etag, &who).await {
        return true;
    }
    // Filled by others right now: a fill of its own (or join one by the same credentials).
    let Some(size) = stored else {
        return false;
    };
    // The claim must be the stored object: a size that differs is another blob (or a lie
    // that would make the sample cover nothing).
    if known.target.size != size || !disk.may_sample(&etag, &who) {
        return false;
    }
    if known.target.download.is_none() {
        match proxy
            .memory
            .resolve(remote, route, upstream_path, true, true)
            .await
        {
            Ok(FileAnswer::Found(fresh))
                if fresh.target.etag == etag
                    && fresh.target.size == size
                    && fresh.target.download.is_some() =>
            {
                known.target = fresh.target;
            }
            _ => return false,
        }
    }
    let Some(url) = known.target.download.as_ref().map(|d| d.url().to_owned()) else {
        return false;
    };
    let windows = sample_windows(size);
    let mut matched = true;
    for (offset, len) in windows {
        let Ok(len) = usize::try_from(len) else {
            return false;
        };
        let (theirs, ours) = futures::join!(
            proxy.memory.hub().sample(remote, &url, offset, len),
            disk.read_stored(&etag, offset, len)
        );
        let Some(ours) = ours else {
            // Evicted meanwhile: nothing to compare with.
            return false;
        };
        matched &= matches!(theirs, Ok(Some(theirs)) if theirs == ours);
        if !matched {
            break;
        }
    }
    if matched {
        disk.record_proof(&etag, who);
    } else {
        disk.refuse_sampling(&etag, who);
        tracing::warn!(
            remote = %remote.name,
            etag = %etag,
            "the remote's upstream did not serve sampled ranges of a stored blob it names: it gets fills of its own"
        );
    }
    matched
}

/// `(offset, len)` of the ranges to compare for a stored blob of `size` bytes: the whole blob
/// when small, else two windows at independent random offsets (an upstream that knows a
/// fraction f of the bytes passes with probability about f²).
fn sample_windows(size: u64) -> Vec<(u64, u64)> {
    if size == 0 {
        return Vec::new();
    }
    if size <= WHOLE_UP_TO {
        return vec![(0, size)];
    }
    let mut rng = rand::thread_rng();
    (0..2)
        .map(|_| (rng.gen_range(0..=size - SAMPLE), SAMPLE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_small_blobs_whole_and_stay_inside_large_ones() {
        assert!(
            sample_windows(0).is_empty(),
            "an empty blob holds no secret"
        );
        assert_eq!(sample_windows(1), vec![(0, 1)]);
        assert_eq!(sample_windows(WHOLE_UP_TO), vec![(0, WHOLE_UP_TO)]);
        for size in [WHOLE_UP_TO + 1, 10 << 20, 1 << 40] {
            let windows = sample_windows(size);
            assert_eq!(windows.len(), 2);
            for (offset, len) in windows {
                assert_eq!(len, SAMPLE);
                assert!(offset + len <= size, "{offset}+{len} > {size}");
            }
        }
        let offsets: std::collections::HashSet<u64> = (0..20)
            .flat_map(|_| sample_windows(1 << 30))
            .map(|(o, _)| o)
            .collect();
        assert!(offsets.len() > 30, "offsets are random");
    }
}
