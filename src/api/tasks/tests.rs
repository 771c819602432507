//! Tasks through the API: writes that answer 202, the task list and its filters (cancel,
//! delete and purge are in `tests_changes.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::api::tests::{request, Answer, Harness, DISTS, GUARDS, REMOTES};
use crate::tasks::{self, names, Task, TaskState};

pub(super) const TASKS: &str = "/pulp/api/v3/tasks/";

/// Puts `task` in the harness's registry (as a runner would) and returns its href.
pub(super) fn insert(h: &Harness, task: Task) -> String {
    let href = task.href();
    let _: Result<(), ()> = h.registry.update(
        |snap| {
            tasks::record(snap, task, tasks::MAX_FINISHED_TASKS);
            Ok(())
        },
        |_| Ok(()),
    );
    href
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A task in `state`, named `name`, started at `started` and (if final) finished 10 s later.
pub(super) fn task(name: &str, state: TaskState, started: u64) -> Task {
    let mut t = Task::waiting(name, "cid".into(), vec![format!("/r/{name}/")]);
    if state != TaskState::Waiting {
        t.started_at = Some(at(started));
    }
    t.state = state;
    if state.is_final() {
        t.finish(at(started + 10), state, None);
    }
    t
}

async fn patch_with_cid(h: &Harness, uri: &str, body: Value, cid: &str) -> Answer {
    let mut req = request(
        "PATCH",
        uri,
        Some("admin:password"),
        Some("application/json"),
        body.to_string(),
    );
    req.headers_mut()
        .insert("x-request-id", cid.parse().unwrap());
    h.send(req).await
}

#[tokio::test]
async fn writes_answer_as_pulp_with_tasks_completed_and_saved_with_the_change() {
    let h = Harness::new();
    let remote = h
        .call(
            "POST",
            REMOTES,
            Some(json!({"name": "hf", "url": "https://h.co"})),
        )
        .await;
    assert_eq!(remote.status, 201, "a remote create answers the object");
    let rhref = remote.json["pulp_href"].as_str().unwrap().to_string();
    assert!(h.registry.snapshot().tasks.is_empty());

    let patched = patch_with_cid(&h, &rhref, json!({"policy": "streamed"}), "req-42").await;
    let t = h.task_of(&patched).await;
    assert_eq!(patched.json.as_object().unwrap().len(), 1, "only `task`");
    let mut want = vec![
        "pulp_href",
        "prn",
        "pulp_created",
        "pulp_last_updated",
        "state",
        "name",
        "logging_cid",
        "created_by",
        "unblocked_at",
        "started_at",
        "finished_at",
        "error",
        "worker",
        "parent_task",
        "child_tasks",
        "task_group",
        "progress_reports",
        "created_resources",
        "created_resource_prns",
        "reserved_resources_record",
        "result",
        "pulp_api_version",
    ];
    want.sort_unstable();
    let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, want, "pulpcore's TaskResponse fields");
    assert_eq!(t["name"], names::UPDATE);
    assert_eq!(t["logging_cid"], "req-42");
    assert_eq!(t["reserved_resources_record"], json!([rhref]));
    assert_eq!(t["created_resources"], json!([]));
    assert_eq!(
        (t["error"].clone(), t["worker"].clone()),
        (Value::Null, Value::Null)
    );
    assert!(t["finished_at"].is_string() && t["started_at"] == t["finished_at"]);
    let id = t["pulp_href"]
        .as_str()
        .unwrap()
        .trim_start_matches(TASKS)
        .trim_end_matches('/');
    assert_eq!(t["prn"], format!("prn:core.task:{id}"));

    // A bad correlation id is not used; a fresh uuid (hex) is.
    let patched = patch_with_cid(&h, &rhref, json!({}), "bad id!").await;
    let cid = h.task_of(&patched).await["logging_cid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cid.len() == 32 && cid.bytes().all(|b| b.is_ascii_hexdigit()),
        "{cid}"
    );

    let created = h
        .call("POST", DISTS, Some(json!({"name": "d", "base_path": "d"})))
        .await;
    let t = h.task_of(&created).await;
    let dhref = t["created_resources"][0].as_str().unwrap().to_string();
    assert_eq!(t["name"], names::CREATE);
    let dist = h.call("GET", &dhref, None).await.json;
    assert_eq!(t["created_resource_prns"], json!([dist["prn"]]));
    assert_eq!(t["reserved_resources_record"], json!([dhref]));

    // Saved with the change: a restart finds the distribution and its task.
    let loaded = crate::state::load(&h.state_path, &Default::default()).unwrap();
    let saved = loaded
        .snapshot
        .tasks
        .iter()
        .find(|x| x.created_resources == [dhref.clone()]);
    assert!(saved.is_some_and(|x| x.state == TaskState::Completed));

    // Guards are written at once, with no task; a refused write makes no task.
    let count = h.registry.snapshot().tasks.len();
    let g = h
        .call(
            "POST",
            GUARDS,
            Some(json!({"name": "g", "header_name": "X", "header_value": "v"})),
        )
        .await;
    assert_eq!(g.status, 201);
    let ghref = g.json["pulp_href"].as_str().unwrap().to_string();
    assert_eq!(
        h.call("PATCH", &ghref, Some(json!({"description": "x"})))
            .await
            .status,
        200
    );
    assert_eq!(h.call("DELETE", &ghref, None).await.status, 204);
    assert_eq!(
        h.call("PATCH", &dhref, Some(json!({"base_path": "/x"})))
            .await
            .status,
        400
    );
    assert_eq!(
        h.call("PATCH", &rhref, Some(json!({"colour": 1})))
            .await
            .status,
        400
    );
    assert_eq!(h.registry.snapshot().tasks.len(), count);

    let deleted = h.call("DELETE", &dhref, None).await;
    assert_eq!(h.task_of(&deleted).await["name"], names::DELETE);
    assert_eq!(h.call("GET", &dhref, None).await.status, 404);
}

