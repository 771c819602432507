//! Unit tests of repositories: the field rules, the JSON, the writes and their tasks, `sync/`
//! checks, and the pins that follow the stored repository.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::api::json::{Input, Mode};
use crate::api::resource::Kind;
use crate::api::tests::{Harness, REMOTES};
use crate::api::{Api, ApiDeps};
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

#[tokio::test]
async fn sync_is_checked_before_any_task() {
    let h = Harness::new();
    let remote = h
        .create(
            REMOTES,
            json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let rhref = remote["pulp_href"].as_str().unwrap().to_string();
    let repo = h.create(REPOS, json!({"name": "r"})).await;
    let sync = format!("{}sync/", repo["pulp_href"].as_str().unwrap());
    let unknown = format!("{REMOTES}{}/", uuid::Uuid::now_v7());
    let rows = [
        (json!({}), 400, json!({"remote": [super::sync::NO_REMOTE]})),
        (
            json!({"remote": rhref}),
            400,
            json!({"repo_id": [super::sync::NO_REPO_ID]}),
        ),
        (
            json!({"remote": unknown}),
            400,
            json!({"remote": ["Invalid hyperlink - Object does not exist."]}),
        ),
        (
            json!({"remote": null}),
            400,
            json!({"remote": ["This field may not be null."]}),
        ),
        (
            json!({"remote": rhref, "colour": 1}),
            400,
            json!({"colour": ["Unexpected field"]}),
        ),
    ];
    for (body, status, want) in rows {
        let a = h.call("POST", &sync, Some(body.clone())).await;
        assert_eq!((a.status, &a.json), (status, &want), "{body}");
    }
    let missing = format!("{REPOS}{}/sync/", uuid::Uuid::now_v7());
    assert_eq!(h.call("POST", &missing, Some(json!({}))).await.status, 404);
    h.changed(
        "PATCH",
        repo["pulp_href"].as_str().unwrap(),
        Some(json!({"repo_id": "org/m"})),
    )
    .await;
    // Valid, but this API has no sync runner (unit tests): 503, and no task.
    let a = h
        .call(
            "POST",
            &sync,
            Some(json!({"remote": rhref, "mirror": true})),
        )
        .await;
    assert_eq!(
        (a.status, &a.json["detail"]),
        (503, &json!("sync is not available"))
    );
    let tasks = h
        .call(
            "GET",
            "/pulp/api/v3/tasks/?name=pulp_hugging_face.app.tasks.synchronizing.synchronize",
            None,
        )
        .await;
    assert_eq!(tasks.json["count"], 0, "{}", tasks.json);
}

/// An API over `h`'s registry and state file, with sync deps and a disk cache of `max_size`.
pub(super) fn with_disk(h: &mut Harness, max_size: u64) -> &'static crate::cache::DiskCache {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let disk = crate::cache::DiskCache::open(dir.path(), max_size).unwrap();
    let sync = Arc::new(crate::sync::run::SyncDeps {
        tasks: crate::tasks::Tasks::new(h.registry.clone(), h.state_path.clone()),
        registry: h.registry.clone(),
        disk: Some(disk),
        access: crate::sync::SyncAccess::new(),
        content_base: "http://127.0.0.1:9".into(),
        metrics: Arc::new(crate::metrics::Metrics::new().unwrap()),
    });
    h.api = Api::new(ApiDeps {
        registry: h.registry.clone(),
        users: vec![crate::api::ApiUser {
            username: "admin".into(),
            password: Some(crate::model::Secret::new("password")),
            password_hash: None,
            uses_default_password: true,
        }],
        state_path: h.state_path.clone(),
        content_origin: None,
        status: Arc::new(Default::default),
        sync: Some(sync),
    });
    disk
}

/// Puts versions into repository `href` directly (as a completed sync would).
pub(super) fn give_versions(h: &Harness, href: &str, versions: Vec<RepositoryVersion>) {
    let id: uuid::Uuid = href
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    h.registry
        .update(
            |snap| {
                let slot = snap
                    .repositories
                    .iter_mut()
                    .find(|r| r.meta.id == id)
                    .unwrap();
                let mut r = slot.as_ref().clone();
                r.versions = versions;
                *slot = Arc::new(r);
                Ok::<_, std::convert::Infallible>(())
            },
            |_| Ok(()),
        )
        .unwrap();
}

