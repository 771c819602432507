//! Unit tests of the state file: round trips, merging with declared objects, damaged and
//! truncated files, the previous generation.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::format::{checksum_line, sha256_hex, CHECKSUM_KEY};
use super::*;
use crate::model::{ContentGuard, Distribution, Meta, Origin, Policy, Remote, Secret, StoredOnly};

pub(super) fn remote(name: &str, origin: Origin) -> Arc<Remote> {
    Arc::new(Remote {
        meta: Meta {
            origin,
            ..Meta::new(origin)
        },
        name: name.into(),
        url: "https://huggingface.co".into(),
        hf_hub_url: "https://hub.example/".into(),
        policy: Policy::Immediate,
        hf_token: Some(Secret::new("hf_tok")),
        pulp_labels: BTreeMap::from([("env".to_string(), "prod".to_string())]),
        tls_validation: false,
        ca_cert: None,
        headers: vec![("X-Foo".into(), "bar".into())],
        headers_given: true,
        connect_timeout: Some(Duration::from_millis(2500)),
        sock_connect_timeout: Some(Duration::from_secs(1)),
        sock_read_timeout: None,
        total_timeout: Some(Duration::from_secs(60)),
        max_retries: Some(3),
        rate_limit: None,
        download_concurrency: Some(4),
        stored: StoredOnly {
            client_key: Some(Secret::new("KEY")),
            proxy_url: Some("http://proxy:3128".into()),
            proxy_username: Some(Secret::new("pu")),
            proxy_password: Some(Secret::new("pp")),
            ..StoredOnly::default()
        },
    })
}

fn guard(name: &str, origin: Origin) -> Arc<ContentGuard> {
    let meta = Meta::new(origin);
    Arc::new(ContentGuard {
        meta,
        name: name.into(),
        description: Some("d".into()),
        header_name: "Authorization".into(),
        header_value: Secret::new("Bearer s"),
    })
}

fn dist(
    name: &str,
    base_path: &str,
    remote: Option<Uuid>,
    guard: Option<Uuid>,
) -> Arc<Distribution> {
    let meta = Meta::new(Origin::Api);
    Arc::new(Distribution {
        meta,
        name: name.into(),
        base_path: base_path.into(),
        remote,
        content_guard: guard,
        hidden: true,
        pulp_labels: BTreeMap::new(),
    })
}

fn api_snapshot() -> Snapshot {
    let r = remote("hf", Origin::Api);
    let g = guard("g", Origin::Api);
    let d = dist("d", "hf/public", Some(r.meta.id), Some(g.meta.id));
    Snapshot {
        remotes: vec![r],
        distributions: vec![d],
        guards: vec![g],
        ..Default::default()
    }
}

