//! Tenants and secrets: a remote never reaches bytes or Hub APIs it could not reach itself.

use crate::support::{test_client, Content, FakeHub, RemoteCfg, RepoSpec, TestServer};

const TOKEN: &str = "hf_private_remote_token";

/// A Hub with a private repo `org/secret` (token [`TOKEN`]): an LFS file `weights.bin` and a
/// regular file `notes.txt`.
async fn private_hub() -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("org/secret").private(TOKEN));
    hub.add_lfs_file(
        "org/secret",
        "main",
        "weights.bin",
        Content::pattern(300_000, 41),
    );
    hub.add_file(
        "org/secret",
        "main",
        "notes.txt",
        Content::pattern(3_000, 42),
    );
    hub
}

/// [`private_hub`] served by hubcache (`/pulp/content/private/`) beside a second remote
/// (`/pulp/content/other/`) on `other`.
async fn private_beside(other: &FakeHub) -> (FakeHub, TestServer) {
    let hub = private_hub().await;
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("private", &hub).token(TOKEN))
        .remote("other", other)
        .distribution("private", "private")
        .distribution("other", "other")
        .start()
        .await;
    (hub, server)
}

/// One GET (with an optional `Range`): status, the bytes received (even of a body cut
/// short), and whether the body arrived whole.
async fn get_lenient(server: &TestServer, path: &str, range: Option<&str>) -> (u16, Vec<u8>, bool) {
    let mut req = test_client().get(server.url(path));
    if let Some(range) = range {
        req = req.header("range", range);
    }
    let mut resp = req.send().await.expect("hubcache answers");
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let whole = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    (status, body, whole)
}

/// Every way a GET can be answered from stored bytes: a stored object, a hot (memory)
/// object, a range.
async fn fetch_all_ways(server: &TestServer, base: &str, file: &str) -> Vec<(u16, Vec<u8>, bool)> {
    let path = format!("/pulp/content/{base}/org/{file}");
    let mut out = Vec::new();
    for range in [None, None, Some("bytes=0-999")] {
        out.push(get_lenient(server, &path, range).await);
    }
    out
}

#[tokio::test]
async fn a_remote_that_only_claims_a_private_etag_is_never_served_the_private_bytes() {
    let liar = FakeHub::start().await;
    let (hub, server) = private_beside(&liar).await;
    let secret_lfs = Content::pattern(300_000, 41).to_vec();
    let secret_txt = Content::pattern(3_000, 42).to_vec();

    // The owner downloads both files (twice: the small one is then held in memory).
    for (file, want) in [("weights.bin", &secret_lfs), ("notes.txt", &secret_txt)] {
        for (status, body, whole) in
            fetch_all_ways(&server, "private", &format!("secret/resolve/main/{file}")).await
        {
            assert!(
                status == 200 || status == 206,
                "owner: {file} answered {status}"
            );
            assert!(whole, "owner: {file} cut short");
            assert_eq!(&body[..], &want[..body.len()], "owner: {file} bytes");
        }
    }

    // A lying upstream names both digests, with bytes of the same length that are not them.
    liar.add_repo(RepoSpec::model("org/liar"));
    for (file, seed) in [("weights.bin", 7), ("notes.txt", 8)] {
        let claimed = hub.file("org/secret", "main", file);
        let fake = Content::pattern(claimed.size(), seed);
        liar.add_lying_file("org/liar", "main", file, fake, &claimed);
    }
    for (file, secret) in [("weights.bin", &secret_lfs), ("notes.txt", &secret_txt)] {
        for (status, body, whole) in
            fetch_all_ways(&server, "other", &format!("liar/resolve/main/{file}")).await
        {
            let probe = &body[..body.len().min(1000)];
            let leaked = !probe.is_empty() && secret.windows(probe.len()).any(|w| w == probe);
            assert!(
                !leaked,
                "{file}: the liar's remote was served private bytes (status {status})"
            );
            assert!(
                !(status == 200 && whole && body.len() == secret.len()),
                "{file}: a complete 200 of bytes that do not match the etag"
            );
        }
    }
    // Each answer came from the liar's own upstream, never from the private store alone.
    assert!(
        liar.count(|r| r.method == "GET") > 0,
        "the liar's upstream was never asked"
    );
}

