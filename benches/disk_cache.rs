//! Disk-cache throughput through the pingora-cache `Storage` trait, as Pingora drives it:
//! a fill (miss handler, 1 MiB chunks, verified finish) and a full read of a stored object.
//! Each iteration uses a fresh etag, so fills never hit and reads never share a fill.

use std::time::SystemTime;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hubcache::cache::{key_for_etag, DiskCache};
use pingora::cache::trace::Span;
use pingora::cache::{CacheMeta, Storage};
use pingora::http::ResponseHeader;
use sha2::{Digest, Sha256};

const SIZE: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

fn meta(len: usize, etag: &str) -> CacheMeta {
    let mut header = ResponseHeader::build(200, None).expect("header");
    header
        .append_header("content-length", len.to_string())
        .expect("header");
    header
        .append_header("x-linked-etag", format!("\"{etag}\""))
        .expect("header");
    CacheMeta::new(SystemTime::now(), SystemTime::now(), 0, 0, header)
}

/// Stores `body` (whose sha256 is `etag`) and returns after the verified publish.
async fn fill(cache: &'static DiskCache, body: &Bytes, etag: &str) {
    let key = key_for_etag(etag);
    let span = Span::inactive().handle();
    let mut miss = cache
        .get_miss_handler(&key, &meta(body.len(), etag), &span)
        .await
        .expect("miss handler");
    let mut offset = 0;
    while offset < body.len() {
        let end = (offset + CHUNK).min(body.len());
        miss.write_body(body.slice(offset..end), end == body.len())
            .await
            .expect("write");
        offset = end;
    }
    miss.finish().await.expect("finish");
}

/// Reads the whole stored object; returns the byte count.
async fn read(cache: &'static DiskCache, etag: &str) -> usize {
    let span = Span::inactive().handle();
    let (_, mut hit) = cache
        .lookup(&key_for_etag(etag), &span)
        .await
        .expect("lookup")
        .expect("stored");
    let mut total = 0;
    while let Some(chunk) = hit.read_body().await.expect("read") {
        total += chunk.len();
    }
    total
}

fn disk_cache(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = DiskCache::open(dir.path(), 8 << 30).expect("open");
    let mut group = c.benchmark_group("disk_cache");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10);

    // Distinct bodies per iteration: the last 8 bytes carry a counter.
    let mut counter = 0u64;
    let mut make = move || {
        counter += 1;
        let mut v: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        v[SIZE - 8..].copy_from_slice(&counter.to_le_bytes());
        let etag = hex::encode(Sha256::digest(&v));
        (Bytes::from(v), etag)
    };

    group.bench_function("fill_64MiB_verified", |b| {
        b.iter_batched(
            &mut make,
            |(body, etag)| rt.block_on(fill(cache, &body, &etag)),
            criterion::BatchSize::PerIteration,
        )
    });

    let (body, etag) = make();
    rt.block_on(fill(cache, &body, &etag));
    group.bench_function("read_64MiB_stored", |b| {
        b.iter(|| assert_eq!(rt.block_on(read(cache, &etag)), SIZE))
    });
    group.finish();
}

criterion_group!(benches, disk_cache);
criterion_main!(benches);
