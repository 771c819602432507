//! The API root, the generic lists, users, the label actions and the trailing-slash redirect.

use serde_json::{json, Value};

use super::tests::{request, Harness, DISTS, GUARDS, REMOTES};

fn names(v: &Value) -> Vec<&str> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or("?"))
        .collect()
}

async fn populated() -> Harness {
    let h = Harness::new();
    for name in ["alpha", "Beta"] {
        h.create(
            REMOTES,
            json!({"name": name, "url": "https://huggingface.co", "pulp_labels": {"n": name}}),
        )
        .await;
        let base_path = format!("hf/{}", name.to_lowercase());
        h.create(DISTS, json!({"name": name, "base_path": base_path}))
            .await;
        h.create(
            GUARDS,
            json!({"name": name, "header_name": "X-A", "header_value": "v"}),
        )
        .await;
    }
    h
}

#[tokio::test]
async fn the_root_lists_collections_without_login() {
    let h = Harness::new();
    let a = h
        .send(request("GET", "/pulp/api/v3/", None, None, ""))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["remotes"], "http://cache:8080/pulp/api/v3/remotes/");
    assert_eq!(
        a.json["distributions/hugging_face/hugging-face"],
        format!("http://cache:8080{DISTS}")
    );
}

#[tokio::test]
async fn generic_lists_show_every_object_with_the_base_fields() {
    let h = populated().await;
    let rows: [(&str, &[&str], &str); 4] = [
        ("/pulp/api/v3/remotes/", &["Beta", "alpha"], "url"),
        (
            "/pulp/api/v3/distributions/",
            &["Beta", "alpha"],
            "base_path",
        ),
        (
            "/pulp/api/v3/contentguards/",
            &["Beta", "alpha"],
            "description",
        ),
        ("/pulp/api/v3/repositories/", &[], "name"),
    ];
    for (path, want, field) in rows {
        let a = h.call("GET", path, None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.json);
        assert_eq!(names(&a.json), want, "{path}");
        for obj in a.json["results"].as_array().unwrap() {
            assert!(obj.get(field).is_some(), "{path}: {obj}");
            for gone in ["hf_hub_url", "remote", "header_value", "header_name"] {
                assert!(obj.get(gone).is_none(), "{path}: {gone} in {obj}");
            }
        }
    }
    let rows: [(&str, &[&str]); 5] = [
        ("/pulp/api/v3/remotes/?ordering=name", &["Beta", "alpha"]),
        (
            "/pulp/api/v3/remotes/?pulp_label_select=n%3Dalpha",
            &["alpha"],
        ),
        ("/pulp/api/v3/distributions/?base_path=hf/beta", &["Beta"]),
        ("/pulp/api/v3/contentguards/?name__iexact=ALPHA", &["alpha"]),
        (
            "/pulp/api/v3/repositories/?name__regex=a&ordering=-name",
            &[],
        ),
    ];
    for (uri, want) in rows {
        let a = h.call("GET", uri, None).await;
        assert_eq!((a.status, names(&a.json)), (200, want.to_vec()), "{uri}");
    }
    for (uri, status) in [
        ("/pulp/api/v3/contentguards/?pulp_label_select=a", 400),
        ("/pulp/api/v3/repositories/?colour=red", 400),
        ("/pulp/api/v3/repositories/?ordering=colour", 400),
    ] {
        assert_eq!(h.call("GET", uri, None).await.status, status, "{uri}");
    }
    let post = h
        .call("POST", "/pulp/api/v3/remotes/", Some(json!({})))
        .await;
    assert_eq!(post.status, 405);
    assert_eq!(post.headers["allow"], "GET,HEAD");
    let anonymous = h
        .send(request("GET", "/pulp/api/v3/remotes/", None, None, ""))
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn users_show_no_password() {
    let h = Harness::new();
    let a = h.call("GET", "/pulp/api/v3/users/", None).await;
    assert_eq!(a.status, 200);
    let user = &a.json["results"][0];
    assert_eq!(
        (
            user["pulp_href"].clone(),
            user["id"].clone(),
            user["username"].clone()
        ),
        (json!("/pulp/api/v3/users/1/"), json!(1), json!("admin"))
    );
    assert_eq!(
        user["hidden_fields"],
        json!([{"name": "password", "is_set": true}])
    );
    assert!(!a.json.to_string().contains("\"password\":"), "{}", a.json);
    let one = h.call("GET", "/pulp/api/v3/users/1/", None).await;
    assert_eq!(&one.json, user);
    for uri in [
        "/pulp/api/v3/users/2/",
        "/pulp/api/v3/users/0/",
        "/pulp/api/v3/users/x/",
    ] {
        assert_eq!(h.call("GET", uri, None).await.status, 404, "{uri}");
    }
    for (q, count) in [
        ("username=admin", 1),
        ("username__icontains=ADM", 1),
        ("username=root", 0),
        ("is_active=false", 0),
    ] {
        let a = h
            .call("GET", &format!("/pulp/api/v3/users/?{q}"), None)
            .await;
        assert_eq!(a.json["count"], count, "{q}: {}", a.json);
    }
    assert_eq!(
        h.call("GET", "/pulp/api/v3/users/?is_staff=maybe", None)
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn set_and_unset_label() {
    let h = populated().await;
    let list = h.call("GET", &format!("{REMOTES}?name=alpha"), None).await;
    let href = list.json["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let before = list.json["results"][0]["pulp_last_updated"].clone();
    let set = h
        .call(
            "POST",
            &format!("{href}set_label/"),
            Some(json!({"key": "env", "value": "prod"})),
        )
        .await;
    assert_eq!(
        (set.status, set.json),
        (201, json!({"key": "env", "value": "prod"}))
    );
    let obj = h.call("GET", &href, None).await.json;
    assert_eq!(obj["pulp_labels"], json!({"n": "alpha", "env": "prod"}));
    assert_ne!(obj["pulp_last_updated"], before);
    let saved = fs_err::read_to_string(&h.state_path).unwrap();
    assert!(saved.contains("env: prod"), "{saved}");

    let bad: [(&str, Value, Value); 5] = [
        (
            "set_label/",
            json!({"value": "x"}),
            json!({"key": ["This field is required."]}),
        ),
        (
            "set_label/",
            json!({"key": "a/b", "value": "x"}),
            json!({"non_field_errors": ["Key 'a/b' contains non-alphanumerics."]}),
        ),
        (
            "set_label/",
            json!({"key": "k", "value": "(x)"}),
            json!({"non_field_errors": ["Key 'k' contains value with parens."]}),
        ),
        (
            "set_label/",
            json!({"key": "k"}),
            json!({"value": ["This field is required."]}),
        ),
        (
            "unset_label/",
            json!({"key": "nope"}),
            json!({"key": ["Label 'nope' is not set on the object."]}),
        ),
    ];
    for (action, body, want) in bad {
        let a = h
            .call("POST", &format!("{href}{action}"), Some(body.clone()))
            .await;
        assert_eq!((a.status, a.json), (400, want), "{action} {body}");
    }
    assert_eq!(
        fs_err::read_to_string(&h.state_path).unwrap(),
        saved,
        "400s change nothing"
    );

    let unset = h
        .call(
            "POST",
            &format!("{href}unset_label/"),
            Some(json!({"key": "env"})),
        )
        .await;
    assert_eq!(
        (unset.status, unset.json),
        (201, json!({"key": "env", "value": "prod"}))
    );
    assert_eq!(
        h.call("GET", &href, None).await.json["pulp_labels"],
        json!({"n": "alpha"})
    );

    let missing = format!("{REMOTES}00000000-0000-7000-8000-000000000000/set_label/");
    let a = h
        .call("POST", &missing, Some(json!({"key": "k", "value": "v"})))
        .await;
    assert_eq!(a.status, 404);
    let a = h.call("GET", &format!("{href}set_label/"), None).await;
    assert_eq!(
        (a.status, a.headers["allow"].to_str().unwrap()),
        (405, "POST")
    );
    let dist = h
        .call("GET", &format!("{DISTS}?name=Beta"), None)
        .await
        .json["results"][0]["pulp_href"]
        .clone();
    let a = h
        .call(
            "POST",
            &format!("{}set_label/", dist.as_str().unwrap()),
            Some(json!({"key": "k", "value": ""})),
        )
        .await;
    // pulpcore declares 200 for a distribution's label actions (201 for a remote's).
    assert_eq!((a.status, a.json), (200, json!({"key": "k", "value": ""})));
    let guard = h.call("GET", GUARDS, None).await.json["results"][0]["pulp_href"].clone();
    let a = h
        .call(
            "POST",
            &format!("{}set_label/", guard.as_str().unwrap()),
            Some(json!({"key": "k", "value": "v"})),
        )
        .await;
    assert_eq!(a.status, 404, "guards have no labels");
}

#[tokio::test]
async fn a_path_without_its_slash_redirects_when_the_slashed_one_is_a_route() {
    let h = populated().await;
    let a = h
        .send(request("GET", "/pulp/api/v3/status?x=1", None, None, ""))
        .await;
    assert_eq!(
        (a.status, a.headers["location"].to_str().unwrap()),
        (301, "/pulp/api/v3/status/?x=1")
    );
    let href = h.call("GET", REMOTES, None).await.json["results"][0]["pulp_href"].clone();
    let href = href.as_str().unwrap().trim_end_matches('/');
    let a = h.send(request("HEAD", href, None, None, "")).await;
    assert_eq!(a.status, 301);
    for (method, uri) in [
        ("POST", "/pulp/api/v3/status"),
        ("GET", "/pulp/api/v3/nothing"),
        ("GET", "/pulp/api/v3/remotes/hugging_face"),
    ] {
        let a = h.send(request(method, uri, None, None, "")).await;
        assert_ne!(a.status, 301, "{method} {uri}");
    }
}
