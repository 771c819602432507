//! `hubcache state export|import` (`docs/fleet.md` "From one node to a fleet"): a node's state
//! file moves into PostgreSQL with the same objects, hrefs and tokens; an import over existing
//! objects or of a bad file is refused and changes nothing; an export from PostgreSQL round-trips;
//! a hung database fails a statement after `statement_timeout` instead of hanging.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{href, Admin, DISTRIBUTIONS, GUARDS, REMOTES};
use crate::support::{FakeHub, Postgres, RepoSpec, TestServer};
use crate::sync::{synced, REPOSITORIES};

const TOKEN: &str = "hf_moveTokenC0ffee42";
const GUARD_VALUE: &str = "team-key-move-5d1";
const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
const FILE: &str = "/pulp/content/moved/m/org/secret/resolve/main/config.json";

/// `hubcache --config <config> state <args…>`, stdout to `stdout` when given.
async fn state_cli(config: &Path, args: &[&str], stdout: Option<std::fs::File>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hubcache"));
    cmd.arg("--config").arg(config).arg("state").args(args);
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    cmd.stdout(stdout.map_or_else(Stdio::piped, Stdio::from));
    let child = cmd.spawn().expect("run hubcache state");
    child.wait_with_output().await.expect("run hubcache state")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_no_secret(text: &str) {
    for secret in [TOKEN, GUARD_VALUE] {
        assert!(!text.contains(secret), "{secret} in: {text}");
    }
}

/// A node's config on `pg` (key file beside it).
async fn pg_node(pg: &Postgres, keys: &Path) -> TestServer {
    let key = keys.join("state.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    TestServer::builder()
        .yaml(&format!(
            "state:\n  postgres: \"{}\"\n  key_file: \"{}\"\n",
            pg.url(),
            key.display()
        ))
        .start()
        .await
}

/// Every API-made object `admin` lists, by collection, then each repository's versions
/// (`base_url` left out: it names the node's own listener).
async fn objects(admin: &Admin) -> Vec<Vec<Value>> {
    let mut all = Vec::new();
    for collection in [REMOTES, DISTRIBUTIONS, GUARDS, REPOSITORIES] {
        let mut list = admin.list(collection).await;
        for object in &mut list {
            object.as_object_mut().unwrap().remove("base_url");
        }
        all.push(list);
    }
    for repository in all[3].clone() {
        all.push(
            admin
                .list(repository["versions_href"].as_str().unwrap())
                .await,
        );
    }
    all
}

/// Polls until `admin` lists `want` (a running node reloads on the import's notification).
async fn lists_within(admin: &Admin, want: &[Vec<Value>], within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = objects(admin).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "not listed within {within:?}:\n got {got:?}\nwant {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_state_file_moves_into_postgres_with_its_hrefs_and_its_token() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/secret").private(TOKEN));
    hub.add_file("org/secret", "main", "config.json", b"secret config");
    let one = TestServer::builder().start().await;
    let admin = Admin::new(&one);
    let guard = admin
        .create(
            GUARDS,
            &json!({"name": "g", "header_name": "X-Team-Key", "header_value": GUARD_VALUE}),
        )
        .await;
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": hub.url(), "hf_token": TOKEN}),
        )
        .await;
    admin
        .create(DISTRIBUTIONS, &json!({"name": "moved", "base_path": "moved/m", "remote": href(&remote), "content_guard": href(&guard)}))
        .await;
    let repo = admin
        .create(
            REPOSITORIES,
            &json!({"name": "org-secret", "remote": href(&remote), "repo_id": "org/secret"}),
        )
        .await;
    synced(&admin, &href(&repo)).await;
    let want = objects(&admin).await;
    assert!(
        !want[4].is_empty(),
        "the synced version is listed: {want:?}"
    );

    // Export, to a file and to a redirected stdout: the same text, both private.
    let out_dir = tempfile::tempdir().unwrap();
    let exported = out_dir.path().join("state.yaml");
    let out = state_cli(
        one.config_path(),
        &["export", "--output", exported.to_str().unwrap()],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("exported 1 remote, 1 distribution, 1 content guard, 1 repository (")
            && said.contains("it is a backup"),
        "{said}"
    );
    assert_no_secret(&said);
    assert_eq!(mode(&exported), 0o600);
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(
        text.contains(TOKEN),
        "the export is a backup: secrets in it"
    );
    let redirected = out_dir.path().join("redirected.yaml");
    std::fs::write(&redirected, "").unwrap();
    std::fs::set_permissions(&redirected, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&redirected)
        .unwrap();
    let out = state_cli(one.config_path(), &["export"], Some(file)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&redirected).unwrap(), text);
    assert_eq!(
        mode(&redirected),
        0o600,
        "a redirected stdout is made private"
    );

    // A node on a state file does not import.
    let out = state_cli(
        one.config_path(),
        &["import", exported.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no state.postgres"),
        "{}",
        stderr(&out)
    );

    // Import into the PostgreSQL of a running node: it reloads and answers the same objects.
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let node = pg_node(&pg, keys.path()).await;
    let out = state_cli(
        node.config_path(),
        &["import", exported.to_str().unwrap()],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("imported 1 remote, 1 distribution, 1 content guard, 1 repository (")
            && said.contains(&format!("into {}", pg.url())),
        "{said}"
    );
    assert_no_secret(&said);
    eprintln!("{said}");
    let took = lists_within(&Admin::new(&node), &want, Duration::from_secs(5)).await;
    eprintln!("the running node listed the imported objects after {took:?}");
    let tasks = Admin::new(&node).list(crate::api::TASKS).await;
    assert!(
        tasks.iter().any(|t| t["state"] == "completed"),
        "the sync task moved too: {tasks:?}"
    );

    // The token read back from PostgreSQL goes upstream.
    hub.clear_requests();
    let refused = node.get(FILE).await;
    assert_eq!(refused.status(), 403, "{}", refused.text());
    let got = node.get_with(FILE, &[("x-team-key", GUARD_VALUE)]).await;
    assert_eq!(
        (got.status().as_u16(), got.body()),
        (200, &b"secret config"[..]),
        "{}",
        got.text()
    );
    assert!(
        hub.saw_header_value("authorization", &format!("Bearer {TOKEN}")),
        "the imported token did not go upstream"
    );
    // A node started on that database answers them too.
    let mut restarted = node;
    restarted.restart().await;
    assert_eq!(objects(&Admin::new(&restarted)).await, want);
    let dump = pg.dump();
    assert!(dump.contains("sealed:v1:"), "no sealed value in the dump");
    assert_no_secret(&dump);

    // Again without --replace: refused, nothing written.
    let version = pg.psql("SELECT version FROM state_version");
    let out = state_cli(
        restarted.config_path(),
        &["import", exported.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("already holds") && said.contains("--replace"),
        "{said}"
    );
    assert_no_secret(&said);
    assert_eq!(pg.psql("SELECT version FROM state_version"), version);
}

/// A config file for the CLI only, on `pg` with the key file in `dir`.
fn cli_config(dir: &Path, pg: &Postgres) -> PathBuf {
    let key = dir.join("state.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    let config = dir.join("hubcache.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: \"127.0.0.1:1\"\ncache:\n  dir: \"{}\"\nstate:\n  postgres: \"{}\"\n  key_file: \"{}\"\nusers:\n  - username: admin\n    password: password\n",
            dir.join("cache").display(),
            pg.url(),
            key.display()
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn an_export_from_postgres_round_trips_and_a_bad_file_changes_nothing() {
    let hub = FakeHub::start().await;
    let first = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let node = pg_node(&first, keys.path()).await;
    let admin = Admin::new(&node);
    let guard = admin
        .create(
            GUARDS,
            &json!({"name": "g", "header_name": "X-Team-Key", "header_value": GUARD_VALUE}),
        )
        .await;
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": hub.url(), "hf_token": TOKEN}),
        )
        .await;
    admin
        .create(DISTRIBUTIONS, &json!({"name": "d", "base_path": "d", "remote": href(&remote), "content_guard": href(&guard)}))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("first.yaml");
    let out = state_cli(
        node.config_path(),
        &["export", "-o", exported.to_str().unwrap()],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("from {}", first.url())));

    let second = Postgres::start();
    let config = cli_config(dir.path(), &second);
    // Bad files first: a clear error, exit 1, the database unchanged.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "version: 4\nremotes: [\n").unwrap();
    let newer = dir.path().join("newer.yaml");
    let body = "version: 9\n";
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(body.as_bytes()))
    };
    std::fs::write(&newer, format!("{body}sha256: {sum}\n")).unwrap();
    for (file, says) in [
        (&broken, "truncated"),
        (&newer, "version 9 is not supported"),
    ] {
        let out = state_cli(&config, &["import", file.to_str().unwrap()], None).await;
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let said = stderr(&out);
        assert!(
            said.contains(file.to_str().unwrap()) && said.contains(says),
            "{said}"
        );
    }
    let out = state_cli(&config, &["import", exported.to_str().unwrap()], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 1 remote, 1 distribution, 1 content guard"),
        "{}",
        stderr(&out)
    );
    let again = dir.path().join("second.yaml");
    let out = state_cli(&config, &["export", "-o", again.to_str().unwrap()], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(&exported).unwrap(),
        "an export from the second database differs from the first's"
    );
    // --replace replaces (the summary names the database, not its password).
    let out = state_cli(
        &config,
        &["import", "--replace", exported.to_str().unwrap()],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(second.psql("SELECT version FROM state_version").trim(), "2");
}

