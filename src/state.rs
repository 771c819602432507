//! `state.path`: the remotes, distributions, content guards and repositories (with their
//! versions) made through the API, and the tasks (`docs/pulp-api.md` "Tasks"), saved atomically after every API write and merged with
//! the configuration's objects at start-up.
//!
//! Every save ends the file with a `sha256:` line (the digest of every byte before it) and
//! first keeps the file it replaces as `<path>.prev`, so a damaged file (truncated, or changed
//! since hubcache wrote it) is refused at start instead of loading with objects missing, and
//! the previous generation is there to recover from. Files of version 1 (written before the
//! checksum existed) still load, unchecked; files of version 2 (before tasks) load with no task,
//! files of version 3 (before repositories) with no repository.
//!
//! The file holds only API-made objects (config-declared ones live in the config file), secrets
//! included — it is their only copy — so it is written with mode 0600. Distributions name
//! their remote and guard by **name**, as the config file does: a declared object's id is
//! derived from its name ([`crate::config::declared_id`]), so renaming it in the file changes
//! its id, while its name is what the user wrote. Merge rules at load:
//! * declared objects come first; an API object whose name (or, for a distribution, base path)
//!   now clashes with a declared one is dropped, with a warning;
//! * a distribution whose remote no longer exists keeps existing with no remote (404s);
//! * a distribution whose guard no longer exists is dropped: serving it unguarded would
//!   expose what the guard protected;
//! * a repository whose remote no longer exists keeps existing with no remote;
//! * a task left waiting, running or canceling is marked `failed` ("interrupted by a restart")
//!   — with the state file only: in PostgreSQL another node may run it, and a task whose
//!   node is gone is taken over (`docs/fleet.md` "Tasks").
//!
//! With `state.postgres` the same records live in PostgreSQL instead ([`PgStore`], secrets
//! sealed with `state.key_file`; `docs/fleet.md`), merged by the same rules; [`Store`] is the
//! seam the API, the tasks and start-up save and load through. Several nodes may share one
//! database: each reloads on `hubcache_state` notifications ([`spawn_reloader`]) and a save
//! made on a stale snapshot is refused ([`StateError::Stale`]) and applied again on the
//! database's state.

mod format;
mod merge;
pub mod nodes;
mod pg;
mod reload;
mod repositories;
mod seal;
mod tasks;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_repositories;
pub mod transfer;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::registry::Snapshot;

use format::parse;
use merge::merge;

pub use format::{previous_path, save};
pub use nodes::{Heartbeat, LiveNodes, NodeInfo};
pub use pg::PgStore;
pub use reload::{spawn_reloader, Reloader};
pub use seal::StateKey;

/// Why the state file could not be read or written. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Not a state file (YAML syntax, unknown keys, wrong version); quoted values are elided.
    #[error("{path}: {message}")]
    Parse {
        /// The state file.
        path: PathBuf,
        /// What is wrong, with its location.
        message: String,
    },
    /// The file is damaged (truncated, or changed since hubcache wrote it): starting with it
    /// could silently drop objects.
    #[error("{path} is damaged: {reason}. hubcache will not start with part of its objects missing. {advice}")]
    Damaged {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// How to recover (names the previous generation when there is one).
        advice: String,
    },
    /// A stored object breaks a field rule (the file was edited by hand?).
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The state file.
        path: PathBuf,
        /// Where, e.g. `remotes[2].url`.
        field: String,
        /// The rule broken.
        message: String,
    },
    /// Writing, syncing or renaming failed; the previous file is untouched.
    #[error("writing {path}: {source}")]
    Write {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// PostgreSQL (`state.postgres`) could not be reached or answered an error.
    #[error("PostgreSQL (state.postgres): {0}")]
    Database(String),
    /// Another node saved since the snapshot in use was loaded (`docs/fleet.md`): nothing was
    /// written; [`crate::registry::Registry::update_stored`] reloads and applies the change again.
    #[error("another node changed the state at the same time; try again")]
    Stale,
    /// A sealed secret in PostgreSQL does not open with `state.key_file`'s key.
    #[error("state.key_file does not decrypt the secrets in the database (is it the key they were stored with?)")]
    WrongKey,
}

/// Where the API-made objects and the tasks are kept: the state file, or PostgreSQL.
#[derive(Debug, Clone)]
pub enum Store {
    /// `state.path`.
    File(PathBuf),
    /// `state.postgres` (`docs/fleet.md`).
    Postgres(Arc<PgStore>),
}

impl From<PathBuf> for Store {
    fn from(path: PathBuf) -> Store {
        Store::File(path)
    }
}

