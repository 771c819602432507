//! Field rules shared by the configuration file and the admin API, so a remote or a
//! distribution is held to the same standard wherever it is declared. Each returns the
//! user-facing message on failure (never containing a secret).

use std::collections::BTreeMap;
use std::time::Duration;

/// A Hub base URL: `http://` or `https://`, a host, no user info, query or fragment, and
/// nothing a real URL parser (the `url` crate, which reqwest also uses) refuses — a hand
/// split alone let `http://[::1` through. Returns it without a trailing `/`.
pub fn check_url(url: &str) -> Result<String, String> {
    // The parser silently drops tabs and newlines inside a URL; what is stored must be what
    // was checked, so they are refused here first.
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("Enter a valid URL: no whitespace or control characters.".into());
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "Enter a valid URL (http:// or https://).".to_string())?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err("Enter a valid URL: the host is missing.".into());
    }
    if authority.contains('@') {
        return Err("The URL must not contain a username or password.".into());
    }
    if url.contains('?') || url.contains('#') {
        return Err("Enter a valid URL: no query, fragment or whitespace.".into());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("Enter a valid URL: {e}."))?;
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err("Enter a valid URL: the host is missing.".into());
    };
    // The proxy connects to the host as written; the parser may read it differently
    // (percent-escapes, `127.1`, IDNA): insist on the form the parser would write.
    let written = match authority.rsplit_once(':') {
        Some((h, _)) if !authority.ends_with(']') => h,
        _ => authority,
    };
    if !written.eq_ignore_ascii_case(host) {
        return Err(format!("Enter a valid URL: write the host as '{host}'."));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The scheme, host and port of a URL (`https://huggingface.co:443/x` → `https://huggingface.co:443`).
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// A name: not blank, at most 255 characters, no control characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("This field may not be blank.".into());
    }
    if name.len() > 255 {
        return Err("Ensure this field has no more than 255 characters.".into());
    }
    if name.chars().any(char::is_control) {
        return Err("The name may not contain control characters.".into());
    }
    Ok(())
}

/// `pulp_labels`: keys match `^[\w .\-]+$`, values contain no `(` or `)` (pulpcore).
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | ' ' | '.' | '-'));
        if !key_ok {
            return Err(format!("Key '{k}' contains non-alphanumerics."));
        }
        if v.contains('(') || v.contains(')') {
            return Err(format!("Key '{k}' contains value with parens."));
        }
    }
    Ok(())
}

/// Does `text` hold a C0 control character (NUL, CR, LF, tab, …) or DEL? Such a value cannot
/// travel in an HTTP header, so every upstream request carrying it would fail.
fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_control())
}

/// An `hf_token`: sent upstream in `Authorization: Bearer …`, so it must be a valid header
/// value with no control character. The message never shows the token.
pub fn check_token(token: &str) -> Result<(), String> {
    if has_control(token) || http::HeaderValue::from_str(token).is_err() {
        return Err(
            "The token may not contain control characters (such as CR, LF, tab or NUL).".into(),
        );
    }
    Ok(())
}

/// A guard's `header_value`: compared with what clients send in a header, so a value with a
/// control character could never match. The message never shows the value.
pub fn check_header_value(value: &str) -> Result<(), String> {
    if has_control(value) || http::HeaderValue::from_str(value).is_err() {
        return Err(
            "The value may not contain control characters (such as CR, LF, tab or NUL).".into(),
        );
    }
    // The API answers every guard's value as this mask: as a value it would be public.
    if value == GUARD_VALUE_MASK {
        return Err(format!(
            "\"{GUARD_VALUE_MASK}\" is how the API shows a stored value; it cannot be the value."
        ));
    }
    Ok(())
}

/// How the API answers a guard's `header_value` (`docs/pulp-api.md` "Secrets").
pub const GUARD_VALUE_MASK: &str = "**********";

/// Extra upstream headers: valid HTTP names and values; `Authorization` and hop-by-hop or
/// framing headers are refused (the token belongs in `hf_token`, where it stays hidden).
pub fn check_headers(headers: &[(String, String)]) -> Result<(), String> {
    const REFUSED: [&str; 8] = [
        "authorization",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "range",
        "accept-encoding",
        "upgrade",
    ];
    for (name, value) in headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("'{name}' is not a valid header name."));
        }
        if REFUSED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "The header '{name}' cannot be set here (use hf_token for credentials)."
            ));
        }
        // `HeaderValue` allows a tab; no upstream needs one and it is as invisible as the rest.
        if has_control(value) || http::HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "The value of header '{name}' is not a valid header value (no control characters)."
            ));
        }
    }
    Ok(())
}

