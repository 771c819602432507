//! What the parallel-fill scenarios share: a server with a `download_concurrency`, a cheap
//! client that digests what it reads, and a one-line report of the CDN's side.

use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::{FakeHub, FileEntry, RemoteCfg, TestServer, Transfer};

/// Longest wait for the next bytes of an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// hubcache with one `on_demand` remote `hf` on `hub` limited to `dc` upstream requests.
pub(super) async fn serve_dc(hub: &FakeHub, dc: u64) -> TestServer {
    TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", hub).field("download_concurrency", json!(dc)))
        .distribution("hf", "hf")
        .start()
        .await
}

/// A client's GET over a plain socket, its body read into a digest (a 256 MiB body is never
/// held whole). Not reqwest: 32 debug-built HTTP clients reading 3 GiB cost more CPU than the
/// server they test.
pub(super) struct Download {
    pub status: u16,
    length: u64,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    hasher: Sha256,
    pub len: u64,
    /// Where the body was cut or came up short, if it did.
    pub error: Option<String>,
}

impl Download {
    pub async fn start(server: &TestServer, path: &str) -> Self {
        let addr = server.url("").trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut head = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        let end = loop {
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let n = timeout(READ_TIMEOUT, stream.read(&mut buf))
                .await
                .expect("response headers in time")
                .expect("response headers");
            assert!(n > 0, "closed before the headers: {head:?}");
            head.extend_from_slice(&buf[..n]);
        };
        let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line: {text}"));
        // File bytes come with a length; another answer (an error) is read until it closes.
        let length = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok());
        assert!(
            status != 200 || (length.is_some() && !text.contains("transfer-encoding")),
            "a 200 without Content-Length is not read here: {text}"
        );
        let length = length.unwrap_or(u64::MAX);
        let mut download = Self {
            status,
            length,
            stream: Some(stream),
            buf,
            hasher: Sha256::new(),
            len: 0,
            error: None,
        };
        download.take(&head[end + 4..]);
        download
    }

    fn take(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Reads until at least `n` body bytes have arrived, or the body ends or fails.
    pub async fn read_until(&mut self, n: u64) {
        while self.len < n.min(self.length) {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            let mut buf = std::mem::take(&mut self.buf);
            match timeout(READ_TIMEOUT, stream.read(&mut buf)).await {
                Ok(Ok(0)) => self.cut("closed"),
                Ok(Ok(read)) => self.take(&buf[..read]),
                Ok(Err(e)) => self.cut(&e.to_string()),
                Err(_) => self.cut("timed out"),
            }
            self.buf = buf;
        }
    }

    fn cut(&mut self, why: &str) {
        self.error = Some(format!("{why} after {} of {} bytes", self.len, self.length));
        self.stream = None;
    }

    /// The whole body: (status, length, sha256 hex, where it was cut).
    pub async fn finish(mut self) -> Got {
        self.read_until(u64::MAX).await;
        Got {
            status: self.status,
            len: self.len,
            sha256: hex::encode(self.hasher.finalize()),
            error: self.error,
        }
    }
}

#[derive(Debug, PartialEq)]
pub(super) struct Got {
    pub status: u16,
    pub len: u64,
    pub sha256: String,
    pub error: Option<String>,
}

impl Got {
    /// A complete 200 of exactly `want`'s bytes.
    pub fn assert_whole(&self, want: &FileEntry, what: &str) {
        assert_eq!(
            (self.status, self.len, self.error.as_deref()),
            (200, want.size(), None),
            "{what}"
        );
        assert_eq!(self.sha256, want.sha256, "{what}: bytes differ");
    }
}

pub(super) async fn get(server: &TestServer, path: &str) -> Got {
    Download::start(server, path).await.finish().await
}

pub(super) fn bytes_sent(transfers: &[Transfer]) -> u64 {
    transfers.iter().map(|t| t.bytes_sent).sum()
}

/// One line for the test log: how long the scenario's clients took, and the CDN's side.
pub(super) fn report(what: &str, took: Duration, transfers: &[Transfer]) {
    let first = transfers.iter().map(|t| t.started).min();
    let last = transfers.iter().filter_map(|t| t.ended).max();
    let upstream = first.zip(last).map(|(a, b)| b - a);
    eprintln!(
        "{what}: clients {took:?}; CDN: {} GETs over {upstream:?}, at most {} at once",
        transfers.len(),
        Transfer::max_simultaneous(transfers)
    );
}
