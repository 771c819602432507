//! The pulp_hugging_face authentication guide (`docs/user/guides/authentication.md`), its curl
//! commands copied verbatim and run with `bash`. Only the instance URL, `https://huggingface.co`
//! (→ the fake Hub), the token values and the placeholder hrefs are substituted. A `.curlrc`
//! (through `CURL_HOME`) adds `--silent` and a trailing status line, so the commands stay as
//! written.

use std::path::Path;

use serde_json::Value;

use super::{
    assert_logs_clean, assert_no_secrets, hidden_is_set, href, Admin, DISTRIBUTIONS, REMOTES,
};
use crate::support::{FakeHub, RepoSpec, TestServer};

const CREATE_PRIVATE_REMOTE: &str = r#"curl -X POST https://your-pulp-instance.com/pulp/api/v3/remotes/hugging_face/hugging-face/ \
  -H "Content-Type: application/json" \
  -u admin:password \
  -d '{
    "name": "hf-private",
    "url": "https://huggingface.co",
    "policy": "on_demand",
    "hf_token": "hf_YOUR_TOKEN_HERE"
  }'"#;

const UPDATE_TOKEN: &str = r#"REMOTE_HREF="/pulp/api/v3/remotes/hugging_face/hugging-face/..."

curl -X PATCH https://your-pulp-instance.com${REMOTE_HREF} \
  -H "Content-Type: application/json" \
  -u admin:password \
  -d '{
    "hf_token": "hf_NEW_TOKEN_HERE"
  }'"#;

const CREATE_PUBLIC_REMOTE: &str = r#"# Public remote - no authentication
curl -X POST https://your-pulp-instance.com/pulp/api/v3/remotes/hugging_face/hugging-face/ \
  -H "Content-Type: application/json" \
  -u admin:password \
  -d '{
    "name": "hf-public",
    "url": "https://huggingface.co",
    "policy": "on_demand"
  }'"#;

const CREATE_PUBLIC_DISTRIBUTION: &str = r#"# Distribution for public content
curl -X POST https://your-pulp-instance.com/pulp/api/v3/distributions/hugging_face/hugging-face/ \
  -H "Content-Type: application/json" \
  -u admin:password \
  -d '{
    "name": "hf-public-dist",
    "base_path": "hf-public",
    "remote": "/pulp/api/v3/remotes/hugging_face/hugging-face/PUBLIC_REMOTE_HREF/"
  }'"#;

const CREATE_PRIVATE_DISTRIBUTION: &str = r#"# Distribution for private content
curl -X POST https://your-pulp-instance.com/pulp/api/v3/distributions/hugging_face/hugging-face/ \
  -H "Content-Type: application/json" \
  -u admin:password \
  -d '{
    "name": "hf-private-dist",
    "base_path": "hf-private",
    "remote": "/pulp/api/v3/remotes/hugging_face/hugging-face/PRIVATE_REMOTE_HREF/"
  }'"#;

const ACCESS_PRIVATE_CONTENT: &str = r#"# Access private model through authenticated distribution
curl http://your-pulp-instance/pulp/content/hf-private/your-org/private-model/resolve/main/config.json"#;

const TEST_TOKEN_WITH_HUB: &str = r#"curl -H "Authorization: Bearer $HF_TOKEN" \
     https://huggingface.co/api/models/your-org/private-model"#;

/// "Check remote configuration", without the `| jq …` (parsed in Rust instead).
const CHECK_REMOTES: &str = r#"curl https://your-pulp-instance.com/pulp/api/v3/remotes/hugging_face/hugging-face/ \
     -u admin:password"#;

const CHECK_DISTRIBUTIONS: &str = r#"curl https://your-pulp-instance.com/pulp/api/v3/distributions/hugging_face/hugging-face/ \
     -u admin:password"#;

const OLD_TOKEN: &str = "hf_guideOldToken4b1d9";
const NEW_TOKEN: &str = "hf_guideNewToken7c2e8";
const CONFIG: &[u8] = b"{\"model_type\": \"private-llama\"}\n";
const STATUS_MARK: &str = "\n@@status=";

/// What one guide command printed: the HTTP status (from the `.curlrc` write-out) and body.
struct Printed {
    status: u16,
    body: String,
}

