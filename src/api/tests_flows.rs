//! API scenarios: the pulp_hugging_face authentication guide, deletes, config-declared
//! objects, authentication and routing, a failed save.

use std::sync::Arc;

use http::header;
use serde_json::{json, Value};

use super::tests::{request, Harness, DISTS, GUARDS, REMOTES, TOKEN};
use super::*;
use crate::model::Origin;
use crate::registry::Snapshot;
#[tokio::test]
async fn pulp_authentication_guide_flow() {
    // pulp_hugging_face docs/user/guides/authentication.md, as curl would send it.
    let h = Harness::new();
    let public = h
        .create(
            REMOTES,
            json!({"name": "hf-public", "url": "https://huggingface.co", "policy": "on_demand"}),
        )
        .await;
    let private = h.create(REMOTES, json!({"name": "hf-private", "url": "https://huggingface.co", "policy": "on_demand", "hf_token": "hf_old"})).await;
    // Real Pulp answers the guide's PATCH with 202 and a task; so does hubcache.
    let patched = h
        .call(
            "PATCH",
            private["pulp_href"].as_str().unwrap(),
            Some(json!({"hf_token": "hf_NEW_TOKEN_HERE"})),
        )
        .await;
    let task = h.task_of(&patched).await;
    assert_eq!(task["name"], "pulpcore.app.tasks.base.general_update");
    assert_eq!(
        h.registry.snapshot().remotes[1].token(),
        Some("hf_NEW_TOKEN_HERE"),
        "token rotation is live"
    );
    let d1 = h
        .create(
            DISTS,
            json!({"name": "hf-public", "base_path": "hf-public", "remote": public["pulp_href"]}),
        )
        .await;
    let d2 = h.create(DISTS, json!({"name": "hf-private", "base_path": "hf-private", "remote": private["pulp_href"]})).await;
    assert_eq!(d1["base_url"], "http://cache:8080/pulp/content/hf-public/");
    assert_eq!(d2["remote"], private["pulp_href"]);
    assert_eq!(
        (
            d2["content_guard"].clone(),
            d2["content_guard_prn"].clone(),
            d2["repository"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    let snap = h.registry.snapshot();
    let (m, tail) = snap
        .match_content("hf-private/org/m/resolve/main/a")
        .unwrap();
    assert_eq!(
        (m.remote.unwrap().name.as_str(), tail),
        ("hf-private", "org/m/resolve/main/a")
    );
    let proto = request(
        "GET",
        d1["pulp_href"].as_str().unwrap(),
        Some("admin:password"),
        None,
        "",
    );
    let (mut parts, body) = proto.into_parts();
    parts
        .headers
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let a = h.send(Request::from_parts(parts, body)).await;
    assert_eq!(
        a.json["base_url"],
        "https://cache:8080/pulp/content/hf-public/"
    );
    let h2 = Harness::with(Snapshot::default(), Some("https://cdn.example.com/"));
    let d = h2
        .create(DISTS, json!({"name": "x", "base_path": "a/b"}))
        .await;
    assert_eq!(d["base_url"], "https://cdn.example.com/pulp/content/a/b/");
}

#[tokio::test]
async fn deleting_a_remote_unsets_it_on_distributions_and_persists() {
    let h = Harness::new();
    let r = h
        .create(
            REMOTES,
            json!({"name": "hf", "url": "https://huggingface.co"}),
        )
        .await;
    let d = h
        .create(
            DISTS,
            json!({"name": "d", "base_path": "d", "remote": r["pulp_href"]}),
        )
        .await;
    let del = h
        .changed("DELETE", r["pulp_href"].as_str().unwrap(), None)
        .await;
    assert_eq!(del.status, 404, "gone when the 202 is answered");
    let now = h
        .call("GET", d["pulp_href"].as_str().unwrap(), None)
        .await
        .json;
    assert_eq!(now["remote"], Value::Null);
    let loaded = crate::state::load(&h.state_path, &Snapshot::default()).unwrap();
    assert!(loaded.snapshot.remotes.is_empty());
    assert_eq!(loaded.snapshot.distributions[0].remote, None);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[tokio::test]
async fn a_guard_in_use_cannot_be_deleted() {
    let h = Harness::new();
    let g = h.create(GUARDS, json!({"name": "g", "header_name": "Authorization", "header_value": "Bearer x", "description": "team"})).await;
    assert_eq!(
        g["hidden_fields"],
        json!([{"name": "header_value", "is_set": true}])
    );
    assert_eq!(
        g["prn"],
        format!(
            "prn:core.headercontentguard:{}",
            g["pulp_href"]
                .as_str()
                .unwrap()
                .trim_start_matches(GUARDS)
                .trim_end_matches('/')
        )
    );
    let d = h
        .create(
            DISTS,
            json!({"name": "private", "base_path": "p", "content_guard": g["pulp_href"]}),
        )
        .await;
    assert_eq!(d["content_guard_prn"], g["prn"]);
    let del = h
        .call("DELETE", g["pulp_href"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        (del.status, del.json.clone()),
        (
            400,
            json!({"detail": "Content guard is used by distribution 'private'"})
        )
    );
    let unguarded = h
        .changed(
            "PATCH",
            d["pulp_href"].as_str().unwrap(),
            Some(json!({"content_guard": null})),
        )
        .await;
    assert_eq!(unguarded.json["content_guard"], Value::Null);
    assert_eq!(
        h.call("DELETE", g["pulp_href"].as_str().unwrap(), None)
            .await
            .status,
        204
    );
}

fn declared() -> Snapshot {
    let remote = crate::model::Remote {
        hf_token: Some(Secret::new(TOKEN)),
        ..crate::model::Remote::new(Origin::Config, "declared", "https://huggingface.co")
    };
    Snapshot {
        remotes: vec![Arc::new(remote)],
        ..Default::default()
    }
}

#[tokio::test]
async fn config_declared_objects_are_read_only() {
    let h = Harness::with(declared(), None);
    let list = h.call("GET", REMOTES, None).await;
    assert_eq!(list.json["count"], 1);
    let href = list.json["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let want = json!({"detail": "'declared' is declared in the configuration file"});
    for (method, body) in [
        ("PATCH", Some(json!({"policy": "streamed"}))),
        ("PUT", Some(json!({"name": "x", "url": "https://h.co"}))),
        ("DELETE", None),
    ] {
        let a = h.call(method, &href, body).await;
        assert_eq!((a.status, a.json), (400, want.clone()), "{method}");
    }
    let clash = h
        .call(
            "POST",
            REMOTES,
            Some(json!({"name": "declared", "url": "https://huggingface.co"})),
        )
        .await;
    assert_eq!(
        (clash.status, clash.json),
        (400, json!({"name": ["This field must be unique."]}))
    );
    // An API distribution may serve a declared remote; the state file holds only API objects.
    h.create(
        DISTS,
        json!({"name": "d", "base_path": "d", "remote": href}),
    )
    .await;
    let text = fs_err::read_to_string(&h.state_path).unwrap();
    assert!(
        !text.contains(TOKEN) && text.contains("remote: declared"),
        "{text}"
    );
}

#[tokio::test]
async fn authentication_and_routing() {
    let h = Harness::new();
    let (bad_id, unknown_id) = (
        format!("{REMOTES}not-a-uuid/"),
        format!("{REMOTES}{}/", uuid::Uuid::now_v7()),
    );
    let rows: Vec<(&str, &str, Option<&str>, u16, Value)> = vec![
        (
            "GET",
            REMOTES,
            None,
            401,
            json!({"detail": "Authentication credentials were not provided."}),
        ),
        (
            "POST",
            DISTS,
            Some("admin:wrong"),
            401,
            json!({"detail": "Invalid username/password."}),
        ),
        (
            "GET",
            GUARDS,
            Some("nobody:password"),
            401,
            json!({"detail": "Invalid username/password."}),
        ),
        ("GET", "/pulp/api/v3/status/", None, 200, Value::Null),
        (
            "GET",
            "/pulp/api/v3/tasks/",
            None,
            401,
            json!({"detail": "Authentication credentials were not provided."}),
        ),
        (
            "GET",
            "/pulp/api/v3/colours/",
            None,
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "PUT",
            "/pulp/api/v3/remotes/hugging_face/hugging-face",
            Some("admin:password"),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "GET",
            &bad_id,
            Some("admin:password"),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "DELETE",
            &unknown_id,
            Some("admin:password"),
            404,
            json!({"detail": "Not found."}),
        ),
        (
            "DELETE",
            REMOTES,
            Some("admin:password"),
            405,
            json!({"detail": "Method \"DELETE\" not allowed."}),
        ),
        (
            "POST",
            "/pulp/api/v3/status/",
            None,
            405,
            json!({"detail": "Method \"POST\" not allowed."}),
        ),
    ];
    for (method, uri, credentials, status, body) in rows {
        let a = h.send(request(method, uri, credentials, None, "")).await;
        assert_eq!(a.status, status, "{method} {uri}");
        if status == 401 {
            assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Basic realm=\"api\"");
        }
        if status == 405 {
            assert!(a.headers.contains_key(header::ALLOW), "{method} {uri}");
        }
        if !body.is_null() {
            assert_eq!(a.json, body, "{method} {uri}");
        }
    }
    let status = h
        .send(request("GET", "/pulp/api/v3/status/", None, None, ""))
        .await
        .json;
    assert_eq!(
        (
            status["database_connection"]["connected"].clone(),
            status["cache"]["size"].clone()
        ),
        (json!(true), json!(7))
    );
}

#[tokio::test]
async fn a_failed_save_answers_500_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("missing-dir/state.yaml");
    let h = Harness::at(Snapshot::default(), None, state_path, dir);
    let a = h
        .call(
            "POST",
            REMOTES,
            Some(json!({"name": "hf", "url": "https://huggingface.co", "hf_token": TOKEN})),
        )
        .await;
    assert_eq!(
        (a.status, a.json),
        (500, json!({"detail": "Internal error."}))
    );
    assert!(h.registry.snapshot().remotes.is_empty());
    // A write answered by a task: no object and no task either.
    let a = h
        .call("POST", DISTS, Some(json!({"name": "d", "base_path": "d"})))
        .await;
    assert_eq!(a.status, 500);
    let snap = h.registry.snapshot();
    assert!(snap.distributions.is_empty() && snap.tasks.is_empty());
}
