//! `hubcache prewarm` without a terminal against the real server: progress lines and exit 0,
//! then a repository the Hub does not know: a clear error and a non-zero exit.

use std::process::Stdio;
use std::time::Duration;

use crate::clients::hub_with_repos;
use crate::support::{RemoteCfg, TestServer};

async fn prewarm(server: &TestServer, args: &[&str]) -> (Option<i32>, String, String) {
    let (_, password) = server.admin_credentials();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hubcache"));
    cmd.arg("prewarm")
        .args(["--server", &server.api_url(""), "--progress-every", "0s"])
        .args(args)
        .current_dir(std::env::temp_dir())
        .env("HUBCACHE_ADMIN_PASSWORD", password)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("prewarm ended within 60 s")
        .expect("run hubcache prewarm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stdout.contains(password) && !stderr.contains(password));
    (out.status.code(), stdout, stderr)
}

#[tokio::test]
async fn prewarm_syncs_through_the_real_server_and_reports_a_bad_repo() {
    let (hub, want, _) = hub_with_repos().await;
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", &hub).token("hf_secrettoken1234"))
        .distribution("hf-public", "hf")
        .start()
        .await;
    let commit = hub.commit("org/bert", "main");
    let (code, stdout, stderr) = prewarm(&server, &["--pin", "org/bert"]).await;
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let n = want.len();
    assert!(
        stderr.contains(&format!("prewarm: {n}/{n} files")),
        "a final progress line:\n{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "models org/bert@main = commit {commit}, {n} files"
        )) && stdout.contains("pinned"),
        "{stdout}"
    );
    assert_eq!(hub.body_transfers("org/bert/model.safetensors"), 1);

    let (code, stdout, stderr) = prewarm(&server, &["org/missing"]).await;
    assert_ne!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("Repository not found"), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(!text.contains("hf_secrettoken1234"), "{text}");
    }
}