impl Printed {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A 202 `{"task": href}`: the task, read with `admin`, already completed.
    async fn task(&self, admin: &Admin) -> Value {
        assert_eq!(self.status, 202, "{}", self.body);
        let href = self.json()["task"]
            .as_str()
            .unwrap_or_else(|| panic!("no task href: {}", self.body))
            .to_string();
        let task = admin.get(&href).await.json();
        assert_eq!(task["state"], "completed", "{task}");
        task
    }
}

struct Guide<'a> {
    server: &'a TestServer,
    hub: &'a FakeHub,
    curl_home: &'a Path,
    transcript: String,
}

impl Guide<'_> {
    /// Substitutes the instance and Hub URLs and the token values, runs `command` with bash.
    async fn run(&mut self, command: &str, replacements: &[(&str, &str)]) -> Printed {
        let api = self.server.api_url("");
        let content = self.server.url("");
        let mut script = command
            .replace("https://your-pulp-instance.com", &api)
            .replace("http://your-pulp-instance", &content)
            .replace("https://huggingface.co", &self.hub.url())
            .replace("hf_YOUR_TOKEN_HERE", OLD_TOKEN)
            .replace("hf_NEW_TOKEN_HERE", NEW_TOKEN);
        for (from, to) in replacements {
            assert!(
                script.contains(from),
                "{from} is not in the guide command:\n{command}"
            );
            script = script.replace(from, to);
        }
        let out = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("set -eu\n{script}"))
            .env("CURL_HOME", self.curl_home)
            .env("HF_TOKEN", NEW_TOKEN)
            .env("NO_PROXY", "*")
            .output()
            .await
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "guide command failed ({}):\n{script}\n{stdout}\n{stderr}",
            out.status
        );
        let (body, status) = stdout
            .rsplit_once(STATUS_MARK)
            .unwrap_or_else(|| panic!("no status line:\n{stdout}"));
        self.transcript.push_str(&stdout);
        self.transcript.push_str(&stderr);
        Printed {
            status: status.trim().parse().expect("numeric status"),
            body: body.to_string(),
        }
    }
}

