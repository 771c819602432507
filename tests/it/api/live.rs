//! Writes are live and persistent: a PATCHed token goes upstream on the next request, objects
//! survive a restart with their hrefs, deleting a remote detaches its distributions, and the
//! `api.listen` sidecar writes to the same registry the content listener serves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::Method;
use serde_json::{json, Value};

use super::{
    assert_drf_error, assert_logs_clean, assert_no_secrets, hidden_is_set, href, names, read_state,
    Admin, DISTRIBUTIONS, GUARDS, REMOTES,
};
use crate::support::{FakeHub, RepoSpec, TestServer};

const TOKEN_A: &str = "hf_rotateAlpha91f3";
const TOKEN_B: &str = "hf_rotateBravo27c4";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn patching_hf_token_changes_what_goes_upstream_on_the_very_next_request() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/alpha").private(TOKEN_A));
    hub.add_file("org/alpha", "main", "config.json", b"alpha");
    hub.add_file("org/alpha", "main", "later.json", b"alpha later");
    hub.add_repo(RepoSpec::model("org/bravo").private(TOKEN_B));
    hub.add_file("org/bravo", "main", "config.json", b"bravo");
    hub.add_file("org/bravo", "main", "other.json", b"bravo other");
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);

    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": hub.url(), "hf_token": TOKEN_A}),
        )
        .await;
    let remote_href = href(&remote);
    admin
        .create(
            DISTRIBUTIONS,
            &json!({"name": "hf", "base_path": "hf", "remote": remote_href}),
        )
        .await;

    let alpha = server
        .get("/pulp/content/hf/org/alpha/resolve/main/config.json")
        .await;
    assert_eq!(
        (alpha.status().as_u16(), alpha.body()),
        (200, &b"alpha"[..]),
        "{}",
        alpha.text()
    );
    assert!(hub.saw_header_value("authorization", &bearer(TOKEN_A)));

    hub.clear_requests();
    let patched = admin
        .changed(
            Method::PATCH,
            &remote_href,
            Some(&json!({"hf_token": TOKEN_B})),
        )
        .await;
    assert!(hidden_is_set(&patched, "hf_token"));

    // No restart, no wait: the very next request carries B.
    let bravo = server
        .get("/pulp/content/hf/org/bravo/resolve/main/config.json")
        .await;
    assert_eq!(
        (bravo.status().as_u16(), bravo.body()),
        (200, &b"bravo"[..]),
        "after the PATCH: {}",
        bravo.text()
    );
    assert!(
        hub.saw_header_value("authorization", &bearer(TOKEN_B)),
        "B never went upstream"
    );
    let later = server
        .get("/pulp/content/hf/org/alpha/resolve/main/later.json")
        .await;
    assert_ne!(
        later.status(),
        200,
        "alpha is readable with A only: {}",
        later.text()
    );
    assert!(
        !hub.saw_header_value("authorization", &bearer(TOKEN_A)),
        "the replaced token A still went upstream"
    );

    // Clearing the token: requests go up anonymous, and the Hub's 401 comes back.
    hub.clear_requests();
    let cleared = admin
        .changed(
            Method::PATCH,
            &remote_href,
            Some(&json!({"hf_token": null})),
        )
        .await;
    assert!(!hidden_is_set(&cleared, "hf_token"));
    let anonymous = server
        .get("/pulp/content/hf/org/bravo/resolve/main/other.json")
        .await;
    assert_eq!(anonymous.status(), 401, "{}", anonymous.text());
    assert!(
        !hub.saw_header("authorization"),
        "a cleared token still went upstream"
    );

    assert_no_secrets(&admin.transcript(), &[TOKEN_A, TOKEN_B], "the API answers");
    assert_logs_clean(&server, &[TOKEN_A, TOKEN_B]);
}

