//! The access log: one line per content request on stdout, target `access`.
//!
//! With `--log-format json` (the default) each request is one JSON object: `timestamp`,
//! `level`, the fields below, `target`, as the other log events are written; `--log-format
//! text` prints the same fields on one readable line. Only what [`AccessRecord`] holds is
//! logged: no header, no query string (Hub and CDN URLs carry signatures there), so no secret.
//! Filter it with `RUST_LOG=info,access=off` to silence it.
//!
//! The line is rendered here rather than by `tracing`'s formatter (it was a tenth of the CPU
//! of a small cached hit) and queued for the batched stdout writer (`logging`).

use std::net::SocketAddr;
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::LogFormat;

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

/// The JSON line, fields in the order `tracing`'s JSON formatter writes them.
#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: &'a str,
    level: &'static str,
    method: &'a str,
    distribution: &'a str,
    path: &'a str,
    status: u16,
    cache: &'static str,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_ms: Option<u64>,
    total_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    target: &'static str,
}

/// Writes `record` as one line (unless `access` is filtered out, or logging is not set up).
/// No distribution is written `-`; `upstream_ms` and `client` are left out when absent, so
/// a field keeps one JSON type.
pub fn log(record: &AccessRecord<'_>) {
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        return;
    }
    if let Some(format) = crate::logging::format() {
        crate::logging::queue(render(record, format, SystemTime::now()).as_bytes());
    }
}

/// The line for `record` at `now`, ending in a newline.
pub fn render(record: &AccessRecord<'_>, format: LogFormat, now: SystemTime) -> String {
    let timestamp = humantime::format_rfc3339_micros(now).to_string();
    let path = loggable_path(record.hub_path);
    let distribution = record.distribution.unwrap_or("-");
    let cache = cache_label(record.cache);
    match format {
        LogFormat::Json => {
            let line = JsonLine {
                timestamp: &timestamp,
                level: "INFO",
                method: record.method.as_str(),
                distribution,
                path: &path,
                status: record.status,
                cache,
                bytes: record.bytes,
                upstream_ms: record.upstream_ms,
                total_ms: record.total_ms,
                client: record.client.map(|addr| addr.to_string()),
                target: "access",
            };
            let mut out = serde_json::to_string(&line).unwrap_or_default();
            out.push('\n');
            out
        }
        LogFormat::Text => {
            use std::fmt::Write;
            let mut out = format!(
                "{timestamp}  INFO access: method={:?} distribution={distribution:?} path={path:?} status={} cache={cache:?} bytes={}",
                record.method.as_str(),
                record.status,
                record.bytes,
            );
            if let Some(ms) = record.upstream_ms {
                let _ = write!(out, " upstream_ms={ms}");
            }
            let _ = write!(out, " total_ms={}", record.total_ms);
            if let Some(client) = record.client {
                let _ = write!(out, " client=\"{client}\"");
            }
            out.push('\n');
            out
        }
    }
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
    use super::*;

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

    fn at() -> SystemTime {
        humantime::parse_rfc3339("2026-11-24T13:20:36.061350Z").unwrap()
    }

    #[test]
    fn json_is_one_object_per_request_without_the_query() {
        let path = "org/model/resolve/main/config.json?X-Amz-Signature=s3cr3t&token=hf_abc";
        let out = render(&record(&http::Method::GET, path), LogFormat::Json, at());
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let want = [
            ("timestamp", "2026-11-24T13:20:36.061350Z"),
            ("level", "INFO"),
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
        assert!(v.get("upstream_ms").is_none(), "{out}");
        assert!(!out.contains("s3cr3t") && !out.contains("hf_abc"), "{out}");
    }

    #[test]
    fn json_escapes_what_a_path_may_hold() {
        let path = "org/m/resolve/main/a\"b\\c\u{1}é.txt";
        let out = render(&record(&http::Method::GET, path), LogFormat::Json, at());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["path"], path);
    }

    #[test]
    fn text_is_one_readable_line() {
        let mut r = record(&http::Method::HEAD, "org/m/resolve/main/a b#frag");
        (r.distribution, r.cache, r.upstream_ms, r.client) = (None, "weird", Some(41), None);
        let out = render(&r, LogFormat::Text, at());
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(!out.contains("client"), "{out}");
        for part in [
            "2026-11-24T13:20:36.061350Z",
            "INFO access:",
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
