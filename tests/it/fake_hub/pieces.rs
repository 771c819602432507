//! Self-tests of the CDN features the parallel-fill scenarios lean on: a per-connection rate,
//! the transfer log (ranges, bytes sent, when bodies moved), piece faults, `IgnoreRange`,
//! `Corrupt` and `If-Range`.

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::head;
use crate::support::{test_client, Content, FakeHub, Fault, Transfer};

const MIB: u64 = 1 << 20;

/// A hub with `org/model` `w.bin` (LFS) of `size` bytes; returns it and the signed CDN URL.
async fn cdn_file(size: u64) -> (FakeHub, Content, String) {
    let hub = FakeHub::start().await;
    let content = Content::pattern(size, 77);
    hub.add_lfs_file("org/model", "main", "w.bin", content.clone());
    let redirect = head(&format!("{}/org/model/resolve/main/w.bin", hub.url())).await;
    let url = redirect.header("location").expect("location").to_string();
    (hub, content, url)
}

/// Status, `Content-Range`, the body bytes received, and whether the body was cut.
async fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, Option<String>, Vec<u8>, bool) {
    let mut req = test_client().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("headers arrive");
    let status = resp.status().as_u16();
    let content_range = resp
        .headers()
        .get("content-range")
        .map(|v| v.to_str().unwrap().to_string());
    let mut stream = resp.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(_) => return (status, content_range, body, true),
        }
    }
    (status, content_range, body, false)
}

#[tokio::test]
async fn a_rate_cap_paces_each_connection_and_the_log_shows_the_overlap() {
    let (hub, content, url) = cdn_file(4 * MIB).await;
    hub.cdn().set_rate_per_connection(Some(8 * MIB));

    let started = Instant::now();
    let (a, b) = tokio::join!(
        fetch(&url, &[("range", "bytes=0-2097151")]),
        fetch(&url, &[("range", "bytes=2097152-4194303")]),
    );
    let took = started.elapsed();
    assert_eq!(
        (a.0, a.1.as_deref(), a.3),
        (206, Some("bytes 0-2097151/4194304"), false)
    );
    assert_eq!(
        (b.0, b.1.as_deref(), b.3),
        (206, Some("bytes 2097152-4194303/4194304"), false)
    );
    assert!(a.2 == content.slice(0, 2 * MIB) && b.2 == content.slice(2 * MIB, 4 * MIB));
    // 2 MiB at 8 MiB/s each, side by side: about 0.25 s, not 0.5 s, not 0.
    assert!(
        took >= Duration::from_millis(240) && took < Duration::from_millis(480),
        "two capped 2 MiB ranges at once took {took:?}"
    );

    let transfers = hub.cdn().transfers("org/model/w.bin");
    assert_eq!(transfers.len(), 2);
    for t in &transfers {
        assert_eq!((t.status, t.bytes_sent), (206, 2 * MIB));
        let ended = t.ended.expect("body ended");
        assert!(ended - t.started >= Duration::from_millis(240), "{t:?}");
        assert!(t.if_range.is_none());
    }
    let mut starts: Vec<_> = transfers.iter().map(|t| t.range_start).collect();
    starts.sort();
    assert_eq!(starts, [0, 2 * MIB]);
    assert_eq!(Transfer::covers_exactly_once(&transfers, 4 * MIB), Ok(()));
    assert_eq!(hub.cdn().max_simultaneous("w.bin"), 2);

    // One after the other: no more overlap than before.
    hub.cdn().set_rate_per_connection(None);
    let c = fetch(&url, &[("range", "bytes=0-99")]).await;
    assert_eq!((c.0, c.2.len()), (206, 100));
    assert_eq!(hub.cdn().max_simultaneous("w.bin"), 2);
    assert!(
        Transfer::covers_exactly_once(&hub.cdn().transfers("w.bin"), 4 * MIB)
            .unwrap_err()
            .contains("served twice"),
        "bytes 0..100 twice"
    );
}

#[tokio::test]
async fn a_piece_fault_hits_only_a_range_after_zero_that_holds_its_offset() {
    let (hub, content, url) = cdn_file(4 * MIB).await;
    hub.piece_fault(
        "org/model",
        "w.bin",
        2 * MIB,
        Fault::DropAfter(100 * 1024),
        1,
    );

    let from_zero = fetch(&url, &[("range", "bytes=0-3145727")]).await;
    assert_eq!(
        (from_zero.0, from_zero.2.len(), from_zero.3),
        (206, 3 * MIB as usize, false)
    );
    let after = fetch(&url, &[("range", "bytes=3145728-")]).await;
    assert_eq!(
        (after.0, after.2.len(), after.3),
        (206, MIB as usize, false)
    );
    let whole = fetch(&url, &[]).await;
    assert_eq!(
        (whole.0, whole.2.len(), whole.3),
        (200, 4 * MIB as usize, false)
    );

    let hit = fetch(&url, &[("range", "bytes=1048576-3145727")]).await;
    assert_eq!((hit.0, hit.2.len(), hit.3), (206, 100 * 1024, true));
    assert!(hit.2 == content.slice(MIB, MIB + 100 * 1024));
    let t = hub.cdn().transfers("w.bin").pop().expect("recorded");
    assert_eq!(
        (t.asked_start(), t.range_start, t.bytes_sent),
        (Some(MIB), MIB, 100 * 1024)
    );
    assert!(t.ended.is_some(), "a cut body has ended");

    let again = fetch(&url, &[("range", "bytes=1048576-3145727")]).await;
    assert_eq!(
        (again.0, again.2.len(), again.3),
        (206, 2 * MIB as usize, false),
        "once only"
    );
}

