//! Parallel ranged fills (`docs/parallel-fills.md`): a cold GET of a large file on a storing
//! remote starts a fill that hubcache drives itself — up to the remote's
//! `download_concurrency` ranged requests at a time, each piece written in place — before
//! Pingora's cache lookup. The lookup then finds the fill like any fill in flight, and this
//! request is served from it as a joined one: bytes in order as the contiguous prefix grows,
//! the last byte once the digest is checked.
//!
//! `start` decides and sends the first piece's request (so a refusal still reaches the client
//! through Pingora's ordinary miss, as today); `driver` runs the fill to its end, whoever reads
//! it.

mod checks;
mod driver;

use std::time::Instant;

use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::{caching, ContentProxy, RequestCtx};
use crate::cache::StartClaim;
use crate::model::Remote;
use checks::First;
use driver::Driver;

/// Files smaller than this are fetched on one stream: their fill is over in about a second
/// of a CDN connection, and pieces would cost more round trips than they save.
pub const PARALLEL_MIN: u64 = 64 << 20;
/// Workers of a fill on a remote without `download_concurrency` (as `hf_transfer` and
/// `hf_xet` open by default about as many connections).
const DEFAULT_WORKERS: u32 = 8;
/// Piece sizes: at least this, so a piece amortises its request.
const MIN_PIECE: u64 = 16 << 20;
/// At most this, up to 16 GiB files, so the prefix moves on often and a slow connection holds
/// back little.
const MAX_PIECE: u64 = 64 << 20;
/// At most this for files over 16 GiB, so a fill has a few hundred pieces at most.
const HUGE_PIECE: u64 = 256 << 20;

/// How many workers fill a file on `remote`: its `download_concurrency`, else a default.
fn workers(remote: &Remote) -> u32 {
    remote.download_concurrency.unwrap_or(DEFAULT_WORKERS)
}

/// The piece size for a file of `size` bytes filled by `workers`: about four pieces per
/// worker (a slow connection then holds one piece, not a quarter of the file), rounded up to
/// whole MiB, within [`MIN_PIECE`] and [`MAX_PIECE`] (or [`HUGE_PIECE`]).
pub fn piece_size(size: u64, workers: u32) -> u64 {
    let max = if size > 16 << 30 {
        HUGE_PIECE
    } else {
        MAX_PIECE
    };
    let wanted = size / (4 * u64::from(workers.max(1)));
    let mib = 1 << 20;
    (wanted.div_ceil(mib) * mib).clamp(MIN_PIECE, max)
}

/// The pieces of a file of `size` bytes.
pub fn pieces(size: u64, piece: u64) -> Vec<std::ops::Range<u64>> {
    (0..size.div_ceil(piece))
        .map(|i| i * piece..((i + 1) * piece).min(size))
        .collect()
}

