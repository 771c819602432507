//! Domain objects shared by the configuration, the admin API and the content proxy:
//! remotes, distributions, header content guards and repositories.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use uuid::Uuid;

mod repository;

pub use repository::{RepoType, Repository, RepositoryVersion, VersionFile};

/// A secret value (`hf_token`, guard `header_value`, password). Its `Debug` and `Display`
/// print `***` so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret; an empty string is treated by callers as "not set".
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What a remote does with what it fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Store fetched files on disk (the default).
    #[default]
    OnDemand,
    /// Stream to the client, store nothing.
    Streamed,
    /// Pulp's `immediate`: accepted and answered as given, behaves as [`Policy::OnDemand`]
    /// (`docs/pulp-api.md` "Remotes").
    Immediate,
}

impl Policy {
    /// The Pulp spelling (`on_demand`, `streamed`, `immediate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::OnDemand => "on_demand",
            Policy::Streamed => "streamed",
            Policy::Immediate => "immediate",
        }
    }
    /// The policy of that Pulp spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Policy::OnDemand, Policy::Streamed, Policy::Immediate]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
    /// Are fetched files stored (and Hub answers remembered)? Every policy but `streamed`.
    pub fn stores(self) -> bool {
        self != Policy::Streamed
    }
}

/// `hf_hub_url` when none is given (pulp_hugging_face's default).
pub const DEFAULT_HF_HUB_URL: &str = "https://huggingface.co";

/// Pulp remote fields hubcache stores and answers but does not act on (`docs/pulp-api.md`
/// "Remotes"): client certificates, an outbound proxy, basic upstream credentials. The
/// write-only ones are [`Secret`]s.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredOnly {
    /// `client_cert`: PEM.
    pub client_cert: Option<String>,
    /// `client_key`: PEM, write-only.
    pub client_key: Option<Secret>,
    /// `proxy_url`: never with credentials in it.
    pub proxy_url: Option<String>,
    /// `proxy_username`, write-only.
    pub proxy_username: Option<Secret>,
    /// `proxy_password`, write-only.
    pub proxy_password: Option<Secret>,
    /// `username`, write-only.
    pub username: Option<Secret>,
    /// `password`, write-only.
    pub password: Option<Secret>,
}

/// Where an object was declared. Config-declared objects are read-only through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Declared in the configuration file (`remotes:`, `distributions:`, `content_guards:`).
    Config,
    /// Created through `/pulp/api/v3/` and persisted in `state.path`.
    #[default]
    Api,
}

/// Timestamps and identity every Pulp object carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// UUIDv7, the last segment of `pulp_href`.
    pub id: Uuid,
    /// `pulp_created`.
    pub created: SystemTime,
    /// `pulp_last_updated`.
    pub updated: SystemTime,
    /// Config file or API.
    pub origin: Origin,
}

impl Meta {
    /// A fresh identity stamped now.
    pub fn new(origin: Origin) -> Self {
        let now = SystemTime::now();
        Meta {
            id: Uuid::now_v7(),
            created: now,
            updated: now,
            origin,
        }
    }
}

/// A Hugging Face remote: where to fetch from and with which token.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote {
    /// Identity and timestamps.
    pub meta: Meta,
    /// Unique name; the `remote` metrics label.
    pub name: String,
    /// Hub base URL without a trailing slash, e.g. `https://huggingface.co`: every upstream
    /// request is built on it.
    pub url: String,
    /// pulp_hugging_face's `hf_hub_url`: stored and answered as given, never fetched from
    /// (`docs/pulp-api.md` "Remotes").
    pub hf_hub_url: String,
    /// `on_demand`, `streamed` or `immediate`.
    pub policy: Policy,
    /// Sent upstream as `Authorization: Bearer <token>` to the Hub host only.
    pub hf_token: Option<Secret>,
    /// Free-form labels.
    pub pulp_labels: BTreeMap<String, String>,
    /// Verify the Hub's TLS certificate (default true).
    pub tls_validation: bool,
    /// Extra PEM trust anchors.
    pub ca_cert: Option<String>,
    /// Extra upstream headers, in order (never `Authorization`).
    pub headers: Vec<(String, String)>,
    /// `headers` was given (answered as a list, even empty); never given or `null`: answered
    /// `null`, as Pulp does.
    pub headers_given: bool,
    /// TCP (and TLS) connect timeout upstream (`connect_timeout`).
    pub connect_timeout: Option<Duration>,
    /// Pulp's `sock_connect_timeout`: also bounds the connect (the shorter of the two applies).
    pub sock_connect_timeout: Option<Duration>,
    /// Longest wait for the next upstream read (headers or body bytes).
    pub sock_read_timeout: Option<Duration>,
    /// Cap on one metadata exchange with the Hub (never applied to a file body stream).
    pub total_timeout: Option<Duration>,
    /// Retries of upstream connect failures.
    pub max_retries: Option<u32>,
    /// Upstream requests per second (None: unlimited).
    pub rate_limit: Option<u32>,
    /// Cap on concurrent upstream requests (None: unlimited).
    pub download_concurrency: Option<u32>,
    /// Pulp fields stored and answered only.
    pub stored: StoredOnly,
}

