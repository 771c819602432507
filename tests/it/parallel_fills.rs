//! Issue 15, parallel ranged fills (`docs/parallel-fills.md`): a cold large file on an
//! `on_demand` remote comes from up to `download_concurrency` ranged GETs at a time, and every
//! rule of a fill still holds: bytes in order, the digest checked before the last byte, a
//! failed fill never published, one upstream fetch however many clients.
//!
//! The scenarios assert the rules, not piece sizes: ranges cover the file exactly once, the
//! number of bodies moving at once, where a retry starts.

use std::time::{Duration, Instant};

use crate::cache::{hub_with, resolve, stored_bytes};
use crate::support::{Content, Fault, Transfer};

mod harness;

use crate::support::wait_for;
use harness::{bytes_sent, get, report, serve_dc, Download};

const MIB: u64 = 1 << 20;

#[tokio::test]
async fn a_cold_256_mib_file_arrives_whole_from_ranged_pieces_at_most_eight_at_a_time() {
    const SIZE: u64 = 256 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 151), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.cdn().set_rate_per_connection(Some(48 * MIB));
    let server = serve_dc(&hub, 8).await;

    let started = Instant::now();
    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "cold");
    let took = started.elapsed();

    let transfers = hub.cdn().transfers("model.bin");
    let most = Transfer::max_simultaneous(&transfers);
    report(
        "cold 256 MiB, 48 MiB/s per connection, dc 8",
        took,
        &transfers,
    );
    assert!(transfers.len() > 1, "one stream: {transfers:?}");
    for t in &transfers {
        assert_eq!(t.status, 206, "every piece is a 206: {t:?}");
        assert!(t.range.is_some(), "every GET is ranged: {t:?}");
    }
    assert_eq!(Transfer::covers_exactly_once(&transfers, SIZE), Ok(()));
    assert_eq!(bytes_sent(&transfers), SIZE);
    assert!((2..=8).contains(&most), "{most} bodies at once");
    // All but the first carry `If-Range` with the CDN's ETag.
    let etag = format!(
        "\"{}\"",
        hub.file("org/model", "main", "model.bin").xet_hash
    );
    let first = transfers
        .iter()
        .position(|t| t.asked_start() == Some(0))
        .expect("a piece from byte 0");
    for (i, t) in transfers.iter().enumerate().filter(|(i, _)| *i != first) {
        assert_eq!(t.if_range.as_deref(), Some(etag.as_str()), "piece {i}");
    }

    let cdn_requests = hub.cdn().requests().len();
    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "second GET");
    assert_eq!(
        hub.cdn().requests().len(),
        cdn_requests,
        "the second GET is a hit"
    );
}

#[tokio::test]
async fn a_piece_reset_midway_is_resumed_where_it_stopped() {
    const SIZE: u64 = 128 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 152), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.piece_fault("org/model", "model.bin", SIZE / 2, Fault::DropAfter(MIB), 1);
    let server = serve_dc(&hub, 4).await;

    let started = Instant::now();
    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "a piece was reset");

    let transfers = hub.cdn().transfers("model.bin");
    report("128 MiB, one piece reset", started.elapsed(), &transfers);
    let cut = transfers
        .iter()
        .find(|t| t.served().contains(&(SIZE / 2)) && t.bytes_sent == MIB)
        .unwrap_or_else(|| panic!("no piece holding the middle was cut: {transfers:?}"));
    let resumed_at = cut.range_start + cut.bytes_sent;
    let resumed: Vec<_> = transfers
        .iter()
        .filter(|t| t.asked_start() == Some(resumed_at))
        .collect();
    assert_eq!(
        resumed.len(),
        1,
        "one retry from {resumed_at}: {transfers:?}"
    );
    assert_eq!(resumed[0].status, 206);
    assert_eq!(Transfer::covers_exactly_once(&transfers, SIZE), Ok(()));
    assert_eq!(bytes_sent(&transfers), SIZE, "no byte fetched twice");
}

#[tokio::test]
async fn an_origin_that_ignores_range_is_read_as_one_stream() {
    const SIZE: u64 = 96 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 153), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.fault("org/model", "model.bin", Fault::IgnoreRange);
    let server = serve_dc(&hub, 8).await;

    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "from an origin without ranges");

    let transfers = hub.cdn().transfers("model.bin");
    assert_eq!(transfers.len(), 1, "one CDN GET: {transfers:?}");
    assert_eq!((transfers[0].status, transfers[0].bytes_sent), (200, SIZE));
    assert_eq!(
        hub.cdn().count(|r| r.method == "GET"),
        1,
        "no other GET reached the CDN"
    );
    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "second GET");
    assert_eq!(hub.cdn().transfers("model.bin").len(), 1, "stored");
}

