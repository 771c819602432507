//! May this request be served a blob another remote stored? Blobs are shared by etag, and an
//! etag is only what the remote's upstream *claims*: a remote whose credentials have not
//! shown they can serve the bytes (see `cache/proofs.rs`) is asked for a small sampled range
//! of them, through its own resolution, before the stored copy is trusted for it.

use std::sync::Arc;

use rand::Rng;

use super::ContentProxy;
use crate::hub::HubRoute;
use crate::metadata::{FileAnswer, KnownFile};
use crate::model::{Policy, Remote};

/// Bytes compared by one sample: far too many to guess, few enough for one round trip.
const SAMPLE: u64 = 4096;

/// Whether the stored (or filling) blob of `known` may be served to `remote`. When the blob
/// is stored but not yet proven for these credentials, `known` may get a fresh download URL
/// (a remembered answer has none) and the remote's upstream is sampled at a random offset;
/// a match is recorded. `false`: this request must fetch its own bytes (a fill of its own,
/// verified against the etag, which proves it in turn).
pub(super) async fn may_share(
    proxy: &ContentProxy,
    remote: &Arc<Remote>,
    known: &mut KnownFile,
    route: &HubRoute,
    upstream_path: &str,
) -> bool {
    let Some(disk) = proxy.disk else {
        return false;
    };
    if remote.policy != Policy::OnDemand {
        return false;
    }
    let who = proxy.metadata.credentials_of(remote);
    let etag = known.target.etag.clone();
    if disk.is_proven(&etag, &who).await {
        return true;
    }
    if !disk.contains(&etag) {
        // Cold, or filled by others right now: a fill of its own.
        return false;
    }
    if known.target.url.is_empty() {
        match proxy
            .metadata
            .resolve(remote, route, upstream_path, true, true)
            .await
        {
            Ok(FileAnswer::Found(fresh))
                if fresh.target.etag == etag && !fresh.target.url.is_empty() =>
            {
                known.target = fresh.target;
            }
            _ => return false,
        }
    }
    let size = known.target.size;
    let len = SAMPLE.min(size);
    let offset = rand::thread_rng().gen_range(0..=size - len);
    let len = usize::try_from(len).unwrap_or(0);
    let (theirs, ours) = futures::join!(
        proxy
            .metadata
            .hub()
            .sample(remote, &known.target.url, offset, len),
        disk.read_stored(&etag, offset, len)
    );
    match (theirs, ours) {
        (Ok(Some(theirs)), Some(ours)) if theirs == ours => {
            disk.record_proof(&etag, who);
            true
        }
        (Ok(_), Some(_)) => {
            tracing::warn!(
                remote = %remote.name,
                etag = %etag,
                "the remote's upstream did not serve a sampled range of a stored blob it names: serving it a fill of its own instead"
            );
            false
        }
        _ => false,
    }
}
