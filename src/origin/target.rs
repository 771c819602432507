//! [`FileTarget`]: where a file's bytes are, and what the Hub said about it.

/// Where a file's bytes are and what the Hub said about it on the first hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    /// 40-hex commit (`X-Repo-Commit`).
    pub commit: String,
    /// Normalised etag: git blob sha1 (40 hex) or sha256 (64 hex) of the content.
    pub etag: String,
    /// Exact file size.
    pub size: u64,
    /// `Content-Type` to answer with.
    pub content_type: String,
    /// `Content-Disposition`, when the Hub gave one.
    pub content_disposition: Option<String>,
    /// Absolute URL to GET the bytes from (Hub `resolve-cache` or a signed CDN URL).
    pub url: String,
    /// True when `url` is on the remote's own origin (and so may carry its token).
    pub same_origin: bool,
}
