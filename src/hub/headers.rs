//! Hub response header rules: Xet stripping, `Link`/`Location` rewriting onto hubcache, 4xx
//! pass-through, file metadata of the first hop, and the small URL helpers they need.

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_DISPOSITION, CONTENT_LENGTH};
use http::header::{CONTENT_TYPE, ETAG, LINK};
use http::StatusCode;

mod url;

pub use url::{is_same_origin, resolve_relative};

/// `Link` relations that announce Xet to a client (`docs/hub-protocol.md` "Xet").
const XET_RELS: [&str; 2] = ["xet-auth", "xet-reconstruction-info"];

/// Removes every Xet signal: all `x-xet-*` headers, and the `Link` members whose `rel` is
/// `xet-auth` or `xet-reconstruction-info`. A `Link` left empty is removed; the kept members
/// are joined into one `Link` header. A `Link` value that is not visible ASCII is dropped.
pub fn strip_xet(headers: &mut HeaderMap) {
    let xet: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-xet-"))
        .cloned()
        .collect();
    for name in xet {
        headers.remove(name);
    }
    edit_links(headers, |member| {
        let is_xet = member
            .rels()
            .any(|rel| XET_RELS.iter().any(|x| rel.eq_ignore_ascii_case(x)));
        (!is_xet).then(|| member.text.to_owned())
    });
}

/// Rewrites every `Link` member URL that points at `upstream_origin` (absolute, `//host/…` or
/// `/…`) to `proxy_prefix` + its path and query, so `rel="next"` pages come back through
/// hubcache. Members pointing elsewhere (a CDN, another Hub host) or relative without a leading
/// `/` are dropped. Call [`strip_xet`] first: this keeps a same-origin `xet-auth` member.
/// `proxy_prefix` is like `http://127.0.0.1:8080/pulp/content/hf`.
pub fn rewrite_links(headers: &mut HeaderMap, upstream_origin: &str, proxy_prefix: &str) {
    edit_links(headers, |member| {
        let url = rewrite_location(member.url, upstream_origin, proxy_prefix)?;
        Some(format!("<{url}>{}", member.params))
    });
}

/// The client-visible `Location` for an upstream one: `proxy_prefix` + path and query when it
/// points at `upstream_origin` (absolute, `//host/…` or `/…`); `None` for any other target,
/// which the caller must not forward.
pub fn rewrite_location(
    location: &str,
    upstream_origin: &str,
    proxy_prefix: &str,
) -> Option<String> {
    let location = location.trim();
    let absolute = if url::has_authority(location) || location.starts_with('/') {
        resolve_relative(upstream_origin, location)
    } else {
        return None;
    };
    if !is_same_origin(&absolute, upstream_origin) {
        return None;
    }
    let path_and_query = url::path_and_query(&absolute)?;
    Some(format!(
        "{}{path_and_query}",
        proxy_prefix.trim_end_matches('/')
    ))
}

/// Headers kept from an upstream 4xx: the Hub's error triple (which the client turns into
/// typed exceptions and a negative cache), rate-limit hints and the body's type.
pub fn error_headers(headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    const NAMES: [&str; 7] = [
        "x-error-code",
        "x-error-message",
        "x-repo-commit",
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
        "content-type",
    ];
    NAMES
        .iter()
        .flat_map(|name| {
            let name = HeaderName::from_static(name);
            headers
                .get_all(&name)
                .iter()
                .map(move |value| (name.clone(), value.clone()))
        })
        .collect()
}

/// What the first `/resolve` hop tells about a file (`docs/hub-protocol.md` "Redirects").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// `X-Repo-Commit`.
    pub commit: Option<String>,
    /// `X-Linked-Etag`, else `ETag`, normalised by [`normalize_etag`].
    pub etag: Option<String>,
    /// `X-Linked-Size`; `Content-Length` only on a 200 without it (on a 3xx it is the
    /// redirect body). A malformed `X-Linked-Size` gives `None`, never a fallback.
    pub size: Option<u64>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
}

