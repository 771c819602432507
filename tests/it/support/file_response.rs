//! Responses that carry file bytes (resolve-cache, simple-mode resolve, CDN): ranges, 416,
//! `If-Range`, a per-connection rate, and the byte-level faults (slow first byte, stall, drop
//! mid-body, gzip, ignored range, a corrupt byte).

use http::{Method, Request, Response, StatusCode};

use super::http::{file_body, gzip_body, header, parse_range, set, Body, BodyFaults, RangeAnswer};
use super::model::{Fault, FileEntry, HubState};
use super::recorder::ServedFile;

/// What a byte-serving handler needs from the request (and the pace it answers at).
pub(super) struct ByteRequest {
    pub method: Method,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub accepts_gzip: bool,
    /// Bytes a second the body is sent at (`None`: unpaced).
    pub rate: Option<u64>,
}

impl ByteRequest {
    pub fn from_request<B>(req: &Request<B>) -> Self {
        Self {
            method: req.method().clone(),
            range: header(req, "range").map(str::to_string),
            if_range: header(req, "if-range").map(str::to_string),
            accepts_gzip: header(req, "accept-encoding").is_some_and(|v| v.contains("gzip")),
            rate: None,
        }
    }

    /// RFC 9110 `If-Range`: a validator other than the current `etag` (quoted, as sent)
    /// means "the whole new body": the `Range` is ignored.
    pub fn honour_if_range(&mut self, etag: &str) {
        if self.if_range.as_deref().is_some_and(|v| v != etag) {
            self.range = None;
        }
    }

    /// The faults this response for `entry` meets, each use counted. `IgnoreRange` (for the
    /// file, or as a piece fault) drops the asked range first, so that other piece faults
    /// then see an unranged GET.
    pub fn take_faults(
        &mut self,
        state: &mut HubState,
        repo: &str,
        entry: &FileEntry,
    ) -> Vec<Fault> {
        let path = Some(entry.path.as_str());
        let size = entry.size();
        let asked = |range: Option<&str>| match parse_range(range, size) {
            RangeAnswer::Partial(a, b) => Some((a, b)),
            _ => None,
        };
        let mut faults = state.take_range_faults(repo, path, asked(self.range.as_deref()), |f| {
            *f == Fault::IgnoreRange
        });
        if !faults.is_empty() {
            self.range = None;
        }
        let (asked, span) = match parse_range(self.range.as_deref(), size) {
            RangeAnswer::Full => (None, Some((0, size))),
            RangeAnswer::Partial(a, b) => (Some((a, b)), Some((a, b))),
            RangeAnswer::Unsatisfiable => (None, None),
        };
        faults.extend(state.take_range_faults(repo, path, asked, |f| {
            *f != Fault::IgnoreRange && self.applies(f, entry.lfs, span)
        }));
        faults
    }

    /// Whether `fault` affects this response serving `span` (and so uses up one of its
    /// `times`).
    fn applies(&self, fault: &Fault, lfs: bool, span: Option<(u64, u64)>) -> bool {
        let get = self.method == Method::GET;
        match fault {
            Fault::SlowFirstByte(_) | Fault::IgnoreRange => true,
            Fault::DropAfter(_) | Fault::Stall { .. } => get,
            Fault::Gzip => self.accepts_gzip && !lfs,
            Fault::Corrupt { at } => get && span.is_some_and(|(a, b)| a <= *at && *at < b),
            Fault::RateLimited { .. } | Fault::Status(_) => false,
        }
    }
}

/// 200/206/416 for `entry`, with `Content-Length`, `Accept-Ranges`, `Content-Type`,
/// `Content-Range`. The caller adds `ETag`, `X-Repo-Commit`, … as its host would.
pub(super) async fn file_response(
    req: &ByteRequest,
    repo: &str,
    entry: &FileEntry,
    faults: &[Fault],
) -> Response<Body> {
    let mut body_faults = BodyFaults {
        rate: req.rate,
        ..BodyFaults::default()
    };
    let (mut gzip, mut ignore_range) = (false, false);
    for fault in faults {
        match fault {
            Fault::SlowFirstByte(delay) => tokio::time::sleep(*delay).await,
            Fault::DropAfter(n) => body_faults.drop_after = Some(*n),
            Fault::Stall { after, duration } => body_faults.stall = Some((*after, *duration)),
            Fault::Gzip => gzip = true,
            Fault::IgnoreRange => ignore_range = true,
            Fault::Corrupt { at } => body_faults.corrupt = Some(*at),
            Fault::RateLimited { .. } | Fault::Status(_) => {}
        }
    }
    let size = entry.size();
    let content_type = content_type(entry);
    let served = ServedFile {
        repo: repo.to_string(),
        path: entry.path.clone(),
    };

    if gzip {
        let mut resp = Response::new(gzip_body(&entry.content));
        set(&mut resp, "content-encoding", "gzip");
        set(&mut resp, "content-type", content_type);
        set(&mut resp, "vary", "Accept-Encoding");
        if req.method == Method::GET {
            resp.extensions_mut().insert(served);
        }
        return resp;
    }

    let range = req.range.as_deref().filter(|_| !ignore_range);
    let (status, start, end) = match parse_range(range, size) {
        RangeAnswer::Full => (StatusCode::OK, 0, size),
        RangeAnswer::Partial(a, b) => (StatusCode::PARTIAL_CONTENT, a, b),
        RangeAnswer::Unsatisfiable => {
            let mut resp = super::http::text(416, "Requested Range Not Satisfiable");
            set(&mut resp, "content-range", format!("bytes */{size}"));
            set(&mut resp, "accept-ranges", "bytes");
            return resp;
        }
    };
    let mut resp = Response::new(file_body(entry.content.clone(), start, end, body_faults));
    *resp.status_mut() = status;
    set(&mut resp, "content-length", (end - start).to_string());
    set(&mut resp, "accept-ranges", "bytes");
    set(&mut resp, "content-type", content_type);
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut resp,
            "content-range",
            format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    if req.method == Method::GET {
        resp.extensions_mut().insert(served);
    }
    resp
}

fn content_type(entry: &FileEntry) -> &'static str {
    let head = entry.content.slice(0, 1024);
    if !entry.lfs && std::str::from_utf8(&head).is_ok() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}
