//! Reading one HTTP/1 request head under a deadline and a size cap, before Pingora parses it.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// Longest request line accepted (method, target, version), as nginx's 8 KiB header buffer.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest request head accepted (request line and header fields), as nginx's 4 × 8 KiB.
pub const MAX_HEAD: usize = 32 * 1024;
/// Bytes asked of the socket per read, as Pingora's first header buffer.
const READ_CHUNK: usize = 4 * 1024;

/// How reading a request head ended.
#[derive(Debug)]
pub enum Head {
    /// A whole head, perhaps followed by the first bytes of its body.
    Complete(BytesMut),
    /// The client closed, or the connection failed, before a whole head arrived.
    Closed,
    /// No byte arrived before the idle deadline: nothing to answer.
    Idle,
    /// A head began but did not complete in time: 408.
    TimedOut,
    /// The request line is longer than [`MAX_REQUEST_LINE`]: 414.
    LineTooLong,
    /// The head is larger than [`MAX_HEAD`]: 431.
    TooLarge,
}

/// When reading must be over.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// The first byte must arrive by then.
    pub first_byte: Instant,
    /// The whole head must arrive by then; `None`: `head_timeout` after the first byte.
    pub head: Option<Instant>,
    /// How long a head may take from its first byte.
    pub head_timeout: Duration,
}

/// Reads a request head from `io`, and nothing past the read that completes it.
pub async fn read_head<R: AsyncRead + Unpin>(io: &mut R, deadlines: Deadlines) -> Head {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut scan = Scan::default();
    let mut deadline = deadlines.first_byte;
    loop {
        if buf.len() == buf.capacity() {
            // Grown by hand, doubling up to exactly MAX_HEAD: `reserve` would round a full
            // 32 KiB buffer up to 64 KiB, and a thousand connections would hold twice the cap.
            let mut bigger = BytesMut::with_capacity((buf.capacity() * 2).min(MAX_HEAD));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        let mut window = (&mut buf).limit(READ_CHUNK);
        match tokio::time::timeout_at(deadline, io.read_buf(&mut window)).await {
            Err(_) if buf.is_empty() => return Head::Idle,
            Err(_) => return Head::TimedOut,
            Ok(Ok(0)) | Ok(Err(_)) => return Head::Closed,
            Ok(Ok(n)) => {
                if buf.len() == n {
                    deadline = deadlines
                        .head
                        .unwrap_or_else(|| Instant::now() + deadlines.head_timeout);
                }
            }
        }
        let end = scan.advance(&buf);
        if scan.request_line_len(&buf) > MAX_REQUEST_LINE {
            return Head::LineTooLong;
        }
        match end {
            Some(_) => return Head::Complete(buf),
            // A full buffer without the head's end: the head is larger than the cap.
            None if buf.len() == MAX_HEAD => return Head::TooLarge,
            None => {}
        }
    }
}

/// Where the request line starts and ends and where the head ends, found incrementally so a
/// head that arrives a byte at a time is not rescanned from its start at every read.
#[derive(Debug, Default)]
struct Scan {
    /// First byte of the request line (empty lines before it are allowed and skipped).
    start: Option<usize>,
    /// The `\n` that ends the request line.
    line_end: Option<usize>,
    /// Bytes before this offset hold no terminator that ends here or earlier.
    scanned: usize,
}

impl Scan {
    /// The offset just past the empty line that ends the head, once `buf` holds it.
    fn advance(&mut self, buf: &[u8]) -> Option<usize> {
        let start = match self.start {
            Some(start) => start,
            None => {
                let found = buf[self.scanned..]
                    .iter()
                    .position(|b| *b != b'\r' && *b != b'\n');
                let Some(at) = found else {
                    self.scanned = buf.len();
                    return None;
                };
                self.start = Some(self.scanned + at);
                self.scanned += at;
                self.scanned
            }
        };
        let mut at = self.scanned.max(start);
        while let Some(p) = buf[at..].iter().position(|b| *b == b'\n').map(|p| at + p) {
            self.line_end.get_or_insert(p);
            // A line ends the head when it is empty: `\n\n` or `\n\r\n` (bare LF accepted as
            // httparse, and so Pingora, accept it).
            match (buf.get(p + 1), buf.get(p + 2)) {
                (Some(b'\n'), _) => return Some(p + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(p + 3),
                (None, _) | (Some(b'\r'), None) => {
                    // Not enough bytes yet to tell: look at this `\n` again next time.
                    self.scanned = p;
                    return None;
                }
                _ => at = p + 1,
            }
        }
        self.scanned = buf.len();
        None
    }

    /// Length of the request line so far (complete or not).
    fn request_line_len(&self, buf: &[u8]) -> usize {
        match (self.start, self.line_end) {
            (Some(start), Some(end)) => end - start,
            (Some(start), None) => buf.len() - start,
            (None, _) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadlines(secs: u64) -> Deadlines {
        Deadlines {
            first_byte: Instant::now() + Duration::from_secs(secs),
            head: None,
            head_timeout: Duration::from_secs(secs),
        }
    }

    /// Every way of cutting `bytes` into reads gives the same head end.
    #[test]
    fn the_head_end_is_found_whatever_the_reads() {
        let rows: &[(&[u8], Option<usize>)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Some(27)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", Some(27)),
            (b"GET / HTTP/1.1\n\n", Some(16)),
            (b"GET / HTTP/1.1\r\n\r\n", Some(18)),
            (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", Some(22)),
            (b"GET / HTTP/1.1\nHost: a\n\n", Some(24)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
            (b"\r\n\r\n\r\n", None),
            (b"GET / HTTP/1.1\r\nX: \r\r\n", None),
        ];
        for (bytes, want) in rows {
            for step in 1..=bytes.len() {
                let mut scan = Scan::default();
                let mut found = None;
                for end in (step..bytes.len() + step).step_by(step) {
                    found = scan.advance(&bytes[..end.min(bytes.len())]);
                    if found.is_some() {
                        break;
                    }
                }
                assert_eq!(
                    found,
                    *want,
                    "{:?} read {step} at a time",
                    bytes.escape_ascii().to_string()
                );
            }
        }
    }

    #[tokio::test]
    async fn heads_are_capped_and_classified() {
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE));
        let big_head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let fits = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD - 40));
        let rows: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "whole",
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                "Complete",
            ),
            ("closed mid-head", b"GET / HTTP/1.1\r\n".to_vec(), "Closed"),
            ("closed at once", Vec::new(), "Closed"),
            ("long request line", long_line.into_bytes(), "LineTooLong"),
            ("big head", big_head.into_bytes(), "TooLarge"),
            ("just fits", fits.into_bytes(), "Complete"),
        ];
        for (name, bytes, want) in rows {
            let got = read_head(&mut bytes.as_slice(), deadlines(5)).await;
            assert!(format!("{got:?}").starts_with(want), "{name}: {got:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_head_times_out_and_a_silent_client_is_idle() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let got = read_head(&mut server, deadlines(20)).await;
        assert!(matches!(got, Head::Idle), "{got:?}");

        // A byte every second never completes a head: cut 20 s after the first byte.
        let trickle = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = client.write_all(b"GET / HTTP/1.1\r\n").await;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if client.write_all(b"a").await.is_err() {
                    return;
                }
            }
        });
        let started = Instant::now();
        let got = read_head(&mut server, deadlines(20)).await;
        assert!(matches!(got, Head::TimedOut), "{got:?}");
        assert_eq!(started.elapsed().as_secs(), 20);
        trickle.abort();
    }
}
