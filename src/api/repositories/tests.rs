//! Unit tests of repositories: the field rules, the JSON, the writes and their tasks, `sync/`
//! checks, and the pins that follow the stored repository.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::api::json::{Input, Mode};
use crate::api::resource::Kind;
use crate::api::tests::{Harness, REMOTES};
use crate::model::{Origin, Remote, Repository, RepositoryVersion, VersionFile};
use crate::registry::Snapshot;

pub(super) const REPOS: &str = "/pulp/api/v3/repositories/hugging_face/hugging-face/";

fn build(body: Value, current: Option<&Repository>, snap: &Snapshot) -> Result<Repository, Value> {
    let Value::Object(map) = body else { panic!() };
    let mode = if current.is_some() {
        Mode::Patch
    } else {
        Mode::Create
    };
    Repository::build(Input::from_map(map), current, mode, snap).map_err(|e| {
        let resp = e.into_response();
        serde_json::from_slice(resp.body()).unwrap()
    })
}

pub(super) fn version(n: u64, files: &[(&str, u64)]) -> RepositoryVersion {
    RepositoryVersion {
        number: n,
        created: SystemTime::now(),
        commit: format!("{n:040}"),
        revision: "main".into(),
        files: files
            .iter()
            .map(|(e, s)| VersionFile {
                etag: e.to_string(),
                size: *s,
            })
            .collect(),
    }
}

#[test]
fn fields_are_checked_as_pulpcore_and_the_hub_would() {
    let remote = Remote::new(Origin::Api, "hf", "https://huggingface.co");
    let known = format!("{REMOTES}{}/", remote.meta.id);
    let unknown = format!("{REMOTES}{}/", uuid::Uuid::now_v7());
    let snap = Snapshot {
        remotes: vec![Arc::new(remote)],
        ..Default::default()
    };
    let long = "r".repeat(257);
    let rows: Vec<(Value, &str, &str)> = vec![
        (json!({}), "name", "This field is required."),
        (json!({"name": ""}), "name", "may not be blank"),
        (
            json!({"name": "r", "repo_id": "a/b/c"}),
            "repo_id",
            "Hub repository id",
        ),
        (
            json!({"name": "r", "repo_id": ""}),
            "repo_id",
            "Hub repository id",
        ),
        (
            json!({"name": "r", "repo_id": 5}),
            "repo_id",
            "Not a valid string.",
        ),
        (
            json!({"name": "r", "repo_type": "model"}),
            "repo_type",
            "\"model\" is not a valid choice.",
        ),
        (
            json!({"name": "r", "revision": ""}),
            "revision",
            "may not be blank",
        ),
        (
            json!({"name": "r", "revision": "a\u{7}b"}),
            "revision",
            "control characters",
        ),
        (
            json!({"name": "r", "revision": long}),
            "revision",
            "no more than 256",
        ),
        (
            json!({"name": "r", "revision": null}),
            "revision",
            "may not be null",
        ),
        (
            json!({"name": "r", "allow_patterns": "*.json"}),
            "allow_patterns",
            "Expected a list of items but got type \"str\".",
        ),
        (
            json!({"name": "r", "allow_patterns": [1]}),
            "allow_patterns",
            "Not a valid string.",
        ),
        (
            json!({"name": "r", "ignore_patterns": [""]}),
            "ignore_patterns",
            "1 to 256 characters",
        ),
        (
            json!({"name": "r", "ignore_patterns": ["a[b"]}),
            "ignore_patterns",
            "Not a valid pattern",
        ),
        (
            json!({"name": "r", "remote": unknown}),
            "remote",
            "Invalid hyperlink - Object does not exist.",
        ),
        (
            json!({"name": "r", "remote": "/pulp/api/v3/x/"}),
            "remote",
            "Invalid hyperlink - No URL match.",
        ),
        (
            json!({"name": "r", "retain_repo_versions": 0}),
            "retain_repo_versions",
            "greater than or equal to 1",
        ),
        (
            json!({"name": "r", "retain_checkpoints": 2}),
            "retain_checkpoints",
            "must be null",
        ),
        (
            json!({"name": "r", "pinned": "yes"}),
            "pinned",
            "valid boolean",
        ),
        (
            json!({"name": "r", "description": ""}),
            "description",
            "may not be blank",
        ),
        (
            json!({"name": "r", "pulp_labels": {"a(": "b"}}),
            "pulp_labels",
            "",
        ),
    ];
    for (body, field, want) in rows {
        let err = build(body.clone(), None, &snap).expect_err(&body.to_string());
        let msg = err[field][0]
            .as_str()
            .unwrap_or_else(|| panic!("{body}: {err}"));
        assert!(msg.contains(want), "{body}: {msg}");
    }
    let ok = build(
        json!({"name": "r", "remote": known, "repo_id": "org/m", "repo_type": "datasets",
               "revision": "v1", "allow_patterns": ["*.json", "dir/"], "ignore_patterns": null,
               "pinned": true, "retain_repo_versions": null, "retain_checkpoints": null,
               "description": "d"}),
        None,
        &snap,
    )
    .unwrap();
    assert_eq!(ok.repo_id.as_deref(), Some("org/m"));
    assert_eq!(ok.repo_type.as_str(), "datasets");
    assert_eq!(ok.allow_patterns, ["*.json", "dir/"]);
    assert!(ok.ignore_patterns.is_empty() && ok.pinned);
    assert_eq!(ok.retain_repo_versions, None);
    let defaults = build(json!({"name": "d"}), None, &snap).unwrap();
    assert_eq!(
        (
            defaults.revision.as_str(),
            defaults.retain_repo_versions,
            defaults.pinned
        ),
        ("main", Some(1), false)
    );
}