/// A user gets a 404 because the token lacks access, rotates the token, and asks again: the
/// answer must come from the Hub with the new token, not from what the old token was told.
#[tokio::test]
async fn a_404_earned_with_the_old_token_is_not_served_after_the_token_is_rotated() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/bravo").private(TOKEN_B));
    hub.add_file("org/bravo", "main", "config.json", b"bravo");
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": hub.url(), "hf_token": TOKEN_A}),
        )
        .await;
    admin
        .create(
            DISTRIBUTIONS,
            &json!({"name": "hf", "base_path": "hf", "remote": href(&remote)}),
        )
        .await;

    let path = "/pulp/content/hf/org/bravo/resolve/main/config.json";
    let denied = server.get(path).await;
    assert_eq!(
        denied.status(),
        404,
        "token A must not open bravo: {}",
        denied.text()
    );
    admin
        .changed(
            Method::PATCH,
            &href(&remote),
            Some(&json!({"hf_token": TOKEN_B})),
        )
        .await;
    hub.clear_requests();
    let bravo = server.get(path).await;
    assert!(
        hub.saw_header_value("authorization", &bearer(TOKEN_B)),
        "the rotated token never went upstream: the old 404 was served from memory"
    );
    assert_eq!(
        (bravo.status().as_u16(), bravo.body()),
        (200, &b"bravo"[..]),
        "after the PATCH: {}",
        bravo.text()
    );
}