#[tokio::test]
async fn the_task_list_filters_and_orders() {
    let h = Harness::new();
    let mut done = task("a.create", TaskState::Completed, 1000);
    done.created_resources.push("/made/".into());
    let done = insert(&h, done);
    let failed = insert(&h, task("b.update", TaskState::Failed, 2000));
    let running = insert(&h, task("c.update", TaskState::Running, 3000));
    let waiting = insert(&h, task("d.sync", TaskState::Waiting, 0));
    let rows: Vec<(&str, Vec<&String>)> = vec![
        ("", vec![&waiting, &running, &failed, &done]),
        (
            "ordering=pulp_created",
            vec![&done, &failed, &running, &waiting],
        ),
        ("ordering=-name", vec![&waiting, &running, &failed, &done]),
        (
            "ordering=started_at",
            vec![&done, &failed, &running, &waiting],
        ),
        (
            "ordering=-finished_at",
            vec![&waiting, &running, &failed, &done],
        ),
        (
            "ordering=state,name",
            vec![&done, &failed, &running, &waiting],
        ),
        ("state=running", vec![&running]),
        ("state__in=completed,failed", vec![&failed, &done]),
        ("name=b.update", vec![&failed]),
        ("name__contains=update", vec![&running, &failed]),
        ("created_resources=/made/", vec![&done]),
        ("reserved_resources=/r/d.sync/", vec![&waiting]),
        (
            "started_at__gte=1970-01-01T00:33:20Z",
            vec![&running, &failed],
        ),
        ("started_at__lte=1970-01-01T00:33:20", vec![&failed, &done]),
        ("finished_at__gte=1970-01-01", vec![&failed, &done]),
        ("finished_at__lte=1970-01-01T01:16:50%2B01:00", vec![&done]),
        ("state=&name=", vec![&waiting, &running, &failed, &done]),
        ("limit=1&offset=1&ordering=name", vec![&failed]),
    ];
    for (query, want) in rows {
        let a = h.call("GET", &format!("{TASKS}?{query}"), None).await;
        assert_eq!(a.status, 200, "{query}: {}", a.json);
        let got: Vec<&str> = a.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["pulp_href"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = want.iter().map(|s| s.as_str()).collect();
        assert_eq!(got, want, "{query}");
    }
    let page = h
        .call("GET", &format!("{TASKS}?limit=1&fields=name,state"), None)
        .await
        .json;
    assert_eq!(page["count"], 4);
    assert_eq!(
        page["results"][0],
        json!({"name": "d.sync", "state": "waiting"})
    );
    let bad: Vec<(&str, Value)> = vec![
        (
            "colour=red",
            json!({"errors": ["Invalid Filter: 'colour'"]}),
        ),
        (
            "started_at__gte=yesterday",
            json!({"started_at__gte": ["Enter a valid date/time."]}),
        ),
        (
            "finished_at__lte=2024-13-01&started_at__lte=2024-01-01T25:00",
            json!({"finished_at__lte": ["Enter a valid date/time."], "started_at__lte": ["Enter a valid date/time."]}),
        ),
        (
            "state=done",
            json!({"state": ["Select a valid choice. done is not one of the available choices."]}),
        ),
        (
            "ordering=worker",
            json!({"ordering": ["Select a valid choice. worker is not one of the available choices."]}),
        ),
    ];
    for (query, want) in bad {
        let a = h.call("GET", &format!("{TASKS}?{query}"), None).await;
        assert_eq!((a.status, a.json), (400, want), "{query}");
    }
    let one = h
        .call(
            "GET",
            &format!("{running}?exclude_fields=progress_reports"),
            None,
        )
        .await;
    assert_eq!(one.json["state"], "running");
    assert!(one.json.get("progress_reports").is_none());
    let none = request("GET", TASKS, None, None, "");
    assert_eq!(h.send(none).await.status, 401);
}
