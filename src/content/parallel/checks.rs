//! What an upstream answer to a piece request means (`docs/parallel-fills.md` "The first
//! request", "Other pieces", "Retries, failures, expired URLs"): pure functions of the answer's
//! status and headers, so each rule has a unit test.

use std::ops::Range;
use std::time::Duration;

use http::StatusCode;

/// How the first piece's answer is used.
pub(crate) enum First {
    /// A 206 of exactly the first piece: pieces in parallel, later ones asked with
    /// `If-Range: <validator>` when the answer had one.
    Pieces {
        resp: reqwest::Response,
        validator: Option<String>,
    },
    /// A 200 of the whole file (the origin ignores `Range`): read as one stream.
    OneStream(reqwest::Response),
}

impl First {
    /// Classifies the answer to `Range: bytes=<piece>` for a file of `size` bytes; `None`:
    /// not usable here (a refusal, an expired URL, another length or range).
    pub(crate) fn classify(resp: reqwest::Response, piece: &Range<u64>, size: u64) -> Option<Self> {
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                if content_range(&resp) != Some((piece.start, piece.end, size)) {
                    return None;
                }
                let validator = validator(resp.headers());
                Some(First::Pieces { resp, validator })
            }
            StatusCode::OK if content_length(&resp) == Some(size) => Some(First::OneStream(resp)),
            _ => None,
        }
    }
}

/// `Content-Range: bytes <a>-<b>/<total>` as `(a, b + 1, total)`.
fn content_range(resp: &reqwest::Response) -> Option<(u64, u64, u64)> {
    let value = resp
        .headers()
        .get(http::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total) = (a.parse().ok()?, b.parse::<u64>().ok()?, total.parse().ok()?);
    Some((a, b.checked_add(1)?, total))
}

/// The answer's `Content-Length` header.
fn content_length(resp: &reqwest::Response) -> Option<u64> {
    crate::hub::headers::content_length(resp.headers())
}

/// What later pieces send as `If-Range`: a strong `ETag`, else `Last-Modified`.
fn validator(headers: &http::HeaderMap) -> Option<String> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    text(http::header::ETAG)
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| text(http::header::LAST_MODIFIED))
        .map(str::to_owned)
}

/// Why a piece's request or body ended early.
pub(crate) enum Stop {
    /// Worth another try from where the piece stands (reset, short body, 5xx, 429).
    Retry(&'static str, Option<Duration>),
    /// The CDN refused the URL of this generation (expired): resolve again, then retry.
    Expired(u64),
    /// The file is in doubt or cannot be stored: the fill fails.
    Fatal(String),
    /// A 200 of the whole file, same validator: the origin stopped honouring `Range`.
    Whole(Box<reqwest::Response>),
}

/// Who answered a piece request: a CDN (whose 403 means an expired signed URL) or the
/// remote's own origin, and the generation of the URL asked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answerer {
    pub(crate) cdn: bool,
    pub(crate) generation: u64,
}