#[test]
fn save_then_load_round_trips_and_keeps_only_api_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let mut snap = api_snapshot();
    snap.remotes.push(remote("declared", Origin::Config));
    save(&path, &snap).unwrap();
    let text = fs_err::read_to_string(&path).unwrap();
    assert!(!text.contains("declared"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let loaded = load(&path, &Snapshot::default()).unwrap();
    let want = api_snapshot_without_declared(&snap);
    assert_eq!(loaded.snapshot.remotes, want.remotes);
    assert_eq!(loaded.snapshot.distributions, want.distributions);
    assert_eq!(loaded.snapshot.guards, want.guards);
    assert!(loaded.warnings.is_empty());
    let names: Vec<String> = fs_err::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.yaml"], "no temp file left");
}

/// A hand edit of a saved file, signed again as `save` would.
pub(super) fn edit(path: &Path, from: &str, to: &str) {
    let text = fs_err::read_to_string(path).unwrap();
    let (body, _) = checksum_line(&text).unwrap();
    let body = body.replace(from, to);
    let signed = format!("{body}{CHECKSUM_KEY}{}\n", sha256_hex(&body));
    fs_err::write(path, signed).unwrap();
}

fn api_snapshot_without_declared(snap: &Snapshot) -> Snapshot {
    let mut s = snap.clone();
    s.remotes.retain(|r| r.meta.origin == Origin::Api);
    s
}

#[test]
fn a_missing_file_is_an_empty_state() {
    let dir = tempfile::tempdir().unwrap();
    let declared = Snapshot {
        remotes: vec![remote("declared", Origin::Config)],
        ..Default::default()
    };
    let loaded = load(&dir.path().join("none.yaml"), &declared).unwrap();
    assert_eq!(loaded.snapshot.remotes.len(), 1);
}

#[test]
fn merge_with_declared_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let mut snap = api_snapshot();
    let r2 = remote("gone", Origin::Api);
    snap.distributions
        .push(dist("d2", "other", Some(r2.meta.id), None));
    snap.distributions.push(dist("d3", "third", None, None));
    snap.remotes.push(r2);
    save(&path, &snap).unwrap();
    // The config now declares "hf" (remote), "g" (guard) and a distribution at "third/x".
    let declared = Snapshot {
        remotes: vec![remote("hf", Origin::Config)],
        guards: vec![guard("g", Origin::Config)],
        distributions: vec![Arc::new(Distribution {
            meta: Meta::new(Origin::Config),
            ..(*dist("cfg", "third/x", None, None)).clone()
        })],
        ..Default::default()
    };
    let loaded = load(&path, &declared).unwrap();
    let s = &loaded.snapshot;
    let names = |v: Vec<&str>| v.join(",");
    assert_eq!(
        names(s.remotes.iter().map(|r| r.name.as_str()).collect()),
        "hf,gone"
    );
    assert_eq!(s.remotes[0].meta.origin, Origin::Config);
    assert_eq!(
        names(s.distributions.iter().map(|d| d.name.as_str()).collect()),
        "cfg,d,d2"
    );
    // "d" named remote "hf" and guard "g": both now the declared ones.
    assert_eq!(s.distributions[1].remote, Some(s.remotes[0].meta.id));
    assert_eq!(s.distributions[1].content_guard, Some(s.guards[0].meta.id));
    assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("distribution 'd3' dropped")));
    // A remote that disappeared leaves its distribution without one.
    let path2 = dir.path().join("state2.yaml");
    let mut snap2 = api_snapshot();
    snap2.remotes.clear();
    snap2.guards.clear();
    let d = Distribution {
        content_guard: None,
        ..(*snap2.distributions[0]).clone()
    };
    snap2.distributions = vec![Arc::new(d)];
    save(&path2, &snap2).unwrap();
    edit(&path2, "remote: null", "remote: vanished");
    let loaded = load(&path2, &Snapshot::default()).unwrap();
    assert_eq!(loaded.snapshot.distributions[0].remote, None);
    assert!(loaded.warnings[0].contains("remote 'vanished' no longer exists"));
}

#[test]
fn a_distribution_whose_guard_vanished_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let mut snap = api_snapshot();
    snap.guards.clear();
    save(&path, &snap).unwrap();
    edit(&path, "content_guard: null", "content_guard: ghost");
    let loaded = load(&path, &Snapshot::default()).unwrap();
    assert!(loaded.snapshot.distributions.is_empty());
    assert!(loaded.warnings[0].contains("content guard 'ghost' no longer exists"));
}

