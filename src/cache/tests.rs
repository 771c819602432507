//! `DiskCache` driven through the `Storage` trait the way pingora drives it: miss handler,
//! body chunks, finish; lookups; streaming-write readers; seeks.

use std::time::Duration;

use bytes::Bytes;
use pingora::cache::key::CacheHashKey;
use pingora::cache::storage::MissFinishType;
use pingora::cache::trace::{Span, SpanHandle};
use pingora::cache::{CacheMeta, HitHandler, MissHandler, PurgeTarget, PurgeType, Storage};
use pingora::http::ResponseHeader;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::layout::{BODY, META};
use super::*;

mod eviction;
mod fills;
mod pins;
mod restart;
mod seek;

fn span() -> SpanHandle {
    Span::inactive().handle()
}

fn sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// A body of `len` bytes that differs per `seed`.
fn body(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// The response pingora would store for `body`: Content-Length and a quoted X-Linked-Etag.
fn response(len: usize, etag: &str) -> CacheMeta {
    let mut header = ResponseHeader::build(200, None).unwrap();
    header
        .append_header("content-length", len.to_string())
        .unwrap();
    header
        .append_header("x-linked-etag", format!("\"{etag}\""))
        .unwrap();
    header
        .append_header("content-type", "application/octet-stream")
        .unwrap();
    CacheMeta::new(
        std::time::SystemTime::now(),
        std::time::SystemTime::now(),
        0,
        0,
        header,
    )
}

fn open(max: u64) -> (TempDir, &'static DiskCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), max).unwrap();
    (dir, cache)
}

async fn start(cache: &'static DiskCache, body: &[u8]) -> (CacheKey, MissHandler) {
    let etag = sha256(body);
    let key = key_for_etag(&etag);
    let miss = cache
        .get_miss_handler(&key, &response(body.len(), &etag), &span())
        .await
        .unwrap();
    (key, miss)
}

/// A complete fill in chunks of 700 KiB (crosses the 1 MiB flush and the 512 KiB read size).
async fn store(cache: &'static DiskCache, body: &[u8]) -> CacheKey {
    let (key, mut miss) = start(cache, body).await;
    let chunks: Vec<&[u8]> = body.chunks(700 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        miss.write_body(Bytes::copy_from_slice(chunk), i + 1 == chunks.len())
            .await
            .unwrap();
    }
    match miss.finish().await.unwrap() {
        MissFinishType::Created(size) => assert_eq!(size, body.len()),
        MissFinishType::Appended(..) => panic!("expected Created"),
    }
    key
}

async fn read_all(hit: &mut HitHandler) -> pingora::Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = hit.read_body().await? {
        assert!(!chunk.is_empty(), "no empty chunks");
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn hit(cache: &'static DiskCache, key: &CacheKey) -> Option<HitHandler> {
    cache
        .lookup(key, &span())
        .await
        .unwrap()
        .map(|(_, hit)| hit)
}

/// Whether a read is still waiting after a short while (the future is dropped: cancel-safe).
async fn is_waiting(hit: &mut HitHandler) -> bool {
    tokio::time::timeout(Duration::from_millis(150), hit.read_body())
        .await
        .is_err()
}

fn tmp_entries(dir: &TempDir) -> usize {
    fs_err::read_dir(dir.path().join("v1/tmp")).unwrap().count()
}
