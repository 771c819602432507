//! `state.postgres`: the API-made objects and the tasks in PostgreSQL (`docs/fleet.md`), the
//! same records as the state file, one table per kind (`record` as jsonb) with secrets sealed
//! ([`super::seal`]) before they leave the process.
//!
//! Migrations are embedded ([`MIGRATIONS`], applied under an advisory lock, recorded in
//! `schema_version`). Each save is one transaction: it bumps `state_version` (whose row lock
//! orders writers), replaces every API-made row with the snapshot's (simplest correct: the
//! snapshot is the whole API state), and `NOTIFY hubcache_state, '<version>'` on commit. The
//! connection lives on one thread of its own, so a save may be called from any thread; it is
//! opened at the first use and again after an error.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use postgres::{Client, NoTls};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::format::{to_file, VERSION};
use super::seal::{OpenError, Sealer, StateKey};
use super::{merge::merge, Loaded, StateError, StateFile};
use crate::registry::Snapshot;

/// What merge warnings and errors name as the source of the objects.
pub(super) const SOURCE: &str = "PostgreSQL (state.postgres)";

/// The schema, one entry per version.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE state_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO state_version (version) VALUES (0);
CREATE TABLE remotes (id uuid PRIMARY KEY, position integer NOT NULL, record jsonb NOT NULL);
CREATE TABLE content_guards (id uuid PRIMARY KEY, position integer NOT NULL, record jsonb NOT NULL);
CREATE TABLE distributions (id uuid PRIMARY KEY, position integer NOT NULL, record jsonb NOT NULL);
CREATE TABLE repositories (id uuid PRIMARY KEY, position integer NOT NULL, record jsonb NOT NULL);
CREATE TABLE repository_versions (
    repository uuid NOT NULL REFERENCES repositories ON DELETE CASCADE,
    number bigint NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (repository, number)
);
CREATE TABLE tasks (id uuid PRIMARY KEY, position integer NOT NULL, record jsonb NOT NULL);
",
    "
CREATE TABLE nodes (
    address text PRIMARY KEY,
    started timestamptz NOT NULL,
    heartbeat timestamptz NOT NULL
);
",
];

/// Serialises migrations of concurrent nodes (an arbitrary constant: "hubcache" in ASCII).
const MIGRATION_LOCK: i64 = 0x6875_6263_6163_6865;

/// The tables of whole records, in the order a save empties them (children first).
const TABLES: [&str; 5] = [
    "distributions",
    "content_guards",
    "remotes",
    "repositories",
    "tasks",
];

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The state in PostgreSQL: a connection thread, the key of the secrets, and the
/// `state_version` the published snapshot was loaded at or saved as (`docs/fleet.md`).
pub struct PgStore {
    jobs: Mutex<mpsc::Sender<Job>>,
    sealer: Arc<Sealer>,
    /// The connection settings, for the listening thread ([`super::reload`]).
    pub(super) config: postgres::Config,
    /// The `state_version` of the snapshot in use (-1 before the first load).
    version: AtomicI64,
    /// The declared objects, merged again at every reload.
    pub(super) declared: Mutex<Snapshot>,
    /// Told every new version in use (the `hubcache_fleet_state_version` gauge).
    observer: OnceLock<Box<dyn Fn(i64) + Send + Sync>>,
    /// The live nodes of the fleet, kept by the heartbeat ([`super::nodes`]).
    live_nodes: Arc<super::nodes::LiveNodes>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStore")
    }
}

struct Connection {
    config: postgres::Config,
    client: Option<Client>,
}

