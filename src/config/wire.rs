//! The serde mirror of the YAML configuration file: plain types, every default, and
//! `deny_unknown_fields` everywhere (no `flatten`, which would switch that check off).
//!
//! Every key is optional; a missing key, or a section or list written as `null`/empty,
//! takes the default stated on its field. Checks and conversions live in `validate.rs`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

/// The whole file.
///
/// Beyond the core keys (`listen`, `content_origin`, `api`, `metrics`, `cache`, `state`, `users`,
/// `remotes`, `distributions`, all commented in `conf/hubcache.yaml`), hubcache accepts:
/// * `cache.negative_ttl` (default `"30s"`): how long a Hub 404 (`EntryNotFound`,
///   `RevisionNotFound`, `RepoNotFound`) is remembered before asking the Hub again;
/// * `server:` — `threads` (default: the number of CPUs), `grace_period` (default `"5s"`: how
///   long a SIGTERM waits for requests in flight), `graceful_shutdown_timeout` (default
///   `"5s"`: then how long services get to stop) and `request_head_timeout` (default `"20s"`:
///   how long a client may take to send a whole request head);
/// * `content_guards:` — declared header content guards (`name`, `description`,
///   `header_name`, `header_value`, `jq_filter: null`), named by distributions' `content_guard`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    /// Content listener (and the API's unless `api.listen` is set). Default `"127.0.0.1:8080"`.
    pub listen: String,
    /// Public origin for `base_url`, e.g. `"https://cache.example.com"`. Default null.
    pub content_origin: Option<String>,
    /// `api:` section.
    #[serde(deserialize_with = "or_default")]
    pub api: Api,
    /// `metrics:` section.
    #[serde(deserialize_with = "or_default")]
    pub metrics: Metrics,
    /// `cache:` section.
    #[serde(deserialize_with = "or_default")]
    pub cache: Cache,
    /// `state:` section.
    #[serde(deserialize_with = "or_default")]
    pub state: State,
    /// `fleet:` section.
    #[serde(deserialize_with = "or_default")]
    pub fleet: Fleet,
    /// API users. Default: `admin` with password `"${HUBCACHE_ADMIN_PASSWORD:-password}"`.
    #[serde(deserialize_with = "users_or_default")]
    pub users: Vec<User>,
    /// `server:` section (hubcache extension, see above).
    #[serde(deserialize_with = "or_default")]
    pub server: Server,
    /// Declared remotes. Default none.
    #[serde(deserialize_with = "or_default")]
    pub remotes: Vec<Remote>,
    /// Declared header content guards. Default none.
    #[serde(deserialize_with = "or_default")]
    pub content_guards: Vec<ContentGuard>,
    /// Declared distributions. Default none.
    #[serde(deserialize_with = "or_default")]
    pub distributions: Vec<Distribution>,
}

impl Default for File {
    fn default() -> Self {
        File {
            listen: "127.0.0.1:8080".into(),
            content_origin: None,
            api: Api::default(),
            metrics: Metrics::default(),
            cache: Cache::default(),
            state: State::default(),
            fleet: Fleet::default(),
            users: default_users(),
            server: Server::default(),
            remotes: Vec::new(),
            content_guards: Vec::new(),
            distributions: Vec::new(),
        }
    }
}

/// `api:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// Separate listener for `/pulp/api/v3/`. Default null (served on `listen`).
    pub listen: Option<String>,
}

/// `metrics:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// `/metrics` and `/healthz` listener. Default `"127.0.0.1:9464"`; null disables it.
    pub listen: Option<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listen: Some("127.0.0.1:9464".into()),
        }
    }
}

/// `cache:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// Directory of stored objects. Default `"var/cache"`.
    pub dir: String,
    /// Byte budget. Default `"20GiB"`.
    pub max_size: Scalar,
    /// How long a branch/tag → commit resolution is trusted. Default `"5m"`.
    pub revision_ttl: Scalar,
    /// How long a Hub 404 is remembered. Default `"30s"`.
    pub negative_ttl: Scalar,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            dir: "var/cache".into(),
            max_size: Scalar::Text("20GiB".into()),
            revision_ttl: Scalar::Text("5m".into()),
            negative_ttl: Scalar::Text("30s".into()),
        }
    }
}

/// `state:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct State {
    /// Where API-made objects are persisted. Default `"var/state.yaml"`.
    pub path: String,
    /// PostgreSQL URL holding that state instead (`${VAR:-}` expanded; blank: not used).
    pub postgres: Option<String>,
    /// With `postgres`, required: the file of the key sealing the secrets stored there.
    pub key_file: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            path: "var/state.yaml".into(),
            postgres: None,
            key_file: None,
        }
    }
}

/// `fleet:` (`docs/fleet.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fleet {
    /// This node's address as the other nodes reach it (`host:port`). Default null: one node.
    pub advertise: Option<String>,
    /// The other nodes (`host:port`); may list this one too. Default none.
    #[serde(deserialize_with = "or_default")]
    pub peers: Vec<String>,
    /// Shared by every node. Default `"${HUBCACHE_FLEET_SECRET:-}"`.
    pub secret: Option<String>,
}