#[tokio::test]
async fn api_objects_survive_a_restart_with_their_hrefs_and_declared_ones_stay_read_only() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/secret").private(TOKEN_A));
    hub.add_file("org/secret", "main", "config.json", b"secret config");
    hub.add_file("org/secret", "main", "after.json", b"after restart");
    hub.add_file("org/public", "main", "config.json", b"public config");
    let mut server = TestServer::builder()
        .remote("declared", &hub)
        .distribution("declared", "declared")
        .start()
        .await;
    let admin = Admin::new(&server);
    assert!(
        !server.state_path().exists(),
        "a state file before any write"
    );

    // A reader polls the state file through every write: it must always parse, never be torn.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, stop) = (server.state_path(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    let parsed: Result<serde_yaml::Value, _> = serde_yaml::from_str(&text);
                    assert!(
                        parsed.is_ok_and(|d| d.is_mapping()),
                        "a torn state file was visible:\n{text}"
                    );
                    reads += 1;
                }
            }
            reads
        })
    };

    let guard = admin
        .create(
            GUARDS,
            &json!({"name": "g", "header_name": "X-Team-Key", "header_value": "team-key-5e1"}),
        )
        .await;
    assert!(
        read_state(&server).contains("team-key-5e1"),
        "the guard value is not saved (it is its only copy)"
    );
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "api-remote", "url": hub.url(), "hf_token": TOKEN_A}),
        )
        .await;
    read_state(&server);
    let dist = admin
        .create(DISTRIBUTIONS, &json!({"name": "api-dist", "base_path": "api/secret", "remote": href(&remote), "content_guard": href(&guard)}))
        .await;
    read_state(&server);
    for i in 0..20 {
        admin
            .changed(
                Method::PATCH,
                &href(&remote),
                Some(&json!({"pulp_labels": {"round": i.to_string()}})),
            )
            .await;
        let state = read_state(&server);
        assert!(
            state.contains("api-remote")
                && state.contains("api-dist")
                && state.contains("X-Team-Key"),
            "{state}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    assert!(
        reader.join().expect("state reader") > 0,
        "the reader never saw the state file"
    );
    let leftovers: Vec<String> = std::fs::read_dir(server.dir())
        .expect("server dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        // `state.yaml.prev` is the previous generation, kept on purpose.
        .filter(|n| n.contains("state") && n != "state.yaml" && n != "state.yaml.prev")
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left next to the state file: {leftovers:?}"
    );

    let guarded = "/pulp/content/api/secret/org/secret/resolve/main/config.json";
    let ok = server
        .get_with(guarded, &[("x-team-key", "team-key-5e1")])
        .await;
    assert_eq!(
        (ok.status().as_u16(), ok.body()),
        (200, &b"secret config"[..]),
        "{}",
        ok.text()
    );

    let declared_before = admin
        .list(REMOTES)
        .await
        .into_iter()
        .find(|r| r["name"] == "declared")
        .expect("declared remote listed");
    let declared_dist = admin
        .list(DISTRIBUTIONS)
        .await
        .into_iter()
        .find(|d| d["name"] == "declared")
        .expect("declared distribution listed");
    let objects_before: Vec<(String, Value)> = vec![
        (href(&guard), admin.get(&href(&guard)).await.json()),
        (href(&remote), admin.get(&href(&remote)).await.json()),
        (href(&dist), admin.get(&href(&dist)).await.json()),
    ];

    server.restart().await;

    for (path, before) in &objects_before {
        let after = admin.get(path).await;
        assert_eq!(
            after.status(),
            200,
            "{path} is gone after the restart: {}",
            after.text()
        );
        assert_eq!(&after.json(), before, "{path} changed across the restart");
    }
    assert_eq!(
        names(&admin.list(REMOTES).await),
        ["api-remote", "declared"]
    );
    assert_eq!(
        names(&admin.list(DISTRIBUTIONS).await),
        ["api-dist", "declared"]
    );
    assert_eq!(names(&admin.list(GUARDS).await), ["g"]);
    // The token and the guard value came back from the state file: the guard still gates, and
    // the private repo still opens (a file not fetched before, so it goes upstream with the token).
    assert_eq!(server.get(guarded).await.status(), 403);
    let after = server
        .get_with(
            "/pulp/content/api/secret/org/secret/resolve/main/after.json",
            &[("x-team-key", "team-key-5e1")],
        )
        .await;
    assert_eq!(
        (after.status().as_u16(), after.body()),
        (200, &b"after restart"[..]),
        "{}",
        after.text()
    );
    let public = server
        .get("/pulp/content/declared/org/public/resolve/main/config.json")
        .await;
    assert_eq!(public.status(), 200, "{}", public.text());

    // Declared objects: listed, stable hrefs, read-only through the API.
    let declared_after = admin
        .list(REMOTES)
        .await
        .into_iter()
        .find(|r| r["name"] == "declared")
        .expect("declared remote listed");
    assert_eq!(
        declared_after["pulp_href"], declared_before["pulp_href"],
        "a declared remote changed its href"
    );
    let state_before = read_state(&server);
    let put_bodies = [
        json!({"name": "renamed", "url": hub.url()}),
        json!({"name": "renamed", "base_path": "renamed"}),
    ];
    for (path, put_body) in [href(&declared_after), href(&declared_dist)]
        .into_iter()
        .zip(put_bodies)
    {
        let case = format!("PATCH {path}");
        let body = assert_drf_error(
            &admin.patch(&path, &json!({"name": "renamed"})).await,
            400,
            "detail",
            &case,
        );
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("declared in the configuration file"),
            "{case}: {body}"
        );
        assert_drf_error(
            &admin.put(&path, &put_body).await,
            400,
            "detail",
            &format!("PUT {path}"),
        );
        assert_drf_error(
            &admin.delete(&path).await,
            400,
            "detail",
            &format!("DELETE {path}"),
        );
        assert_eq!(admin.get(&path).await.status(), 200);
    }
    assert_eq!(
        read_state(&server),
        state_before,
        "a refused write changed the state file"
    );
    assert_eq!(
        names(&admin.list(REMOTES).await),
        ["api-remote", "declared"]
    );
    assert_no_secrets(
        &admin.transcript(),
        &[TOKEN_A, "team-key-5e1"],
        "the API answers",
    );
    assert_logs_clean(&server, &[TOKEN_A, "team-key-5e1"]);
}

