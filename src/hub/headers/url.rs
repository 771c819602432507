//! Minimal absolute-URL helpers (origin comparison, joining a relative redirect) for the header
//! rules; just enough of RFC 3986 for Hub redirects, so the `url` crate is not needed.

/// `scheme://authority` + the rest (path, query, fragment), if `url` is absolute.
fn split(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, after) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return None;
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    Some((scheme, &after[..end], &after[end..]))
}

/// Whether `url` names a host: `scheme://…` or scheme-relative `//…`.
pub(super) fn has_authority(url: &str) -> bool {
    url.starts_with("//") || split(url).is_some()
}

/// The path and query of an absolute URL, `/` when its path is empty.
pub(super) fn path_and_query(url: &str) -> Option<String> {
    let (_, _, rest) = split(url)?;
    Some(if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    })
}

/// (scheme, host, port) with case folded, userinfo dropped and default ports filled in.
fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, authority, _) = split(url)?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (
                host,
                if after.is_empty() {
                    None
                } else {
                    Some(after.strip_prefix(':')?)
                },
            )
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let port = match port.filter(|p| !p.is_empty()) {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        },
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// Whether two absolute URLs share scheme, host and port (defaults filled in, case ignored).
/// `false` when either is not an absolute URL.
pub fn is_same_origin(url_a: &str, url_b: &str) -> bool {
    match (origin(url_a), origin(url_b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Joins `location` onto `base_url` as a client would: absolute stays as is, `//host/…` takes
/// the base scheme, `/…` the base origin, `?…` the base path; a bare relative path replaces the
/// last base segment. The query of `location` is always kept; dot segments are not resolved.
pub fn resolve_relative(base_url: &str, location: &str) -> String {
    if split(location).is_some() {
        return location.to_owned();
    }
    let Some((scheme, authority, rest)) = split(base_url) else {
        return location.to_owned();
    };
    if let Some(scheme_relative) = location.strip_prefix("//") {
        return format!("{scheme}://{scheme_relative}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let base_path = rest.split(['?', '#']).next().unwrap_or_default();
    if location.starts_with('?') || location.is_empty() {
        return format!("{scheme}://{authority}{base_path}{location}");
    }
    let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
    format!("{scheme}://{authority}{dir}{location}")
}