impl Remote {
    /// A remote with every optional field at its default: no token, no extra headers, TLS
    /// verified, no limits.
    pub fn new(origin: Origin, name: impl Into<String>, url: impl Into<String>) -> Self {
        Remote {
            meta: Meta::new(origin),
            name: name.into(),
            url: url.into(),
            hf_hub_url: DEFAULT_HF_HUB_URL.into(),
            policy: Policy::default(),
            hf_token: None,
            pulp_labels: BTreeMap::new(),
            tls_validation: true,
            ca_cert: None,
            headers: Vec::new(),
            headers_given: false,
            connect_timeout: None,
            sock_connect_timeout: None,
            sock_read_timeout: None,
            total_timeout: None,
            max_retries: None,
            rate_limit: None,
            download_concurrency: None,
            stored: StoredOnly::default(),
        }
    }

    /// Connect timeout in force: the shorter of `connect_timeout` and `sock_connect_timeout`
    /// (default 10 s).
    pub fn connect_timeout(&self) -> Duration {
        match (self.connect_timeout, self.sock_connect_timeout) {
            (Some(a), Some(b)) => a.min(b),
            (Some(d), None) | (None, Some(d)) => d,
            (None, None) => Duration::from_secs(10),
        }
    }
    /// Read timeout in force (default 30 s).
    pub fn read_timeout(&self) -> Duration {
        self.sock_read_timeout.unwrap_or(Duration::from_secs(30))
    }
    /// The token, when one is set and not empty.
    pub fn token(&self) -> Option<&str> {
        self.hf_token
            .as_ref()
            .map(Secret::expose)
            .filter(|t| !t.is_empty())
    }
}

/// A distribution: serves `/pulp/content/<base_path>/…` from a remote.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// Identity and timestamps.
    pub meta: Meta,
    /// Unique name; the `distribution` metrics label.
    pub name: String,
    /// Canonical relative path (no leading/trailing `/`), unique and never nested.
    pub base_path: String,
    /// The remote it serves; `None` answers 404.
    pub remote: Option<uuid::Uuid>,
    /// An optional header guard.
    pub content_guard: Option<uuid::Uuid>,
    /// Left out of `GET /pulp/content/` when true (still served).
    pub hidden: bool,
    /// Free-form labels.
    pub pulp_labels: BTreeMap<String, String>,
}

/// A header content guard: the named header must carry the value.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentGuard {
    /// Identity and timestamps.
    pub meta: Meta,
    /// Unique name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Header to check (case-insensitive).
    pub header_name: String,
    /// Expected value: raw, or base64-encoded as pulpcore does.
    pub header_value: Secret,
}

/// Is `path` canonical for a `base_path` (pulpcore `relative_path_validator`)?
pub fn is_canonical_base_path(path: &str) -> bool {
    if path.is_empty() || path.len() > 255 {
        return false;
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#' || c.is_control())
    {
        return false;
    }
    path.split('/')
        .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Do two base paths overlap (equal, or one nested in the other)?
pub fn base_paths_overlap(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hf_abc");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hf_abc");
    }

    #[test]
    fn base_path_rules() {
        let rows = [
            ("hf", true),
            ("hf/public", true),
            ("", false),
            ("/hf", false),
            ("hf/", false),
            ("a//b", false),
            ("a/./b", false),
            ("a/../b", false),
            ("a b", false),
            ("a?b", false),
            ("a#b", false),
        ];
        for (path, ok) in rows {
            assert_eq!(is_canonical_base_path(path), ok, "{path:?}");
        }
        assert!(base_paths_overlap("foo", "foo/bar"));
        assert!(base_paths_overlap("foo/bar", "foo"));
        assert!(base_paths_overlap("foo", "foo"));
        assert!(!base_paths_overlap("foo", "foobar"));
    }
}