impl Store {
    /// Saves the API-made objects and the tasks of `snapshot`.
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        match self {
            Store::File(path) => save(path, snapshot),
            Store::Postgres(pg) => pg.save(snapshot),
        }
    }

    /// Loads the stored objects merged with `declared` (see the module docs).
    pub fn load(&self, declared: &Snapshot) -> Result<Loaded, StateError> {
        match self {
            Store::File(path) => load(path, declared),
            Store::Postgres(pg) => pg.load(declared),
        }
    }

    /// The stored state merged with the declared objects when it moved on since the snapshot
    /// in use (`current`, whose newer task changes are kept); `None` for the state file (this
    /// node is its only writer).
    pub fn fresh(&self, current: &Snapshot) -> Result<Option<Snapshot>, StateError> {
        match self {
            Store::File(_) => Ok(None),
            Store::Postgres(pg) => pg.fresh(current),
        }
    }

    /// What start-up errors name: the file, or PostgreSQL.
    pub fn describe(&self) -> String {
        match self {
            Store::File(path) => format!("the state file {}", path.display()),
            Store::Postgres(_) => pg::SOURCE.into(),
        }
    }
}

/// A remote record's secrets, by field name: sealed in PostgreSQL.
fn remote_secrets(r: &mut RemoteRecord) -> [(&'static str, &mut Option<String>); 6] {
    [
        ("hf_token", &mut r.hf_token),
        ("client_key", &mut r.client_key),
        ("proxy_username", &mut r.proxy_username),
        ("proxy_password", &mut r.proxy_password),
        ("username", &mut r.username),
        ("password", &mut r.password),
    ]
}

/// The merged objects and what the merge had to change.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Declared objects first, then the API-made ones.
    pub snapshot: Snapshot,
    /// One line per object dropped or changed by the merge (already logged as warnings).
    pub warnings: Vec<String>,
}

// The file's records: written by `format`, read by `merge`; declared here so that their
// fields stay private to this module.

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    #[serde(default)]
    remotes: Vec<RemoteRecord>,
    #[serde(default)]
    distributions: Vec<DistributionRecord>,
    #[serde(default)]
    content_guards: Vec<GuardRecord>,
    /// Since version 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tasks: Vec<tasks::TaskRecord>,
    /// Since version 4.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    repositories: Vec<repositories::RepositoryRecord>,
    /// The checksum line: checked on the text before parsing, appended by [`save`].
    #[serde(default, skip_serializing, rename = "sha256")]
    _checksum: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    name: String,
    url: String,
    policy: String,
    #[serde(default)]
    hf_token: Option<String>,
    #[serde(default)]
    pulp_labels: BTreeMap<String, String>,
    tls_validation: bool,
    #[serde(default)]
    ca_cert: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    connect_timeout: Option<f64>,
    #[serde(default)]
    sock_read_timeout: Option<f64>,
    #[serde(default)]
    total_timeout: Option<f64>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    rate_limit: Option<u32>,
    #[serde(default)]
    download_concurrency: Option<u32>,
    // Pulp fields stored and answered (docs/pulp-api.md "Remotes"); absent in older files.
    #[serde(default)]
    hf_hub_url: Option<String>,
    /// `headers` answered `null` (never given).
    #[serde(default)]
    headers_null: bool,
    #[serde(default)]
    sock_connect_timeout: Option<f64>,
    #[serde(default)]
    client_cert: Option<String>,
    #[serde(default)]
    client_key: Option<String>,
    #[serde(default)]
    proxy_url: Option<String>,
    #[serde(default)]
    proxy_username: Option<String>,
    #[serde(default)]
    proxy_password: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistributionRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    name: String,
    base_path: String,
    #[serde(default)]
    remote: Option<String>,
    #[serde(default)]
    content_guard: Option<String>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    pulp_labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    name: String,
    #[serde(default)]
    description: Option<String>,
    header_name: String,
    header_value: String,
}

/// Reads `path` (missing = no API objects) and merges it with `declared` (see the module docs).
pub fn load(path: &Path, declared: &Snapshot) -> Result<Loaded, StateError> {
    let file = match fs_err::read_to_string(path) {
        Ok(text) => parse(path, &text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => StateFile::default(),
        Err(source) => {
            return Err(StateError::Read {
                path: path.into(),
                source,
            })
        }
    };
    let loaded = merge(path, file, declared, true)?;
    for warning in &loaded.warnings {
        tracing::warn!(state = %path.display(), "{warning}");
    }
    Ok(loaded)
}

impl crate::registry::Backing for Store {
    fn save(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        Store::save(self, snapshot)
    }
    fn fresh(&self, current: &Snapshot) -> Result<Option<Snapshot>, StateError> {
        Store::fresh(self, current)
    }
}
