//! `hubcache state export|import` (`docs/fleet.md` "From one node to a fleet"): moving the
//! API-made objects and the tasks from one store to another, through a file in the state-file
//! format (checksum line included).
//!
//! * **export** reads the configured store (the state file, or PostgreSQL opened with
//!   `state.key_file`) without changing it, merged with the declared objects by the start-up
//!   rules, and writes the API-made objects only, secrets in clear: the file is a backup.
//! * **import** checks a file exactly as start-up checks the state file (checksum, version,
//!   field rules, the merge with the declared objects of the configuration in use), marks its
//!   unfinished tasks failed ([`MOVED`]), and writes it into `state.postgres` with one
//!   [`PgStore::save`] — one transaction that bumps `state_version` and notifies, so running
//!   nodes reload it at once. A database already holding API-made rows is refused unless
//!   `replace`; a node writing between the check and the save makes the save stale, and nothing
//!   is written.
//!
//! No message holds a secret: merge errors name fields, never values, and the database is
//! named by [`display_url`] (without its password).

pub mod cli;

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::format::{parse, sha256_hex, to_file, CHECKSUM_KEY};
use super::merge::merge;
use super::{Loaded, PgStore, StateError};
use crate::config::Config;
use crate::model::Origin;
use crate::registry::Snapshot;
use crate::tasks::{Task, TaskState};

/// The error of a task the file left unfinished: it will never finish after the move.
pub const MOVED: &str = "interrupted by the move to PostgreSQL (hubcache state import)";

/// How many objects of each kind a transfer moved (or a database holds).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// API-made remotes.
    pub remotes: usize,
    /// API-made distributions.
    pub distributions: usize,
    /// API-made content guards.
    pub guards: usize,
    /// API-made repositories.
    pub repositories: usize,
    /// Their versions.
    pub versions: usize,
    /// Tasks.
    pub tasks: usize,
}

impl Counts {
    /// The API-made objects and the tasks of `snapshot`.
    pub fn of(snapshot: &Snapshot) -> Counts {
        let api = |origin: Origin| origin == Origin::Api;
        let repositories: Vec<_> = snapshot
            .repositories
            .iter()
            .filter(|r| api(r.meta.origin))
            .collect();
        Counts {
            remotes: snapshot
                .remotes
                .iter()
                .filter(|r| api(r.meta.origin))
                .count(),
            distributions: snapshot
                .distributions
                .iter()
                .filter(|d| api(d.meta.origin))
                .count(),
            guards: snapshot
                .guards
                .iter()
                .filter(|g| api(g.meta.origin))
                .count(),
            versions: repositories.iter().map(|r| r.versions.len()).sum(),
            repositories: repositories.len(),
            tasks: snapshot.tasks.len(),
        }
    }

    /// Whether there is nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
}

impl fmt::Display for Counts {
    /// "3 remotes, 2 distributions, 1 content guard, 1 repository (4 versions), 12 tasks".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |count: usize, one: &str, many: &str| {
            format!("{count} {}", if count == 1 { one } else { many })
        };
        write!(
            f,
            "{}, {}, {}, {} ({}), {}",
            n(self.remotes, "remote", "remotes"),
            n(self.distributions, "distribution", "distributions"),
            n(self.guards, "content guard", "content guards"),
            n(self.repositories, "repository", "repositories"),
            n(self.versions, "version", "versions"),
            n(self.tasks, "task", "tasks"),
        )
    }
}

/// What an export wrote or an import saved, and what the merge had to change.
#[derive(Debug)]
pub struct Moved {
    /// What was moved.
    pub counts: Counts,
    /// The store read (export) or written (import), never with a password.
    pub store: String,
    /// One line per object the merge dropped or changed, and per task marked failed.
    pub warnings: Vec<String>,
}

/// Why an export or import did not happen. Messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Refused on purpose (nothing written).
    #[error("{0}")]
    Refused(String),
    /// The file or the store could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The state-file text of the API-made objects and tasks of `snapshot`, as the server saves it.