/// A timeout in seconds: finite, ≥ 0 (0 means "no timeout" is not allowed: at least 1 ms).
pub fn check_timeout(seconds: f64) -> Result<Duration, String> {
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err("Ensure this value is greater than 0.".into());
    }
    if seconds > 86_400.0 {
        return Err("Ensure this value is at most 86400 (one day).".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A PEM bundle with at least one `CERTIFICATE` block, every one of which parses as X.509.
pub fn check_ca_cert(pem: &str) -> Result<(), String> {
    pem_certificates(pem).map(|_| ())
}

/// The DER of every `CERTIFICATE` block of a PEM bundle, each checked to parse as X.509.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    // These fields are answered in every read: a key pasted with the certificate would be
    // shown to every API user. Only certificates are accepted (the key goes in `client_key`).
    if pem.contains("PRIVATE KEY") {
        return Err(
            "Only CERTIFICATE blocks are accepted here: a private key belongs in client_key."
                .into(),
        );
    }
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after
            .find(END)
            .ok_or("A CERTIFICATE block is not terminated.")?;
        let b64: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.as_bytes())
                .map_err(|_| "A CERTIFICATE block is not valid base64.".to_string())?;
        if x509_parser::parse_x509_certificate(&der).is_err() {
            return Err("A CERTIFICATE block is not a valid X.509 certificate.".into());
        }
        out.push(der);
        rest = &after[end + END.len()..];
    }
    if out.is_empty() {
        return Err("No valid certificate found (expected a PEM CERTIFICATE block).".into());
    }
    Ok(out)
}

/// A public origin (`content_origin`): an `http(s)://` URL as [`check_url`] accepts, with no
/// path. Returns it without a trailing `/`.
pub fn check_origin(url: &str) -> Result<String, String> {
    let url = check_url(url)?;
    if origin_of(&url) != url {
        return Err("Enter an origin only (scheme, host and port), without a path.".into());
    }
    Ok(url)
}

/// A guard's `header_name`: not blank, a valid HTTP header name.
pub fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("This field may not be blank.".into());
    }
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("'{name}' is not a valid header name."));
    }
    Ok(())
}

/// `hf_hub_url` (stored and answered as written, never fetched from): a URL [`check_url`]
/// accepts; unlike `url`, it is kept exactly as written (trailing `/` included).
pub fn check_hf_hub_url(url: &str) -> Result<(), String> {
    check_url(url).map(|_| ())
}

/// `proxy_url` (stored only): no credentials in it (pulpcore `validate_proxy_url`), no control
/// characters.
pub fn check_proxy_url(url: &str) -> Result<(), String> {
    if url.contains('@') {
        return Err("proxy_url must not contain credentials".into());
    }
    if has_control(url) {
        return Err("Enter a valid URL: no control characters.".into());
    }
    Ok(())
}

/// The proxy credentials rule (pulpcore `RemoteNetworkConfigSerializer.validate`): only with a
/// `proxy_url`, and both or neither. Arguments say which of the three are set (non-empty).
pub fn check_proxy_credentials(url: bool, username: bool, password: bool) -> Result<(), String> {
    if (username || password) && !url {
        return Err("proxy credentials cannot be specified without a proxy".into());
    }
    if username != password {
        return Err("proxy username and password can only be specified together".into());
    }
    Ok(())
}

/// The longest part (`org` or `name`) of a Hub repository id (`huggingface_hub`'s rule).
pub const MAX_REPO_ID_PART: usize = 96;
/// The longest revision a repository accepts.
pub const MAX_REVISION_LEN: usize = 256;

/// A Hub repository id, as `huggingface_hub.validate_repo_id` accepts it: `name` or
/// `org/name`, each part 1 to 96 of `A-Z a-z 0-9 - _ .`, starting and ending with a letter,
/// digit or `_`; no `--` or `..`; not ending in `.git`.
pub fn check_repo_id(id: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "Enter a Hub repository id: 'name' or 'org/name', each part 1 to {MAX_REPO_ID_PART} \
             letters, digits, '-', '_' or '.', starting and ending with a letter or digit, \
             without '--' or '..'."
        ))
    };
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() > 2 || id.contains("--") || id.contains("..") || id.ends_with(".git") {
        return bad();
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for part in parts {
        let ok = !part.is_empty()
            && part.len() <= MAX_REPO_ID_PART
            && part.chars().all(|c| word(c) || c == '-' || c == '.')
            && part.starts_with(word)
            && part.ends_with(word);
        if !ok {
            return bad();
        }
    }
    Ok(())
}

