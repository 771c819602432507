//! Criterion benches of the pure code every content request runs: hub path routing, Hub
//! response header rewriting (Xet stripping, `Link` rewriting), JSON scrubbing of tree
//! listings, and the disk-cache key of a file body.
//!
//! Run: `cargo bench --bench hot_paths` (one group: `cargo bench --bench hot_paths -- route`).
//! Whole-proxy figures (hubcache against nginx `proxy_cache`) come from `benches/load.sh`;
//! see BENCHMARKS.md. Disk-cache read/write throughput is `benches/disk_cache.rs`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use pingora::cache::key::CacheHashKey;

use hubcache::cache::key_for_etag;
use hubcache::hub::headers::{rewrite_links, strip_xet};
use hubcache::hub::json::strip_xet_bytes;
use hubcache::hub::route::parse_hub_path;

const COMMIT: &str = "607a30d783dfa663caf39e06633721c8d4cfcd7e";
const SHA256: &str = "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707";

/// Hub paths as clients send them (after `/pulp/content/<base_path>/`).
fn hub_paths() -> Vec<(&'static str, String)> {
    vec![
        ("resolve_main", "openai-community/gpt2/resolve/main/config.json".into()),
        ("resolve_commit_lfs", format!("meta-llama/Llama-3.1-8B/resolve/{COMMIT}/model-00001-of-00004.safetensors")),
        ("resolve_dataset_nested", format!("datasets/HuggingFaceFW/fineweb/resolve/{COMMIT}/data/CC-MAIN-2024-10/000_00000.parquet")),
        ("resolve_percent_encoded", "org/model/resolve/refs%2Fpr%2F1/sub%20dir/caf%C3%A9.json".into()),
        ("api_revision", "api/models/openai-community/gpt2/revision/main".into()),
        ("api_tree", "api/models/openai-community/gpt2/tree/main/onnx?recursive=true&expand=false".into()),
        ("api_paths_info", format!("api/datasets/HuggingFaceFW/fineweb/paths-info/{COMMIT}")),
    ]
}

fn bench_route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route/parse_hub_path");
    for (name, path) in hub_paths() {
        parse_hub_path(&path).unwrap_or_else(|e| panic!("{name}: {path}: {e}"));
        group.bench_function(name, |b| b.iter(|| parse_hub_path(black_box(&path))));
    }
    group.finish();
}

/// The first hop of an LFS file on the Hub: a 302 to a CDN with the Xet headers and `Link`
/// members modern clients look for, and the usual CDN/CORS noise.
fn hub_302_headers() -> HeaderMap {
    let link = format!(
        "<https://huggingface.co/api/models/meta-llama/Llama-3.1-8B/xet-read-token/{COMMIT}>; rel=\"xet-auth\", \
         <https://cas-server.xethub.hf.co/v1/reconstructions/{SHA256}>; rel=\"xet-reconstruction-info\", \
         <https://huggingface.co/api/models/meta-llama/Llama-3.1-8B/tree/main?cursor=abc>; rel=\"next\""
    );
    let location = format!(
        "https://cas-bridge.xethub.hf.co/xet-bridge-us/66f1c0/{SHA256}?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Credential=cas%2F20250101%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-Signature={SHA256}&X-Amz-SignedHeaders=host\
         &response-content-disposition=inline%3B+filename%2A%3DUTF-8%27%27model.safetensors&x-id=GetObject"
    );
    let rows: Vec<(&str, String)> = vec![
        ("content-type", "text/plain; charset=utf-8".into()),
        ("content-length", "1379".into()),
        ("location", location),
        ("x-repo-commit", COMMIT.into()),
        ("x-linked-etag", format!("\"{SHA256}\"")),
        ("x-linked-size", "4976698672".into()),
        ("etag", format!("\"{SHA256}\"")),
        ("accept-ranges", "bytes".into()),
        ("x-xet-hash", "a3f1b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80".into()),
        ("x-xet-refresh-route", format!("/api/models/meta-llama/Llama-3.1-8B/xet-read-token/{COMMIT}")),
        ("x-xet-cas-url", "https://cas-server.xethub.hf.co".into()),
        ("x-xet-access-token", "eyJhbGciOiJFZERTQSJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJl".into()),
        ("x-xet-expiration", "1700000000".into()),
        ("link", link),
        ("x-request-id", "Root=1-67890abc-0123456789abcdef01234567".into()),
        ("x-powered-by", "huggingface-moon".into()),
        ("access-control-allow-origin", "https://huggingface.co".into()),
        ("access-control-expose-headers", "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash".into()),
        ("vary", "Origin, Accept".into()),
        ("cross-origin-opener-policy", "same-origin".into()),
        ("referrer-policy", "strict-origin-when-cross-origin".into()),
        ("via", "1.1 0123456789abcdef.cloudfront.net (CloudFront)".into()),
        ("x-cache", "Miss from cloudfront".into()),
        ("x-amz-cf-pop", "CDG50-P1".into()),
        ("date", "Wed, 01 Jan 2025 00:00:00 GMT".into()),
    ];
    let mut map = HeaderMap::new();
    for (name, value) in rows {
        map.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("visible ASCII"),
        );
    }
    map
}