fn file_text(snapshot: &Snapshot) -> Result<String, StateError> {
    let mut text = serde_yaml::to_string(&to_file(snapshot)).map_err(|e| StateError::Write {
        path: "the export".into(),
        source: io::Error::other(e),
    })?;
    let sum = sha256_hex(&text);
    text.push_str(&format!("{CHECKSUM_KEY}{sum}\n"));
    Ok(text)
}

/// `url` as messages show it: `postgres://user@host:port/dbname`, never with its password.
pub fn display_url(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(dir) => dir.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

/// The API-made objects of the configured store, unchanged (tasks as stored), as a file's text.
pub fn export(config: &Config) -> Result<(String, Moved), TransferError> {
    let (loaded, store) = match &config.state_postgres {
        Some(pg) => {
            let store = PgStore::new(pg.url.expose(), &pg.key)?;
            let (_, loaded) = store.read_merged(&config.declared, false)?;
            (loaded, display_url(&store.config))
        }
        None => {
            let path = &config.state_path;
            let text = match fs_err::read_to_string(path) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(TransferError::Refused(format!(
                        "there is no state file at {} (state.path): nothing to export; is this the node's configuration?",
                        path.display()
                    )))
                }
                Err(source) => {
                    return Err(StateError::Read {
                        path: path.clone(),
                        source,
                    }
                    .into())
                }
            };
            let loaded = merge(path, parse(path, &text)?, &config.declared, false)?;
            (loaded, format!("the state file {}", path.display()))
        }
    };
    let text = file_text(&loaded.snapshot)?;
    let moved = Moved {
        counts: Counts::of(&loaded.snapshot),
        store,
        warnings: loaded.warnings,
    };
    Ok((text, moved))
}

/// `text` (read from `path`) checked and merged with `declared` as start-up does, its
/// unfinished tasks marked failed with [`MOVED`].
pub fn check(path: &Path, text: &str, declared: &Snapshot) -> Result<Loaded, StateError> {
    let mut loaded = merge(path, parse(path, text)?, declared, false)?;
    let Loaded { snapshot, warnings } = &mut loaded;
    for task in &mut snapshot.tasks {
        if !task.state.is_final() {
            let mut moved: Task = (**task).clone();
            moved.finish(moved.updated, TaskState::Failed, Some(MOVED.into()));
            warnings.push(format!(
                "task {} ({}) was unfinished: marked failed",
                moved.id, moved.name
            ));
            *task = Arc::new(moved);
        }
    }
    Ok(loaded)
}