#[tokio::test]
async fn deleting_a_remote_leaves_its_distribution_without_remote_and_its_content_a_clear_404() {
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", b"cfg");
    hub.add_file("org/model", "main", "second.json", b"second");
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(REMOTES, &json!({"name": "hf", "url": hub.url()}))
        .await;
    let dist = admin
        .create(
            DISTRIBUTIONS,
            &json!({"name": "hf", "base_path": "hf", "remote": href(&remote)}),
        )
        .await;
    assert_eq!(
        server
            .get("/pulp/content/hf/org/model/resolve/main/config.json")
            .await
            .status(),
        200
    );

    let deleted = admin.delete(&href(&remote)).await;
    assert_eq!(
        admin.task_of(&deleted).await["name"],
        "pulpcore.app.tasks.base.general_delete"
    );
    assert_drf_error(
        &admin.get(&href(&remote)).await,
        404,
        "detail",
        "GET a deleted remote",
    );
    assert!(admin.list(REMOTES).await.is_empty());

    let orphan = admin.get(&href(&dist)).await.json();
    assert_eq!(orphan["remote"], Value::Null, "{orphan}");
    assert_ne!(
        orphan["pulp_last_updated"], dist["pulp_last_updated"],
        "the distribution changed but its timestamp did not"
    );
    for path in [
        "/pulp/content/hf/org/model/resolve/main/config.json",
        "/pulp/content/hf/org/model/resolve/main/second.json",
    ] {
        let resp = server.get(path).await;
        assert_eq!(resp.status(), 404, "{path}: {}", resp.text());
        assert!(
            resp.text().contains("no remote"),
            "{path}: the 404 does not say why: {}",
            resp.text()
        );
    }
    assert!(read_state(&server).contains("hf"));

    // Attaching a new remote brings the content back at once.
    let again = admin
        .create(REMOTES, &json!({"name": "hf-again", "url": hub.url()}))
        .await;
    admin
        .changed(
            Method::PATCH,
            &href(&dist),
            Some(&json!({"remote": href(&again)})),
        )
        .await;
    let resp = server
        .get("/pulp/content/hf/org/model/resolve/main/second.json")
        .await;
    assert_eq!(
        (resp.status().as_u16(), resp.body()),
        (200, &b"second"[..]),
        "{}",
        resp.text()
    );
}

#[tokio::test]
async fn the_api_listen_sidecar_answers_and_its_writes_reach_the_content_listener() {
    let hub = FakeHub::start().await;
    hub.add_file("org/model", "main", "config.json", b"via sidecar");
    let server = TestServer::builder().separate_api_listener().start().await;
    assert_ne!(
        server.api_url(""),
        server.url(""),
        "the builder gave no separate API port"
    );
    let sidecar = Admin::new(&server);
    let main = Admin::at(&server, server.url(""));

    let status = server
        .client()
        .get(server.api_url(super::STATUS))
        .send()
        .await
        .expect("status on the sidecar");
    assert_eq!(status.status(), 200);
    assert_eq!(
        server
            .get("/pulp/content/side/org/model/resolve/main/config.json")
            .await
            .status(),
        404
    );

    let remote = sidecar
        .create(REMOTES, &json!({"name": "side", "url": hub.url()}))
        .await;
    sidecar
        .create(
            DISTRIBUTIONS,
            &json!({"name": "side", "base_path": "side", "remote": href(&remote)}),
        )
        .await;
    let resp = server
        .get("/pulp/content/side/org/model/resolve/main/config.json")
        .await;
    assert_eq!(
        (resp.status().as_u16(), resp.body()),
        (200, &b"via sidecar"[..]),
        "{}",
        resp.text()
    );

    // The content listener answers the API too, with the same objects; writes there show on the sidecar.
    assert_eq!(names(&main.list(REMOTES).await), ["side"]);
    main.create(
        GUARDS,
        &json!({"name": "from-main", "header_name": "X-Key", "header_value": "k"}),
    )
    .await;
    assert_eq!(names(&sidecar.list(GUARDS).await), ["from-main"]);
    let unauthenticated = server
        .client()
        .get(server.api_url(REMOTES))
        .send()
        .await
        .expect("sidecar");
    assert_eq!(unauthenticated.status(), 401);
    assert!(unauthenticated
        .headers()
        .get("www-authenticate")
        .is_some_and(|v| v.as_bytes().starts_with(b"Basic")));
    let huge = json!({"name": "x".repeat(2 << 20), "url": hub.url()});
    assert_drf_error(
        &sidecar.post(REMOTES, &huge).await,
        413,
        "detail",
        "a 2 MiB body on the sidecar",
    );
    let bad = sidecar
        .post(
            DISTRIBUTIONS,
            &json!({"name": "nested", "base_path": "side/inner", "remote": href(&remote)}),
        )
        .await;
    assert_drf_error(&bad, 400, "base_path", "a nested base path on the sidecar");
    assert_eq!(names(&main.list(REMOTES).await), ["side"]);
}
