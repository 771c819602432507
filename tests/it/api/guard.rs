//! Header content guards made through the API: stock `huggingface_hub` passes with
//! `HF_TOKEN=<secret>` and fails without, curl without the header gets 403, pulpcore's base64
//! form passes, the guard's header never goes upstream and its value never comes back.

use base64::Engine;
use http::Method;
use serde_json::{json, Value};

use super::{
    assert_drf_error, assert_logs_clean, assert_no_secrets, hidden_is_set, href, Admin,
    DISTRIBUTIONS, GUARDS, REMOTES,
};
use crate::clients::{files_of, pythons, run_client, sha256_hex};
use crate::support::{Content, FakeHub, TestServer};

const SECRET: &str = "s3cretGuardValue";
const ROTATED: &str = "r0tatedGuardValue";
const CONFIG: &[u8] = b"{\"model_type\": \"guarded\"}\n";

async fn curl_status(url: &str, headers: &[&str]) -> u16 {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--noproxy",
        "*",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().await.expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl printed {:?}", out))
}

#[tokio::test]
async fn a_header_guard_lets_huggingface_hub_with_hf_token_through_and_refuses_everyone_else() {
    let hub = FakeHub::start().await;
    let weights = Content::pattern(300_000, 21).to_vec();
    hub.add_file("org/guarded", "main", "config.json", CONFIG);
    hub.add_lfs_file("org/guarded", "main", "model.safetensors", weights.clone());
    let server = TestServer::builder().start().await;
    let admin = Admin::new(&server);

    let guard = admin.create(GUARDS, &json!({"name": "g", "header_name": "Authorization", "header_value": format!("Bearer {SECRET}")})).await;
    // Redacted, never the value (docs/pulp-api.md §7).
    assert_eq!(guard["header_value"], "**********", "{guard}");
    assert!(hidden_is_set(&guard, "header_value"));
    assert_eq!(guard["header_name"], "Authorization");
    let remote = admin
        .create(REMOTES, &json!({"name": "hf", "url": hub.url()}))
        .await;
    let dist = admin
        .create(DISTRIBUTIONS, &json!({"name": "guarded", "base_path": "guarded", "remote": href(&remote), "content_guard": href(&guard)}))
        .await;
    assert_eq!(dist["content_guard"], href(&guard).as_str());
    assert_eq!(dist["content_guard_prn"], guard["prn"]);

    // curl and plain HTTP: no header, a wrong one → 403; the value raw or base64-encoded → 200.
    let path = "/pulp/content/guarded/org/guarded/resolve/main/config.json";
    assert_eq!(
        curl_status(&server.url(path), &[]).await,
        403,
        "curl without the header"
    );
    assert_eq!(
        curl_status(&server.url(path), &["Authorization: Bearer wrong"]).await,
        403
    );
    let denied = server.get(path).await;
    assert_eq!(denied.status(), 403);
    assert_eq!(denied.text().trim(), "Access denied.");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("Bearer {SECRET}"));
    for value in [format!("Bearer {SECRET}"), encoded.clone()] {
        let ok = server.get_with(path, &[("authorization", &value)]).await;
        assert_eq!(
            (ok.status().as_u16(), ok.body()),
            (200, CONFIG),
            "with {value}: {}",
            ok.text()
        );
    }
    let head = server
        .get_with(path, &[("authorization", "Bearer wrong")])
        .await;
    assert_eq!(head.status(), 403);

    // Real clients: HF_TOKEN=<secret> sends `Authorization: Bearer <secret>`.
    let want_weights = sha256_hex(&weights);
    for python in pythons() {
        let calls = json!([
            {"fn": "hf_hub_download", "repo_id": "org/guarded", "filename": "config.json"},
            {"fn": "hf_hub_download", "repo_id": "org/guarded", "filename": "model.safetensors"},
            {"fn": "snapshot_download", "repo_id": "org/guarded"},
        ]);
        let home = tempfile::tempdir().expect("HF_HOME");
        let (version, results) = run_client(
            &python,
            &server.endpoint("guarded"),
            home.path(),
            calls.clone(),
            Some(SECRET),
        )
        .await;
        assert_eq!(results.len(), 3, "{version}");
        assert_eq!(
            files_of(&results[0])["config.json"],
            sha256_hex(CONFIG),
            "{version}"
        );
        assert_eq!(
            files_of(&results[1])["model.safetensors"],
            want_weights,
            "{version}"
        );
        assert_eq!(
            files_of(&results[2]).len(),
            2,
            "{version}: snapshot {:?}",
            results[2]
        );

        for token in [None, Some("wrong-token")] {
            let home = tempfile::tempdir().expect("HF_HOME");
            let (version, results) = run_client(
                &python,
                &server.endpoint("guarded"),
                home.path(),
                calls.clone(),
                token,
            )
            .await;
            for result in &results {
                assert!(
                    result.get("error").is_some(),
                    "{version} with token {token:?} got through the guard: {result}"
                );
            }
        }
    }

    // The guard's header is the client's business: it never went upstream in any form.
    assert!(
        !hub.saw_header_value("authorization", &format!("Bearer {SECRET}")),
        "the guard's header went to the Hub"
    );
    assert!(
        !hub.saw_header_value("authorization", &encoded),
        "the guard's header went to the Hub"
    );
    assert!(
        !hub.saw_header("authorization"),
        "the token-less remote sent an Authorization upstream"
    );
    assert!(
        !hub.cdn().saw_authorization(),
        "the CDN received an Authorization header"
    );

    // A guard in use cannot be deleted (that would make the content public).
    let refused = assert_drf_error(
        &admin.delete(&href(&guard)).await,
        400,
        "detail",
        "delete a guard in use",
    );
    assert!(
        refused["detail"].as_str().unwrap_or("").contains("guarded"),
        "{refused}"
    );
    assert_eq!(admin.get(&href(&guard)).await.status(), 200);

    // Rotating the value is live: the old one is refused at once, the new one passes.
    let rotated = admin
        .patch(
            &href(&guard),
            &json!({"header_value": format!("Bearer {ROTATED}")}),
        )
        .await;
    assert_eq!(rotated.status(), 200, "{}", rotated.text());
    assert!(hidden_is_set(&rotated.json(), "header_value"));
    assert_eq!(
        server
            .get_with(path, &[("authorization", &format!("Bearer {SECRET}"))])
            .await
            .status(),
        403
    );
    assert_eq!(
        server
            .get_with(path, &[("authorization", &format!("Bearer {ROTATED}"))])
            .await
            .status(),
        200
    );

    // Detached, the distribution is public again; then the guard can go.
    let detached = admin
        .changed(
            Method::PATCH,
            &href(&dist),
            Some(&json!({"content_guard": null})),
        )
        .await;
    assert_eq!(detached["content_guard"], Value::Null);
    assert_eq!(server.get(path).await.status(), 200);
    assert_eq!(admin.delete(&href(&guard)).await.status(), 204);

    for collection in [GUARDS, DISTRIBUTIONS] {
        admin.get(collection).await;
    }
    let secrets = [SECRET, ROTATED, encoded.as_str()];
    assert_no_secrets(&admin.transcript(), &secrets, "the API answers");
    assert_logs_clean(&server, &secrets);
}
