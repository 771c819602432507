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

#[tokio::test]
async fn complete_round_trip() {
    let (dir, cache) = open(1 << 30);
    let data = body(3 * 1024 * 1024 + 17, 1);
    let key = store(cache, &data).await;
    let (meta, mut hit) = cache.lookup(&key, &span()).await.unwrap().unwrap();
    assert_eq!(
        meta.response_header().headers["content-length"],
        data.len().to_string().as_str()
    );
    assert!(meta.is_fresh(std::time::SystemTime::now() + Duration::from_secs(86400 * 365)));
    assert_eq!(hit.get_eviction_weight(), data.len());
    assert!(hit.can_seek());
    assert!(read_all(&mut hit).await.unwrap() == data);
    assert!(cache.contains(&format!("W/\"{}\"", sha256(&data))));
    let stats = cache.stats();
    assert_eq!(
        (
            stats.objects,
            stats.size_bytes,
            stats.reserved_bytes,
            stats.fills_in_flight
        ),
        (1, data.len() as u64, 0, 0)
    );
    let object = dir
        .path()
        .join("v1/objects")
        .join(&key.combined()[0..2])
        .join(&key.combined()[2..4])
        .join(key.combined());
    assert_eq!(
        fs_err::metadata(object.join(BODY)).unwrap().len(),
        data.len() as u64
    );
    assert!(object.join(META).is_file());
    assert_eq!(tmp_entries(&dir), 0);
}

#[tokio::test]
async fn partial_reader_streams_and_gets_the_last_byte_only_after_finish() {
    let (_dir, cache) = open(1 << 30);
    let data = body(2 * 1024 * 1024 + 100, 2);
    let (key, mut miss) = start(cache, &data).await;
    let tag = miss.streaming_write_tag().unwrap().to_vec();
    let (_, mut own) = cache
        .lookup_streaming_write(&key, Some(&tag), &span())
        .await
        .unwrap()
        .unwrap();
    let mut joined = hit(cache, &key)
        .await
        .expect("lookup joins the fill in flight");
    assert!(is_waiting(&mut own).await, "nothing written yet");

    miss.write_body(Bytes::copy_from_slice(&data[..1024 * 1024 + 10]), false)
        .await
        .unwrap();
    let mut got = own.read_body().await.unwrap().unwrap().to_vec();
    assert!(!got.is_empty());
    miss.write_body(Bytes::copy_from_slice(&data[1024 * 1024 + 10..]), true)
        .await
        .unwrap();
    // Everything is on disk, but the last byte is held back until the fill is verified.
    while got.len() < data.len() - 1 {
        got.extend_from_slice(&own.read_body().await.unwrap().unwrap());
    }
    assert!(is_waiting(&mut own).await, "last byte must wait for finish");
    assert!(
        is_waiting(&mut own).await,
        "a dropped read_body changes nothing"
    );
    assert_eq!(
        cache.fill_progress(&sha256(&data)).map(|p| p.written),
        Some(data.len() as u64)
    );

    miss.finish().await.unwrap();
    got.extend_from_slice(&own.read_body().await.unwrap().unwrap());
    assert!(own.read_body().await.unwrap().is_none());
    assert!(got == data);
    assert!(read_all(&mut joined).await.unwrap() == data);
    assert_eq!(cache.stats().fills_in_flight, 0);
}

#[tokio::test]
async fn concurrent_lookups_join_one_fill_and_read_identical_bytes() {
    let (_dir, cache) = open(1 << 30);
    let data = body(1500 * 1024, 3);
    let (key, mut miss) = start(cache, &data).await;
    let mut readers = Vec::new();
    for _ in 0..32 {
        let mut hit = hit(cache, &key).await.expect("joined");
        readers.push(tokio::spawn(
            async move { read_all(&mut hit).await.unwrap() },
        ));
    }
    assert_eq!(cache.stats().fills_in_flight, 1);
    for chunk in data.chunks(300 * 1024) {
        miss.write_body(Bytes::copy_from_slice(chunk), false)
            .await
            .unwrap();
    }
    miss.write_body(Bytes::new(), true).await.unwrap();
    miss.finish().await.unwrap();
    for reader in readers {
        assert!(reader.await.unwrap() == data);
    }
}

/// How a fill goes wrong in `failed_fills_*`.
#[derive(Debug, Clone, Copy)]
enum Failure {
    Dropped,
    DigestMismatch,
    Short,
    Long,
}

