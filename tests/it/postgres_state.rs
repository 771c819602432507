//! State in PostgreSQL (`state.postgres`, `docs/fleet.md`): API writes survive a restart,
//! secrets never reach the database in clear, and a wrong or missing key is a clear refusal.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::api::{href, Admin, DISTRIBUTIONS, GUARDS, REMOTES};
use crate::support::{FakeHub, Postgres, RepoSpec, TestServer};

const TOKEN: &str = "hf_pgSealedToken7c21";
const GUARD_VALUE: &str = "team-key-pg-93b";
const KEY_A: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
const KEY_B: &str = "a0b1c2d3e4f5061728394a5b6c7d8e9ff9e8d7c6b5a4938271605f4e3d2c1b0a";

fn key_file(dir: &Path, key: &str) -> PathBuf {
    let path = dir.join("state.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    path
}

fn state_yaml(pg: &Postgres, key_file: &Path) -> String {
    format!(
        "state:\n  postgres: \"{}\"\n  key_file: \"{}\"\n",
        pg.url(),
        key_file.display()
    )
}

#[test]
fn throwaway_cluster_answers_and_stops() {
    let pg = Postgres::start();
    assert_eq!(pg.psql("SELECT current_user").trim(), "hubcache");
    let url = pg.url();
    drop(pg);
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "postgres still listens after drop"
    );
}

#[tokio::test]
async fn api_writes_survive_a_restart_and_secrets_are_sealed_in_the_database() {
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), KEY_A);
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/secret").private(TOKEN));
    hub.add_file("org/secret", "main", "config.json", b"secret config");
    let mut server = TestServer::builder()
        .yaml(&state_yaml(&pg, &key))
        .start()
        .await;
    let admin = Admin::new(&server);
    let guard = admin
        .create(
            GUARDS,
            &json!({"name": "g", "header_name": "X-Team-Key", "header_value": GUARD_VALUE}),
        )
        .await;
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "pg-remote", "url": hub.url(), "hf_token": TOKEN}),
        )
        .await;
    admin
        .create(DISTRIBUTIONS, &json!({"name": "pg-dist", "base_path": "pg/secret", "remote": href(&remote), "content_guard": href(&guard)}))
        .await;
    assert!(
        !server.state_path().exists(),
        "state.path was written although state.postgres is set"
    );
    assert_eq!(pg.psql("SELECT version FROM state_version").trim(), "3");
    assert_eq!(
        pg.psql("SELECT max(version) FROM schema_version").trim(),
        "2",
        "migration 2 made the nodes table"
    );

    let dump = pg.dump();
    assert!(
        dump.contains("pg-remote") && dump.contains("X-Team-Key"),
        "{dump}"
    );
    assert!(dump.contains("sealed:v1:"), "no sealed value in the dump");
    for secret in [TOKEN, GUARD_VALUE] {
        assert!(
            !dump.contains(secret),
            "{secret} is in clear in pg_dump's output"
        );
    }

    server.restart().await;
    let names: Vec<_> = admin
        .list(REMOTES)
        .await
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("pg-remote")]);
    assert_eq!(admin.get(&href(&remote)).await.json()["name"], "pg-remote");
    let path = "/pulp/content/pg/secret/org/secret/resolve/main/config.json";
    let refused = server.get(path).await;
    assert_eq!(refused.status(), 403, "{}", refused.text());
    hub.clear_requests();
    let ok = server.get_with(path, &[("x-team-key", GUARD_VALUE)]).await;
    assert_eq!(
        (ok.status().as_u16(), ok.body()),
        (200, &b"secret config"[..]),
        "{}",
        ok.text()
    );
    assert!(
        hub.saw_header_value("authorization", &format!("Bearer {TOKEN}")),
        "the token read back from PostgreSQL did not go upstream"
    );
    for secret in [TOKEN, GUARD_VALUE] {
        assert!(!server.logs().contains(secret), "{secret} in the logs");
    }
}

#[tokio::test]
async fn a_wrong_key_file_refuses_to_start_with_a_clear_message() {
    let pg = Postgres::start();
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), KEY_A);
    let hub = FakeHub::start().await;
    let mut server = TestServer::builder()
        .yaml(&state_yaml(&pg, &key))
        .start()
        .await;
    Admin::new(&server)
        .create(
            REMOTES,
            &json!({"name": "pg-remote", "url": hub.url(), "hf_token": TOKEN}),
        )
        .await;
    key_file(keys.path(), KEY_B);
    let err = server.try_restart().await.unwrap_err();
    assert!(
        err.contains("state.key_file does not decrypt the secrets in the database"),
        "{err}"
    );
    assert!(
        !err.contains(TOKEN) && !err.contains(KEY_B) && !err.contains(KEY_A),
        "{err}"
    );
    key_file(keys.path(), KEY_A);
    server
        .try_restart()
        .await
        .expect("the right key starts again");
}

#[test]
fn check_reports_a_missing_or_bad_key_file() {
    let missing = TestServer::builder()
        .yaml("state:\n  postgres: \"postgres://hubcache@127.0.0.1:9/postgres\"\n")
        .check();
    let said = String::from_utf8_lossy(&missing.stdout).to_string()
        + &String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success(), "{said}");
    assert!(
        said.contains("state.key_file") && said.contains("required"),
        "{said}"
    );

    let keys = tempfile::tempdir().unwrap();
    let bad = key_file(keys.path(), "not-a-key-but-a-secret-ish-text");
    let out = TestServer::builder()
        .yaml(&format!(
            "state:\n  postgres: \"postgres://hubcache@127.0.0.1:9/postgres\"\n  key_file: \"{}\"\n",
            bad.display()
        ))
        .check();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("32-byte key"), "{said}");
    assert!(
        !said.contains("secret-ish"),
        "the key file's text was quoted: {said}"
    );
}