impl Default for Fleet {
    fn default() -> Self {
        Fleet {
            advertise: None,
            peers: Vec::new(),
            secret: Some("${HUBCACHE_FLEET_SECRET:-}".into()),
        }
    }
}

/// One entry of `users:`; exactly one of `password` and `password_hash` is required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct User {
    /// Basic-auth user name (required).
    pub username: Option<String>,
    /// Plain password; `${VAR}` / `${VAR:-default}` expanded.
    pub password: Option<String>,
    /// Argon2 PHC string (`$argon2id$…`); `${VAR}` expanded.
    pub password_hash: Option<String>,
}

/// The users when `users:` is missing or null.
pub fn default_users() -> Vec<User> {
    vec![User {
        username: Some("admin".into()),
        password: Some("${HUBCACHE_ADMIN_PASSWORD:-password}".into()),
        password_hash: None,
    }]
}

/// `server:` (hubcache extension).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Worker threads per service. Default null: the number of CPUs.
    pub threads: Option<Scalar>,
    /// How long SIGTERM waits for requests in flight. Default `"5s"`.
    pub grace_period: Scalar,
    /// How long services then get to shut down. Default `"5s"`.
    pub graceful_shutdown_timeout: Scalar,
    /// How long a client may take to send a whole request head. Default `"20s"`.
    pub request_head_timeout: Scalar,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            threads: None,
            grace_period: Scalar::Text("5s".into()),
            graceful_shutdown_timeout: Scalar::Text("5s".into()),
            request_head_timeout: Scalar::Text("20s".into()),
        }
    }
}

/// One entry of `remotes:`, with the Pulp API's field names (`docs/pulp-api.md` "Remotes").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // the fields are Pulp's, documented in docs/pulp-api.md "Remotes"
pub struct Remote {
    pub name: Option<String>,
    pub url: Option<String>,
    pub hf_hub_url: Option<String>,
    pub policy: Option<String>,
    pub hf_token: Option<String>,
    pub pulp_labels: Option<BTreeMap<String, String>>,
    pub tls_validation: Option<bool>,
    pub ca_cert: Option<String>,
    pub headers: Option<Vec<BTreeMap<String, String>>>,
    pub connect_timeout: Option<Scalar>,
    pub sock_connect_timeout: Option<Scalar>,
    pub sock_read_timeout: Option<Scalar>,
    pub total_timeout: Option<Scalar>,
    pub max_retries: Option<Scalar>,
    pub rate_limit: Option<Scalar>,
    pub download_concurrency: Option<Scalar>,
    // Stored and answered only (docs/pulp-api.md "Remotes"): strings or null.
    pub proxy_url: Option<serde_yaml::Value>,
    pub proxy_username: Option<serde_yaml::Value>,
    pub proxy_password: Option<serde_yaml::Value>,
    pub client_cert: Option<serde_yaml::Value>,
    pub client_key: Option<serde_yaml::Value>,
    pub username: Option<serde_yaml::Value>,
    pub password: Option<serde_yaml::Value>,
}

/// One entry of `content_guards:` (`docs/pulp-api.md` "Content guards").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // the fields are Pulp's, documented in docs/pulp-api.md "Content guards"
pub struct ContentGuard {
    pub name: Option<String>,
    pub description: Option<String>,
    pub header_name: Option<String>,
    pub header_value: Option<String>,
    pub jq_filter: Option<serde_yaml::Value>,
}

/// One entry of `distributions:` (`docs/pulp-api.md` "Distributions"); `remote` and
/// `content_guard` are names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // the fields are Pulp's, documented in docs/pulp-api.md "Distributions"
pub struct Distribution {
    pub name: Option<String>,
    pub base_path: Option<String>,
    pub remote: Option<String>,
    pub content_guard: Option<String>,
    pub hidden: Option<bool>,
    pub pulp_labels: Option<BTreeMap<String, String>>,
    // Pulp fields hubcache accepts only as null.
    pub repository: Option<serde_yaml::Value>,
    pub repository_version: Option<serde_yaml::Value>,
    pub publication: Option<serde_yaml::Value>,
}

/// A scalar written as a YAML number or a string: sizes (`1024`, `"20GiB"`), durations
/// (`"30s"`), timeouts in seconds (`30`, `0.5`) and counts. Interpreted by `validate.rs`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A YAML integer.
    Int(i64),
    /// A YAML float (or an integer too large for `i64`).
    Float(f64),
    /// A YAML string.
    Text(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

/// A section or list written as `null` (or left empty) takes its default.
fn or_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `users: null` means the default user, like a missing `users:`; `users: []` means none.
fn users_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<User>, D::Error> {
    Ok(Option::<Vec<User>>::deserialize(d)?.unwrap_or_else(default_users))
}
