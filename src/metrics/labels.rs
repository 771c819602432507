//! The closed sets of label values: what each argument of a `Metrics` method may become.
//!
//! Every label value passes through here, so the number of series stays bounded by the
//! number of distributions and remotes, never by what clients ask for.

/// The cache lookup results the `result` label may take; anything else is counted as `bypass`.
pub const LOOKUP_RESULTS: [&str; 5] = ["hit", "miss", "stale", "revalidated", "bypass"];

/// Where the bytes of a response came from (`source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from the disk cache.
    Cache,
    /// Streamed from the Hub or its CDN (whether or not it is being stored).
    Upstream,
    /// Streamed from the node of the fleet that owns the file (`docs/fleet.md`).
    Peer,
}

impl Source {
    /// The label value: `cache`, `upstream` or `peer`.
    pub fn label(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Upstream => "upstream",
            Source::Peer => "peer",
        }
    }
}

/// GET, HEAD and POST keep their name; every other method is `OTHER`.
pub(super) fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        _ => "OTHER",
    }
}

/// A known lookup result, else `bypass`.
pub(super) fn lookup_label(result: &str) -> &'static str {
    LOOKUP_RESULTS
        .into_iter()
        .find(|r| *r == result)
        .unwrap_or("bypass")
}

/// An upstream status code, or `error` for 0 (no response).
pub(super) fn upstream_status_label(status: u16) -> String {
    if status == 0 {
        "error".to_owned()
    } else {
        status.to_string()
    }
}

/// An empty distribution name becomes `"-"` (no distribution matched).
pub(super) fn distribution_label(distribution: &str) -> &str {
    if distribution.is_empty() {
        "-"
    } else {
        distribution
    }
}
