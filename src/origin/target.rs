//! [`FileTarget`]: what the Hub said about a file, and where its bytes are ([`Download`], a
//! URL parsed once when the Hub named it; none for an answer remembered from earlier, which
//! names no URL because signed CDN URLs expire).

use crate::hub::Etag;

/// What the Hub said about a file on its first hop, and where to get the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    /// 40-hex commit (`X-Repo-Commit`).
    pub commit: String,
    /// The etag: git blob sha1 (40 hex) or sha256 (64 hex) of the content.
    pub etag: Etag,
    /// Exact file size.
    pub size: u64,
    /// `Content-Type` to answer with.
    pub content_type: String,
    /// `Content-Disposition`, when the Hub gave one.
    pub content_disposition: Option<String>,
    /// Where to GET the bytes; `None` when the answer came from memory (the caller must ask
    /// the Hub again unless the bytes are stored).
    pub download: Option<Download>,
}

impl FileTarget {
    /// Whether the bytes are on the remote's own origin (Hub `resolve-cache`, not a CDN).
    pub fn is_same_origin(&self) -> bool {
        self.download.as_ref().is_some_and(|d| d.same_origin)
    }
}

/// An absolute `http(s)` URL to GET a file's bytes from, split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    url: String,
    tls: bool,
    host: String,
    port: u16,
    /// Offset of the path (and query) in `url`.
    path_at: usize,
    same_origin: bool,
}

impl Download {
    /// Parses `url`; `None` if it is not an absolute `http://` or `https://` URL with a host.
    /// `same_origin`: whether it is on the remote's own origin (and may carry its credentials).
    pub fn parse(url: String, same_origin: bool) -> Option<Download> {
        let (tls, scheme_len) = if url.starts_with("https://") {
            (true, "https://".len())
        } else if url.starts_with("http://") {
            (false, "http://".len())
        } else {
            return None;
        };
        let rest = &url[scheme_len..];
        let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !authority.ends_with(']') => (h, p.parse().ok()?),
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('@') {
            return None;
        }
        Some(Download {
            host: host.to_owned(),
            tls,
            port,
            path_at: scheme_len + authority_len,
            same_origin,
            url,
        })
    }

    /// The whole URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether to speak TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, `/` when the URL has no path.
    pub fn path_and_query(&self) -> String {
        match &self.url[self.path_at..] {
            "" => "/".to_owned(),
            rest if rest.starts_with('?') => format!("/{rest}"),
            rest => rest.to_owned(),
        }
    }

    /// The `Host` header: the host, and the port unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Whether the URL is on the remote's own origin.
    pub fn is_same_origin(&self) -> bool {
        self.same_origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_urls_are_split_once() {
        type Parts<'a> = (bool, &'a str, u16, &'a str, &'a str);
        let rows: &[(&str, Option<Parts<'_>>)] = &[
            (
                "https://cdn.hf.co/a/b?x=1",
                Some((true, "cdn.hf.co", 443, "/a/b?x=1", "cdn.hf.co")),
            ),
            (
                "http://127.0.0.2:8001/x",
                Some((false, "127.0.0.2", 8001, "/x", "127.0.0.2:8001")),
            ),
            ("http://[::1]:9/x", Some((false, "::1", 9, "/x", "[::1]:9"))),
            ("http://h", Some((false, "h", 80, "/", "h"))),
            ("http://h?q=1", Some((false, "h", 80, "/?q=1", "h"))),
            ("ftp://h/x", None),
            ("http://:80/x", None),
            ("http://user@h/x", None),
            ("", None),
        ];
        for (url, want) in rows {
            let got = Download::parse(url.to_string(), false);
            let got = got.as_ref().map(|d| {
                (
                    d.tls(),
                    d.host(),
                    d.port(),
                    d.path_and_query(),
                    d.host_header(),
                )
            });
            let want = want.map(|(tls, host, port, path, hh)| {
                (tls, host, port, path.to_string(), hh.to_string())
            });
            assert_eq!(got, want, "row: {url}");
        }
    }
}
