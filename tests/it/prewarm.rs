//! `hubcache prewarm` as a person or a script runs it: the real binary, without a terminal,
//! against a small fake of the hubcache API (`prewarm/fake_api.rs`).
//!
//! These cover the client's answers to every server reply (failures, refusals, Ctrl-C); the
//! scenario against the real server's sync (a fake Hub behind a real hubcache) is
//! `sync::cli`.

mod fake_api;

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::refused_url;
use fake_api::{
    moving_then_completed, task, Fake, FakeApi, COMMIT, PASSWORD, REMOTES, REPO, REPOS, TASK,
};
fn prewarm_command(server: &str, password: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hubcache"));
    // No configuration file where it runs: prewarm never reads one.
    let dir = std::env::temp_dir();
    cmd.arg("prewarm")
        .args(["--server", server, "--progress-every", "0s"])
        .args(args)
        .current_dir(dir)
        .env("HUBCACHE_ADMIN_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn prewarm(server: &str, password: &str, args: &[&str]) -> (Output, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        prewarm_command(server, password, args).output(),
    )
    .await
    .expect("prewarm ended within 60 s")
    .expect("run hubcache prewarm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(PASSWORD),
            "the password was printed:\n{text}"
        );
        assert!(
            !text.contains("panicked") && !text.contains("Error {"),
            "{text}"
        );
    }
    (out, stdout, stderr)
}