async fn fail_a_fill(how: Failure) {
    let (dir, cache) = open(1 << 30);
    let data = body(1024 * 1024 + 5, 4);
    let (key, mut miss) = start(cache, &data).await;
    let mut reader = hit(cache, &key).await.unwrap();
    let waiting = {
        let mut early = hit(cache, &key).await.unwrap();
        tokio::spawn(async move { read_all(&mut early).await })
    };
    let finish = match how {
        Failure::Dropped => {
            miss.write_body(Bytes::copy_from_slice(&data[..1024 * 1024]), false)
                .await
                .unwrap();
            drop(miss);
            None
        }
        Failure::DigestMismatch => {
            let mut bad = data.clone();
            bad[7] ^= 1;
            miss.write_body(Bytes::from(bad), true).await.unwrap();
            Some(miss.finish().await)
        }
        Failure::Short => {
            miss.write_body(Bytes::copy_from_slice(&data[..data.len() - 1]), true)
                .await
                .unwrap();
            Some(miss.finish().await)
        }
        Failure::Long => {
            let mut long = data.clone();
            long.push(0);
            Some(
                miss.write_body(Bytes::from(long), true)
                    .await
                    .map(|()| MissFinishType::Created(0)),
            )
        }
    };
    assert!(
        finish.is_none_or(|r| r.is_err()),
        "{how:?}: the fill must fail"
    );
    let deadline = Duration::from_secs(5);
    let joined = tokio::time::timeout(deadline, read_all(&mut reader)).await;
    assert!(
        matches!(joined, Ok(Err(_))),
        "{how:?}: a joined reader gets Err, not EOF"
    );
    let waited = tokio::time::timeout(deadline, waiting).await;
    assert!(
        matches!(waited, Ok(Ok(Err(_)))),
        "{how:?}: a waiting reader gets Err"
    );
    assert!(
        hit(cache, &key).await.is_none(),
        "{how:?}: nothing published"
    );
    let stats = cache.stats();
    assert_eq!(
        (stats.objects, stats.reserved_bytes, stats.fills_in_flight),
        (0, 0, 0),
        "{how:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await; // tmp removal runs on a blocking thread
    assert_eq!(tmp_entries(&dir), 0, "{how:?}: tmp removed");
    // The next request starts a fresh fill that succeeds.
    let key = store(cache, &data).await;
    assert!(
        read_all(&mut hit(cache, &key).await.unwrap())
            .await
            .unwrap()
            == data
    );
}

#[tokio::test]
async fn failed_fills_fail_their_readers_and_publish_nothing() {
    for how in [
        Failure::Dropped,
        Failure::DigestMismatch,
        Failure::Short,
        Failure::Long,
    ] {
        fail_a_fill(how).await;
    }
}

#[tokio::test]
async fn seek_on_a_complete_object() {
    let (_dir, cache) = open(1 << 30);
    let data = body(2 * 1024 * 1024, 5);
    let key = store(cache, &data).await;
    let mut hit = hit(cache, &key).await.unwrap();
    hit.seek(10, Some(20)).unwrap();
    assert_eq!(read_all(&mut hit).await.unwrap(), &data[10..20]);
    hit.seek(1_000_000, None).unwrap();
    assert!(read_all(&mut hit).await.unwrap() == data[1_000_000..]);
    hit.seek(data.len() - 3, Some(data.len() + 100)).unwrap();
    assert_eq!(read_all(&mut hit).await.unwrap(), &data[data.len() - 3..]);
    assert!(hit.seek(data.len(), None).is_err());
    assert!(hit.seek(20, Some(10)).is_err());
}

#[tokio::test]
async fn seek_on_a_partial_object_waits_for_the_bytes() {
    let (_dir, cache) = open(1 << 30);
    let data = body(3 * 1024 * 1024, 6);
    let (key, mut miss) = start(cache, &data).await;
    let mut early = hit(cache, &key).await.unwrap();
    let mut ahead = hit(cache, &key).await.unwrap();
    let mut tail = hit(cache, &key).await.unwrap();
    early.seek(5, Some(15)).unwrap();
    ahead
        .seek(2 * 1024 * 1024, Some(2 * 1024 * 1024 + 10))
        .unwrap();
    tail.seek(data.len() - 10, None).unwrap();
    miss.write_body(Bytes::copy_from_slice(&data[..1024 * 1024]), false)
        .await
        .unwrap();
    // A range that ends before the object's end is served as soon as it is on disk.
    assert_eq!(read_all(&mut early).await.unwrap(), &data[5..15]);
    assert!(is_waiting(&mut ahead).await, "beyond the fill: waits");
    miss.write_body(Bytes::copy_from_slice(&data[1024 * 1024..]), true)
        .await
        .unwrap();
    assert_eq!(
        read_all(&mut ahead).await.unwrap(),
        &data[2 * 1024 * 1024..2 * 1024 * 1024 + 10]
    );
    assert_eq!(
        tail.read_body().await.unwrap().unwrap(),
        &data[data.len() - 10..data.len() - 1]
    );
    assert!(
        is_waiting(&mut tail).await,
        "the object's last byte waits for finish"
    );
    miss.finish().await.unwrap();
    assert_eq!(read_all(&mut tail).await.unwrap(), &data[data.len() - 1..]);
}

#[tokio::test]
async fn reservations_evict_least_recently_used_and_refuse_what_cannot_fit() {
    let (dir, cache) = open(100);
    let (a, b) = (body(40, 7), body(40, 8));
    let key_a = store(cache, &a).await;
    let key_b = store(cache, &b).await;
    assert!(
        hit(cache, &key_a).await.is_some(),
        "a is now more recent than b"
    );
    let c = body(40, 9);
    let (key_c, mut miss) = start(cache, &c).await;
    assert_eq!(
        (cache.stats().reserved_bytes, cache.stats().evictions),
        (40, 1)
    );
    assert!(
        hit(cache, &key_b).await.is_none(),
        "b evicted when c reserved its room"
    );
    assert!(!cache.contains(&sha256(&b)));
    // 80 of 100 bytes taken (a + reservation of c): a 30-byte fill can only evict a.
    let d = body(30, 10);
    let (key_d, miss_d) = start(cache, &d).await;
    assert!(hit(cache, &key_a).await.is_none());
    // Every object is gone but c's and d's reservations fill the budget: refused.
    let e = body(40, 11);
    let etag_e = sha256(&e);
    assert!(cache
        .get_miss_handler(&key_for_etag(&etag_e), &response(40, &etag_e), &span())
        .await
        .is_err());
    drop(miss_d);
    assert!(hit(cache, &key_d).await.is_none());
    miss.write_body(Bytes::from(c.clone()), true).await.unwrap();
    miss.finish().await.unwrap();
    assert!(
        read_all(&mut hit(cache, &key_c).await.unwrap())
            .await
            .unwrap()
            == c
    );
    let stats = cache.stats();
    assert_eq!(
        (
            stats.objects,
            stats.size_bytes,
            stats.reserved_bytes,
            stats.evictions
        ),
        (1, 40, 0, 2)
    );
    // Larger than the whole budget: refused, nothing evicted.
    let huge = body(101, 12);
    let etag = sha256(&huge);
    assert!(cache
        .get_miss_handler(&key_for_etag(&etag), &response(101, &etag), &span())
        .await
        .is_err());
    assert!(cache.contains(&sha256(&c)));
    let objects = walk_objects(&dir);
    assert_eq!(objects, 1, "the disk holds what the index says");
}

fn walk_objects(dir: &TempDir) -> usize {
    let mut n = 0;
    for aa in fs_err::read_dir(dir.path().join("v1/objects")).unwrap() {
        for bb in fs_err::read_dir(aa.unwrap().path()).unwrap() {
            n += fs_err::read_dir(bb.unwrap().path()).unwrap().count();
        }
    }
    n
}

#[tokio::test]
async fn refuses_responses_without_length_or_with_another_etag() {
    let (_dir, cache) = open(1 << 20);
    let etag = sha256(b"x");
    let key = key_for_etag(&etag);
    let mut no_length = ResponseHeader::build(200, None).unwrap();
    no_length
        .append_header("x-linked-etag", etag.as_str())
        .unwrap();
    let meta = CacheMeta::new(
        std::time::SystemTime::now(),
        std::time::SystemTime::now(),
        0,
        0,
        no_length,
    );
    assert!(cache.get_miss_handler(&key, &meta, &span()).await.is_err());
    let other = sha256(b"y");
    assert!(cache
        .get_miss_handler(&key, &response(1, &other), &span())
        .await
        .is_err());
    assert_eq!(
        cache.stats(),
        CacheStats {
            max_size: 1 << 20,
            ..CacheStats::default()
        }
    );
}

mod restart;

/// Small objects are served from memory after their first hit, but only while indexed: an
/// evicted one is a miss, never a memory hit.
#[tokio::test]
async fn a_small_object_in_memory_is_dropped_with_its_eviction() {
    let (_dir, cache) = open(3000);
    let a = body(1000, 1);
    let key_a = store(cache, &a).await;
    assert!(
        cache.memory_hit(&sha256(&a)).is_none(),
        "in memory only after a first hit"
    );
    for _ in 0..2 {
        let (_, mut hit) = cache
            .lookup(&key_a, &span())
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(
            hit.read_body().await.unwrap().unwrap(),
            Bytes::from(a.clone())
        );
    }
    let hit = cache.memory_hit(&sha256(&a)).expect("held in memory");
    assert_eq!(hit.body, Bytes::from(a.clone()));
    // Two more objects of 1000 bytes push `a`, the least recently used, out of the budget.
    store(cache, &body(1000, 2)).await;
    store(cache, &body(1000, 3)).await;
    store(cache, &body(1000, 4)).await;
    assert!(
        cache.memory_hit(&sha256(&a)).is_none(),
        "an evicted object was answered from memory"
    );
    assert!(
        cache.lookup(&key_a, &span()).await.unwrap().is_none(),
        "an evicted object was served from memory"
    );
}
