//! pulpcore's generic endpoints over HTTP against the real binary: the API root, the generic
//! lists and users, `set_label/` / `unset_label/`, the regex filters, the trailing-slash
//! redirect, and the `url` / `hf_hub_url` rule proven by where content is fetched from.

use http::Method;
use serde_json::{json, Value};

use super::{assert_drf_error, href, names, read_state, Admin, DISTRIBUTIONS, GUARDS, REMOTES};
use crate::support::{FakeHub, RepoSpec, TestServer};

/// The generated `pulp_hugging_face_client` sends this on every create and PATCH.
const CLIENT_HF_HUB_URL: &str = "https://huggingface.co";

async fn names_at(admin: &Admin, path: &str) -> Vec<String> {
    let resp = admin.get(path).await;
    assert_eq!(resp.status(), 200, "{path}: {}", resp.text());
    let results: Vec<Value> = resp.json()["results"].as_array().unwrap().clone();
    names(&results)
}

#[tokio::test]
async fn root_generic_lists_users_filters_and_the_slash_redirect() {
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    for name in ["alpha", "Beta"] {
        let remote = admin
            .create(REMOTES, &json!({"name": name, "url": "http://127.0.0.1:9"}))
            .await;
        let base_path = name.to_lowercase();
        admin
            .create(
                DISTRIBUTIONS,
                &json!({"name": name, "base_path": base_path, "remote": href(&remote)}),
            )
            .await;
        admin
            .create(
                GUARDS,
                &json!({"name": name, "header_name": "X-A", "header_value": "s3cret-guard"}),
            )
            .await;
    }

    let root = server
        .client()
        .get(admin.url("/pulp/api/v3/"))
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 200, "the root needs no login");
    let root: Value = root.json().await.unwrap();
    assert_eq!(root["remotes"], admin.url("/pulp/api/v3/remotes/"));
    assert_eq!(root["users"], admin.url("/pulp/api/v3/users/"));

    let rows: [(&str, &[&str]); 8] = [
        ("/pulp/api/v3/remotes/", &["Beta", "alpha"]),
        ("/pulp/api/v3/remotes/?ordering=name", &["Beta", "alpha"]),
        ("/pulp/api/v3/distributions/?base_path=beta", &["Beta"]),
        ("/pulp/api/v3/contentguards/?name__iexact=ALPHA", &["alpha"]),
        ("/pulp/api/v3/repositories/", &[]),
        (&format!("{REMOTES}?name__regex=%5E%5Ba-z%5D"), &["alpha"]),
        (&format!("{DISTRIBUTIONS}?name__iregex=ETA%24"), &["Beta"]),
        (&format!("{GUARDS}?name__istartswith=B"), &["Beta"]),
    ];
    for (path, want) in rows {
        assert_eq!(names_at(&admin, path).await, want, "{path}");
    }
    let guards = admin.get("/pulp/api/v3/contentguards/").await;
    assert!(!guards.text().contains("s3cret-guard"), "{}", guards.text());
    assert!(guards.json()["results"][0].get("header_value").is_none());
    let remotes = admin.get("/pulp/api/v3/remotes/").await.json();
    assert!(
        remotes["results"][0].get("hf_hub_url").is_none(),
        "{remotes}"
    );
    assert_drf_error(
        &admin.get(&format!("{REMOTES}?name__regex=(a")).await,
        400,
        "name__regex",
        "bad regex",
    );
    let post = admin.post("/pulp/api/v3/distributions/", &json!({})).await;
    assert_eq!(post.status(), 405);

    let (user, _) = server.admin_credentials();
    let users = admin.get("/pulp/api/v3/users/").await;
    let first = users.json()["results"][0].clone();
    assert_eq!(first["username"], user);
    // The password appears only as the name of a hidden field (the test password is
    // "password"): no other key or value holds it.
    assert_eq!(
        first["hidden_fields"],
        json!([{"name": "password", "is_set": true}])
    );
    let mut shown = first.as_object().unwrap().clone();
    shown.remove("hidden_fields");
    assert!(
        !Value::Object(shown).to_string().contains("password"),
        "{first}"
    );
    let found = admin
        .get(&format!("/pulp/api/v3/users/?username={user}"))
        .await;
    assert_eq!(found.json()["count"], 1);
    let one = admin.get("/pulp/api/v3/users/1/").await;
    assert_eq!(one.json()["pulp_href"], "/pulp/api/v3/users/1/");

    let status = server
        .client()
        .get(admin.url("/pulp/api/v3/status?pretty=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 301);
    assert_eq!(
        status.headers()["location"].to_str().unwrap(),
        "/pulp/api/v3/status/?pretty=1"
    );
}

#[tokio::test]
async fn labels_round_trip_and_bad_input_changes_nothing() {
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(REMOTES, &json!({"name": "hf", "url": "http://127.0.0.1:9"}))
        .await;
    let remote = href(&remote);
    let set = admin
        .post(
            &format!("{remote}set_label/"),
            &json!({"key": "env", "value": "prod"}),
        )
        .await;
    assert_eq!(set.status(), 201, "{}", set.text());
    assert_eq!(set.json(), json!({"key": "env", "value": "prod"}));
    assert_eq!(
        admin.get(&remote).await.json()["pulp_labels"],
        json!({"env": "prod"})
    );
    let state = read_state(&server);
    assert!(state.contains("env: prod"), "{state}");

    let missing = format!("{REMOTES}0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/set_label/");
    let rows: [(Method, String, Option<Value>, u16, &str); 6] = [
        (
            Method::POST,
            format!("{remote}set_label/"),
            Some(json!({"value": "x"})),
            400,
            "key",
        ),
        (
            Method::POST,
            format!("{remote}set_label/"),
            Some(json!({"key": "a/b", "value": "x"})),
            400,
            "non_field_errors",
        ),
        (
            Method::POST,
            format!("{remote}set_label/"),
            Some(json!({"key": "k", "value": "(x)"})),
            400,
            "non_field_errors",
        ),
        (
            Method::POST,
            missing,
            Some(json!({"key": "k", "value": "v"})),
            404,
            "detail",
        ),
        (
            Method::POST,
            format!("{remote}unset_label/"),
            Some(json!({"key": "nope"})),
            400,
            "key",
        ),
        (
            Method::GET,
            format!("{remote}set_label/"),
            None,
            405,
            "detail",
        ),
    ];
    for (method, path, body, status, key) in rows {
        let resp = admin.send(method.clone(), &path, body.as_ref()).await;
        assert_drf_error(&resp, status, key, &format!("{method} {path} {body:?}"));
        assert_eq!(
            read_state(&server),
            state,
            "{method} {path} changed the state"
        );
    }

    let unset = admin
        .post(&format!("{remote}unset_label/"), &json!({"key": "env"}))
        .await;
    assert_eq!(unset.status(), 201, "{}", unset.text());
    assert_eq!(unset.json(), json!({"key": "env", "value": "prod"}));
    assert_eq!(admin.get(&remote).await.json()["pulp_labels"], json!({}));
}

#[tokio::test]
async fn hf_hub_url_is_stored_and_content_keeps_coming_from_url() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/m").private("hf_rotated_token"));
    hub.add_file("org/m", "main", "config.json", b"from the fake hub");
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);

    // What the generated client sends: url and the default hf_hub_url side by side.
    let remote = admin
        .create(
            REMOTES,
            &json!({"name": "hf", "url": hub.url(), "hf_hub_url": CLIENT_HF_HUB_URL}),
        )
        .await;
    assert_eq!(
        (
            remote["url"].clone(),
            remote["hf_hub_url"].clone(),
            remote["headers"].clone()
        ),
        (json!(hub.url()), json!(CLIENT_HF_HUB_URL), Value::Null)
    );
    let alone = admin
        .create(REMOTES, &json!({"name": "alone", "url": hub.url()}))
        .await;
    assert_eq!(alone["hf_hub_url"], CLIENT_HF_HUB_URL);
    let remote_href = href(&remote);
    admin
        .create(
            DISTRIBUTIONS,
            &json!({"name": "hf", "base_path": "hf", "remote": remote_href}),
        )
        .await;
    let path = "/pulp/content/hf/org/m/resolve/main/config.json";
    assert_ne!(
        server.get(path).await.status(),
        200,
        "private: no token yet"
    );

    // Rotating the token the way the generated client does leaves url alone.
    let patched = admin
        .patch(
            &remote_href,
            &json!({"hf_token": "hf_rotated_token", "hf_hub_url": CLIENT_HF_HUB_URL}),
        )
        .await;
    assert!(patched.status().is_success(), "{}", patched.text());
    let now = admin.get(&remote_href).await.json();
    assert_eq!(now["url"], hub.url());
    hub.clear_requests();
    let got = server.get(path).await;
    assert_eq!(
        (got.status().as_u16(), got.body()),
        (200, &b"from the fake hub"[..]),
        "{}",
        got.text()
    );
    assert!(hub.saw_header_value("authorization", "Bearer hf_rotated_token"));
    assert!(read_state(&server).contains(&format!("hf_hub_url: {CLIENT_HF_HUB_URL}")));
}
