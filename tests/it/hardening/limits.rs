//! Server limits: slow or greedy clients (request heads, client body errors) never starve the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::metrics::scrape_when;
use crate::support::{FakeHub, TestServer};

/// More trickling connections than a default open-file soft limit (1024) lets a process hold.
const SLOWLORIS_CONNECTIONS: usize = 1_100;
/// Ordinary clients that must be served while the slowloris connections are open.
const OTHER_CLIENTS: usize = 14;
/// Connections that each send a request head of almost 1 MiB (Pingora's own cap).
const BIG_HEAD_CONNECTIONS: usize = 1_000;
const BIG_HEAD_BYTES: usize = 1_000_000;

/// `127.0.0.1:<port>` of a `http://127.0.0.1:<port>` URL.
fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// The test process holds more sockets than a default soft limit allows: raise ours to the
/// hard limit (the server's own limit is what the scenarios are about).
fn raise_own_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .expect("raise the test's own open-file limit");
}

/// The status code of an HTTP/1 answer (`HTTP/1.1 431 …`), if one was received.
fn status_of(answer: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(answer.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

/// Reads until the server closes, an error, or `wait`; returns what was read.
async fn read_answer(conn: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, conn.read_to_end(&mut answer)).await;
    answer
}

/// Sends `request` on a new connection and returns the answer's status (write errors are
/// ignored: the server may answer and close before reading everything).
async fn exchange(addr: &str, request: &[u8]) -> Option<u16> {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let _ = conn.write_all(request).await;
    status_of(&read_answer(&mut conn, Duration::from_secs(10)).await)
}

/// Opens a connection, sends `start`, then one more header byte every `every` until the
/// server closes it (at most 10 s); the answer's status and how long the server took.
async fn trickle_until_closed(
    addr: &str,
    start: &[u8],
    every: Duration,
) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let conn = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = conn.into_split();
    let _ = writer.write_all(start).await;
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    trickle.abort();
    (status_of(&answer), took)
}

/// 1,100 connections trickling a header byte a second: past the default soft limit of open
/// files, so the server must raise its own; ordinary clients are still served, and promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_past_the_default_fd_limit_leaves_other_clients_served() {
    raise_own_fd_limit();
    let hub = FakeHub::start().await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .fd_soft_limit(1024)
        .start()
        .await;
    let addr = host_port(&server.url(""));

    let mut slow = Vec::with_capacity(SLOWLORIS_CONNECTIONS);
    for _ in 0..SLOWLORIS_CONNECTIONS {
        let mut conn = TcpStream::connect(&addr).await.expect("connect");
        conn.write_all(b"GET /pulp/content/ HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
            .await
            .expect("first bytes");
        slow.push(conn);
    }
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for conn in &mut slow {
                let _ = conn.write_all(b"a").await;
            }
        }
    });

    let client = crate::support::test_client();
    let started = Instant::now();
    let answers = futures::future::join_all((0..OTHER_CLIENTS).map(|_| {
        let request = client
            .get(server.url("/pulp/content/"))
            .timeout(Duration::from_secs(10))
            .send();
        async move {
            let status = request.await.map(|r| r.status().as_u16()).ok();
            (status, started.elapsed())
        }
    }))
    .await;
    trickle.abort();
    let served = answers.iter().filter(|(s, _)| *s == Some(200)).count();
    let slowest = answers.iter().map(|(_, t)| *t).max().unwrap_or_default();
    eprintln!("slowloris: {served} of {OTHER_CLIENTS} other clients served, slowest {slowest:?}");
    assert_eq!(served, OTHER_CLIENTS, "{answers:?}");
    assert!(slowest < Duration::from_secs(5), "{answers:?}");
    let logs = server.logs();
    assert!(logs.contains("raised the open-file limit"), "{logs}");
}

/// A request head that never completes is answered 408 and closed once
/// `server.request_head_timeout` has passed, however steadily its bytes trickle in; a
/// connection that sends nothing is closed then too. Both listeners.
#[tokio::test]
async fn a_trickling_request_head_is_cut_at_the_head_timeout() {
    let server = TestServer::builder()
        .separate_api_listener()
        .yaml("server:\n  request_head_timeout: 2s\n")
        .start()
        .await;
    for url in [server.url(""), server.api_url("")] {
        let addr = host_port(&url);
        let (status, took) = trickle_until_closed(
            &addr,
            b"GET /pulp/api/v3/status/ HTTP/1.1\r\nHost: slow\r\nX-Slow: ",
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(status, Some(408), "{addr}: after {took:?}");
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
            "{addr}: closed after {took:?}"
        );

        let started = Instant::now();
        let mut idle = TcpStream::connect(&addr).await.expect("connect");
        let answer = read_answer(&mut idle, Duration::from_secs(10)).await;
        assert!(answer.is_empty(), "{addr}: {answer:?}");
        assert!(started.elapsed() < Duration::from_secs(6), "{addr}");
    }
}