/// Starts a parallel fill of this request's file when it applies (see the module docs):
/// on return a fill of the file is registered (this request joins it in the lookup), or the
/// request goes on through Pingora's ordinary miss. Never fails the request.
pub async fn start(proxy: &ContentProxy, session: &Session, ctx: &mut RequestCtx) {
    let Some(disk) = caching::storing_disk(proxy, ctx) else {
        return;
    };
    // Everything a hit (most requests for large files) needs is checked before any clone.
    let (Some(target), Some(remote), Some(route)) =
        (&ctx.file.target, &ctx.routing.remote, &ctx.routing.route)
    else {
        return;
    };
    let headers = &session.req_header().headers;
    let plain_get = !caching::PARTIAL_OR_CONDITIONAL
        .iter()
        .any(|h| headers.contains_key(h));
    let workers = workers(remote);
    if !plain_get || target.size < PARALLEL_MIN || workers < 2 || target.download.is_none() {
        return;
    }
    // Stored or filling: nothing to start.
    let busy = || disk.contains(&target.etag) || disk.fill_progress(&target.etag).is_some();
    if busy() {
        return;
    }
    // A parallel fill of this file failed a moment ago: Pingora's single stream this time.
    if disk.pieces_failed_recently(&target.etag) {
        return;
    }
    // One start per file: a request that finds another starting waits for it, then joins
    // its fill in the lookup (or, if it did not start, goes on through Pingora's miss).
    let _claim: StartClaim = match disk.claim_start(&target.etag) {
        Ok(claim) => claim,
        Err(mut started) => {
            let _ = started.changed().await;
            return;
        }
    };
    if busy() {
        return;
    }
    let (target, remote, route) = (target.clone(), remote.clone(), route.clone());
    let Some(download) = target.download.clone() else {
        return;
    };
    let hub = proxy.memory.hub().clone();
    let piece = piece_size(target.size, workers);
    let plan = pieces(target.size, piece);
    let permit = hub.limits().acquire(&remote).await;
    let started = Instant::now();
    let first = hub
        .body_piece(&remote, download.url(), plan[0].clone(), None)
        .await;
    let Ok(first) = first else {
        return;
    };
    let Some(first) = First::classify(first, &plan[0], target.size) else {
        // A refusal, an expired URL, another range: Pingora's miss asks again and reports it.
        return;
    };
    let header = match client_header(&target) {
        Ok(header) => header,
        Err(e) => {
            tracing::warn!(error = %e, "could not build a file header");
            return;
        }
    };
    // From here on in a task of its own: a request dropped while the fill registers leaves
    // neither a reservation nor a registered fill without its driver.
    let (registered, outcome) = tokio::sync::oneshot::channel();
    let (memory, upstream_path, credentials) = (
        proxy.memory.clone(),
        ctx.routing.upstream_path.clone(),
        ctx.file.credentials,
    );
    tokio::spawn(async move {
        let fill = match disk
            .begin_piece_fill(&target.etag, &header, target.size, credentials)
            .await
        {
            Ok(Some(fill)) => fill,
            // Another fill (Pingora's) registered meanwhile, or no room: Pingora goes on.
            Ok(None) | Err(_) => {
                let _ = registered.send(false);
                return;
            }
        };
        let _ = registered.send(true);
        let driver = Driver::new(
            memory,
            remote,
            route,
            upstream_path,
            target,
            download,
            fill,
            plan,
            workers,
        );
        driver.run(first, permit).await;
    });
    if outcome.await == Ok(true) {
        ctx.file.parallel_fill = true;
        ctx.upstream.started = Some(started);
    }
}

/// The client's answer for the whole file, as a 200 from the upstream would be rebuilt
/// (`fetch::file_answer`): what the fill stores and every reader starts from.
fn client_header(target: &crate::origin::FileTarget) -> pingora::Result<ResponseHeader> {
    let mut upstream = ResponseHeader::build(http::StatusCode::OK, Some(1))?;
    upstream.insert_header(http::header::CONTENT_LENGTH, target.size.to_string())?;
    super::fetch::file_answer(&upstream, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn piece_sizes_give_about_four_pieces_per_worker_within_bounds() {
        assert_eq!(
            piece_size(1 << 30, 8),
            32 * MIB,
            "1 GiB, 8 workers: 32 pieces"
        );
        assert_eq!(piece_size(256 * MIB, 8), 16 * MIB, "never below 16 MiB");
        assert_eq!(piece_size(64 * MIB, 2), 16 * MIB);
        assert_eq!(
            piece_size(16 << 30, 8),
            64 * MIB,
            "at most 64 MiB up to 16 GiB"
        );
        assert_eq!(
            piece_size(64 << 30, 8),
            256 * MIB,
            "larger pieces for huge files"
        );
        assert_eq!(
            piece_size(1000 * MIB + 1, 4),
            63 * MIB,
            "rounded up to whole MiB"
        );
        assert_eq!(piece_size(1 << 30, 0), 64 * MIB, "no workers counts as one");
    }

    #[test]
    fn pieces_cover_the_file_exactly_once() {
        for (size, piece) in [(256 * MIB, 16 * MIB), (100 * MIB + 7, 16 * MIB), (5, 16)] {
            let plan = pieces(size, piece);
            assert_eq!(plan[0].start, 0);
            assert_eq!(plan.last().map(|r| r.end), Some(size));
            assert!(plan.windows(2).all(|w| w[0].end == w[1].start));
            assert!(plan
                .iter()
                .all(|r| r.end - r.start <= piece && r.end > r.start));
        }
        assert_eq!(pieces(100 * MIB + 7, 16 * MIB).len(), 7);
    }
}