#[tokio::test]
async fn prewarm_creates_the_repository_syncs_and_prints_progress_lines() {
    let api = FakeApi::start(Fake {
        remotes: vec!["hf"],
        task: moving_then_completed(),
        ..Fake::default()
    })
    .await;
    let (out, stdout, stderr) = prewarm(
        &api.url(),
        PASSWORD,
        &[
            "--include",
            "*.json",
            "--exclude",
            "*.bin",
            "--pin",
            "org/model",
        ],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for line in [
        "prewarm: syncing models org/model@main through remote 'hf' into repository 'models/org/model'",
        "prewarm: 1/3 files, 100 B/300 B",
        "prewarm: 2/3 files, 200 B/300 B",
        "prewarm: 3/3 files, 300 B/300 B",
    ] {
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }
    assert!(
        stdout.contains(&format!(
            "models org/model@main = commit {COMMIT}, 3 files, 300 B, pinned"
        )),
        "{stdout}"
    );
    let fake = api.fake();
    assert_eq!(
        fake.saw("POST", REPOS),
        [
            json!({"name": "models/org/model", "remote": format!("{REMOTES}hf/"),
                "repo_id": "org/model", "repo_type": "models", "revision": "main",
                "allow_patterns": ["*.json"], "ignore_patterns": ["*.bin"], "pinned": true})
        ]
    );
    assert_eq!(
        fake.saw("POST", &format!("{REPO}sync/")),
        [json!({"remote": format!("{REMOTES}hf/")})]
    );
}

#[tokio::test]
async fn an_existing_repository_is_updated_only_where_it_differs() {
    let api = FakeApi::start(Fake {
        remotes: vec!["a", "hf"],
        repository: Some(json!({"name": "datasets/org/data", "pulp_href": REPO,
            "remote": format!("{REMOTES}hf/"), "repo_id": "org/data", "repo_type": "datasets",
            "revision": "main", "allow_patterns": [], "ignore_patterns": [], "pinned": true,
            "latest_version_href": null})),
        task: moving_then_completed(),
        ..Fake::default()
    })
    .await;
    let (out, _, stderr) = prewarm(
        &api.url(),
        PASSWORD,
        &[
            "--type",
            "datasets",
            "--remote",
            "hf",
            "--revision",
            "v2",
            "org/data",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let fake = api.fake();
    assert!(fake.saw("POST", REPOS).is_empty());
    // No --pin: the pin stays as it was, only the revision changes.
    assert_eq!(fake.saw("PATCH", REPO), [json!({"revision": "v2"})]);
}

#[tokio::test]
async fn several_remotes_without_remote_name_them() {
    let api = FakeApi::start(Fake {
        remotes: vec!["a", "b"],
        ..Fake::default()
    })
    .await;
    let (out, _, stderr) = prewarm(&api.url(), PASSWORD, &["org/model"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        "hubcache prewarm: the server has 2 remotes; choose one with --remote NAME (it has: a, b)"
    );
}

#[tokio::test]
async fn a_failed_task_exits_non_zero_with_its_description() {
    let description =
        "Repository Not Found for url: https://huggingface.co/api/models/org/nope/revision/main.";
    let api = FakeApi::start(Fake {
        remotes: vec!["hf"],
        task: [
            task("running", (0, 0), (0, 0), Value::Null),
            task(
                "failed",
                (0, 0),
                (0, 0),
                json!({"description": description, "traceback": "Traceback: secret internals"}),
            ),
        ]
        .into(),
        ..Fake::default()
    })
    .await;
    let (out, stdout, stderr) = prewarm(&api.url(), PASSWORD, &["org/nope"]).await;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!("hubcache prewarm: the sync task failed: {description}")
    );
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
}

#[tokio::test]
async fn a_refused_repository_is_one_clear_line() {
    let api = FakeApi::start(Fake {
        remotes: vec!["hf"],
        refuse_create: Some(json!({"repo_id": ["Not a valid Hub repository id."]})),
        ..Fake::default()
    })
    .await;
    let (out, _, stderr) = prewarm(&api.url(), PASSWORD, &["org/bad..id"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        "hubcache prewarm: cannot create repository 'models/org/bad..id': repo_id: Not a valid Hub repository id."
    );
    assert!(api.fake().saw("POST", &format!("{REPO}sync/")).is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_one_clear_line() {
    let url = refused_url();
    let (out, _, stderr) = prewarm(&url, PASSWORD, &["org/model"]).await;
    assert_eq!(out.status.code(), Some(1));
    let line = stderr.trim();
    assert!(
        line.starts_with(&format!(
            "hubcache prewarm: cannot reach hubcache at {url}: "
        )),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");
}

#[tokio::test]
async fn a_wrong_password_is_named_without_showing_it() {
    let api = FakeApi::start(Fake {
        remotes: vec!["hf"],
        ..Fake::default()
    })
    .await;
    let (out, _, stderr) = prewarm(&api.url(), "not-the-password", &["org/model"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        "hubcache prewarm: the server refused the credentials for user 'admin' (set HUBCACHE_ADMIN_PASSWORD)"
    );
    assert!(!stderr.contains("not-the-password"));
}

#[tokio::test]
async fn credentials_in_the_server_url_are_refused_before_any_request() {
    let api = FakeApi::start(Fake::default()).await;
    let url = format!("http://admin:{PASSWORD}@{}", api.addr);
    let (out, _, stderr) = prewarm(&url, PASSWORD, &["org/model"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("put no user or password in the URL"),
        "{stderr}"
    );
    assert!(api.fake().seen.is_empty());
}

#[tokio::test]
async fn sigint_without_a_terminal_cancels_the_task_and_exits_130() {
    let api = FakeApi::start(Fake {
        remotes: vec!["hf"],
        task: [task("running", (1, 3), (100, 300), Value::Null)].into(),
        ..Fake::default()
    })
    .await;
    let child = prewarm_command(&api.url(), PASSWORD, &["org/model"])
        .spawn()
        .expect("spawn hubcache prewarm");
    // Wait until it follows the task (two polls), then interrupt it as a CI runner would.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api.fake().saw("GET", TASK).len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "prewarm never polled the task"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().expect("running");
    assert_eq!(interrupt(pid), 0);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("prewarm ended after SIGINT")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(
        api.fake().saw("PATCH", TASK),
        [json!({"state": "canceled"})]
    );
    assert!(
        stderr.contains(&format!("hubcache prewarm: canceled the sync task {TASK}")),
        "{stderr}"
    );
}

/// `kill -INT pid` (the `kill` command: the crate forbids unsafe code, so no `libc::kill`).
fn interrupt(pid: u32) -> i32 {
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill")
        .code()
        .unwrap_or(-1)
}