#[tokio::test]
async fn the_authentication_guide_works_verbatim_with_curl_and_never_shows_the_token() {
    let hub = FakeHub::start().await;
    hub.add_repo(RepoSpec::model("your-org/private-model").private(NEW_TOKEN));
    hub.add_file("your-org/private-model", "main", "config.json", CONFIG);
    let server = TestServer::builder().start().await;
    let curl_home = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        curl_home.path().join(".curlrc"),
        format!(
            "silent\nshow-error\nnoproxy = \"*\"\nwrite-out = \"{}%{{http_code}}\"\n",
            STATUS_MARK.replace('\n', "\\n")
        ),
    )
    .expect("write .curlrc");
    let mut guide = Guide {
        server: &server,
        hub: &hub,
        curl_home: curl_home.path(),
        transcript: String::new(),
    };

    // "Creating an Authenticated Remote".
    let created = guide.run(CREATE_PRIVATE_REMOTE, &[]).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let private = created.json();
    assert_eq!(private["name"], "hf-private");
    assert_eq!(private["url"], hub.url());
    assert_eq!(private["policy"], "on_demand");
    assert!(hidden_is_set(&private, "hf_token"));
    assert!(
        private.get("hf_token").is_none(),
        "hf_token shown: {private}"
    );
    let private_href = href(&private);

    // "Updating Token on Existing Remote": the guide shows an object, but real Pulp answers
    // 202 with a task, and so does hubcache; the task is completed when first read, and the
    // remote then shows the token as set, without the token.
    let admin = Admin::new(&server);
    let patched = guide
        .run(
            UPDATE_TOKEN,
            &[(
                "/pulp/api/v3/remotes/hugging_face/hugging-face/...",
                &private_href,
            )],
        )
        .await;
    let task = patched.task(&admin).await;
    assert_eq!(task["reserved_resources_record"][0], private_href.as_str());
    let patched = admin.get(&private_href).await.json();
    assert_eq!(patched["pulp_href"], private_href.as_str());
    assert_eq!(patched["name"], "hf-private");
    assert_eq!(patched["url"], hub.url());
    assert_eq!(patched["policy"], "on_demand");
    assert!(
        patched.get("hf_token").is_none(),
        "hf_token shown: {patched}"
    );
    let hidden = patched["hidden_fields"].as_array().expect("hidden_fields");
    assert!(
        hidden.contains(&serde_json::json!({"name": "hf_token", "is_set": true})),
        "{patched}"
    );

    // "Multiple Remotes for Different Access Levels", then both distributions.
    let public = guide.run(CREATE_PUBLIC_REMOTE, &[]).await;
    assert_eq!(public.status, 201, "{}", public.body);
    let public = public.json();
    assert!(
        !hidden_is_set(&public, "hf_token"),
        "a remote made without a token has one: {public}"
    );
    let public_href = href(&public);
    let remote_placeholder = "/pulp/api/v3/remotes/hugging_face/hugging-face/PUBLIC_REMOTE_HREF/";
    let public_dist = guide
        .run(
            CREATE_PUBLIC_DISTRIBUTION,
            &[(remote_placeholder, &public_href)],
        )
        .await;
    public_dist.task(&admin).await;
    let remote_placeholder = "/pulp/api/v3/remotes/hugging_face/hugging-face/PRIVATE_REMOTE_HREF/";
    let private_dist = guide
        .run(
            CREATE_PRIVATE_DISTRIBUTION,
            &[(remote_placeholder, &private_href)],
        )
        .await;
    let task = private_dist.task(&admin).await;
    let private_dist = admin
        .get(task["created_resources"][0].as_str().expect("created"))
        .await
        .json();
    assert_eq!(private_dist["base_path"], "hf-private");
    assert_eq!(private_dist["remote"], private_href.as_str());
    assert_eq!(
        private_dist["base_url"],
        server.url("/pulp/content/hf-private/")
    );

    // "Accessing Private Content": the private distribution serves it with the new token ...
    let fetched = guide.run(ACCESS_PRIVATE_CONTENT, &[]).await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.body.as_bytes(), CONFIG);
    assert!(
        hub.saw_header_value("authorization", &format!("Bearer {NEW_TOKEN}")),
        "the new token never went upstream"
    );
    assert!(
        !hub.saw_header_value("authorization", &format!("Bearer {OLD_TOKEN}")),
        "the replaced token went upstream"
    );
    // ... and the public one fails the way the Hub fails anonymous users.
    let denied = guide
        .run(
            ACCESS_PRIVATE_CONTENT,
            &[("/pulp/content/hf-private/", "/pulp/content/hf-public/")],
        )
        .await;
    assert_eq!(denied.status, 401, "{}", denied.body);
    assert_ne!(denied.body.as_bytes(), CONFIG);

    // "Verification Steps".
    let direct = guide.run(TEST_TOKEN_WITH_HUB, &[]).await;
    assert_eq!(
        direct.status, 200,
        "the fake Hub refused the guide's direct check: {}",
        direct.body
    );
    let remotes = guide.run(CHECK_REMOTES, &[]).await;
    assert_eq!(remotes.status, 200, "{}", remotes.body);
    let remotes = remotes.json();
    assert_eq!(remotes["count"], 2, "{remotes}");
    for remote in remotes["results"].as_array().expect("results") {
        // What `jq '.results[] | {name, hf_token}'` would show: the token is null.
        assert!(
            remote.get("hf_token").is_none(),
            "hf_token listed: {remote}"
        );
        let want_set = remote["name"] == "hf-private";
        assert_eq!(hidden_is_set(remote, "hf_token"), want_set, "{remote}");
    }
    let dists = guide.run(CHECK_DISTRIBUTIONS, &[]).await;
    assert_eq!(dists.status, 200, "{}", dists.body);
    let mut pairs: Vec<(String, String)> = dists.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or("").to_string(),
                d["remote"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            ("hf-private-dist".to_string(), private_href.clone()),
            ("hf-public-dist".to_string(), public_href)
        ]
    );

    // The tokens appear in no API answer (the direct Hub check aside) and in no log line.
    let api_transcript = guide.transcript.replace(&direct.body, "");
    assert_no_secrets(&api_transcript, &[OLD_TOKEN, NEW_TOKEN], "the API answers");
    for path in [REMOTES.to_string(), DISTRIBUTIONS.to_string(), private_href] {
        admin.get(&path).await;
    }
    assert_no_secrets(
        &admin.transcript(),
        &[OLD_TOKEN, NEW_TOKEN],
        "the API answers",
    );
    assert_logs_clean(&server, &[OLD_TOKEN, NEW_TOKEN]);
}