/// Checks the answer to a request for `range` of a file of `size` bytes sent with
/// `If-Range: <validator>`: the answer to stream, or why not.
pub(crate) fn check_piece(
    resp: reqwest::Response,
    range: &Range<u64>,
    size: u64,
    validator: Option<&str>,
    from: Answerer,
) -> Result<reqwest::Response, Stop> {
    let status = resp.status();
    let strong = validator.filter(|v| v.starts_with('"'));
    let etag = resp
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok());
    if status == StatusCode::PARTIAL_CONTENT {
        if content_range(&resp) != Some((range.start, range.end, size)) {
            return Err(Stop::Fatal("an answer of another range or length".into()));
        }
        if strong.is_some_and(|v| etag != Some(v)) {
            return Err(Stop::Fatal("the object's ETag changed".into()));
        }
        return Ok(resp);
    }
    if status == StatusCode::FORBIDDEN && from.cdn {
        return Err(Stop::Expired(from.generation));
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let wait = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Stop::Retry("the upstream answered 5xx or 429", wait));
    }
    if status == StatusCode::OK && content_length(&resp) == Some(size) {
        // Only the same strong ETag proves the same bytes: the fill then goes on rewriting
        // bytes it may already have (and hashed). Without one, a 200 to `If-Range` means the
        // object changed, and a mix of the two could pass the digest of neither.
        if strong.is_some() && etag == strong {
            return Err(Stop::Whole(Box::new(resp)));
        }
        return Err(Stop::Fatal("the object changed (no matching ETag)".into()));
    }
    // Another length, a redirect, a 4xx: the file is in doubt.
    Err(Stop::Fatal(format!(
        "the upstream answered {status} for a piece"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: u64 = 100;

    fn answer(status: u16, headers: &[(&str, &str)], body: &'static str) -> reqwest::Response {
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        reqwest::Response::from(builder.body(body).expect("a response"))
    }

    fn check(resp: reqwest::Response, validator: Option<&str>, cdn: bool) -> Result<u16, String> {
        let from = Answerer { cdn, generation: 7 };
        match check_piece(resp, &(10..20), SIZE, validator, from) {
            Ok(resp) => Ok(resp.status().as_u16()),
            Err(Stop::Fatal(_)) => Err("fatal".into()),
            Err(Stop::Retry(_, wait)) => Err(format!("retry {wait:?}")),
            Err(Stop::Expired(generation)) => Err(format!("expired {generation}")),
            Err(Stop::Whole(_)) => Err("whole".into()),
        }
    }

    #[test]
    fn the_first_answer_is_pieces_one_stream_or_not_usable() {
        let piece = 0..10;
        let ranged = answer(
            206,
            &[("content-range", "bytes 0-9/100"), ("etag", "\"x\"")],
            "",
        );
        match First::classify(ranged, &piece, SIZE) {
            Some(First::Pieces { validator, .. }) => {
                assert_eq!(validator.as_deref(), Some("\"x\""))
            }
            _ => panic!("a 206 of the first piece: pieces"),
        }
        let weak = answer(
            206,
            &[
                ("content-range", "bytes 0-9/100"),
                ("etag", "W/\"x\""),
                ("last-modified", "Mon, 30 Nov 2026 04:00:00 GMT"),
            ],
            "",
        );
        match First::classify(weak, &piece, SIZE) {
            Some(First::Pieces { validator, .. }) => {
                assert_eq!(
                    validator.as_deref(),
                    Some("Mon, 30 Nov 2026 04:00:00 GMT"),
                    "a weak ETag is no If-Range validator"
                )
            }
            _ => panic!("pieces"),
        }
        let whole = answer(200, &[("content-length", "100")], "");
        assert!(matches!(
            First::classify(whole, &piece, SIZE),
            Some(First::OneStream(_))
        ));
        for (status, headers) in [
            (206, vec![("content-range", "bytes 0-9/101")]),
            (206, vec![("content-range", "bytes 0-19/100")]),
            (206, vec![]),
            (200, vec![("content-length", "99")]),
            (403, vec![]),
            (404, vec![]),
            (500, vec![]),
        ] {
            let resp = answer(status, &headers, "");
            assert!(
                First::classify(resp, &piece, SIZE).is_none(),
                "{status} {headers:?}"
            );
        }
    }

    #[test]
    fn a_piece_is_streamed_only_when_it_is_exactly_the_range_of_the_same_object() {
        let exact = [("content-range", "bytes 10-19/100"), ("etag", "\"x\"")];
        assert_eq!(check(answer(206, &exact, ""), Some("\"x\""), true), Ok(206));
        assert_eq!(check(answer(206, &exact, ""), None, true), Ok(206));
        let other = [("content-range", "bytes 10-19/100"), ("etag", "\"y\"")];
        assert_eq!(
            check(answer(206, &other, ""), Some("\"x\""), true),
            Err("fatal".into())
        );
        let shifted = [("content-range", "bytes 11-20/100"), ("etag", "\"x\"")];
        assert_eq!(
            check(answer(206, &shifted, ""), Some("\"x\""), true),
            Err("fatal".into())
        );
        let longer = [("content-range", "bytes 10-19/101"), ("etag", "\"x\"")];
        assert_eq!(
            check(answer(206, &longer, ""), Some("\"x\""), true),
            Err("fatal".into())
        );
    }

    #[test]
    fn failures_are_retried_expired_urls_resolved_and_a_whole_answer_read_as_one_stream() {
        assert_eq!(
            check(answer(403, &[], ""), None, true),
            Err("expired 7".into())
        );
        assert_eq!(
            check(answer(403, &[], ""), None, false),
            Err("fatal".into()),
            "the Hub's own 403"
        );
        assert_eq!(
            check(answer(503, &[("retry-after", "3")], ""), None, true),
            Err("retry Some(3s)".into())
        );
        assert_eq!(
            check(answer(429, &[], ""), None, true),
            Err("retry None".into())
        );
        assert_eq!(
            check(answer(500, &[], ""), None, false),
            Err("retry None".into())
        );
        let same = [("content-length", "100"), ("etag", "\"x\"")];
        assert_eq!(
            check(answer(200, &same, ""), Some("\"x\""), true),
            Err("whole".into())
        );
        assert_eq!(
            check(answer(200, &same, ""), None, true),
            Err("fatal".into()),
            "no strong validator: the object may have changed"
        );
        let changed = [("content-length", "100"), ("etag", "\"y\"")];
        assert_eq!(
            check(answer(200, &changed, ""), Some("\"x\""), true),
            Err("fatal".into())
        );
        let short = [("content-length", "10")];
        assert_eq!(
            check(answer(200, &short, ""), None, true),
            Err("fatal".into())
        );
        assert_eq!(check(answer(404, &[], ""), None, true), Err("fatal".into()));
        assert_eq!(check(answer(302, &[], ""), None, true), Err("fatal".into()));
    }
}