#[test]
fn bad_files_are_errors_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let rows = [
        ("version: 5\n", "version 5 is not supported"),
        ("version: 4\n", "ends before its checksum line"),
        ("version: 3\n", "ends before its checksum line"),
        ("version: 2\n", "ends before its checksum line"),
        ("version: 1\ncolour: red\n", "unknown field"),
        ("version: [\n", ""),
        ("version: 1\nremotes:\n- {id: 0190a4b0-0000-7000-8000-000000000000, created_ns: 0, updated_ns: 0, name: x, url: \"ftp://h\", policy: on_demand, tls_validation: true}\n", "remotes[0].url"),
        ("version: 1\nremotes:\n- {id: 0190a4b0-0000-7000-8000-000000000000, created_ns: \"hf_SECRET\", updated_ns: 0}\n", ""),
        ("version: 1\nremotes:\n- {id: 0190a4b0-0000-7000-8000-000000000000, created_ns: 0, updated_ns: 0, name: x, url: \"https://h\", policy: on_demand, tls_validation: true, hf_token: \"hf_SECRET\\r\\nX: y\"}\n", "remotes[0].hf_token"),
        ("version: 1\ncontent_guards:\n- {id: 0190a4b0-0000-7000-8000-000000000001, created_ns: 0, updated_ns: 0, name: g, header_name: X-Key, header_value: \"hf_SECRET\\u0000\"}\n", "content_guards[0].header_value"),
    ];
    for (text, want) in rows {
        fs_err::write(&path, text).unwrap();
        let err = load(&path, &Snapshot::default()).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(!err.contains("hf_SECRET"), "{err}");
    }
}

#[test]
fn a_failed_save_leaves_the_previous_state_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    // The state path is a directory: the final rename fails after the temp file was written.
    let path = dir.path().join("state.yaml");
    fs_err::create_dir(&path).unwrap();
    fs_err::write(path.join("keep"), "old").unwrap();
    assert!(matches!(
        save(&path, &api_snapshot()),
        Err(StateError::Write { .. })
    ));
    assert_eq!(fs_err::read_to_string(path.join("keep")).unwrap(), "old");
    let names: Vec<String> = fs_err::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.yaml"]);
    // A missing directory fails before anything is written.
    assert!(save(&dir.path().join("nope/state.yaml"), &api_snapshot()).is_err());
    // Overwriting works and replaces the whole file.
    let file = dir.path().join("s.yaml");
    fs_err::write(&file, "version: 1\n").unwrap();
    save(&file, &Snapshot::default()).unwrap();
    save(&file, &api_snapshot()).unwrap();
    assert_eq!(
        load(&file, &Snapshot::default())
            .unwrap()
            .snapshot
            .remotes
            .len(),
        1
    );
}

#[test]
fn a_file_cut_anywhere_is_refused_never_loaded_with_fewer_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let mut snap = api_snapshot();
    snap.distributions.push(dist("d2", "two", None, None));
    save(&path, &snap).unwrap();
    let text = fs_err::read(&path).unwrap();
    let cut_at = dir.path().join("cut.yaml");
    for len in 0..text.len() {
        fs_err::write(&cut_at, &text[..len]).unwrap();
        match load(&cut_at, &Snapshot::default()) {
            // Only the final newline is missing: everything the checksum covers is there.
            Ok(loaded) => {
                assert_eq!(len, text.len() - 1, "cut at {len} loaded");
                assert_eq!(loaded.snapshot.distributions.len(), 2);
            }
            Err(e) => assert!(e.to_string().contains("cut.yaml"), "cut at {len}: {e}"),
        }
    }
    // A changed byte is caught too.
    let changed = String::from_utf8(text.clone())
        .unwrap()
        .replace("hf/public", "hf/publik");
    fs_err::write(&cut_at, changed).unwrap();
    let err = load(&cut_at, &Snapshot::default()).unwrap_err().to_string();
    assert!(err.contains("checksum does not match"), "{err}");
    assert!(err.contains("from a backup"), "{err}");
}

