//! Every request a fake receives, with the status it got and the file bytes it carried.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::{HeaderMap, Method};

/// Marker a handler puts in a response's extensions when the body carries file bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedFile {
    /// Repo key, e.g. `org/model` or `datasets/org/data`.
    pub repo: String,
    pub path: String,
}

impl ServedFile {
    /// `"{repo}/{path}"`, what `body_transfers` matches against.
    pub fn full_path(&self) -> String {
        format!("{}/{}", self.repo, self.path)
    }
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `"hub"` or `"cdn"`.
    pub server: &'static str,
    pub method: Method,
    /// The raw (still percent-encoded) path.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// `None` while the request is still being answered.
    pub status: Option<u16>,
    /// Set when a GET was answered with file bytes (200/206).
    pub served: Option<ServedFile>,
    /// The answer's `Content-Range`, if any.
    pub content_range: Option<String>,
    /// When the answer's headers were handed to the connection (its body transfer began).
    pub body_started: Option<Instant>,
    /// When its body was fully sent, failed, or dropped (the client or the fake hung up).
    pub body_ended: Option<Instant>,
    /// Body bytes handed to the connection so far.
    pub body_bytes: u64,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `method` matches and the path contains `path_part`.
    pub fn is(&self, method: &str, path_part: &str) -> bool {
        self.method.as_str() == method && self.path.contains(path_part)
    }

    /// Path and query as sent, e.g. `/api/models/org/m/tree/main?recursive=true`.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// A shared, append-only log of requests.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    log: Arc<Mutex<Log>>,
}

#[derive(Debug, Default)]
struct Log {
    entries: Vec<RecordedRequest>,
    /// Entries forgotten by [`Recorder::clear`]: indices stay absolute, so a body still
    /// streaming after a clear does not update a newer request.
    cleared: usize,
}

impl Recorder {
    /// Logs an arriving request; returns its index for [`Recorder::finish`].
    pub fn start<B>(&self, server: &'static str, req: &http::Request<B>) -> usize {
        let mut log = self.log.lock().expect("recorder lock");
        log.entries.push(RecordedRequest {
            server,
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(str::to_string),
            headers: req.headers().clone(),
            status: None,
            served: None,
            content_range: None,
            body_started: None,
            body_ended: None,
            body_bytes: 0,
        });
        log.cleared + log.entries.len() - 1
    }

    /// The handler answered request `index`: its status, file marker and `Content-Range`; its
    /// body transfer starts now.
    pub fn finish(
        &self,
        index: usize,
        status: u16,
        served: Option<ServedFile>,
        content_range: Option<String>,
    ) {
        self.update(index, |r| {
            r.status = Some(status);
            r.served = served;
            r.content_range = content_range;
            r.body_started = Some(Instant::now());
        });
    }

    /// `n` more body bytes of request `index` went to the connection.
    pub fn body_sent(&self, index: usize, n: u64) {
        self.update(index, |r| r.body_bytes += n);
    }

    /// The body of request `index` ended (sent, failed or dropped); only the first call counts.
    pub fn body_ended(&self, index: usize) {
        self.update(index, |r| {
            r.body_ended.get_or_insert_with(Instant::now);
        });
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut RecordedRequest)) {
        let mut log = self.log.lock().expect("recorder lock");
        let Some(i) = index.checked_sub(log.cleared) else {
            return;
        };
        if let Some(r) = log.entries.get_mut(i) {
            f(r);
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.lock().expect("recorder lock").entries.clone()
    }

    pub fn count(&self, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.log
            .lock()
            .expect("recorder lock")
            .entries
            .iter()
            .filter(|r| pred(r))
            .count()
    }

    pub fn clear(&self) {
        let mut log = self.log.lock().expect("recorder lock");
        log.cleared += log.entries.len();
        log.entries.clear();
    }

    /// GETs answered with file bytes whose `{repo}/{path}` contains `needle`.
    pub fn body_transfers(&self, needle: &str) -> usize {
        self.count(|r| {
            r.served
                .as_ref()
                .is_some_and(|s| s.full_path().contains(needle))
        })
    }

    /// Whether any request carried header `name` with exactly `value`.
    pub fn saw_header_value(&self, name: &str, value: &str) -> bool {
        self.count(|r| {
            r.headers
                .get_all(name)
                .iter()
                .any(|v| v.as_bytes() == value.as_bytes())
        }) > 0
    }

    /// Whether any request carried header `name` at all.
    pub fn saw_header(&self, name: &str) -> bool {
        self.count(|r| r.headers.contains_key(name)) > 0
    }
}

