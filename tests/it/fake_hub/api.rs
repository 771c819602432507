//! Self-tests of the fake Hub's API routes, revisions, auth, errors and listener control.

use super::{absolute, get, get_with, head, hub_with_model, send, CONFIG};
use crate::support::{FakeHub, Fault, RepoSpec};

#[tokio::test]
async fn revision_info_reports_the_same_sha_as_resolve_and_lists_siblings() {
    let hub = hub_with_model().await;
    let commit = hub.commit("org/model", "main");
    let info = get(&format!("{}/api/models/org/model/revision/main", hub.url()))
        .await
        .json();
    assert_eq!(info["id"], "org/model");
    assert_eq!(info["modelId"], "org/model");
    assert_eq!(info["sha"], commit.as_str());
    assert_eq!(info["xetEnabled"], true);
    assert_eq!(info["private"], false);
    let names: Vec<&str> = info["siblings"]
        .as_array()
        .expect("siblings")
        .iter()
        .map(|s| s["rfilename"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["config.json", "model.safetensors"]);
    assert!(
        info["siblings"][1].get("lfs").is_none(),
        "details only with blobs=true"
    );

    let detailed = get(&format!("{}/api/models/org/model?blobs=true", hub.url()))
        .await
        .json();
    let lfs = &detailed["siblings"][1]["lfs"];
    assert_eq!(
        lfs["sha256"],
        hub.etag("org/model", "main", "model.safetensors").as_str()
    );
    assert_eq!(lfs["size"], 300_000);

    let bad = get(&format!("{}/api/models/org/model/revision/nope", hub.url())).await;
    assert_eq!(bad.status(), 404);
    assert_eq!(bad.header("x-error-code"), Some("RevisionNotFound"));
}

#[tokio::test]
async fn revisions_accept_short_commits_and_encoded_pr_refs() {
    let hub = hub_with_model().await;
    let main = hub.commit("org/model", "main");
    let pr = hub.move_branch("org/model", "main");
    hub.set_ref("org/model", "refs/pr/1", &pr);
    hub.set_ref("org/model", "main", &main);
    hub.set_ref("org/model", "v1.0", &main);

    for (rev, expected) in [
        ("refs%2Fpr%2F1", &pr),
        (&main[..7], &main),
        (main.as_str(), &main),
        ("v1.0", &main),
    ] {
        let resp = head(&format!(
            "{}/org/model/resolve/{rev}/config.json",
            hub.url()
        ))
        .await;
        assert_eq!(resp.status(), 307, "rev {rev}");
        assert_eq!(
            resp.header("x-repo-commit"),
            Some(expected.as_str()),
            "rev {rev}"
        );
    }
}

#[tokio::test]
async fn moving_a_branch_makes_a_new_commit_with_new_content() {
    let hub = hub_with_model().await;
    let before = hub.commit("org/model", "main");
    let after = hub.move_branch("org/model", "main");
    hub.add_file("org/model", "main", "config.json", "{\"v\": 2}");
    assert_ne!(before, after);
    assert_eq!(hub.commit("org/model", "main"), after);
    hub.set_simple_mode(true);
    let old = get(&format!(
        "{}/org/model/resolve/{before}/config.json",
        hub.url()
    ))
    .await;
    let new = get(&format!("{}/org/model/resolve/main/config.json", hub.url())).await;
    assert_eq!(old.body(), CONFIG);
    assert_eq!(new.body(), b"{\"v\": 2}");
    assert_ne!(old.header("etag"), new.header("etag"));
}

#[tokio::test]
async fn tree_pages_carry_an_absolute_next_link_until_the_end() {
    let hub = hub_with_model().await;
    for i in 0..4 {
        hub.add_file(
            "org/model",
            "main",
            &format!("sub/dir/f{i}.txt"),
            format!("{i}"),
        );
    }
    hub.set_tree_page_size(2);
    for spelling in ["recursive=true&expand=false", "recursive=True&expand=False"] {
        let mut url = Some(format!(
            "{}/api/models/org/model/tree/main?{spelling}",
            hub.url()
        ));
        let mut paths = Vec::new();
        while let Some(next) = url.take() {
            let page = get(&next).await;
            assert_eq!(page.status(), 200, "{next}");
            let entries = page.json();
            assert!(entries.as_array().expect("array").len() <= 2);
            paths.extend(
                entries
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| e["path"].as_str().expect("path").to_string()),
            );
            url = page.header("link").map(|link| {
                let target = link
                    .strip_prefix('<')
                    .and_then(|l| l.split_once(">; rel=\"next\""))
                    .expect("next link")
                    .0;
                assert!(
                    target.starts_with(&format!("{}/api/models/org/model/tree/main?", hub.url())),
                    "absolute: {target}"
                );
                assert!(target.contains("cursor="));
                target.to_string()
            });
        }
        let expected = [
            "config.json",
            "model.safetensors",
            "sub",
            "sub/dir",
            "sub/dir/f0.txt",
            "sub/dir/f1.txt",
            "sub/dir/f2.txt",
            "sub/dir/f3.txt",
        ];
        assert_eq!(paths, expected, "{spelling}");
    }
    assert_eq!(
        hub.count(|r| r.is("GET", "/tree/")),
        8,
        "4 pages per spelling"
    );
}

