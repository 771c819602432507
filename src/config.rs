//! The validated configuration: listeners, cache, state, users, server tuning and the
//! objects declared in the file, ready to use (no serde, no strings to re-parse).
//!
//! The file format and its defaults are in [`wire`]; every check and conversion is in
//! `validate.rs` (top level, users) and `objects.rs` (remotes, guards, distributions), which
//! collect every problem with its YAML path instead of stopping at the first.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha1::{Digest, Sha1};
use uuid::Uuid;

use crate::model::Secret;
use crate::registry::Snapshot;

mod expand;
mod objects;
mod remote;
pub mod units;
mod validate;
pub mod wire;
mod yaml;

#[cfg(test)]
mod problem_tests;
#[cfg(test)]
mod tests;

/// The configuration hubcache runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Content listener (and the API's unless `api_listen` is set).
    pub listen: SocketAddr,
    /// Public origin for `base_url` (`https://cache.example.com`, no trailing `/`); `None`:
    /// built from `Host` and `X-Forwarded-Proto`.
    pub content_origin: Option<String>,
    /// Separate API listener, if any.
    pub api_listen: Option<SocketAddr>,
    /// Metrics listener; `None` disables metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// The disk cache.
    pub cache: CacheConfig,
    /// Where API-made objects are persisted.
    pub state_path: PathBuf,
    /// `state.postgres` with its key: the API-made objects in PostgreSQL instead.
    pub state_postgres: Option<PostgresState>,
    /// `fleet:` — `None`: a single node.
    pub fleet: Option<FleetConfig>,
    /// Who may use the API (at least one).
    pub users: Vec<User>,
    /// Threads and shutdown timing.
    pub server: ServerConfig,
    /// Remotes, content guards and distributions declared in the file, with
    /// `meta.origin = Origin::Config` and ids from [`declared_id`].
    pub declared: Snapshot,
}

/// `state.postgres` and the key of `state.key_file`. `Debug` shows neither.
#[derive(Debug, Clone)]
pub struct PostgresState {
    /// The connection URL (it may hold a password).
    pub url: crate::model::Secret,
    /// Seals the secrets before they reach the database.
    pub key: crate::state::StateKey,
}

/// `fleet:` when `fleet.advertise` is set (`docs/fleet.md`). `Debug` hides the secret.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// This node's address as the others reach it: its identity on the ring.
    pub advertise: SocketAddr,
    /// The other nodes from `fleet.peers` (this node and duplicates left out).
    pub peers: Vec<SocketAddr>,
    /// Proves a request came from a node of the fleet (compared in constant time).
    pub secret: Secret,
}

/// `cache:`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Directory of stored objects.
    pub dir: PathBuf,
    /// Byte budget for stored objects (> 0).
    pub max_size: u64,
    /// How long a branch/tag → commit resolution is trusted.
    pub revision_ttl: Duration,
    /// How long a Hub 404 (`EntryNotFound`, `RevisionNotFound`, `RepoNotFound`) is remembered.
    pub negative_ttl: Duration,
}

/// `server:`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Worker threads per service (≥ 1).
    pub threads: usize,
    /// How long SIGTERM waits for requests in flight.
    pub grace_period: Duration,
    /// How long services then get to shut down.
    pub graceful_shutdown_timeout: Duration,
    /// How long a client may take to send a whole request head (1 s to 5 min).
    pub request_head_timeout: Duration,
}

/// An API user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Basic-auth user name (no `:`).
    pub username: String,
    /// How the password is checked.
    pub credential: Credential,
    /// The credential came from a `${VAR:-default}` whose `VAR` was unset or empty (e.g. the
    /// shipped `admin`/`password`): worth a warning at start-up.
    pub uses_default_password: bool,
}

/// A user's credential.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A plain password, compared in constant time.
    Password(Secret),
    /// An argon2 PHC string (`$argon2id$v=19$…`), known to parse with `argon2::PasswordHash`.
    Hash(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(***)"),
            Credential::Hash(_) => f.write_str("Hash(***)"),
        }
    }
}

/// Every problem found in a configuration, each as (YAML path, message). The path is empty
/// for problems with the whole file (unreadable, YAML syntax). Messages never hold a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<(String, String)>);

impl Problems {
    /// Records a problem at `path` (e.g. `remotes[1].url`).
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push((path.into(), message.into()));
    }
    /// Records the error of `result`, if any, and returns its value otherwise.
    pub fn check<T>(&mut self, path: impl Into<String>, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.push(path, message)).ok()
    }
    /// No problem at all?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// The problems in the order found, as (path, message).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(path, message)| (path.as_str(), message.as_str()))
    }
}

impl fmt::Display for Problems {
    /// One `path: message` per line (just `message` when the path is empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (path, message)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match path.as_str() {
                "" => f.write_str(message)?,
                path => write!(f, "{path}: {message}")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl Config {
    /// Reads and validates the file at `path`; `${VAR}` come from the process environment.
    pub fn load(path: &Path) -> Result<Config, Problems> {
        let text = fs_err::read_to_string(path).map_err(|err| {
            let mut problems = Problems::default();
            problems.push("", err.to_string());
            problems
        })?;
        Config::from_yaml_str(&text)
    }

    /// Validates a configuration given as YAML text; an empty text means all defaults.
    pub fn from_yaml_str(text: &str) -> Result<Config, Problems> {
        Config::from_yaml_str_with_env(text, &|name| std::env::var(name).ok())
    }

    /// As [`Config::from_yaml_str`], looking `${VAR}` up with `env` (tests pass a table).
    pub fn from_yaml_str_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Problems> {
        let file = yaml::parse(text).map_err(|(path, message)| {
            let mut problems = Problems::default();
            problems.push(path, message);
            problems
        })?;
        validate::validate(&file, env)
    }
}

/// Kinds of declared objects, as used by [`declared_id`].
pub const REMOTE_KIND: &str = "remote";
/// See [`REMOTE_KIND`].
pub const DISTRIBUTION_KIND: &str = "distribution";
/// See [`REMOTE_KIND`].
pub const CONTENT_GUARD_KIND: &str = "content_guard";

/// Namespace of declared ids (a random UUID, fixed forever: changing it changes every href).
const DECLARED_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_3a52_94d7_4e0b_a8c1_5d27_e4b9_0f36);

/// The stable id of a config-declared object: a UUIDv5 (SHA-1) of `kind` and `name` in
/// hubcache's namespace, so its `pulp_href` survives restarts. `kind` is one of
/// [`REMOTE_KIND`], [`DISTRIBUTION_KIND`], [`CONTENT_GUARD_KIND`].
pub fn declared_id(kind: &str, name: &str) -> Uuid {
    let mut hasher = Sha1::new();
    hasher.update(DECLARED_NAMESPACE.as_bytes());
    hasher.update(kind.as_bytes());
    hasher.update(b"/");
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}
