//! Tasks through the API: cancel, delete and purge, and bad input that changes nothing.

use std::time::SystemTime;

use http::header;
use serde_json::{json, Value};

use super::tests::{insert, task, TASKS};
use crate::api::tests::{request, Harness};
use crate::tasks::{self, names, ProgressReport, TaskState};

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