#[tokio::test]
async fn tree_entries_have_lfs_details_xet_hash_and_directories() {
    let hub = hub_with_model().await;
    hub.add_file("org/model", "main", "sub/a.txt", "a");
    let entries = get(&format!("{}/api/models/org/model/tree/main", hub.url()))
        .await
        .json();
    let by_path = |p: &str| {
        entries
            .as_array()
            .expect("array")
            .iter()
            .find(|e| e["path"] == p)
            .cloned()
            .expect(p)
    };
    assert_eq!(by_path("sub")["type"], "directory");
    let lfs = by_path("model.safetensors");
    assert_eq!(
        lfs["lfs"]["oid"],
        hub.etag("org/model", "main", "model.safetensors").as_str()
    );
    assert_eq!(lfs["xetHash"].as_str().map(str::len), Some(64));
    assert_eq!(
        by_path("config.json")["oid"],
        hub.etag("org/model", "main", "config.json").as_str()
    );
    assert!(
        entries
            .as_array()
            .expect("array")
            .iter()
            .all(|e| e["path"] != "sub/a.txt"),
        "not recursive"
    );

    let sub = get(&format!("{}/api/models/org/model/tree/main/sub", hub.url()))
        .await
        .json();
    assert_eq!(sub[0]["path"], "sub/a.txt");
    let missing = get(&format!(
        "{}/api/models/org/model/tree/main/nope",
        hub.url()
    ))
    .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.header("x-error-code"), Some("EntryNotFound"));
}

#[tokio::test]
async fn paths_info_answers_like_the_tree() {
    let hub = hub_with_model().await;
    let url = format!("{}/api/models/org/model/paths-info/main", hub.url());
    let resp = crate::support::TestResponse::send(
        crate::support::test_client()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("paths=config.json&paths=missing.bin&expand=false"),
    )
    .await;
    let entries = resp.json();
    assert_eq!(entries.as_array().map(Vec::len), Some(1));
    assert_eq!(entries[0]["path"], "config.json");
}

#[tokio::test]
async fn missing_file_is_entry_not_found_with_the_commit() {
    let hub = hub_with_model().await;
    let resp = head(&format!(
        "{}/org/model/resolve/main/missing.json",
        hub.url()
    ))
    .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.header("x-error-code"), Some("EntryNotFound"));
    assert_eq!(resp.header("x-error-message"), Some("Entry not found"));
    assert_eq!(
        resp.header("x-repo-commit"),
        Some(hub.commit("org/model", "main").as_str())
    );
}

#[tokio::test]
async fn private_repo_is_401_anonymous_404_with_a_wrong_token_and_open_with_the_right_one() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/secret").private("hf_good"));
    hub.add_file("org/secret", "main", "config.json", CONFIG);
    let resolve = format!("{}/org/secret/resolve/main/config.json", hub.url());
    let api = format!("{}/api/models/org/secret", hub.url());
    for url in [&resolve, &api] {
        let anon = get(url).await;
        assert_eq!(anon.status(), 401, "{url}");
        assert_eq!(
            anon.header("x-error-message"),
            Some("Invalid username or password.")
        );
        assert_eq!(anon.header("x-error-code"), None);
        let wrong = get_with(url, &[("authorization", "Bearer hf_bad")]).await;
        assert_eq!(wrong.status(), 404, "{url}");
        assert_eq!(wrong.header("x-error-code"), Some("RepoNotFound"));
        let good = get_with(url, &[("authorization", "Bearer hf_good")]).await;
        assert!(
            good.status() == 200 || good.status() == 307,
            "{url}: {}",
            good.status()
        );
    }
    let unknown = get_with(
        &format!("{}/api/models/org/nothing", hub.url()),
        &[("authorization", "Bearer hf_good")],
    )
    .await;
    assert_eq!(unknown.header("x-error-code"), Some("RepoNotFound"));
}

