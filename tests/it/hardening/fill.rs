//! Shared fills: a slow reader never paces a fill; a full disk still serves downloads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::cache::{hub_with, resolve, serve};
use serde_json::json;

use crate::support::{wait_for, Content, RemoteCfg, TestServer, Transfer};

const MIB: u64 = 1 << 20;

/// A raw HTTP/1.1 client reading its answer at about `rate` bytes a second through a small
/// receive buffer, so the server sees a slow socket.
struct SlowReader {
    task: tokio::task::JoinHandle<()>,
    /// Bytes read so far (header included).
    read: watch::Receiver<u64>,
    /// What it read: header and the start of the body.
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl SlowReader {
    fn count(&self) -> u64 {
        *self.read.borrow()
    }

    /// The body bytes read so far (after the header).
    fn body(&self) -> Vec<u8> {
        let bytes = self.bytes.lock().unwrap();
        match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => bytes[end + 4..].to_vec(),
            None => Vec::new(),
        }
    }
}

impl Drop for SlowReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn slow_reader(server: &TestServer, path: &str, rate: u64) -> SlowReader {
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
        .expect("listen address");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (tx, rx) = watch::channel(0u64);
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let kept = bytes.clone();
    let task = tokio::spawn(async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
        let mut stream = socket.connect(addr).await.expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let started = Instant::now();
        let mut total = 0u64;
        let mut buf = vec![0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    total += n as u64;
                    kept.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }
            tx.send_replace(total);
            // Stay on the `rate` line: sleep until the bytes read so far are due.
            let due = Duration::from_secs_f64(total as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(ahead).await;
            }
        }
    });
    SlowReader {
        task,
        read: rx,
        bytes,
    }
}

/// Whether an object body of `size` bytes is published under `cache_dir`.
fn published(cache_dir: &std::path::Path, size: u64) -> bool {
    fn walk(dir: &std::path::Path, size: u64) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p, size)
            } else {
                p.file_name().is_some_and(|n| n == "body")
                    && e.metadata().is_ok_and(|m| m.len() == size)
            }
        })
    }
    walk(&cache_dir.join("v1").join("objects"), size)
}

/// Issue 10 item 6: a client reading a cold file at 16 KiB/s started the fill; a second
/// client of the same file gets all of it at the upstream's pace, from one fill (each byte
/// fetched once), and the fill is published while the slow client is still reading.
#[tokio::test]
async fn a_slow_reader_does_not_pace_a_shared_cold_fill() {
    const SIZE: u64 = 64 * MIB;
    let big = Content::pattern(SIZE, 61);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    let server = serve(&hub).await;
    let path = resolve("model.bin");

    let started = Instant::now();
    let slow = slow_reader(&server, &path, 16 * 1024);
    // The slow client's answer has begun: it is the fill's writer.
    assert!(
        wait_for(Duration::from_secs(10), || slow.count() > 0).await,
        "the slow client got no answer"
    );

    let b_started = Instant::now();
    let b = server
        .client()
        .get(server.url(&path))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("second client's request");
    assert_eq!(b.status(), 200);
    let mut body = Vec::with_capacity(SIZE as usize);
    let mut stream = b;
    let mut cut = None;
    loop {
        match stream.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                cut = Some(e);
                break;
            }
        }
    }
    let b_time = b_started.elapsed();
    eprintln!(
        "second client: {} of {SIZE} bytes in {b_time:?}; slow client had {} bytes",
        body.len(),
        slow.count()
    );
    assert!(
        cut.is_none(),
        "the second client was cut after {} bytes in {b_time:?}: {cut:?}",
        body.len()
    );
    assert_eq!(body.len() as u64, SIZE);
    assert!(body == big.to_vec(), "the second client's bytes differ");

    assert!(
        wait_for(Duration::from_secs(10), || published(
            &server.cache_dir(),
            SIZE
        ))
        .await,
        "the fill was not published while the slow client reads"
    );
    let fill_time = started.elapsed();
    let slow_bytes = slow.count();
    eprintln!("fill published after {fill_time:?}; slow client had {slow_bytes} bytes");
    assert!(
        slow_bytes < SIZE / 2,
        "the slow client was not slow ({slow_bytes} bytes): the scenario proves nothing"
    );
    // 64 MiB: a parallel fill (issue 15), so several ranged GETs, but every byte once.
    let transfers = hub.cdn().transfers("model.bin");
    Transfer::covers_exactly_once(&transfers, SIZE)
        .unwrap_or_else(|e| panic!("one fill, each byte fetched once: {e}; {transfers:?}"));
    let start = slow.body();
    assert!(
        start[..] == big.to_vec()[..start.len()],
        "the slow client's bytes differ"
    );
}