#[tokio::test]
async fn a_claimed_etag_with_another_size_proves_nothing() {
    let liar = FakeHub::start().await;
    let (hub, server) = private_beside(&liar).await;
    let secret = Content::pattern(300_000, 41).to_vec();
    let owner = server
        .get("/pulp/content/private/org/secret/resolve/main/weights.bin")
        .await;
    assert_eq!(owner.body(), &secret[..]);

    // An empty file (nothing to sample) and a short one, both naming the private digest.
    liar.add_repo(RepoSpec::model("org/liar"));
    let claimed = hub.file("org/secret", "main", "weights.bin");
    liar.add_lying_file(
        "org/liar",
        "main",
        "empty.bin",
        Content::pattern(0, 7),
        &claimed,
    );
    liar.add_lying_file(
        "org/liar",
        "main",
        "short.bin",
        Content::pattern(5_000, 7),
        &claimed,
    );
    for file in ["empty.bin", "short.bin", "empty.bin"] {
        let (status, body, _) = get_lenient(
            &server,
            &format!("/pulp/content/other/org/liar/resolve/main/{file}"),
            None,
        )
        .await;
        assert!(
            !secret.starts_with(&body) || body.is_empty(),
            "{file}: private bytes served (status {status})"
        );
        assert_ne!(
            body.len(),
            secret.len(),
            "{file}: the private blob was served"
        );
    }
}

#[tokio::test]
async fn a_proof_for_one_blob_never_serves_another_after_the_answer_changes() {
    let liar = FakeHub::start().await;
    let hub = private_hub().await;
    liar.add_lfs_file("org/liar", "main", "a.bin", Content::pattern(200_000, 5));
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("private", &hub).token(TOKEN))
        .remote("other", &liar)
        .distribution("private", "private")
        .distribution("other", "other")
        .max_size("400KiB")
        .revision_ttl("1h")
        .start()
        .await;
    // The liar fills its own blob (proven for its credentials; the answer is remembered),
    // then the owner's private blob evicts it.
    let a = server
        .get("/pulp/content/other/org/liar/resolve/main/a.bin")
        .await;
    assert_eq!(a.status(), 200);
    let secret = Content::pattern(300_000, 41).to_vec();
    let owner = server
        .get("/pulp/content/private/org/secret/resolve/main/weights.bin")
        .await;
    assert_eq!(owner.body(), &secret[..]);
    // Asked again for a fresh URL, the liar's upstream now names the private digest.
    let claimed = hub.file("org/secret", "main", "weights.bin");
    liar.add_lying_file(
        "org/liar",
        "main",
        "a.bin",
        Content::pattern(300_000, 7),
        &claimed,
    );
    let (status, body, _) = get_lenient(
        &server,
        "/pulp/content/other/org/liar/resolve/main/a.bin",
        None,
    )
    .await;
    assert_ne!(
        body, secret,
        "the private blob was served (status {status})"
    );
    assert!(!secret.starts_with(&body[..body.len().min(4096)]) || body.is_empty());
}

#[tokio::test]
async fn a_failed_sample_is_not_retried_at_another_offset() {
    let liar = FakeHub::start().await;
    let (hub, server) = private_beside(&liar).await;
    let owner = server
        .get("/pulp/content/private/org/secret/resolve/main/weights.bin")
        .await;
    assert_eq!(owner.status(), 200);
    liar.add_repo(RepoSpec::model("org/liar"));
    let claimed = hub.file("org/secret", "main", "weights.bin");
    liar.add_lying_file(
        "org/liar",
        "main",
        "weights.bin",
        Content::pattern(claimed.size(), 7),
        &claimed,
    );
    for _ in 0..3 {
        get_lenient(
            &server,
            "/pulp/content/other/org/liar/resolve/main/weights.bin",
            None,
        )
        .await;
    }
    let samples = liar
        .cdn()
        .count(|r| r.method == "GET" && r.header("range").is_some());
    assert!(
        samples <= 2,
        "one failed proof (at most two windows), then only fills of its own: {samples} ranged GETs"
    );
}

