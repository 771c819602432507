//! The access log: one `tracing` event per content request, target `access`.
//!
//! With the JSON subscriber (`logging::init`, the default) each request is one JSON object
//! on stdout: `timestamp`, `level`, `target` and the fields below; `--log-format text` prints
//! the same fields on one readable line. Only what [`AccessRecord`] holds is logged: no
//! header, no query string (Hub and CDN URLs carry signatures there), so no secret.
//! Filter it with `RUST_LOG=info,access=off` to silence it.

use std::net::SocketAddr;

/// Longest Hub path logged, in bytes; a longer one is cut and ends in `…`.
const MAX_PATH: usize = 1024;

/// What is logged about one content request.
#[derive(Debug, Clone, Copy)]
pub struct AccessRecord<'a> {
    /// The request method.
    pub method: &'a http::Method,
    /// The distribution's name; `None` when no distribution matched.
    pub distribution: Option<&'a str>,
    /// The Hub path after `/pulp/content/<base_path>/` (or the whole path when no
    /// distribution matched). Any `?query` or `#fragment` is dropped before logging.
    pub hub_path: &'a str,
    /// The status sent to the client.
    pub status: u16,
    /// The cache result: hit, miss, stale, revalidated, bypass, or `-` (no lookup).
    pub cache: &'a str,
    /// Response body bytes sent to the client.
    pub bytes: u64,
    /// Time spent waiting on the upstream, when one was asked.
    pub upstream_ms: Option<u64>,
    /// Time from the request's arrival to the last byte sent.
    pub total_ms: u64,
    /// The client's address, when known.
    pub client: Option<SocketAddr>,
}

/// Emits `record` as one `info` event with target `access`. No distribution is written `-`;
/// `upstream_ms` and `client` are left out when absent, so a field keeps one JSON type.
pub fn log(record: &AccessRecord<'_>) {
    let path = loggable_path(record.hub_path);
    let client = record.client.map(|addr| addr.to_string());
    tracing::info!(
        target: "access",
        method = record.method.as_str(),
        distribution = record.distribution.unwrap_or("-"),
        path = path.as_ref(),
        status = record.status,
        cache = cache_label(record.cache),
        bytes = record.bytes,
        upstream_ms = record.upstream_ms,
        total_ms = record.total_ms,
        client = client.as_deref(),
    );
}

/// The cache result as logged: one of the known words, else `-`.
fn cache_label(cache: &str) -> &'static str {
    ["hit", "miss", "stale", "revalidated", "bypass"]
        .into_iter()
        .find(|c| *c == cache)
        .unwrap_or("-")
}

/// `path` without its query or fragment, cut to [`MAX_PATH`] bytes on a char boundary.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path.len() <= MAX_PATH {
        return path.into();
    }
    let mut end = MAX_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end]).into()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use parking_lot::Mutex;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs `record` under the given formatter and returns the output.
    fn capture(json: bool, record: &AccessRecord<'_>) -> String {
        let buf = Buf::default();
        let writer = buf.clone();
        let builder = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false);
        if json {
            let subscriber = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish();
            tracing::subscriber::with_default(subscriber, || log(record));
        } else {
            tracing::subscriber::with_default(builder.finish(), || log(record));
        }
        let out = buf.0.lock().clone();
        String::from_utf8(out).unwrap()
    }

    fn record<'a>(method: &'a http::Method, hub_path: &'a str) -> AccessRecord<'a> {
        AccessRecord {
            method,
            distribution: Some("hf-public"),
            hub_path,
            status: 200,
            cache: "hit",
            bytes: 1234,
            upstream_ms: None,
            total_ms: 3,
            client: Some("10.0.0.7:50000".parse().unwrap()),
        }
    }

    #[test]
    fn json_is_one_object_per_request_without_the_query() {
        let path = "org/model/resolve/main/config.json?X-Amz-Signature=s3cr3t&token=hf_abc";
        let out = capture(true, &record(&http::Method::GET, path));
        assert_eq!(out.lines().count(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let want = [
            ("target", "access"),
            ("method", "GET"),
            ("distribution", "hf-public"),
            ("path", "org/model/resolve/main/config.json"),
            ("cache", "hit"),
            ("client", "10.0.0.7:50000"),
        ];
        for (field, value) in want {
            assert_eq!(v[field], value, "field {field} in {out}");
        }
        assert_eq!(
            (
                v["status"].as_u64(),
                v["bytes"].as_u64(),
                v["total_ms"].as_u64()
            ),
            (Some(200), Some(1234), Some(3))
        );
        assert!(
            v.get("timestamp").is_some() && v.get("upstream_ms").is_none(),
            "{out}"
        );
        assert!(!out.contains("s3cr3t") && !out.contains("hf_abc"), "{out}");
    }

    #[test]
    fn text_is_one_readable_line() {
        let mut r = record(&http::Method::HEAD, "org/m/resolve/main/a b#frag");
        (r.distribution, r.cache, r.upstream_ms, r.client) = (None, "weird", Some(41), None);
        let out = capture(false, &r);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.contains("client"), "{out}");
        for part in [
            "access:",
            "method=\"HEAD\"",
            "distribution=\"-\"",
            "path=\"org/m/resolve/main/a b\"",
            "cache=\"-\"",
            "upstream_ms=41",
        ] {
            assert!(out.contains(part), "{part} not in {out}");
        }
    }

    #[test]
    fn long_paths_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_PATH);
        let cut = loggable_path(&long);
        assert!(cut.len() <= MAX_PATH + "…".len() && cut.ends_with('…'));
        assert_eq!(loggable_path("a/b?c"), "a/b");
    }
}