#[test]
fn lowering_retain_drops_the_oldest_versions() {
    let mut repo = Repository::new(Origin::Api, "r");
    repo.retain_repo_versions = None;
    repo.versions = vec![version(1, &[]), version(2, &[]), version(3, &[])];
    let kept = build(
        json!({"retain_repo_versions": 2}),
        Some(&repo),
        &Snapshot::default(),
    )
    .unwrap();
    let numbers: Vec<u64> = kept.versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, [2, 3]);
}

#[tokio::test]
async fn crud_answers_as_pulpcore_and_lists_everywhere() {
    let h = Harness::new();
    let a = h
        .call(
            "POST",
            REPOS,
            Some(json!({"name": "r", "repo_id": "org/m"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let href = a.json["pulp_href"].as_str().unwrap().to_string();
    assert!(href.starts_with(REPOS));
    let id = href.trim_end_matches('/').rsplit('/').next().unwrap();
    assert_eq!(
        a.json["prn"],
        format!("prn:hugging_face.huggingfacerepository:{id}")
    );
    assert_eq!(a.json["versions_href"], format!("{href}versions/"));
    assert_eq!(a.json["latest_version_href"], format!("{href}versions/0/"));
    for (k, v) in [
        ("repo_type", json!("models")),
        ("revision", json!("main")),
        ("allow_patterns", json!([])),
        ("ignore_patterns", json!([])),
        ("pinned", json!(false)),
        ("retain_repo_versions", json!(1)),
        ("retain_checkpoints", Value::Null),
        ("remote", Value::Null),
        ("description", Value::Null),
    ] {
        assert_eq!(a.json[k], v, "{k}");
    }
    let read = h
        .changed(
            "PATCH",
            &href,
            Some(json!({"revision": "v2", "pinned": true})),
        )
        .await;
    assert_eq!(
        (read.json["revision"].clone(), read.json["pinned"].clone()),
        (json!("v2"), json!(true))
    );
    // PUT: `name` required, other omitted fields keep their values.
    let put = h
        .call("PUT", &href, Some(json!({"description": "x"})))
        .await;
    assert_eq!(put.json, json!({"name": ["This field is required."]}));
    let read = h.changed("PUT", &href, Some(json!({"name": "r2"}))).await;
    assert_eq!(read.json["revision"], "v2");
    // Labels answer 201, as pulpcore declares for repositories.
    let set = h
        .call(
            "POST",
            &format!("{href}set_label/"),
            Some(json!({"key": "k", "value": "v"})),
        )
        .await;
    assert_eq!(set.status, 201, "{}", set.json);
    let generic = h
        .call("GET", "/pulp/api/v3/repositories/?name=r2", None)
        .await;
    assert_eq!(generic.json["count"], 1, "{}", generic.json);
    assert!(
        generic.json["results"][0].get("repo_id").is_none(),
        "base fields only"
    );
    assert_eq!(generic.json["results"][0]["pulp_labels"], json!({"k": "v"}));
    let root = h.call("GET", "/pulp/api/v3/", None).await;
    assert!(root.json["repositories/hugging_face/hugging-face"]
        .as_str()
        .unwrap()
        .ends_with(REPOS));
    let filtered = h
        .call("GET", &format!("{REPOS}?pulp_label_select=k=v"), None)
        .await;
    assert_eq!(filtered.json["count"], 1);
    let gone = h.changed("DELETE", &href, None).await;
    assert_eq!(gone.status, 404);
    let text = fs_err::read_to_string(&h.state_path).unwrap();
    assert!(!text.contains("r2"), "the state file no longer holds it");
}

#[tokio::test]
async fn deleting_a_remote_leaves_its_repositories_without_one() {
    let h = Harness::new();
    let remote = h
        .create(
            REMOTES,
            json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let rhref = remote["pulp_href"].as_str().unwrap();
    let repo = h.create(REPOS, json!({"name": "r", "remote": rhref})).await;
    assert_eq!(repo["remote"], rhref);
    h.changed("DELETE", rhref, None).await;
    let read = h
        .call("GET", repo["pulp_href"].as_str().unwrap(), None)
        .await;
    assert_eq!(read.json["remote"], Value::Null);
}