/// With `download_concurrency: 1`, a slow client of a fill that has finished upstream does not
/// keep the remote's only download slot: another cold file is fetched meanwhile.
#[tokio::test]
async fn a_slow_reader_does_not_hold_the_remotes_download_slot() {
    let big = Content::pattern(8 * MIB, 62);
    let other = Content::pattern(MIB, 63);
    let hub = hub_with(&[
        ("model.bin", big.clone(), true),
        ("other.bin", other.clone(), true),
    ])
    .await;
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", &hub).field("download_concurrency", json!(1)))
        .distribution("hf", "hf")
        .start()
        .await;

    let slow = slow_reader(&server, &resolve("model.bin"), 16 * 1024);
    assert!(
        wait_for(Duration::from_secs(20), || published(
            &server.cache_dir(),
            8 * MIB
        ))
        .await,
        "the slow client's fill was not published"
    );
    let resp = server
        .client()
        .get(server.url(&resolve("other.bin")))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a cold file while the slow client reads");
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.expect("body");
    assert!(body[..] == other.to_vec()[..], "bytes differ");
    assert!(slow.count() < 4 * MIB, "the slow client was not slow");
}

/// A tmpfs mounted on a temp dir for the test's life (unmounted on drop, even on panic).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hubcache-tmpfs-")
            .tempdir()
            .expect("temp dir");
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed (root is needed)");
        Tmpfs { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a filler file until the file system refuses more bytes.
    fn fill_up(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path().join("filler")).expect("filler");
        let mut chunk = 1 << 20;
        while chunk >= 512 {
            if file.write_all(&vec![0u8; chunk]).is_err() {
                chunk /= 2;
            }
        }
        let _ = file.sync_all();
    }

    /// Frees `bytes` of the filler (a multiple of the page size frees exactly that much).
    fn free(&self, bytes: u64) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(self.path().join("filler"))
            .expect("filler");
        let len = file.metadata().expect("filler size").len();
        file.set_len(len - bytes).expect("truncate the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut cmd = std::process::Command::new("umount");
            if lazy {
                cmd.arg("-l");
            }
            cmd.arg(self.dir.path()).status().is_ok_and(|s| s.success())
        };
        if !umount(false) {
            umount(true);
        }
    }
}

/// Status and whole body of a GET, or where the body was cut.
async fn get_whole(server: &TestServer, path: &str) -> (u16, Result<Vec<u8>, String>) {
    let resp = server
        .client()
        .get(server.url(path))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let mut resp = resp;
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return (status, Ok(body)),
            Err(e) => return (status, Err(format!("cut after {} bytes: {e}", body.len()))),
        }
    }
}

