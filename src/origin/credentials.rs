//! The one credentials rule: which of a remote's secrets go on an upstream request. The
//! remote's extra `headers` and its `Authorization: Bearer <hf_token>` go to the remote's own
//! origin and nowhere else — never to a CDN host a redirect points at, never back to a client.
//! Origins are compared after normalising the scheme and host case and filling in default
//! ports, so `HTTPS://HUB.example:443` is the Hub and `https://hub.example.evil` is not. Both
//! the metadata client (`origin/client.rs`) and the body request (`content/fetch.rs`) ask
//! here; the client's own `Authorization` is never among what goes upstream.

use http::{HeaderName, HeaderValue};

use crate::hub::headers::is_same_origin;
use crate::model::Remote;

/// Whether `url` is on `remote`'s own origin (and so may carry its credentials).
pub fn is_remote_origin(remote: &Remote, url: &str) -> bool {
    is_same_origin(url, &remote.url)
}

/// The headers `remote` adds to a request for `url`: its extra headers and its bearer token
/// when `url` is on its own origin, nothing otherwise. Values were checked when the remote
/// was saved; one that is not a valid header value is left out rather than sent mangled.
pub fn upstream_headers(remote: &Remote, url: &str) -> Vec<(HeaderName, HeaderValue)> {
    if !is_remote_origin(remote, url) {
        return Vec::new();
    }
    let mut headers: Vec<(HeaderName, HeaderValue)> = remote
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect();
    if let Some(token) = remote.token() {
        if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) {
            value.set_sensitive(true);
            headers.push((http::header::AUTHORIZATION, value));
        }
    }
    headers
}

#[cfg(test)]
pub(crate) mod table;
#[cfg(test)]
mod tests;