/// Checks `text` (see [`check`]) and writes it into `state.postgres` in one transaction.
pub fn import(
    config: &Config,
    path: &Path,
    text: &str,
    replace: bool,
) -> Result<Moved, TransferError> {
    let Some(pg) = &config.state_postgres else {
        return Err(TransferError::Refused(
            "the configuration has no state.postgres: state import writes into PostgreSQL only (a node on a state file reads its file; copy it to state.path instead)".into(),
        ));
    };
    let loaded = check(path, text, &config.declared)?;
    let store = PgStore::new(pg.url.expose(), &pg.key)?;
    let url = display_url(&store.config);
    // Loading records the version the save expects: a write by a running node in between
    // makes the save stale, and nothing is written.
    store.load(&config.declared)?;
    let held = store.held()?;
    if !replace && held.iter().any(|(_, rows)| *rows > 0) {
        let held: Vec<String> = held
            .iter()
            .filter(|(_, rows)| *rows > 0)
            .map(|(table, rows)| format!("{table} {rows}"))
            .collect();
        return Err(TransferError::Refused(format!(
            "{url} already holds objects made through the API (rows: {}); nothing was written. Use --replace to replace them",
            held.join(", ")
        )));
    }
    match store.save(&loaded.snapshot) {
        Ok(()) => Ok(Moved {
            counts: Counts::of(&loaded.snapshot),
            store: url,
            warnings: loaded.warnings,
        }),
        Err(StateError::Stale) => Err(TransferError::Refused(format!(
            "a node changed the state in {url} during the import; nothing was written: run it again"
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContentGuard, Meta, Secret};
    use crate::state::pg::SESSION_OPTIONS;
    use crate::state::tests::remote;
    use crate::tasks::names;

    fn snapshot() -> Snapshot {
        let mut running = Task::waiting(names::UPDATE, "cid".into(), Vec::new());
        running.state = TaskState::Running;
        Snapshot {
            remotes: vec![
                remote("hf", Origin::Api),
                remote("declared", Origin::Config),
            ],
            guards: vec![Arc::new(ContentGuard {
                meta: Meta::new(Origin::Api),
                name: "g".into(),
                description: None,
                header_name: "X-Key".into(),
                header_value: Secret::new("guard-secret-1"),
            })],
            tasks: vec![
                Arc::new(Task::completed(names::PURGE, "c".into(), Vec::new())),
                Arc::new(running),
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn counts_read_as_a_sentence_of_api_objects() {
        let counts = Counts::of(&snapshot());
        assert_eq!(
            counts.to_string(),
            "1 remote, 0 distributions, 1 content guard, 0 repositories (0 versions), 2 tasks"
        );
        assert!(!counts.is_empty());
        assert!(Counts::of(&Snapshot::default()).is_empty());
    }

    #[test]
    fn an_exported_text_checks_back_with_secrets_and_unfinished_tasks_failed() {
        let snap = snapshot();
        let text = file_text(&snap).unwrap();
        assert!(text.starts_with("version: 4\n"), "{text}");
        assert!(!text.contains("declared"), "a declared object was written");
        assert!(text.contains("guard-secret-1") && text.contains("hf_tok"));
        let loaded = check(Path::new("s.yaml"), &text, &Snapshot::default()).unwrap();
        let got = &loaded.snapshot;
        assert_eq!(got.remotes, snap.remotes[..1]);
        assert_eq!(got.guards, snap.guards);
        assert_eq!(
            got.tasks[0], snap.tasks[0],
            "a finished task moves as it is"
        );
        assert_eq!(got.tasks[1].state, TaskState::Failed);
        assert_eq!(got.tasks[1].error.as_deref(), Some(MOVED));
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    }

    #[test]
    fn a_bad_file_is_refused_as_at_start_up() {
        let at = Path::new("s.yaml");
        let none = Snapshot::default();
        let err = check(at, "version: [\n", &none).unwrap_err().to_string();
        assert!(err.contains("s.yaml"), "{err}");
        let text = file_text(&snapshot()).unwrap();
        let err = check(at, &text.replace("version: 4", "version: 9"), &none).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let body = "version: 9\n";
        let signed = format!("{body}{CHECKSUM_KEY}{}\n", sha256_hex(body));
        let err = check(at, &signed, &none).unwrap_err().to_string();
        assert!(err.contains("version 9 is not supported"), "{err}");
        // A declared object of the same name wins, with a warning, as at start-up.
        let declared = Snapshot {
            remotes: vec![remote("hf", Origin::Config)],
            ..Snapshot::default()
        };
        let loaded = check(at, &text, &declared).unwrap();
        assert_eq!(Counts::of(&loaded.snapshot).remotes, 0);
        assert!(loaded.warnings[0].contains("remote 'hf' dropped"));
    }

    #[test]
    fn every_connection_bounds_its_statements_and_the_urls_options_win() {
        let key = crate::state::StateKey::parse(&"07".repeat(32)).unwrap();
        let store = PgStore::new("postgres://u@127.0.0.1:1/db", &key).unwrap();
        assert_eq!(store.config.get_options(), Some(SESSION_OPTIONS));
        assert!(SESSION_OPTIONS.contains("statement_timeout=10s"));
        let url = "postgres://u@127.0.0.1:1/db?options=-c%20statement_timeout%3D30s";
        let store = PgStore::new(url, &key).unwrap();
        assert_eq!(
            store.config.get_options(),
            Some(format!("{SESSION_OPTIONS} -c statement_timeout=30s").as_str())
        );
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        for url in [
            "postgres://hubcache:s3cr3t-pw@db.example:5433/state",
            "host=db.example port=5433 user=hubcache password=s3cr3t-pw dbname=state",
        ] {
            let config: postgres::Config = url.parse().unwrap();
            assert_eq!(
                display_url(&config),
                "postgres://hubcache@db.example:5433/state"
            );
        }
    }
}