/// Issue 10 item 13: with `cache.dir` full, cold downloads of a small and a large file still
/// answer 200 with every byte (streamed without being stored), stored files are still served,
/// the failures are counted by reason and logged once.
#[tokio::test]
async fn a_full_cache_dir_streams_cold_files_without_storing_them() {
    let stored = Content::pattern(MIB, 131);
    let small = Content::pattern(200 * 1024, 132);
    let big = Content::pattern(8 * MIB, 133);
    let hub = hub_with(&[
        ("stored.bin", stored.clone(), true),
        ("config.json", small.clone(), false),
        ("model.bin", big.clone(), true),
    ])
    .await;
    // Declared before the server, so it is unmounted after the server has stopped.
    let disk = Tmpfs::mount("6m");
    let cache_dir = disk.path().join("cache");
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .yaml(&format!("cache:\n  dir: {}\n", cache_dir.display()))
        .start()
        .await;

    let (status, body) = get_whole(&server, &resolve("stored.bin")).await;
    assert_eq!(
        (status, body.map(|b| b == stored.to_vec())),
        (200, Ok(true))
    );
    assert!(
        wait_for(Duration::from_secs(10), || published(&cache_dir, MIB)).await,
        "the first file was not stored"
    );
    disk.fill_up();

    for (path, content) in [
        ("config.json", &small),
        ("model.bin", &big),
        ("model.bin", &big),
    ] {
        let (status, body) = get_whole(&server, &resolve(path)).await;
        assert_eq!(status, 200, "{path} on a full disk");
        let body = body.unwrap_or_else(|e| panic!("{path} on a full disk: {e}"));
        assert!(body == content.to_vec(), "{path}: bytes differ");
    }
    assert_eq!(
        hub.body_transfers("model.bin"),
        2,
        "nothing stored: fetched each time"
    );

    let (status, body) = get_whole(&server, &resolve("stored.bin")).await;
    assert_eq!(
        (status, body.map(|b| b == stored.to_vec())),
        (200, Ok(true))
    );
    assert_eq!(
        hub.body_transfers("stored.bin"),
        1,
        "the stored file came from disk"
    );

    let (_, metrics) = crate::metrics::scrape_when(&server, |m| {
        m.get("hubcache_cache_store_failures_total{reason=\"no_space\"}")
            .is_some_and(|v| *v >= 3.0)
    })
    .await;
    assert_eq!(
        metrics.get("hubcache_cache_store_failures_total{reason=\"no_space\"}"),
        Some(&3.0),
        "one no_space failure per cold download"
    );
    let logs = server.logs();
    assert_eq!(
        logs.matches("the disk cache cannot store files").count(),
        1,
        "the full disk is logged once, not per request:\n{logs}"
    );
}

/// The disk fills up during a fill: room enough for the body, none for its meta file. The
/// clients streaming it still get every byte (the body was verified); nothing is stored.
#[tokio::test]
async fn a_disk_that_fills_up_during_a_fill_does_not_cut_its_clients() {
    let big = Content::pattern(4 * MIB, 134);
    let hub = hub_with(&[("model.bin", big.clone(), true)]).await;
    let disk = Tmpfs::mount("8m");
    let cache_dir = disk.path().join("cache");
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .yaml(&format!("cache:\n  dir: {}\n", cache_dir.display()))
        .start()
        .await;
    // The file's metadata first (hubcache remembers it under `cache.dir` too).
    assert_eq!(server.head(&resolve("model.bin")).await.status(), 200);
    disk.fill_up();
    // Exactly the body's pages: the body fits, its meta file does not.
    disk.free(4 * MIB);

    for _ in 0..2 {
        let (status, body) = get_whole(&server, &resolve("model.bin")).await;
        assert_eq!(status, 200);
        let body = body.unwrap_or_else(|e| panic!("model.bin: {e}"));
        assert!(body == big.to_vec(), "bytes differ");
    }
    assert!(!published(&cache_dir, 4 * MIB), "nothing can be stored");
    assert_eq!(hub.body_transfers("model.bin"), 2);
    let (_, metrics) = crate::metrics::scrape_when(&server, |m| {
        m.get("hubcache_cache_store_failures_total{reason=\"no_space\"}")
            .is_some_and(|v| *v >= 2.0)
    })
    .await;
    assert_eq!(
        metrics.get("hubcache_cache_store_failures_total{reason=\"no_space\"}"),
        Some(&2.0)
    );
}