impl Connection {
    fn client(&mut self) -> Result<&mut Client, StateError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut client = self.config.connect(NoTls).map_err(db)?;
            migrate(&mut client)?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

/// Bounds every statement and every open transaction of every connection a node opens
/// (`docs/fleet.md` "Configuration"), so a database that hangs fails an API write instead of
/// holding it forever. An `options` setting of the URL comes later and wins.
pub(super) const SESSION_OPTIONS: &str =
    "-c statement_timeout=10s -c idle_in_transaction_session_timeout=60s";

fn with_timeouts(config: &mut postgres::Config) {
    let options = match config.get_options() {
        Some(theirs) => format!("{SESSION_OPTIONS} {theirs}"),
        None => SESSION_OPTIONS.into(),
    };
    config.options(&options);
}

/// The error with what the server said (its severity and message, without the detail, which
/// may quote values): `postgres::Error` alone displays only "db error".
fn db(e: postgres::Error) -> StateError {
    match e.as_db_error() {
        Some(said) => StateError::Database(format!("{e}: {}: {}", said.severity(), said.message())),
        None => StateError::Database(e.to_string()),
    }
}

fn migrate(client: &mut Client) -> Result<(), StateError> {
    let mut tx = client.transaction().map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        .map_err(db)?;
    let current: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])
        .map_err(db)?
        .get(0);
    let current = usize::try_from(current.unwrap_or(0)).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StateError::Database(format!(
            "the database has schema version {current}; this hubcache knows up to {}",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.batch_execute(sql).map_err(db)?;
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO schema_version VALUES ($1)", &[&version])
            .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// The rows of one save: per table, (id, record) in snapshot order.
#[derive(Default)]
struct Rows {
    tables: Vec<(&'static str, Vec<(Uuid, Value)>)>,
    /// (repository id, number, record).
    versions: Vec<(Uuid, i64, Value)>,
}

fn rows_of<R: Serialize>(records: &[R]) -> Result<Vec<(Uuid, Value)>, StateError> {
    records
        .iter()
        .map(|r| {
            let value = serde_json::to_value(r)
                .map_err(|e| StateError::Database(format!("encoding a record: {e}")))?;
            let id = value["id"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .unwrap_or_default();
            Ok((id, value))
        })
        .collect()
}

fn records_of<R: DeserializeOwned>(table: &str, values: Vec<Value>) -> Result<Vec<R>, StateError> {
    values
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| {
                StateError::Database(format!(
                    "a row of {table} is not a record this hubcache reads ({:?} error)",
                    e.classify()
                ))
            })
        })
        .collect()
}

impl PgStore {
    /// A store for `url` (connected at the first use) sealing secrets with `key`.
    pub fn new(url: &str, key: &StateKey) -> Result<PgStore, StateError> {
        let mut config: postgres::Config = url.parse().map_err(|_| {
            StateError::Database(
                "state.postgres is not a PostgreSQL connection URL (postgres://user@host:port/db)"
                    .into(),
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        with_timeouts(&mut config);
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut connection = Connection {
            config: config.clone(),
            client: None,
        };
        std::thread::Builder::new()
            .name("hubcache-state-pg".into())
            .spawn(move || {
                for job in queue {
                    job(&mut connection);
                }
            })
            .map_err(|e| StateError::Database(format!("starting its thread: {e}")))?;
        Ok(PgStore {
            jobs: Mutex::new(jobs),
            sealer: Arc::new(Sealer::new(key)),
            config,
            version: AtomicI64::new(-1),
            declared: Mutex::new(Snapshot::default()),
            observer: OnceLock::new(),
            live_nodes: Arc::default(),
        })
    }

    /// The number of API-made rows in each table (for `hubcache state import`).
    pub(super) fn held(&self) -> Result<Vec<(&'static str, i64)>, StateError> {
        self.run(|client| {
            TABLES
                .iter()
                .map(|table| {
                    let sql = format!("SELECT count(*) FROM {table}");
                    Ok((*table, client.query_one(&sql, &[]).map_err(db)?.get(0)))
                })
                .collect()
        })
    }

    /// Runs `work` on the connection thread and waits for it; drops the connection after an
    /// error (the next use reconnects), and runs `work` once more when the connection turns
    /// out to have been closed by the server.
    fn run<T: Send + 'static>(
        &self,
        work: impl Fn(&mut Client) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: &mut Connection| {
            let reused = conn.client.as_ref().is_some_and(|c| !c.is_closed());
            let mut result = conn.client().and_then(&work);
            // A connection the server closed since its last use (a database restart): once
            // more on a new one. Nothing was written: the closed one could not commit.
            if result.is_err() && reused && conn.client.as_ref().is_some_and(Client::is_closed) {
                conn.client = None;
                result = conn.client().and_then(&work);
            }
            if result.is_err() {
                conn.client = None;
            }
            let _ = reply.send(result);
        });
        let gone = || StateError::Database("its connection thread stopped".into());
        self.jobs.lock().send(job).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    /// Whether the connection is open (for the status endpoint); does not wait for a query.
    pub fn is_usable(&self) -> bool {
        self.run(|_| Ok(())).is_ok()
    }

    /// The live nodes of the fleet (empty until the heartbeat runs: `fleet` set).
    pub fn live_nodes(&self) -> Arc<super::nodes::LiveNodes> {
        self.live_nodes.clone()
    }

    /// The connection settings, for the connections of their own (task claims).
    pub(crate) fn connection_config(&self) -> &postgres::Config {
        &self.config
    }

    /// The `state_version` of the snapshot in use (-1 before the first load).
    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Acquire)
    }

    /// Calls `observer` with the version in use now and at every change.
    pub fn observe_version(&self, observer: Box<dyn Fn(i64) + Send + Sync>) {
        observer(self.version());
        let _ = self.observer.set(observer);
    }

    pub(super) fn set_version(&self, version: i64) {
        self.version.store(version, Ordering::Release);
        if let Some(observer) = self.observer.get() {
            observer(version);
        }
    }

    /// Saves the API-made objects and the tasks of `snapshot` in one transaction, bumping
    /// `state_version` and notifying `hubcache_state`. [`StateError::Stale`] when another
    /// node saved since the snapshot in use was loaded: nothing is written.
    pub fn save(&self, snapshot: &Snapshot) -> Result<(), StateError> {
        let mut file = to_file(snapshot);
        self.seal_all(&mut file);
        let mut rows = Rows::default();
        for repository in &mut file.repositories {
            let id = repository.id();
            for v in repository.take_versions() {
                let value = serde_json::to_value(&v)
                    .map_err(|e| StateError::Database(format!("encoding a record: {e}")))?;
                let number = value["number"].as_i64().unwrap_or_default();
                rows.versions.push((id, number, value));
            }
        }
        rows.tables = vec![
            ("remotes", rows_of(&file.remotes)?),
            ("content_guards", rows_of(&file.content_guards)?),
            ("distributions", rows_of(&file.distributions)?),
            ("repositories", rows_of(&file.repositories)?),
            ("tasks", rows_of(&file.tasks)?),
        ];
        let expected = self.version();
        match self.run(move |client| write(client, &rows, expected).map_err(db))? {
            Some(version) => {
                self.set_version(version);
                Ok(())
            }
            None => Err(StateError::Stale),
        }
    }

    /// Reads every row and merges them with `declared` (see [`crate::state`]), remembering
    /// `declared` for the reloads and the version read. Unfinished tasks are kept as they
    /// are: another node may run them, and one whose node is gone is taken over
    /// (`docs/fleet.md` "Tasks").
    pub fn load(&self, declared: &Snapshot) -> Result<Loaded, StateError> {
        *self.declared.lock() = declared.clone();
        let (version, loaded) = self.read_merged(declared, false)?;
        self.set_version(version);
        Ok(loaded)
    }

    pub(super) fn read_merged(
        &self,
        declared: &Snapshot,
        restart: bool,
    ) -> Result<(i64, Loaded), StateError> {
        let (version, mut tables, versions) = self.run(|client| read(client).map_err(db))?;
        let mut take = |name: &str| tables.remove(name).unwrap_or_default();
        let mut file = StateFile {
            version: VERSION,
            remotes: records_of("remotes", take("remotes"))?,
            distributions: records_of("distributions", take("distributions"))?,
            content_guards: records_of("content_guards", take("content_guards"))?,
            tasks: records_of("tasks", take("tasks"))?,
            repositories: records_of("repositories", take("repositories"))?,
            _checksum: None,
        };
        for repository in &mut file.repositories {
            let of_it = versions
                .iter()
                .filter(|(id, _)| *id == repository.id())
                .map(|(_, v)| v.clone())
                .collect();
            repository.set_versions(records_of("repository_versions", of_it)?);
        }
        self.open_all(&mut file)?;
        let loaded = merge(Path::new(SOURCE), file, declared, restart)?;
        for warning in &loaded.warnings {
            tracing::warn!(state = SOURCE, "{warning}");
        }
        Ok((version, loaded))
    }

    fn seal_all(&self, file: &mut StateFile) {
        let s = &self.sealer;
        for r in &mut file.remotes {
            let id = r.id;
            for (field, value) in super::remote_secrets(r) {
                if let Some(v) = value.as_mut() {
                    *v = s.seal(&format!("remotes.{field}/{id}"), v);
                }
            }
        }
        for g in &mut file.content_guards {
            g.header_value = s.seal(
                &format!("content_guards.header_value/{}", g.id),
                &g.header_value,
            );
        }
    }

    fn open_all(&self, file: &mut StateFile) -> Result<(), StateError> {
        let open = |aad: String, sealed: &str| {
            self.sealer.open(&aad, sealed).map_err(|e| match e {
                OpenError::WrongKey => StateError::WrongKey,
                OpenError::NotSealed => StateError::Database(format!("{aad} is not sealed")),
            })
        };
        for r in &mut file.remotes {
            let id = r.id;
            for (field, value) in super::remote_secrets(r) {
                if let Some(v) = value.as_mut() {
                    *v = open(format!("remotes.{field}/{id}"), v)?;
                }
            }
        }
        for g in &mut file.content_guards {
            g.header_value = open(
                format!("content_guards.header_value/{}", g.id),
                &g.header_value,
            )?;
        }
        Ok(())
    }
}

/// Writes `rows` as version `expected` + 1; `None` (nothing written) when the database is
/// no longer at `expected`. The row lock taken first orders concurrent writers.
fn write(client: &mut Client, rows: &Rows, expected: i64) -> Result<Option<i64>, postgres::Error> {
    let mut tx = client.transaction()?;
    let current: i64 = tx
        .query_one("SELECT version FROM state_version FOR UPDATE", &[])?
        .get(0);
    if current != expected {
        return Ok(None);
    }
    let version = current + 1;
    tx.execute("UPDATE state_version SET version = $1", &[&version])?;
    tx.batch_execute("DELETE FROM repository_versions")?;
    for table in TABLES {
        tx.batch_execute(&format!("DELETE FROM {table}"))?;
    }
    for (table, table_rows) in &rows.tables {
        let insert = tx.prepare(&format!(
            "INSERT INTO {table} (id, position, record) VALUES ($1, $2, $3)"
        ))?;
        for (position, (id, record)) in table_rows.iter().enumerate() {
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            tx.execute(&insert, &[id, &position, record])?;
        }
    }
    let insert = tx.prepare(
        "INSERT INTO repository_versions (repository, number, record) VALUES ($1, $2, $3)",
    )?;
    for (repository, number, record) in &rows.versions {
        tx.execute(&insert, &[repository, number, record])?;
    }
    tx.execute(
        "SELECT pg_notify('hubcache_state', $1)",
        &[&version.to_string()],
    )?;
    tx.commit()?;
    Ok(Some(version))
}

type Read = (
    i64,
    std::collections::HashMap<String, Vec<Value>>,
    Vec<(Uuid, Value)>,
);

fn read(client: &mut Client) -> Result<Read, postgres::Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let version: i64 = tx
        .query_one("SELECT version FROM state_version", &[])?
        .get(0);
    let mut tables = std::collections::HashMap::new();
    for table in TABLES {
        let rows = tx.query(
            &format!("SELECT record FROM {table} ORDER BY position"),
            &[],
        )?;
        tables.insert(table.to_string(), rows.iter().map(|r| r.get(0)).collect());
    }
    let versions = tx
        .query(
            "SELECT repository, record FROM repository_versions ORDER BY repository, number",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    tx.commit()?;
    Ok((version, tables, versions))
}