#[tokio::test]
async fn a_hung_database_fails_a_statement_after_the_statement_timeout() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = cli_config(dir.path(), &pg);
    let file = dir.path().join("empty.yaml");
    let body = "version: 4\n";
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(body.as_bytes()))
    };
    std::fs::write(&file, format!("{body}sha256: {sum}\n")).unwrap();
    // The schema exists (a first import), then another session holds state_version locked.
    let out = state_cli(&config, &["import", file.to_str().unwrap()], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut holder = std::process::Command::new(pg.bin_dir().join("psql"))
        .args(["-X", "-d", &pg.url(), "-c"])
        .arg("BEGIN; LOCK TABLE state_version; SELECT pg_sleep(40); COMMIT;")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pg
        .psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'state_version' AND l.mode = 'AccessExclusiveLock' AND l.granted")
        .trim()
        != "1"
    {
        assert!(Instant::now() < deadline, "the lock was never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    let out = state_cli(
        &config,
        &["import", "--replace", file.to_str().unwrap()],
        None,
    )
    .await;
    let took = start.elapsed();
    eprintln!("the import failed after {took:?}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("statement timeout"),
        "{}",
        stderr(&out)
    );
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(30),
        "{took:?}"
    );
    let _ = holder.kill();
    let _ = holder.wait();
}
