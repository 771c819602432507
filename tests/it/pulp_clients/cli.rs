//! pulp-cli (with pulp-glue underneath) as a Pulp user runs it: `pulp status`, the generic
//! lists, `pulp show --href`, `pulp debug has-plugin`, and a header guard's life.

use serde_json::Value;

use super::{pulp_python, PulpCli};
use crate::support::{FakeHub, RemoteCfg, TestServer};

const REMOTE_TOKEN: &str = "hf_pulpCliRemoteToken51d2";
const DECLARED_VALUE: &str = "Bearer pulp-cli-declared-3e9a";
const CREATED_VALUE: &str = "Bearer pulp-cli-created-77c1";
const MASK: &str = "**********";

/// A server with a declared remote (with a token), distribution and header guard.
async fn server(hub: &FakeHub) -> TestServer {
    TestServer::builder()
        .remote_with(RemoteCfg::hub("hf", hub).token(REMOTE_TOKEN))
        .distribution("hf-public", "hf")
        .yaml(&format!(
            "content_guards:\n  - name: declared-guard\n    header_name: Authorization\n    header_value: \"{DECLARED_VALUE}\"\n"
        ))
        .start()
        .await
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| o[key].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn pulp_cli_reads_status_tasks_and_every_list() {
    let Some(python) = pulp_python() else { return };
    let hub = FakeHub::start().await;
    let server = server(&hub).await;
    let pulp = PulpCli::new(&python, &server, &[REMOTE_TOKEN, DECLARED_VALUE]);

    let [status, tasks, remotes, distributions, guards, core] = futures::future::join_all([
        pulp.run(&["status"]),
        pulp.run(&["task", "list"]),
        pulp.run(&["remote", "list"]),
        pulp.run(&["distribution", "list"]),
        pulp.run(&["content-guard", "list"]),
        pulp.run(&["debug", "has-plugin", "--name", "core"]),
    ])
    .await
    .try_into()
    .unwrap_or_else(|_| unreachable!("six commands"));

    let status_json = status.json();
    assert!(
        status_json["versions"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "{status_json}"
    );
    assert_eq!(status_json["database_connection"]["connected"], true);
    assert_eq!(
        status_json["content_settings"]["content_path_prefix"],
        "/pulp/content/"
    );
    // pulp status compares the status versions with the document's x-pulp-app-versions and
    // refetches the document on every run when they differ.
    assert!(
        !status.stderr().contains("outdated"),
        "status and api.json disagree on versions: {}",
        status.stderr()
    );

    assert!(tasks.json().is_array(), "task list: {}", tasks.json());

    let remotes = remotes.json();
    assert_eq!(names(&remotes, "name"), ["hf"]);
    assert!(remotes[0].get("hf_token").is_none(), "{remotes}");

    let distributions = distributions.json();
    assert_eq!(names(&distributions, "base_path"), ["hf-public"]);

    let guards = guards.json();
    assert_eq!(names(&guards, "name"), ["declared-guard"]);
    // The generic list shows pulpcore's base `ContentGuardResponse`: no value, not even masked
    // (`pulp content-guard header show` below shows the mask).
    assert!(guards[0].get("header_value").is_none(), "{guards}");

    assert_eq!(core.json(), true, "the server provides core");

    // `pulp show --href` calls the operation artifacts_read with any href.
    for (href, name) in [
        (&remotes[0]["pulp_href"], "hf"),
        (&distributions[0]["pulp_href"], "hf-public"),
        (&guards[0]["pulp_href"], "declared-guard"),
    ] {
        let href = href.as_str().expect("pulp_href");
        let shown = pulp.run(&["show", "--href", href]).await.json();
        assert_eq!(shown["name"], name, "{shown}");
        assert_eq!(shown["pulp_href"], href);
    }
}

#[tokio::test]
async fn pulp_cli_creates_shows_and_destroys_a_header_guard_without_showing_its_value() {
    let Some(python) = pulp_python() else { return };
    let hub = FakeHub::start().await;
    let server = server(&hub).await;
    let pulp = PulpCli::new(
        &python,
        &server,
        &[REMOTE_TOKEN, DECLARED_VALUE, CREATED_VALUE],
    );
    let guard = |verb: &'static str| ["content-guard", "header", verb, "--name", "cli-guard"];

    let created = pulp
        .run(&[
            "content-guard",
            "header",
            "create",
            "--name",
            "cli-guard",
            "--header-name",
            "Authorization",
            "--header-value",
            CREATED_VALUE,
        ])
        .await
        .json();
    assert_eq!(created["name"], "cli-guard");
    assert_eq!(created["header_name"], "Authorization");
    assert_eq!(created["header_value"], MASK);
    let href = created["pulp_href"]
        .as_str()
        .expect("pulp_href")
        .to_string();

    let shown = pulp.run(&guard("show")).await.json();
    assert_eq!(shown["pulp_href"], href.as_str());
    assert_eq!(shown["header_value"], MASK);
    let by_href = pulp.run(&["show", "--href", &href]).await.json();
    assert_eq!(by_href["name"], "cli-guard");
    let listed = pulp.run(&["content-guard", "header", "list"]).await.json();
    assert_eq!(names(&listed, "name").len(), 2, "{listed}");

    pulp.run(&guard("destroy")).await.assert_ok();
    let gone = pulp.run(&guard("show")).await;
    assert!(!gone.ok(), "shown after destroy: {}", gone.stderr());
    let listed = pulp.run(&["content-guard", "list"]).await.json();
    assert_eq!(names(&listed, "name"), ["declared-guard"]);
}