#[tokio::test]
async fn a_remote_whose_upstream_serves_the_same_bytes_shares_the_stored_copy() {
    let mirror = FakeHub::start().await;
    let (_hub, server) = private_beside(&mirror).await;
    let secret_lfs = Content::pattern(300_000, 41);
    mirror.add_lfs_file("org/copy", "main", "weights.bin", secret_lfs.clone());

    let owner = server
        .get("/pulp/content/private/org/secret/resolve/main/weights.bin")
        .await;
    assert_eq!(owner.body(), &secret_lfs.to_vec()[..]);

    // The second remote proves it can serve the blob with small ranged GETs, then both of its
    // downloads come from the stored copy.
    for _ in 0..2 {
        let resp = server
            .get("/pulp/content/other/org/copy/resolve/main/weights.bin")
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), &secret_lfs.to_vec()[..]);
    }
    let gets: Vec<_> = mirror
        .requests()
        .into_iter()
        .chain(mirror.cdn().requests())
        .filter(|r| r.method == "GET" && r.served.is_some())
        .collect();
    assert!(
        (1..=2).contains(&gets.len()),
        "one proof of at most two sampled ranges, no whole download: {gets:?}"
    );
    for get in &gets {
        let range = get.header("range").expect("a sample is a ranged GET");
        let (start, end) = range
            .strip_prefix("bytes=")
            .and_then(|r| r.split_once('-'))
            .expect("bytes=a-b");
        let len = end.parse::<u64>().unwrap() - start.parse::<u64>().unwrap() + 1;
        assert!(len <= 4096, "sample of {len} bytes");
    }
}

#[tokio::test]
async fn account_wide_hub_apis_never_run_with_the_remotes_token() {
    let hub = private_hub().await;
    let server = TestServer::builder()
        .remote_with(RemoteCfg::hub("private", &hub).token(TOKEN))
        .distribution("open", "private")
        .start()
        .await;

    for route in [
        "api/whoami-v2",
        "api/notifications",
        "api/organizations/org/members",
        "api/settings/billing/usage",
        "api/models?author=org&private=true",
        "api/datasets?search=x",
        "api/models/org/secret/commits/main",
        "api/models/org/secret/discussions",
        "api/spaces/org/app/secrets",
    ] {
        let resp = server.get(&format!("/pulp/content/open/{route}")).await;
        assert_eq!(resp.status(), 404, "{route}");
        assert!(
            resp.text().contains("not forwarded"),
            "{route}: unclear refusal {:?}",
            resp.text()
        );
    }
    assert_eq!(
        hub.count(|_| true),
        0,
        "refused routes reached the Hub: {:?}",
        hub.requests()
    );

    // The repository-scoped read routes a download client needs still work with the token.
    let commit = hub.commit("org/secret", "main");
    for route in [
        "api/models/org/secret".to_string(),
        "api/models/org/secret/revision/main".to_string(),
        "api/models/org/secret/tree/main?recursive=true".to_string(),
        "api/models/org/secret/refs".to_string(),
        format!("api/resolve-cache/models/org/secret/{commit}/notes.txt"),
    ] {
        let resp = server.get(&format!("/pulp/content/open/{route}")).await;
        assert_eq!(resp.status(), 200, "{route}: {}", resp.text());
    }
    let info = server
        .post_form(
            "/pulp/content/open/api/models/org/secret/paths-info/main",
            "paths=notes.txt",
        )
        .await;
    assert_eq!(info.status(), 200, "paths-info: {}", info.text());
}
