//! Repositories in the state file: every field and version round-trips; a version 3 file
//! loads with none; a gone remote is dropped with a warning; a bad field is refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::tests::{edit, remote};
use super::*;
use crate::model::{Origin, RepoType, Repository, RepositoryVersion, VersionFile};

fn repository(remote: Option<Uuid>) -> Repository {
    let mut r = Repository::new(Origin::Api, "models/org/m");
    r.description = Some("d".into());
    r.pulp_labels = BTreeMap::from([("team".to_string(), "ml".to_string())]);
    r.remote = remote;
    r.retain_repo_versions = Some(2);
    r.repo_id = Some("org/m".into());
    r.repo_type = RepoType::Datasets;
    r.revision = "v1.0".into();
    r.allow_patterns = vec!["*.json".into()];
    r.ignore_patterns = vec!["*.bin".into()];
    r.pinned = true;
    // Whole nanoseconds since the epoch: what the file keeps.
    let at = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
    r.versions = vec![RepositoryVersion {
        number: 3,
        created: at,
        commit: "a".repeat(40),
        revision: "v1.0".into(),
        files: vec![
            VersionFile {
                etag: "e1".into(),
                size: 10,
            },
            VersionFile {
                etag: "e2".into(),
                size: 0,
            },
        ],
    }];
    r
}

fn snapshot() -> Snapshot {
    let hf = remote("hf", Origin::Api);
    let bare = Repository::new(Origin::Api, "bare");
    Snapshot {
        repositories: vec![Arc::new(repository(Some(hf.meta.id))), Arc::new(bare)],
        remotes: vec![hf],
        ..Default::default()
    }
}

#[test]
fn repositories_round_trip_with_their_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let snap = snapshot();
    save(&path, &snap).unwrap();
    let text = fs_err::read_to_string(&path).unwrap();
    assert!(text.starts_with("version: 4\n"), "{text}");
    let loaded = load(&path, &Snapshot::default()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let want: Vec<Repository> = snap.repositories.iter().map(|r| (**r).clone()).collect();
    let got: Vec<Repository> = loaded
        .snapshot
        .repositories
        .iter()
        .map(|r| (**r).clone())
        .collect();
    // Timestamps are kept to the nanosecond; compare everything.
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.meta.id, w.meta.id);
        assert_eq!(
            Repository {
                meta: w.meta.clone(),
                ..g.clone()
            },
            *w
        );
    }
    assert_eq!(got[1].retain_repo_versions, Some(1), "the default");
    // Saving what was loaded writes the same file.
    save(&path, &loaded.snapshot).unwrap();
    assert_eq!(fs_err::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_version_3_file_loads_with_no_repository() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    let mut snap = snapshot();
    snap.repositories.clear();
    save(&path, &snap).unwrap();
    edit(&path, "version: 4", "version: 3");
    let loaded = load(&path, &Snapshot::default()).unwrap();
    assert_eq!(loaded.snapshot.remotes.len(), 1);
    assert!(loaded.snapshot.repositories.is_empty());
}

#[test]
fn a_repository_whose_remote_is_gone_loads_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    save(&path, &snapshot()).unwrap();
    edit(&path, "remote: hf", "remote: gone");
    let loaded = load(&path, &Snapshot::default()).unwrap();
    assert_eq!(loaded.snapshot.repositories[0].remote, None);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("remote 'gone'"));
}

#[test]
fn a_repository_breaking_a_rule_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.yaml");
    for (from, to, want) in [
        (
            "repo_id: org/m",
            "repo_id: org/a--b",
            "repositories[0].repo_id",
        ),
        (
            "repo_type: datasets",
            "repo_type: papers",
            "repositories[0].repo_type",
        ),
        (
            "revision: v1.0\n  allow",
            "revision: ''\n  allow",
            "repositories[0].revision",
        ),
        (
            "retain_repo_versions: 2",
            "retain_repo_versions: 0",
            "retain_repo_versions",
        ),
        ("name: bare", "name: models/org/m", "duplicate name"),
    ] {
        save(&path, &snapshot()).unwrap();
        edit(&path, from, to);
        let err = load(&path, &Snapshot::default()).unwrap_err().to_string();
        assert!(err.contains(want), "{to}: {err}");
    }
}
