//! Tasks through the API: writes that answer 202, the task list and its filters, cancel,
//! delete, purge, and the date/time rule they share.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header;
use serde_json::{json, Value};

use super::parse_datetime;
use crate::api::tests::{request, Answer, Harness, DISTS, GUARDS, REMOTES};
use crate::tasks::{self, names, ProgressReport, Task, TaskState};

const TASKS: &str = "/pulp/api/v3/tasks/";

/// Puts `task` in the harness's registry (as a runner would) and returns its href.
fn insert(h: &Harness, task: Task) -> String {
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
fn task(name: &str, state: TaskState, started: u64) -> Task {
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

#[tokio::test]
async fn cancel_and_delete_follow_pulpcore_and_bad_input_changes_nothing() {
    let h = Harness::new();
    let running = insert(&h, task("sync", TaskState::Running, 10));
    let done = insert(&h, task("update", TaskState::Completed, 10));
    let unknown = format!("{TASKS}{}/", uuid::Uuid::now_v7());
    let before = h.registry.snapshot();
    let bad: Vec<(&str, &str, Option<Value>, u16, Value)> = vec![
        (
            "PATCH",
            &running,
            Some(json!({})),
            400,
            json!(["'state' must be provided with the request."]),
        ),
        (
            "PATCH",
            &running,
            Some(json!({"state": "completed"})),
            400,
            json!(["The only acceptable value for 'state' is 'canceled'."]),
        ),
        (
            "PATCH",
            &running,
            Some(json!({"state": "canceled", "x": 1})),
            400,
            json!({"x": ["Unexpected field"]}),
        ),
        (
            "PATCH",
            &running,
            Some(json!([1])),
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
        (
            "PATCH",
            &unknown,
            Some(json!({"state": "canceled"})),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "DELETE",
            &unknown,
            None,
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "DELETE",
            "/pulp/api/v3/tasks/not-a-uuid/",
            None,
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "DELETE",
            &running,
            None,
            409,
            json!({"detail": "The task must be finished or canceled before it can be deleted."}),
        ),
        (
            "POST",
            "/pulp/api/v3/tasks/purge/",
            Some(json!({"states": ["running"]})),
            400,
            json!({"states": ["\"running\" is not a valid choice."]}),
        ),
        (
            "POST",
            "/pulp/api/v3/tasks/purge/",
            Some(json!({"states": "completed"})),
            400,
            json!({"states": ["Expected a list of items but got type \"str\"."]}),
        ),
        (
            "POST",
            "/pulp/api/v3/tasks/purge/",
            Some(json!({"finished_before": "soon", "colour": 1})),
            400,
            json!({"colour": ["Unexpected field"], "finished_before": ["Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}),
        ),
        (
            "DELETE",
            TASKS,
            None,
            405,
            json!({"detail": "Method \"DELETE\" not allowed."}),
        ),
    ];
    for (method, uri, body, status, want) in bad {
        let a = h.call(method, uri, body.clone()).await;
        assert_eq!(
            (a.status, &a.json),
            (status, &want),
            "{method} {uri} {body:?}"
        );
    }
    assert_eq!(
        h.registry.snapshot().tasks,
        before.tasks,
        "bad input changed nothing"
    );

    // A finished task: 409 with the task, unchanged (pulpcore).
    let a = h
        .call("PATCH", &done, Some(json!({"state": "canceled"})))
        .await;
    assert_eq!(
        (a.status, a.json["state"].clone()),
        (409, json!("completed"))
    );
    let a = h
        .call("PATCH", &running, Some(json!({"state": "canceled"})))
        .await;
    assert_eq!(
        (a.status, a.json["state"].clone()),
        (200, json!("canceling"))
    );
    let saved = crate::state::load(&h.state_path, &Default::default()).unwrap();
    // A restart fails what was canceling: it never finished.
    assert!(saved
        .snapshot
        .tasks
        .iter()
        .any(|t| t.error.as_deref() == Some(tasks::INTERRUPTED)));
    let a = h.call("DELETE", &done, None).await;
    assert_eq!((a.status, a.body.len()), (204, 0));
    assert_eq!(h.call("GET", &done, None).await.status, 404);
    let mut req = request("PATCH", &running, None, Some("application/json"), "{}");
    req.headers_mut().remove(header::AUTHORIZATION);
    assert_eq!(h.send(req).await.status, 401);
}

#[tokio::test]
async fn purge_removes_old_finished_tasks_and_reports_what_went() {
    let h = Harness::new();
    let mut old = task("old", TaskState::Completed, 100);
    old.progress_reports
        .push(ProgressReport::completed("m", "c", 1));
    let old = insert(&h, old);
    let old_failed = insert(&h, task("old-failed", TaskState::Failed, 100));
    let recent = {
        let mut t = task("recent", TaskState::Completed, 0);
        t.finish(SystemTime::now(), TaskState::Completed, None);
        insert(&h, t)
    };
    let running = insert(&h, task("running", TaskState::Running, 100));
    let a = h.call("POST", "/pulp/api/v3/tasks/purge/", None).await;
    let purge = h.task_of(&a).await;
    assert_eq!(purge["name"], names::PURGE);
    let reports: Vec<(String, u64)> = purge["progress_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_string(),
                r["done"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("purge.tasks.total", 2),
        ("purge.tasks.key.core.Task", 1),
        ("purge.tasks.error", 0),
        ("purge.tasks.key.core.ProgressReport", 1),
    ];
    let want: Vec<(String, u64)> = want.iter().map(|(c, n)| (c.to_string(), *n)).collect();
    assert_eq!(
        reports, want,
        "defaults: completed, finished 30 days ago or more"
    );
    assert_eq!(h.call("GET", &old, None).await.status, 404);
    for kept in [&old_failed, &recent, &running] {
        assert_eq!(h.call("GET", kept, None).await.status, 200, "{kept}");
    }
    let body = json!({"finished_before": "2100-01-01", "states": ["failed", "completed"]});
    let a = h
        .call("POST", "/pulp/api/v3/tasks/purge/", Some(body))
        .await;
    h.task_of(&a).await;
    let left: Vec<String> = h
        .registry
        .snapshot()
        .tasks
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(
        left,
        ["running", names::PURGE],
        "the new purge task stays, the running one too"
    );
    let saved = crate::state::load(&h.state_path, &Default::default()).unwrap();
    assert_eq!(saved.snapshot.tasks.len(), 2, "the purge was saved");
}

#[test]
fn dates_parse_as_django_does() {
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let rows: &[(&str, Option<f64>)] = &[
        ("2026-05-04", Some(1_777_852_800.0)),
        ("2026-05-04T10:11", Some(1_777_889_460.0)),
        ("2026-05-04 10:11:12", Some(1_777_889_472.0)),
        ("2026-05-04T10:11:12.5Z", Some(1_777_889_472.5)),
        ("2026-05-04T10:11:12+02:00", Some(1_777_882_272.0)),
        ("2026-05-04T10:11:12-0130", Some(1_777_894_872.0)),
        ("2026-05-04T10:11:12+02", Some(1_777_882_272.0)),
        ("2026-02-30", None),
        ("2026-5-4", None),
        ("2026-05-04T", None),
        ("2026-05-04T10", None),
        ("2026-05-04T10:11:12.", None),
        ("2026-05-04T10:11:12+2:00", None),
        ("2026-05-04T24:00", None),
        ("2026-05-04x10:11", None),
        ("tomorrow", None),
        ("2026-05-0é", None),
        ("", None),
    ];
    for (text, want) in rows {
        assert_eq!(parse_datetime(text).map(secs), *want, "{text:?}");
    }
}
