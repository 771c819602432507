//! Pulp's own tools against the real binary (issue 12, `docs/pulp-clients.md`): pulp-cli and
//! pulp-glue run as the `pulp` command, and the generated `pulp_hugging_face_client` and
//! `pulpcore_client` driven by the scripts in `tests/it/pulp_clients/*.py`.
//!
//! `HUBCACHE_PULP_PYTHON` names the python of the `.venv-pulp` virtualenv `.ci/setup.sh --test`
//! makes (`pulp` is beside it); `.ci/test.sh` sets it. Without it these tests fail, unless
//! `HUBCACHE_SKIP_PYTHON=1` says to skip them on purpose.
//!
//! Every tool runs with an emptied environment (no proxy variables, `HOME` and the XDG dirs in
//! a temp dir, so no user config or cached API document is read), against `127.0.0.1` only.
//! Every byte a tool prints is searched for the scenario's secrets.

mod cli;
mod generated;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::TestServer;

/// The `.venv-pulp` python, or `None` when the suite skips Python on purpose.
fn pulp_python() -> Option<PathBuf> {
    match std::env::var("HUBCACHE_PULP_PYTHON") {
        Ok(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ if std::env::var("HUBCACHE_SKIP_PYTHON").as_deref() == Ok("1") => None,
        _ => panic!(
            "HUBCACHE_PULP_PYTHON is not set: run the suite with .ci/test.sh (or set HUBCACHE_SKIP_PYTHON=1)"
        ),
    }
}

/// A command with nothing of this machine's environment: a temp `HOME` and XDG dirs, no
/// proxies (`NO_PROXY=*` for good measure), UTF-8 output.
fn isolated(program: &Path, home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .env("LC_ALL", "C.UTF-8")
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(home)
        .stdin(std::process::Stdio::null());
    cmd
}

/// Panics when any of `secrets` is in what a tool printed (naming the secret's index only).
fn assert_no_secret(what: &str, out: &Output, secrets: &[&str]) {
    let printed = [&out.stdout[..], &out.stderr[..]].concat();
    let printed = String::from_utf8_lossy(&printed);
    for (i, secret) in secrets.iter().enumerate() {
        assert!(
            !printed.contains(secret),
            "{what}: secret #{i} is in the tool's output:\n{printed}"
        );
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `pulp` command of the virtualenv, configured by a `cli.toml` for one server.
struct PulpCli {
    bin: PathBuf,
    home: TempDir,
    secrets: Vec<String>,
}

/// What one `pulp …` run printed.
struct CliRun {
    args: String,
    out: Output,
}

impl CliRun {
    fn ok(&self) -> bool {
        self.out.status.success()
    }

    fn stderr(&self) -> String {
        text(&self.out.stderr)
    }

    /// Panics unless the command exited 0.
    fn assert_ok(&self) -> &Self {
        assert!(
            self.ok(),
            "`pulp {}` failed ({}):\n{}\n{}",
            self.args,
            self.out.status,
            text(&self.out.stdout),
            self.stderr()
        );
        self
    }

    /// stdout parsed as JSON (pulp-cli's default output format).
    fn json(&self) -> Value {
        self.assert_ok();
        serde_json::from_slice(&self.out.stdout).unwrap_or_else(|e| {
            panic!(
                "`pulp {}` printed no JSON ({e}):\n{}",
                self.args,
                text(&self.out.stdout)
            )
        })
    }
}

impl PulpCli {
    /// Writes `cli.toml` for the server's API listener with its admin credentials.
    fn new(python: &Path, server: &TestServer, secrets: &[&str]) -> Self {
        let bin = python.with_file_name("pulp");
        assert!(bin.exists(), "no pulp command beside {}", python.display());
        let home = tempfile::tempdir().expect("temp dir");
        let (user, password) = server.admin_credentials();
        let config = format!(
            "[cli]\nbase_url = \"{}\"\napi_root = \"/pulp/\"\ndomain = \"default\"\nheaders = []\n\
             username = \"{user}\"\npassword = \"{password}\"\nverify_ssl = true\nformat = \"json\"\n\
             dry_run = false\ntimeout = 30\nverbose = 0\nplugins = [\"common\", \"core\"]\n",
            server.api_url("")
        );
        assert!(
            server.api_url("").starts_with("http://127.0.0.1:"),
            "pulp-cli talks to loopback only"
        );
        std::fs::write(home.path().join("cli.toml"), config).expect("write cli.toml");
        PulpCli {
            bin,
            home,
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Runs `pulp --config cli.toml <args>`; checks that no secret was printed.
    async fn run(&self, args: &[&str]) -> CliRun {
        let out = isolated(&self.bin, self.home.path())
            .arg("--config")
            .arg(self.home.path().join("cli.toml"))
            .args(args)
            .output()
            .await
            .expect("pulp runs");
        let run = CliRun {
            args: args.join(" "),
            out,
        };
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        assert_no_secret(&format!("pulp {}", run.args), &run.out, &secrets);
        run
    }
}

/// The summary a generated-client script printed (see `tests/it/pulp_clients/common.py`).
struct Summary {
    script: String,
    facts: Value,
    stderr: String,
}

impl Summary {
    /// A recorded fact; panics with the script's transcript when it was not recorded.
    fn fact(&self, key: &str) -> &Value {
        self.facts.get(key).unwrap_or_else(|| {
            panic!(
                "{}: no fact {key:?} (facts: {})\n{}",
                self.script, self.facts, self.stderr
            )
        })
    }
}

/// Runs `tests/it/pulp_clients/<script>.py` with `args` (plus the API origin, credentials and
/// `secrets`); asserts it finished without an exception, that no returned object showed a
/// secret, and that no secret is in anything it printed.
async fn run_script(
    python: &Path,
    script: &str,
    server: &TestServer,
    secrets: &[&str],
    mut args: Value,
) -> Summary {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/pulp_clients")
        .join(format!("{script}.py"));
    let (user, password) = server.admin_credentials();
    args["api"] = server.api_url("").into();
    args["content"] = server.url("").into();
    args["user"] = user.into();
    args["password"] = password.into();
    args["secrets"] = secrets.into();
    let home = tempfile::tempdir().expect("temp dir");
    let out = isolated(python, home.path())
        .arg(&path)
        .arg(args.to_string())
        .output()
        .await
        .expect("python runs");
    assert_no_secret(script, &out, secrets);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{script}: no summary ({e}):\n{stdout}\n{stderr}"));
    assert!(
        summary["error"].is_null(),
        "{script} failed at step {}: {}\nfacts so far: {}\n{stderr}",
        summary["error"]["step"],
        summary["error"]["exception"],
        summary["facts"]
    );
    assert_eq!(
        summary["leaks"],
        serde_json::json!([]),
        "{script}: a returned object showed a secret"
    );
    Summary {
        script: script.to_string(),
        facts: summary["facts"].clone(),
        stderr,
    }
}