#[tokio::test]
async fn a_corrupt_piece_is_never_published_and_never_served_whole() {
    const SIZE: u64 = 96 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 154), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.fault_times(
        "org/model",
        "model.bin",
        Fault::Corrupt { at: SIZE / 4 * 3 },
        1,
    );
    let server = serve_dc(&hub, 8).await;

    let first = get(&server, &resolve("model.bin")).await;
    let whole_200 = first.status == 200 && first.len == SIZE && first.error.is_none();
    assert!(
        !whole_200 || first.sha256 == want.sha256,
        "a complete 200 of wrong bytes reached the client"
    );
    assert!(
        hub.cdn()
            .transfers("model.bin")
            .iter()
            .any(|t| t.served().contains(&(SIZE / 4 * 3))),
        "the corrupt byte was never served: the scenario proves nothing"
    );
    assert_eq!(stored_bytes(&server.cache_dir()), 0, "nothing published");

    let fetched = bytes_sent(&hub.cdn().transfers("model.bin"));
    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "the next GET");
    assert!(
        bytes_sent(&hub.cdn().transfers("model.bin")) >= fetched + SIZE,
        "the next GET fetched anew"
    );
    assert!(
        wait_for(Duration::from_secs(10), || stored_bytes(
            &server.cache_dir()
        ) == SIZE)
        .await,
        "the good fill was not published"
    );
}

#[tokio::test]
async fn thirty_two_clients_joined_to_a_parallel_fill_get_identical_bytes() {
    const SIZE: u64 = 96 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 155), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.cdn().set_rate_per_connection(Some(24 * MIB));
    let server = std::sync::Arc::new(serve_dc(&hub, 8).await);
    let path = resolve("model.bin");

    // The client that leaves is the one that started the fill.
    let started = Instant::now();
    let mut leaver = Download::start(&server, &path).await;
    assert_eq!(leaver.status, 200);
    leaver.read_until(MIB).await;
    let mut tasks = Vec::new();
    for _ in 0..31 {
        let (server, path) = (server.clone(), path.clone());
        tasks.push(tokio::spawn(async move { get(&server, &path).await }));
    }
    leaver.read_until(4 * MIB).await;
    assert!(leaver.error.is_none() && leaver.len >= 4 * MIB);
    drop(leaver);

    for (i, task) in tasks.into_iter().enumerate() {
        task.await
            .expect("client task")
            .assert_whole(&want, &format!("client {i}"));
    }
    let transfers = hub.cdn().transfers("model.bin");
    report("96 MiB to 32 clients", started.elapsed(), &transfers);
    assert_eq!(Transfer::covers_exactly_once(&transfers, SIZE), Ok(()));
    assert_eq!(bytes_sent(&transfers), SIZE, "fetched once");
}

#[tokio::test]
async fn a_signed_url_that_expires_mid_fill_is_resolved_again() {
    const SIZE: u64 = 256 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 156), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.cdn().set_rate_per_connection(Some(32 * MIB));
    // Two at a time: pieces (at most 64 MiB) are still to be asked when the URL expires.
    let server = serve_dc(&hub, 2).await;
    let resolves = || hub.count(|r| r.path.contains("/resolve/"));

    let started = Instant::now();
    let mut download = Download::start(&server, &resolve("model.bin")).await;
    assert_eq!(download.status, 200);
    download.read_until(MIB).await;
    let before = resolves();
    hub.cdn().invalidate_signed_urls();
    download
        .finish()
        .await
        .assert_whole(&want, "across the expiry");

    assert_eq!(resolves() - before, 1, "one re-resolve through the Hub");
    assert!(
        hub.cdn().count(|r| r.status == Some(403)) >= 1,
        "the CDN never refused the old URL: the scenario proves nothing"
    );
    let transfers = hub.cdn().transfers("model.bin");
    report(
        "256 MiB across an expiry, dc 2",
        started.elapsed(),
        &transfers,
    );
    assert_eq!(Transfer::covers_exactly_once(&transfers, SIZE), Ok(()));
}

#[tokio::test]
async fn two_cold_files_share_the_remotes_download_concurrency() {
    const SIZE: u64 = 64 * MIB;
    let (a, b) = (Content::pattern(SIZE, 157), Content::pattern(SIZE, 158));
    let hub = hub_with(&[("a.bin", a, true), ("b.bin", b, true)]).await;
    let (a, b) = (
        hub.file("org/model", "main", "a.bin"),
        hub.file("org/model", "main", "b.bin"),
    );
    hub.cdn().set_rate_per_connection(Some(32 * MIB));
    let server = serve_dc(&hub, 4).await;

    let (path_a, path_b) = (resolve("a.bin"), resolve("b.bin"));
    let started = Instant::now();
    let (got_a, got_b) = tokio::join!(get(&server, &path_a), get(&server, &path_b));
    got_a.assert_whole(&a, "a.bin");
    got_b.assert_whole(&b, "b.bin");

    for (name, transfers) in [
        ("a.bin", hub.cdn().transfers("a.bin")),
        ("b.bin", hub.cdn().transfers("b.bin")),
    ] {
        assert!(transfers.len() > 1, "{name} came in one stream");
        assert_eq!(
            Transfer::covers_exactly_once(&transfers, SIZE),
            Ok(()),
            "{name}"
        );
    }
    let all = hub.cdn().transfers("org/model/");
    report("two cold 64 MiB files, dc 4", started.elapsed(), &all);
    let most = Transfer::max_simultaneous(&all);
    assert!(most <= 4, "{most} CDN bodies at once over a limit of 4");
    assert!(most >= 3, "only {most} at once: the limit was not used");
}