impl FileMeta {
    /// Whether commit, etag and size are all known, enough to answer a HEAD locally.
    pub fn is_complete(&self) -> bool {
        self.commit.is_some() && self.etag.is_some() && self.size.is_some()
    }
}

/// Reads [`FileMeta`] from the headers of the first hop (status needed to trust `Content-Length`).
pub fn file_meta_from_first_hop(status: StatusCode, headers: &HeaderMap) -> FileMeta {
    let text = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    let etag = text("x-linked-etag")
        .or_else(|| text(ETAG.as_str()))
        .map(|e| normalize_etag(&e))
        .filter(|e| !e.is_empty());
    let size = match text("x-linked-size") {
        Some(size) => size.parse().ok(),
        None if status == StatusCode::OK => {
            text(CONTENT_LENGTH.as_str()).and_then(|s| s.parse().ok())
        }
        None => None,
    };
    FileMeta {
        commit: text("x-repo-commit"),
        etag,
        size,
        content_type: text(CONTENT_TYPE.as_str()),
        content_disposition: text(CONTENT_DISPOSITION.as_str()),
    }
}

/// The `Content-Length` of an answer, if present and a number.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// An etag as the client names its blob: surrounding space, a leading `W/` and surrounding
/// quotes removed (`huggingface_hub`'s `_normalize_etag`).
pub fn normalize_etag(etag: &str) -> String {
    super::Etag::parse(etag).as_str().to_owned()
}

/// The targets of the `Link` members whose `rel` includes `rel`, in order (members parsed as
/// [`rewrite_links`] parses them: commas inside `<…>` or quotes do not split).
pub fn link_targets(headers: &HeaderMap, rel: &str) -> Vec<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| split_top_level(value, b','))
        .filter_map(LinkMember::parse)
        .filter(|member| member.rels().any(|r| r.eq_ignore_ascii_case(rel)))
        .map(|member| member.url.to_string())
        .collect()
}

/// One `<url>; params` member of a `Link` header.
struct LinkMember<'a> {
    text: &'a str,
    url: &'a str,
    params: &'a str,
}

impl<'a> LinkMember<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let text = text.trim();
        let inner = text.strip_prefix('<')?;
        let (url, params) = inner.split_once('>')?;
        Some(Self {
            text,
            url: url.trim(),
            params,
        })
    }

    /// Every token of every `rel` parameter, quoted or not.
    fn rels(&self) -> impl Iterator<Item = &'a str> {
        split_top_level(self.params, b';')
            .into_iter()
            .flat_map(|param| {
                let rel = param
                    .split_once('=')
                    .filter(|(name, _)| name.trim().eq_ignore_ascii_case("rel"));
                rel.map(|(_, value)| value.trim().trim_matches('"'))
                    .unwrap_or_default()
                    .split_whitespace()
            })
    }
}

/// Rebuilds the `Link` header from the members `edit` keeps (possibly rewritten).
fn edit_links(headers: &mut HeaderMap, mut edit: impl FnMut(&LinkMember<'_>) -> Option<String>) {
    if !headers.contains_key(LINK) {
        return;
    }
    let values: Vec<HeaderValue> = headers.get_all(LINK).iter().cloned().collect();
    let kept: Vec<String> = values
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| split_top_level(value, b','))
        .filter_map(LinkMember::parse)
        .filter_map(|member| edit(&member))
        .collect();
    headers.remove(LINK);
    if let Ok(value) = HeaderValue::from_str(&kept.join(", ")) {
        if !kept.is_empty() {
            headers.insert(LINK, value);
        }
    }
}

/// Splits on `sep` outside `<…>` and outside quoted strings (which may hold `\"`).
fn split_top_level(s: &str, sep: u8) -> Vec<&str> {
    let (mut parts, mut start) = (Vec::new(), 0);
    let (mut in_angle, mut in_quote, mut escaped) = (false, false, false);
    for (i, b) in s.bytes().enumerate() {
        if in_quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_quote = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' if !in_angle => in_quote = true,
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            _ if b == sep && !in_angle => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests;