#[tokio::test]
async fn gated_repo_downloads_need_a_granted_token() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/gated").gated(&["hf_granted"]));
    hub.add_file("org/gated", "main", "config.json", CONFIG);
    let url = format!("{}/org/gated/resolve/main/config.json", hub.url());
    let other = head_with_token(&url, "hf_other").await;
    assert_eq!(other.status(), 403);
    assert_eq!(other.header("x-error-code"), Some("GatedRepo"));
    assert_eq!(head(&url).await.header("x-error-code"), Some("GatedRepo"));
    assert_eq!(head_with_token(&url, "hf_granted").await.status(), 307);
    assert_eq!(
        get(&format!("{}/api/models/org/gated", hub.url()))
            .await
            .json()["gated"],
        "manual"
    );
}

async fn head_with_token(url: &str, token: &str) -> crate::support::TestResponse {
    send(
        reqwest::Method::HEAD,
        url,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
}

#[tokio::test]
async fn rate_limit_and_server_errors_can_be_injected_for_a_number_of_requests() {
    let hub = hub_with_model().await;
    let url = format!("{}/org/model/resolve/main/config.json", hub.url());
    hub.fault_times(
        "org/model",
        "config.json",
        Fault::RateLimited { retry_after: 7 },
        1,
    );
    let limited = head(&url).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert_eq!(limited.header("ratelimit"), Some("\"resolvers\";r=0;t=7"));
    assert_eq!(head(&url).await.status(), 307);

    hub.repo_fault("org/model", Fault::Status(503));
    assert_eq!(head(&url).await.status(), 503);
    assert_eq!(
        get(&format!("{}/api/models/org/model", hub.url()))
            .await
            .status(),
        503
    );
    hub.clear_faults();
    hub.fault("org/model", "config.json", Fault::Status(500));
    assert_eq!(head(&url).await.status(), 500);
}

#[tokio::test]
async fn renamed_repos_answer_a_relative_307_to_the_new_id() {
    let hub = FakeHub::start().await;
    hub.add_file("openai-community/gpt2", "main", "config.json", CONFIG);
    hub.rename("gpt2", "openai-community/gpt2");
    let api = get(&format!("{}/api/models/gpt2/revision/main", hub.url())).await;
    assert_eq!(api.status(), 307);
    assert_eq!(
        api.header("location"),
        Some("/api/models/openai-community/gpt2/revision/main")
    );
    let resolve = head(&format!("{}/gpt2/resolve/main/config.json", hub.url())).await;
    assert_eq!(resolve.status(), 307);
    let location = resolve.header("location").expect("location");
    assert_eq!(location, "/openai-community/gpt2/resolve/main/config.json");
    assert_eq!(
        head(&absolute(&hub, location))
            .await
            .header("x-repo-commit"),
        Some(hub.commit("openai-community/gpt2", "main").as_str())
    );
}

#[tokio::test]
async fn xet_read_token_answers_and_is_counted_and_agent_harnesses_is_404() {
    let hub = hub_with_model().await;
    let commit = hub.commit("org/model", "main");
    assert_eq!(hub.xet_token_hits(), 0);
    let token = get(&format!(
        "{}/api/models/org/model/xet-read-token/{commit}",
        hub.url()
    ))
    .await;
    assert_eq!(token.status(), 200);
    assert!(
        token.header("x-xet-cas-url").is_some() && token.header("x-xet-access-token").is_some()
    );
    assert!(token.header("x-xet-token-expiration").is_some());
    assert!(token.json()["accessToken"].is_string());
    assert_eq!(hub.xet_token_hits(), 1);
    assert_eq!(
        get(&format!("{}/api/agent-harnesses", hub.url()))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn shutdown_refuses_connections_until_restart() {
    let hub = hub_with_model().await;
    let url = format!("{}/api/models/org/model", hub.url());
    hub.shutdown();
    let err = crate::support::test_client()
        .get(&url)
        .send()
        .await
        .expect_err("refused");
    assert!(err.is_connect(), "{err}");
    hub.restart().await;
    assert_eq!(get(&url).await.status(), 200);
}