/// One GET answered with file bytes: what it asked, what it got, and when its body moved.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The `Range` header asked, if any.
    pub range: Option<String>,
    /// The `If-Range` header sent, if any.
    pub if_range: Option<String>,
    pub status: u16,
    /// Absolute file offset of the body's first byte (`Content-Range`; 0 for a 200).
    pub range_start: u64,
    /// Body bytes actually sent (fewer than asked when the body was cut).
    pub bytes_sent: u64,
    pub started: Instant,
    /// `None` while the body is still streaming.
    pub ended: Option<Instant>,
}

impl Transfer {
    /// The file bytes this transfer carried, `start..end`.
    pub fn served(&self) -> std::ops::Range<u64> {
        self.range_start..self.range_start + self.bytes_sent
    }

    /// `a` of the asked `Range: bytes=a-…`, if it had one.
    pub fn asked_start(&self) -> Option<u64> {
        let spec = self.range.as_deref()?.trim().strip_prefix("bytes=")?;
        spec.split_once('-')?.0.trim().parse().ok()
    }

    /// Most transfers of `transfers` whose bodies were moving at the same time (one that
    /// ends exactly when another starts does not overlap it; one still streaming counts
    /// until now).
    pub fn max_simultaneous(transfers: &[Transfer]) -> usize {
        let now = Instant::now();
        // (time, +1 start / -1 end), ends first at equal times.
        let mut events: Vec<(Instant, i32)> = transfers
            .iter()
            .flat_map(|t| [(t.started, 1), (t.ended.unwrap_or(now), -1)])
            .collect();
        events.sort();
        let (mut open, mut most) = (0i32, 0i32);
        for (_, step) in events {
            open += step;
            most = most.max(open);
        }
        most as usize
    }

    /// `Ok` when the bytes served by `transfers` cover `0..size` exactly once (no gap, no
    /// byte twice); otherwise what is wrong.
    pub fn covers_exactly_once(transfers: &[Transfer], size: u64) -> Result<(), String> {
        let mut spans: Vec<_> = transfers
            .iter()
            .map(Transfer::served)
            .filter(|r| !r.is_empty())
            .collect();
        spans.sort_by_key(|r| r.start);
        let mut next = 0;
        for r in &spans {
            if r.start > next {
                return Err(format!("bytes {next}..{} never served: {spans:?}", r.start));
            }
            if r.start < next {
                return Err(format!("bytes {}..{next} served twice: {spans:?}", r.start));
            }
            next = r.end;
        }
        if next != size {
            return Err(format!("served up to {next} of {size}: {spans:?}"));
        }
        Ok(())
    }
}

impl Recorder {
    /// Transfers of file bytes (200/206 GETs) whose `{repo}/{path}` contains `needle`, in the
    /// order they arrived.
    pub fn transfers(&self, needle: &str) -> Vec<Transfer> {
        let log = self.log.lock().expect("recorder lock");
        log.entries
            .iter()
            .filter(|r| {
                r.served
                    .as_ref()
                    .is_some_and(|s| s.full_path().contains(needle))
            })
            .filter_map(|r| {
                Some(Transfer {
                    range: r.header("range").map(str::to_string),
                    if_range: r.header("if-range").map(str::to_string),
                    status: r.status?,
                    range_start: content_range_start(r.content_range.as_deref()),
                    bytes_sent: r.body_bytes,
                    started: r.body_started?,
                    ended: r.body_ended,
                })
            })
            .collect()
    }
}

/// `a` of `Content-Range: bytes a-b/size`; 0 without one (a whole body).
fn content_range_start(value: Option<&str>) -> u64 {
    value
        .and_then(|v| v.trim().strip_prefix("bytes "))
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, _)| a.parse().ok())
        .unwrap_or(0)
}