#[tokio::test]
async fn pins_follow_the_stored_repository() {
    let mut h = Harness::new();
    let disk = with_disk(&mut h, 100);
    let repo = h
        .create(REPOS, json!({"name": "r", "retain_repo_versions": 2}))
        .await;
    let href = repo["pulp_href"].as_str().unwrap().to_string();
    give_versions(
        &h,
        &href,
        vec![
            version(1, &[("a", 40), ("b", 40)]),
            version(2, &[("b", 40), ("c", 10)]),
        ],
    );
    assert!(!disk.is_pinned("a"));
    h.changed("PATCH", &href, Some(json!({"pinned": true})))
        .await;
    assert!(["a", "b", "c"].iter().all(|e| disk.is_pinned(e)));
    // Keeping one version releases what only the older one held.
    h.changed("PATCH", &href, Some(json!({"retain_repo_versions": 1})))
        .await;
    assert!(!disk.is_pinned("a") && disk.is_pinned("b"));
    h.changed("PATCH", &href, Some(json!({"pinned": false})))
        .await;
    assert!(!disk.is_pinned("b"));
    h.changed("PATCH", &href, Some(json!({"pinned": true})))
        .await;
    assert!(disk.is_pinned("c"));
    h.changed("DELETE", &href, None).await;
    assert!(!disk.is_pinned("b") && !disk.is_pinned("c"));
}

#[tokio::test]
async fn a_pin_that_does_not_fit_is_refused_before_anything_changes() {
    let mut h = Harness::new();
    let disk = with_disk(&mut h, 100);
    let repo = h.create(REPOS, json!({"name": "r"})).await;
    let href = repo["pulp_href"].as_str().unwrap().to_string();
    give_versions(&h, &href, vec![version(1, &[("big", 150)])]);
    let before = fs_err::read(&h.state_path).unwrap();
    let a = h
        .call(
            "PATCH",
            &href,
            Some(json!({"pinned": true, "revision": "v2"})),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.json);
    let msg = a.json["pinned"][0].as_str().unwrap();
    assert!(msg.contains("cache.max_size"), "{msg}");
    assert_eq!(fs_err::read(&h.state_path).unwrap(), before);
    assert!(!disk.is_pinned("big"));
    let read = h.call("GET", &href, None).await;
    assert_eq!(
        (read.json["pinned"].clone(), read.json["revision"].clone()),
        (json!(false), json!("main"))
    );
}

#[tokio::test]
async fn a_second_sync_while_one_runs_is_a_409_naming_it() {
    let mut h = Harness::new();
    with_disk(&mut h, 100);
    let remote = h
        .create(
            REMOTES,
            json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let repo = h
        .create(
            REPOS,
            json!({"name": "r", "repo_id": "org/m", "remote": remote["pulp_href"]}),
        )
        .await;
    let href = repo["pulp_href"].as_str().unwrap().to_string();
    // A sync task still running (the stub runner would end a real one at once).
    let running = crate::tasks::Tasks::new(h.registry.clone(), h.state_path.clone())
        .start(super::SYNC_TASK, "cid".into(), vec![href.clone()])
        .unwrap();
    let a = h
        .call("POST", &format!("{href}sync/"), Some(json!({})))
        .await;
    assert_eq!(a.status, 409, "{}", a.json);
    let want = crate::tasks::href(running.id());
    assert!(
        a.json["detail"].as_str().unwrap().ends_with(&want),
        "{}",
        a.json
    );
    running.finish(Err("done".into())).unwrap();
    let a = h
        .call("POST", &format!("{href}sync/"), Some(json!({})))
        .await;
    assert_eq!(a.status, 202, "{}", a.json);
    let task = h.call("GET", a.json["task"].as_str().unwrap(), None).await;
    assert_eq!(task.json["name"], super::SYNC_TASK);
    let reserved = task.json["reserved_resources_record"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(reserved[0], json!(href));
    assert_eq!(
        reserved[1],
        json!(format!("shared:{}", remote["pulp_href"].as_str().unwrap()))
    );
}

#[tokio::test]
async fn deleting_a_repository_cancels_its_running_sync() {
    let h = Harness::new();
    let repo = h.create(REPOS, json!({"name": "r"})).await;
    let href = repo["pulp_href"].as_str().unwrap().to_string();
    let tasks = crate::tasks::Tasks::new(h.registry.clone(), h.state_path.clone());
    let running = tasks
        .start(super::SYNC_TASK, "cid".into(), vec![href.clone()])
        .unwrap();
    h.changed("DELETE", &href, None).await;
    assert!(running.is_canceling());
}