/// A revision to sync (branch, tag or commit): not blank, at most 256 characters, no control
/// characters.
pub fn check_revision(revision: &str) -> Result<(), String> {
    if revision.trim().is_empty() {
        return Err("This field may not be blank.".into());
    }
    if revision.len() > MAX_REVISION_LEN {
        return Err(format!(
            "Ensure this field has no more than {MAX_REVISION_LEN} characters."
        ));
    }
    if has_control(revision) {
        return Err("The revision may not contain control characters.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_only_fields() {
        assert!(check_hf_hub_url("https://huggingface.co").is_ok());
        assert!(check_hf_hub_url("http://127.0.0.1:1234/hub/").is_ok());
        for bad in ["huggingface.co", "ftp://x", "https://a b", "http://", ""] {
            assert!(check_hf_hub_url(bad).is_err(), "{bad}");
        }
        assert!(check_proxy_url("http://proxy:3128").is_ok());
        assert!(check_proxy_url("http://u:p@proxy:3128").is_err());
        let rows = [
            ((false, false, false), None),
            ((true, false, false), None),
            ((true, true, true), None),
            ((false, true, true), Some("without a proxy")),
            ((true, true, false), Some("together")),
            ((true, false, true), Some("together")),
        ];
        for ((u, n, p), want) in rows {
            let got = check_proxy_credentials(u, n, p).err();
            assert_eq!(got.is_some(), want.is_some(), "{u} {n} {p}");
            if let (Some(got), Some(want)) = (got, want) {
                assert!(got.contains(want), "{got}");
            }
        }
    }

    #[test]
    fn urls() {
        let rows: [(&str, Option<&str>); 17] = [
            ("https://huggingface.co", Some("https://huggingface.co")),
            ("http://[::1]:8000/", Some("http://[::1]:8000")),
            ("HTTPS://huggingface.co", None),
            ("http://[::1", None),
            ("http://", None),
            ("not a url", None),
            ("http://h%41st", None),
            ("http://h\tost", None),
            ("http://bücher.example", None),
            ("https://huggingface.co/", Some("https://huggingface.co")),
            ("http://127.0.0.1:8000", Some("http://127.0.0.1:8000")),
            ("http://mirror.local/hf", Some("http://mirror.local/hf")),
            ("ftp://x", None),
            ("file:///etc", None),
            ("https://user:pw@huggingface.co", None),
            ("https://", None),
            ("http://h:port", None),
        ];
        for (url, want) in rows {
            assert_eq!(check_url(url).ok().as_deref(), want, "{url}");
        }
        assert_eq!(origin_of("https://h.co:443/a/b"), "https://h.co:443");
        assert_eq!(origin_of("http://h"), "http://h");
        assert_eq!(
            check_origin("https://cache.example.com/").ok().as_deref(),
            Some("https://cache.example.com")
        );
        assert!(check_origin("https://cache.example.com/pulp").is_err());
        assert!(check_origin("cache.example.com").is_err());
    }

    #[test]
    fn labels_headers_timeouts() {
        let mut l = BTreeMap::new();
        l.insert("team a.b-c_d".to_string(), "x".to_string());
        assert!(check_labels(&l).is_ok());
        l.insert("bad/key".to_string(), "x".to_string());
        assert!(check_labels(&l).is_err());
        assert!(check_headers(&[("X-Foo".into(), "bar".into())]).is_ok());
        assert!(check_headers(&[("authorization".into(), "Bearer x".into())]).is_err());
        assert!(check_headers(&[("bad header".into(), "x".into())]).is_err());
        for (name, value) in [
            ("X-A", "a\tb"),
            ("X-A", "a\r\nb"),
            ("X-A", "\0"),
            ("X-A", "a\x7f"),
            ("X\n", "a"),
        ] {
            assert!(
                check_headers(&[(name.into(), value.into())]).is_err(),
                "{name:?}: {value:?}"
            );
        }
        for (token, ok) in [
            ("hf_abc", true),
            ("hf_a\r\nX: y", false),
            ("hf\0", false),
            ("a\tb", false),
            ("a\x7f", false),
            ("a\x1b", false),
        ] {
            assert_eq!(check_token(token).is_ok(), ok, "{token:?}");
            assert_eq!(check_header_value(token).is_ok(), ok, "{token:?}");
            if !ok {
                assert!(!check_token(token).unwrap_err().contains(token));
            }
        }
        assert!(check_header_value(GUARD_VALUE_MASK).is_err());
        assert!(check_timeout(0.5).is_ok());
        assert!(check_timeout(-1.0).is_err());
        assert!(check_timeout(f64::NAN).is_err());
    }

    #[test]
    fn header_names() {
        for (name, ok) in [
            ("Authorization", true),
            ("x-token", true),
            ("", false),
            ("bad header", false),
            ("a:b", false),
        ] {
            assert_eq!(check_header_name(name).is_ok(), ok, "{name:?}");
        }
    }

    #[test]
    fn a_private_key_is_never_accepted_as_a_certificate() {
        for pem in [
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        ] {
            let err = check_ca_cert(pem).unwrap_err();
            assert!(err.contains("client_key"), "{err}");
            assert!(!err.contains("AAAA"));
        }
    }

    #[test]
    fn repo_ids_and_revisions() {
        let long = "a".repeat(97);
        for (id, ok) in [
            ("meta-llama/Llama-3.1-8B", true),
            ("gpt2", true),
            ("org_1/m.v2", true),
            ("", false),
            ("/m", false),
            ("org/", false),
            ("a/b/c", false),
            ("org/-m", false),
            ("org/m.", false),
            ("org/a--b", false),
            ("org/a..b", false),
            ("org/m.git", false),
            ("org/m b", false),
            ("org/m\u{0}", false),
            (long.as_str(), false),
        ] {
            assert_eq!(check_repo_id(id).is_ok(), ok, "{id:?}");
        }
        assert!(check_revision("main").is_ok());
        assert!(check_revision("refs/pr/1").is_ok());
        assert!(check_revision("").is_err());
        assert!(check_revision(" ").is_err());
        assert!(check_revision("a\nb").is_err());
        assert!(check_revision(&"r".repeat(257)).is_err());
    }
}