#[test]
fn each_save_keeps_the_previous_generation_and_the_error_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let prev = previous_path(&path);
    let first = api_snapshot();
    save(&path, &first).unwrap();
    assert!(!prev.exists(), "nothing to keep on the first save");
    let mut second = first.clone();
    second.distributions.push(dist("d2", "two", None, None));
    save(&path, &second).unwrap();
    let kept = load(&prev, &Snapshot::default()).unwrap();
    assert_eq!(kept.snapshot.distributions.len(), 1, "the first generation");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&prev).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A damaged file never replaces the good previous generation.
    let text = fs_err::read_to_string(&path).unwrap();
    fs_err::write(&path, &text[..text.len() / 2]).unwrap();
    let err = load(&path, &Snapshot::default()).unwrap_err().to_string();
    assert!(err.contains("state.yaml.prev"), "{err}");
    save(&path, &second).unwrap();
    assert_eq!(
        load(&prev, &Snapshot::default())
            .unwrap()
            .snapshot
            .distributions
            .len(),
        1
    );
}

#[test]
fn a_file_of_the_previous_release_without_a_checksum_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    save(&path, &api_snapshot()).unwrap();
    let text = fs_err::read_to_string(&path).unwrap();
    let (body, _) = checksum_line(&text).unwrap();
    let old = body.replacen("version: 4", "version: 1", 1);
    fs_err::write(&path, old).unwrap();
    let loaded = load(&path, &Snapshot::default()).unwrap();
    assert_eq!(loaded.snapshot.distributions.len(), 1);
    assert_eq!(loaded.snapshot.guards.len(), 1);
}

/// A snapshot with a completed task (with a progress report) and a running one.
fn with_tasks() -> Snapshot {
    use crate::tasks::{names, ProgressReport, Task, TaskState};
    let mut snap = api_snapshot();
    let mut done = Task::completed(names::PURGE, "cid1".into(), vec!["/a/".into()])
        .with_created("/b/".into(), "prn:x:b".into());
    done.progress_reports
        .push(ProgressReport::completed("Purged", "purge.tasks.total", 3));
    let mut running = Task::waiting(names::UPDATE, "cid2".into(), Vec::new());
    running.state = TaskState::Running;
    running.started_at = Some(running.created);
    running.progress_reports.push(ProgressReport {
        state: TaskState::Running,
        total: None,
        suffix: Some("B".into()),
        ..ProgressReport::completed("Downloading", "sync.downloading.bytes", 5)
    });
    snap.tasks = vec![Arc::new(done), Arc::new(running)];
    snap
}

#[test]
fn tasks_round_trip_and_an_unfinished_one_is_failed_by_the_restart() {
    use crate::tasks::{TaskState, INTERRUPTED};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let snap = with_tasks();
    save(&path, &snap).unwrap();
    assert!(fs_err::read_to_string(&path)
        .unwrap()
        .starts_with("version: 4\n"));
    let loaded = load(&path, &Snapshot::default()).unwrap();
    let tasks = &loaded.snapshot.tasks;
    assert_eq!(tasks[0], snap.tasks[0], "a finished task is kept as it was");
    let restarted = &tasks[1];
    assert_eq!(restarted.state, TaskState::Failed);
    assert_eq!(restarted.error.as_deref(), Some(INTERRUPTED));
    assert_eq!(restarted.finished_at, Some(snap.tasks[1].updated));
    assert_eq!(restarted.progress_reports[0].state, TaskState::Failed);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    // A second restart does not move it.
    save(&path, &loaded.snapshot).unwrap();
    let again = load(&path, &Snapshot::default()).unwrap();
    assert_eq!(again.snapshot.tasks, loaded.snapshot.tasks);
    assert!(again.warnings.is_empty());
}

#[test]
fn a_version_2_file_loads_with_no_task_and_a_bad_task_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    save(&path, &api_snapshot()).unwrap();
    edit(&path, "version: 4", "version: 2");
    let loaded = load(&path, &Snapshot::default()).unwrap();
    assert_eq!(loaded.snapshot.remotes.len(), 1);
    assert!(loaded.snapshot.tasks.is_empty());
    save(&path, &with_tasks()).unwrap();
    edit(&path, "state: completed", "state: done");
    let err = load(&path, &Snapshot::default()).unwrap_err().to_string();
    assert!(
        err.contains("tasks[0]") && err.contains("unknown task state 'done'"),
        "{err}"
    );
}
