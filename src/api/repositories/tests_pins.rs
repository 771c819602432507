//! Unit tests of `sync/` checks and the 409, and of the pins that follow the stored
//! repository.

use std::sync::Arc;

use serde_json::json;

use super::tests::{version, REPOS};
use crate::api::tests::{Harness, REMOTES};
use crate::api::{Api, ApiDeps};
use crate::model::RepositoryVersion;

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
        state: h.state_path.clone().into(),
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
