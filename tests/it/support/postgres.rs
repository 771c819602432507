//! A throwaway PostgreSQL cluster for the state scenarios (`docs/fleet.md`): `initdb` into a
//! temp dir (user `hubcache`, trust auth), `postgres` on a free loopback port with its socket
//! in that dir, ready when `psql` gets an answer, stopped by its pid on drop; [`Postgres::stop`]
//! and [`Postgres::start_again`] take it away and back with its data and port.
//!
//! The binaries are found on `PATH` or under `/usr/lib/postgresql/*/bin` (Debian's
//! `postgresql` package; `.ci/setup.sh --test` installs it). `initdb` and `postgres` refuse to
//! run as root: as root the cluster belongs to `nobody` (the temp dir is handed to it and both
//! processes run with its uid and gid).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use super::free_port;

/// The uid and gid of `nobody` on Debian.
const NOBODY: u32 = 65534;

/// A running cluster; stopped (fast shutdown) and removed on drop.
pub struct Postgres {
    bin: PathBuf,
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The directory holding `initdb`, `postgres`, `psql` and `pg_dump`.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("initdb"))
        .find(|p| p.is_file());
    let debian = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin/initdb"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    };
    let initdb = on_path.or_else(debian).expect(
        "PostgreSQL's initdb is on neither PATH nor /usr/lib/postgresql/*/bin: run .ci/setup.sh --test",
    );
    // Debian links /usr/local/bin/initdb etc. into its versioned dir; pg_dump must match.
    let initdb = std::fs::canonicalize(&initdb).unwrap_or(initdb);
    initdb.parent().unwrap().to_path_buf()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn as_cluster_owner(cmd: &mut Command) -> &mut Command {
    if is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    cmd
}

impl Postgres {
    /// Creates and starts a cluster; returns once it answers queries.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if is_root() {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        }
        let out = as_cluster_owner(Command::new(bin.join("initdb")).current_dir(dir.path()))
            .args(["-D".as_ref(), data.as_os_str()])
            .args(["-U", "hubcache", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = spawn(&bin, dir.path(), port);
        let mut pg = Postgres {
            bin,
            port,
            child,
            _dir: dir,
        };
        pg.wait_ready();
        pg
    }

    /// Stops the server (fast shutdown), keeping its data directory and port.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Starts the stopped server again on the same data directory and port.
    pub fn start_again(&mut self) {
        self.child = spawn(&self.bin, self._dir.path(), self.port);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.psql_output("SELECT 1").status.success() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("postgres exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres not ready in 30 s: {}",
                self.log()
            );
            // psql itself waits for the connection; this only paces retries while it is refused.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// `postgres://hubcache@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://hubcache@127.0.0.1:{}/postgres", self.port)
    }

    fn psql_output(&self, sql: &str) -> Output {
        Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(),
                "-c",
                sql,
            ])
            .output()
            .unwrap()
    }

    /// Runs `sql` with `psql` (unaligned, tuples only) and returns its output; panics on error.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.psql_output(sql);
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The whole database as `pg_dump` writes it (schema and data, plain SQL).
    pub fn dump(&self) -> String {
        let out = Command::new(self.bin.join("pg_dump"))
            .args(["-d", &self.url()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The directory of the cluster's binaries.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }
}

/// Runs `postgres` on `dir`/data, listening on `port`, logging (appending) to
/// `dir`/postgres.log.
fn spawn(bin: &Path, dir: &Path, port: u16) -> Child {
    let log_path = dir.join("postgres.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    if is_root() {
        std::os::unix::fs::chown(&log_path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    as_cluster_owner(Command::new(bin.join("postgres")).current_dir(dir))
        .args(["-D".as_ref(), dir.join("data").as_os_str()])
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: SIGTERM ("smart") would wait for every client,
        // and a hubcache node may still be connected.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