#[tokio::test]
async fn a_fill_whose_only_client_leaves_runs_to_the_end() {
    const SIZE: u64 = 96 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 159), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.cdn().set_rate_per_connection(Some(48 * MIB));
    let server = serve_dc(&hub, 8).await;

    let mut leaver = Download::start(&server, &resolve("model.bin")).await;
    assert_eq!(leaver.status, 200);
    leaver.read_until(MIB).await;
    assert!(leaver.error.is_none());
    drop(leaver);

    assert!(
        wait_for(Duration::from_secs(30), || stored_bytes(
            &server.cache_dir()
        ) == SIZE)
        .await,
        "the fill stopped when its only client left"
    );
    let transfers = hub.cdn().transfers("model.bin");
    assert_eq!(Transfer::covers_exactly_once(&transfers, SIZE), Ok(()));
    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "after the fill");
    assert_eq!(
        hub.cdn().transfers("model.bin").len(),
        transfers.len(),
        "a hit"
    );
}

/// A piece answered 200 with the whole file under the same ETag (an origin that stops
/// honouring `Range`): never written as that piece; the fill goes on as one stream on that
/// answer (issue 15: "else the fill falls back to one stream"), so the first client gets the
/// whole file, right, and it is stored.
#[tokio::test]
async fn a_piece_answered_with_the_whole_file_turns_the_fill_into_one_stream() {
    const SIZE: u64 = 96 * MIB;
    let hub = hub_with(&[("model.bin", Content::pattern(SIZE, 160), true)]).await;
    let want = hub.file("org/model", "main", "model.bin");
    hub.piece_fault("org/model", "model.bin", SIZE / 2, Fault::IgnoreRange, 1);
    let server = serve_dc(&hub, 8).await;

    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "the first GET");
    assert!(
        hub.cdn()
            .transfers("model.bin")
            .iter()
            .any(|t| t.status == 200 && t.asked_start().is_some_and(|a| a > 0)),
        "no piece was answered 200: the scenario proves nothing"
    );
    get(&server, &resolve("model.bin"))
        .await
        .assert_whole(&want, "the next GET");
    assert!(
        wait_for(Duration::from_secs(10), || stored_bytes(
            &server.cache_dir()
        ) == SIZE)
        .await,
        "the file was not stored"
    );
}

/// Pieces follow the credentials rule: the remote's token goes with the pieces asked of the
/// remote's own origin (a large file the Hub serves itself) and never to the CDN; the
/// client's own `Authorization` goes nowhere upstream.
#[tokio::test]
async fn pieces_carry_the_token_to_the_remotes_origin_only() {
    const SIZE: u64 = 64 * MIB;
    const TOKEN: &str = "hf_parallel_remote_token";
    const CLIENT: &str = "Bearer client-own-secret";
    let hub = hub_with(&[
        ("on_cdn.bin", Content::pattern(SIZE, 171), true),
        ("on_hub.bin", Content::pattern(SIZE, 172), false),
    ])
    .await;
    let server = crate::support::TestServer::builder()
        .remote_with(
            crate::support::RemoteCfg::hub("hf", &hub)
                .field("download_concurrency", serde_json::json!(4))
                .field("hf_token", serde_json::json!(TOKEN)),
        )
        .distribution("hf", "hf")
        .start()
        .await;

    for name in ["on_cdn.bin", "on_hub.bin"] {
        let resp = server
            .client()
            .get(server.url(&resolve(name)))
            .header("authorization", CLIENT)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status(), 200, "{name}");
        let body = resp.bytes().await.expect("body");
        assert!(
            body == hub.file("org/model", "main", name).content.to_vec(),
            "{name}: the bytes differ"
        );
    }

    let cdn = hub.cdn().transfers("on_cdn.bin");
    assert!(cdn.len() > 1, "the CDN file came in pieces: {cdn:?}");
    assert!(!hub.cdn().saw_authorization(), "a token reached the CDN");
    let hub_pieces: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.is("GET", "on_hub.bin") && r.header("range").is_some())
        .collect();
    assert!(
        hub_pieces.len() > 1,
        "the Hub-served file came in ranged pieces: {hub_pieces:?}"
    );
    let bearer = format!("Bearer {TOKEN}");
    for r in &hub_pieces {
        assert_eq!(
            r.header("authorization"),
            Some(bearer.as_str()),
            "a piece without the token"
        );
    }
    assert!(
        !hub.saw_header_value("authorization", CLIENT)
            && !hub.cdn().saw_header_value("authorization", CLIENT),
        "the client's Authorization went upstream"
    );
}
