//! Unit tests of a repository's versions: version 0 before the first sync, list filters and
//! order, read, and delete (202 + task, pins released).

use serde_json::{json, Value};

use super::tests::{version, REPOS};
use super::tests_pins::{give_versions, with_disk};
use crate::api::tests::Harness;

async fn repository(h: &Harness) -> String {
    let repo = h
        .create(REPOS, json!({"name": "r", "retain_repo_versions": null}))
        .await;
    repo["pulp_href"].as_str().unwrap().to_string()
}

fn numbers(list: &Value) -> Vec<u64> {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn version_0_is_the_empty_version_until_the_first_sync() {
    let h = Harness::new();
    let href = repository(&h).await;
    let list = h.call("GET", &format!("{href}versions/"), None).await;
    assert_eq!(list.status, 200, "{}", list.json);
    assert_eq!(numbers(&list.json), [0]);
    let zero = h.call("GET", &format!("{href}versions/0/"), None).await;
    assert_eq!(zero.status, 200);
    let v = &zero.json;
    assert_eq!(v["pulp_href"], format!("{href}versions/0/"));
    assert_eq!(v["repository"], href);
    assert!(v["prn"]
        .as_str()
        .unwrap()
        .starts_with("prn:core.repositoryversion:"));
    assert_eq!(
        v["content_summary"],
        json!({"added": {}, "removed": {}, "present": {}})
    );
    for (k, want) in [
        ("base_version", Value::Null),
        ("commit", Value::Null),
        ("files", json!(0)),
        ("bytes", json!(0)),
    ] {
        assert_eq!(v[k], want, "{k}");
    }
    let del = h.call("DELETE", &format!("{href}versions/0/"), None).await;
    assert_eq!(del.status, 400, "{}", del.json);
    for bad in ["versions/1/", "versions/x/", "versions/-1/"] {
        assert_eq!(
            h.call("GET", &format!("{href}{bad}"), None).await.status,
            404,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn versions_list_filter_read_and_delete() {
    let mut h = Harness::new();
    let disk = with_disk(&mut h, 1000);
    let href = repository(&h).await;
    give_versions(
        &h,
        &href,
        vec![
            version(1, &[("a", 5)]),
            version(2, &[("a", 5), ("b", 7)]),
            version(3, &[("c", 1)]),
        ],
    );
    h.changed("PATCH", &href, Some(json!({"pinned": true})))
        .await;
    assert!(disk.is_pinned("b"));
    let list = |q: &'static str| {
        let uri = format!("{href}versions/{q}");
        let h = &h;
        async move { h.call("GET", &uri, None).await }
    };
    assert_eq!(numbers(&list("").await.json), [3, 2, 1], "newest first");
    assert_eq!(numbers(&list("?ordering=number").await.json), [1, 2, 3]);
    assert_eq!(numbers(&list("?number__gte=2").await.json), [3, 2]);
    assert_eq!(
        numbers(&list("?number__lte=2&number__gt=1").await.json),
        [2]
    );
    assert_eq!(numbers(&list("?number=1").await.json), [1]);
    let page = list("?limit=1&offset=1").await;
    assert_eq!(
        (page.json["count"].clone(), numbers(&page.json)),
        (json!(3), vec![2])
    );
    assert_eq!(list("?number=x").await.status, 400);
    assert_eq!(
        list("?colour=red").await.json,
        json!({"errors": ["Invalid Filter: 'colour'"]})
    );
    assert_eq!(list("?ordering=name").await.status, 400);
    let repo = h.call("GET", &href, None).await;
    assert_eq!(
        repo.json["latest_version_href"],
        format!("{href}versions/3/")
    );
    let two = h
        .call(
            "GET",
            &format!("{href}versions/2/?fields=files,bytes,commit"),
            None,
        )
        .await;
    assert_eq!(
        two.json,
        json!({"files": 2, "bytes": 12, "commit": format!("{:040}", 2)})
    );
    // Deleting version 2 releases `b`, which no other version holds; `a` stays (version 1).
    let del = h.call("DELETE", &format!("{href}versions/2/"), None).await;
    let task = h.task_of(&del).await;
    assert_eq!(task["name"], super::versions::DELETE_TASK);
    assert!(!disk.is_pinned("b") && disk.is_pinned("a"));
    assert_eq!(
        h.call("GET", &format!("{href}versions/2/"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        h.call("DELETE", &format!("{href}versions/2/"), None)
            .await
            .status,
        404
    );
    assert_eq!(numbers(&list("").await.json), [3, 1]);
    // The state file holds what is left.
    let text = fs_err::read_to_string(&h.state_path).unwrap();
    assert!(
        text.contains("number: 3") && !text.contains("number: 2"),
        "{text}"
    );
}