fn bench_headers(c: &mut Criterion) {
    let template = hub_302_headers();
    let origin = "https://huggingface.co";
    let prefix = "http://127.0.0.1:8080/pulp/content/hf";
    let mut group = c.benchmark_group("headers");
    group.bench_function("strip_xet", |b| {
        b.iter_batched(
            || template.clone(),
            |mut h| {
                strip_xet(&mut h);
                h
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("strip_xet+rewrite_links", |b| {
        b.iter_batched(
            || template.clone(),
            |mut h| {
                strip_xet(&mut h);
                rewrite_links(&mut h, black_box(origin), black_box(prefix));
                h
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A tree listing (`api/models/<repo>/tree/<rev>`) of `n` entries, as the Hub sends it: LFS
/// entries carry `lfs` and, on Xet-enabled repos, `xetHash`.
fn tree_json(n: usize, with_xet: bool) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut e = serde_json::json!({
                "type": "file",
                "oid": format!("{:040x}", i * 7919 + 1),
                "size": 4_976_698_672_u64 + i as u64,
                "path": format!("shards/model-{i:05}-of-{n:05}.safetensors"),
                "lfs": {"oid": format!("{:064x}", i * 104_729 + 3), "size": 4_976_698_672_u64 + i as u64, "pointerSize": 135},
            });
            if with_xet {
                e["xetHash"] = serde_json::json!(format!("{:064x}", i * 15_485_863 + 5));
            }
            e
        })
        .collect();
    serde_json::to_vec(&entries).expect("json")
}

fn bench_json(c: &mut Criterion) {
    let mut group = c.benchmark_group("json/strip_xet_bytes_tree_1000");
    for (name, with_xet) in [("with_xet", true), ("without_xet", false)] {
        let body = tree_json(1000, with_xet);
        let out = strip_xet_bytes(&body).expect("valid JSON");
        assert_eq!(out.len() < body.len(), with_xet, "{name}");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| strip_xet_bytes(black_box(&body))));
    }
    group.finish();
}

fn bench_cache_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache/key_for_etag");
    let etags = [
        ("sha256_quoted", format!("\"{SHA256}\"")),
        (
            "sha1_weak",
            "W/\"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\"".to_string(),
        ),
    ];
    for (name, etag) in &etags {
        group.bench_function(*name, |b| b.iter(|| key_for_etag(black_box(etag))));
        group.bench_function(format!("{name}+combined"), |b| {
            b.iter(|| key_for_etag(black_box(etag)).combined())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_route,
    bench_headers,
    bench_json,
    bench_cache_key
);
criterion_main!(benches);