/// Request heads are capped like nginx's: a 64 KiB header answers 431, a 16 KiB request line
/// 414, on both listeners; a 16 KiB head of ordinary headers is still served.
#[tokio::test]
async fn oversized_request_heads_are_refused_with_431_and_414() {
    let server = TestServer::builder().separate_api_listener().start().await;
    let big_value = "a".repeat(64 * 1024);
    let long_path = format!("/pulp/api/v3/status/{}", "a".repeat(16 * 1024));
    let many_headers: String = (0..8)
        .map(|i| format!("X-Ordinary-{i}: {}\r\n", "b".repeat(2000)))
        .collect();
    for url in [server.url(""), server.api_url("")] {
        let addr = host_port(&url);
        let cases = [
            (
                format!("GET /pulp/api/v3/status/ HTTP/1.1\r\nHost: x\r\nX-Big: {big_value}\r\n\r\n"),
                431,
            ),
            (format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n"), 414),
            (
                format!("GET /pulp/api/v3/status/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{many_headers}\r\n"),
                200,
            ),
        ];
        for (request, expected) in cases {
            let status = exchange(&addr, request.as_bytes()).await;
            assert_eq!(status, Some(expected), "{addr}: {:.60}…", request);
        }
    }
}

/// 1,000 connections each sending an almost 1 MiB request head: the server's resident memory
/// stays bounded while they are open (each head is refused at 32 KiB), and falls back once
/// they have closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_request_heads_leave_memory_bounded() {
    raise_own_fd_limit();
    let server = TestServer::builder().start().await;
    let addr = host_port(&server.url(""));
    let baseline = server.rss_kib();

    let mut head = b"GET /pulp/content/ HTTP/1.1\r\nHost: big\r\nX-Big: ".to_vec();
    head.resize(BIG_HEAD_BYTES, b'a');
    let head: Arc<[u8]> = head.into();
    let conns = futures::future::join_all((0..BIG_HEAD_CONNECTIONS).map(|_| {
        let head = head.clone();
        let addr = addr.clone();
        async move {
            let mut conn = TcpStream::connect(&addr).await.expect("connect");
            let _ = conn.write_all(&head).await;
            // The old server waits for the rest of the head; a capped one answers 431.
            let mut answer = [0u8; 12];
            let _ =
                tokio::time::timeout(Duration::from_secs(2), conn.read_exact(&mut answer)).await;
            (conn, status_of(&answer))
        }
    }))
    .await;
    let open = server.rss_kib();
    let refused = conns.iter().filter(|(_, s)| *s == Some(431)).count();
    drop(conns);

    // Closed connections give their memory back. mimalloc returns freed pages to the system
    // on its next allocations once a short delay has passed, so keep the server busy with
    // ordinary requests while waiting.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut closed = server.rss_kib();
    while closed > baseline + 32 * 1024 && Instant::now() < deadline {
        assert_eq!(server.get("/pulp/content/").await.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
        closed = server.rss_kib();
    }
    eprintln!(
        "big heads: RSS {} MiB at start, {} MiB with {BIG_HEAD_CONNECTIONS} connections open \
         ({refused} answered 431), {} MiB after they closed",
        baseline / 1024,
        open / 1024,
        closed / 1024
    );
    assert!(open < baseline + 128 * 1024, "{open} KiB while open");
    assert!(closed < baseline + 32 * 1024, "{closed} KiB after close");
}

/// A chunked request body with a bad chunk size or a missing CRLF is the client's fault: 400
/// on `paths-info` and on the API (both listeners), logged and counted as a 400, never as an
/// upstream failure.
#[tokio::test]
async fn malformed_chunked_bodies_are_the_clients_400() {
    let hub = FakeHub::start().await;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .separate_api_listener()
        .start()
        .await;
    let (user, password) = server.admin_credentials();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let remotes = "/pulp/api/v3/remotes/hugging_face/hugging-face/";
    let targets = [
        (
            host_port(&server.url("")),
            "/pulp/content/hf/api/models/org/model/paths-info/main",
        ),
        (host_port(&server.url("")), remotes),
        (host_port(&server.api_url("")), remotes),
    ];
    let bodies = [
        ("bad chunk size", "zz\r\n{}\r\n0\r\n\r\n"),
        ("missing CRLF after the data", "2\r\n{}XX0\r\n\r\n"),
    ];
    for (addr, path) in &targets {
        for (what, body) in bodies {
            let request = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic}\r\n\
                 Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
            );
            let status = exchange(addr, request.as_bytes()).await;
            assert_eq!(status, Some(400), "{what}: POST {path} on {addr}");
        }
    }

    let posts = |logs: &str| {
        logs.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"] == "access" && v["method"] == "POST")
            .collect::<Vec<_>>()
    };
    let logs = server.logs_when(|logs| posts(logs).len() >= 4).await;
    let lines = posts(&logs);
    assert_eq!(
        lines.len(),
        4,
        "one access line per content-listener POST\n{logs}"
    );
    for line in &lines {
        assert_eq!(line["status"], 400, "{line}");
    }
    assert!(!logs.contains("Upstream"), "{logs}");

    let (_, m) = scrape_when(&server, |m| {
        m.iter()
            .filter(|(k, _)| k.starts_with("hubcache_requests_total{") && k.contains("POST"))
            .map(|(_, v)| v)
            .sum::<f64>()
            >= 4.0
    })
    .await;
    let posts: Vec<(&String, &f64)> = m
        .iter()
        .filter(|(k, _)| k.starts_with("hubcache_requests_total{") && k.contains("POST"))
        .collect();
    assert!(
        posts.iter().all(|(k, _)| k.contains("status=\"400\"")),
        "{posts:?}"
    );
    assert!(
        !m.keys()
            .any(|k| k.starts_with("hubcache_upstream_requests_total{") && k.contains("error")),
        "{m:?}"
    );
}