#[tokio::test]
async fn ignore_range_answers_the_whole_body_and_corrupt_flips_one_byte() {
    let (hub, content, url) = cdn_file(MIB).await;
    hub.fault("org/model", "w.bin", Fault::IgnoreRange);
    let (status, range, body, cut) = fetch(&url, &[("range", "bytes=0-1023")]).await;
    assert_eq!(
        (status, range, body.len(), cut),
        (200, None, MIB as usize, false)
    );
    assert!(body == content.to_vec());
    let t = hub.cdn().transfers("w.bin").pop().expect("recorded");
    assert_eq!((t.status, t.range_start, t.bytes_sent), (200, 0, MIB));
    hub.clear_faults();

    let at = 700_000;
    hub.fault_times("org/model", "w.bin", Fault::Corrupt { at }, 1);
    let elsewhere = fetch(&url, &[("range", "bytes=0-9999")]).await;
    assert!(
        elsewhere.2 == content.slice(0, 10_000),
        "a range without `at` is clean"
    );
    let (status, _, body, cut) = fetch(&url, &[("range", "bytes=600000-")]).await;
    assert_eq!(
        (status, body.len(), cut),
        (206, MIB as usize - 600_000, false)
    );
    let want = content.slice(600_000, MIB);
    let differ: Vec<usize> = (0..body.len()).filter(|&i| body[i] != want[i]).collect();
    assert_eq!(differ, [at as usize - 600_000], "exactly the byte at {at}");
    assert_eq!(body[differ[0]], want[differ[0]] ^ 0xff);
    let clean = fetch(&url, &[]).await;
    assert!(clean.2 == content.to_vec(), "once only");
}

#[tokio::test]
async fn if_range_with_another_validator_gets_the_whole_body() {
    let (hub, _, url) = cdn_file(MIB).await;
    let etag = hub.file("org/model", "main", "w.bin").xet_hash.clone();
    let matching = fetch(
        &url,
        &[
            ("range", "bytes=10-19"),
            ("if-range", &format!("\"{etag}\"")),
        ],
    )
    .await;
    assert_eq!((matching.0, matching.2.len()), (206, 10));
    let other = fetch(
        &url,
        &[("range", "bytes=10-19"), ("if-range", "\"something-else\"")],
    )
    .await;
    assert_eq!((other.0, other.2.len()), (200, MIB as usize));
    let t = hub.cdn().transfers("w.bin");
    assert_eq!(
        t[0].if_range.as_deref(),
        Some(format!("\"{etag}\"").as_str())
    );
}

#[tokio::test]
async fn a_body_the_client_hangs_up_on_is_logged_as_ended_short() {
    let (hub, _, url) = cdn_file(4 * MIB).await;
    hub.cdn().set_rate_per_connection(Some(4 * MIB));
    let resp = test_client().get(&url).send().await.expect("headers");
    let mut stream = resp.bytes_stream();
    let mut received = 0;
    while received < 64 * 1024 {
        received += stream.next().await.expect("more").expect("bytes").len();
    }
    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(5);
    let ended = loop {
        let t = hub.cdn().transfers("w.bin").pop().expect("recorded");
        if t.ended.is_some() || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        ended.ended.is_some(),
        "a dropped body never ended: {ended:?}"
    );
    assert!(
        ended.bytes_sent >= received as u64 && ended.bytes_sent < 2 * MIB,
        "{ended:?}"
    );
    assert_eq!(hub.cdn().max_simultaneous("w.bin"), 1);
}

#[tokio::test]
async fn ignore_range_as_a_piece_fault_answers_one_piece_whole() {
    let (hub, _, url) = cdn_file(4 * MIB).await;
    hub.piece_fault("org/model", "w.bin", 2 * MIB, Fault::IgnoreRange, 1);
    let first = fetch(&url, &[("range", "bytes=0-2097151")]).await;
    assert_eq!((first.0, first.2.len()), (206, 2 * MIB as usize));
    let piece = fetch(&url, &[("range", "bytes=2097152-4194303")]).await;
    assert_eq!(
        (piece.0, piece.1, piece.2.len()),
        (200, None, 4 * MIB as usize)
    );
    let again = fetch(&url, &[("range", "bytes=2097152-4194303")]).await;
    assert_eq!(
        (again.0, again.2.len()),
        (206, 2 * MIB as usize),
        "once only"
    );
}
