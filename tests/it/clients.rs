//! Real clients: `huggingface_hub` (the latest release and a 0.x one, from the virtualenvs
//! `.ci/setup.sh` makes) downloading through hubcache with Xet left enabled.
//!
//! `HUBCACHE_PYTHONS` lists the interpreters (`:`-separated); `.ci/test.sh` sets it. Without
//! it these tests fail, unless `HUBCACHE_SKIP_PYTHON=1` says to skip them on purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::support::{Content, FakeHub, TestServer};

pub(crate) fn pythons() -> Vec<PathBuf> {
    match std::env::var("HUBCACHE_PYTHONS") {
        Ok(list) => list.split(':').filter(|p| !p.is_empty()).map(PathBuf::from).collect(),
        Err(_) if std::env::var("HUBCACHE_SKIP_PYTHON").as_deref() == Ok("1") => vec![],
        Err(_) => panic!("HUBCACHE_PYTHONS is not set: run the suite with .ci/test.sh (or set HUBCACHE_SKIP_PYTHON=1)"),
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/download.py")
}

/// Runs the client script with `calls`; returns (version, results).
pub async fn run_client(
    python: &PathBuf,
    endpoint: &str,
    hf_home: &std::path::Path,
    calls: Value,
    token: Option<&str>,
) -> (String, Vec<Value>) {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script())
        .arg(json!({ "calls": calls }).to_string())
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_ETAG_TIMEOUT", "30")
        .env("HF_HUB_DOWNLOAD_TIMEOUT", "30")
        .env_remove("HF_HUB_DISABLE_XET")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN")
        .env("NO_PROXY", "*");
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    }
    let out = cmd.output().await.expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("bad report {e}: {stdout}"));
    (
        report["version"].as_str().unwrap_or("?").to_string(),
        report["results"].as_array().cloned().unwrap_or_default(),
    )
}

pub(crate) fn files_of(result: &Value) -> BTreeMap<String, String> {
    assert!(
        result.get("error").is_none(),
        "client error: {}",
        result["error"]
    );
    result["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A model and a dataset with regular and LFS files, as on the Hub.
pub async fn hub_with_repos() -> (FakeHub, BTreeMap<String, String>, BTreeMap<String, String>) {
    let hub = FakeHub::start().await;
    let model: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "config.json",
            b"{\"architectures\": [\"Bert\"]}\n".to_vec(),
            false,
        ),
        ("tokenizer.json", b"{\"vocab\": {}}\n".to_vec(), false),
        (
            "model.safetensors",
            Content::pattern(5 << 20, 11).to_vec(),
            true,
        ),
        (
            "onnx/model.onnx",
            Content::pattern(300_000, 12).to_vec(),
            true,
        ),
    ];
    let dataset: Vec<(&str, Vec<u8>, bool)> = vec![
        ("README.md", b"# data\n".to_vec(), false),
        ("data/train.csv", b"text,label\nhello,1\n".to_vec(), false),
        (
            "data/train.parquet",
            Content::pattern(2 << 20, 13).to_vec(),
            true,
        ),
    ];
    let mut want_model = BTreeMap::new();
    for (path, bytes, lfs) in model {
        want_model.insert(path.to_string(), sha256_hex(&bytes));
        if lfs {
            hub.add_lfs_file("org/bert", "main", path, bytes)
        } else {
            hub.add_file("org/bert", "main", path, bytes)
        }
    }
    let mut want_data = BTreeMap::new();
    for (path, bytes, lfs) in dataset {
        want_data.insert(path.to_string(), sha256_hex(&bytes));
        if lfs {
            hub.add_lfs_file("datasets/org/corpus", "main", path, bytes)
        } else {
            hub.add_file("datasets/org/corpus", "main", path, bytes)
        }
    }
    (hub, want_model, want_data)
}

#[tokio::test]
async fn huggingface_hub_downloads_models_and_datasets_through_hubcache() {
    for python in pythons() {
        let (hub, want_model, want_data) = hub_with_repos().await;
        let server = TestServer::builder()
            .remote("hf", &hub)
            .distribution("hf-public", "hf")
            .start()
            .await;
        let home = tempfile::tempdir().unwrap();
        let calls = json!([
            {"fn": "hf_hub_download", "repo_id": "org/bert", "filename": "config.json"},
            {"fn": "hf_hub_download", "repo_id": "org/bert", "filename": "model.safetensors"},
            {"fn": "snapshot_download", "repo_id": "org/bert"},
            {"fn": "snapshot_download", "repo_id": "org/corpus", "repo_type": "dataset"},
        ]);
        let (version, results) = run_client(
            &python,
            &server.endpoint("hf-public"),
            home.path(),
            calls,
            None,
        )
        .await;
        assert_eq!(results.len(), 4, "{version}");
        assert_eq!(
            files_of(&results[0])["config.json"],
            want_model["config.json"],
            "{version}"
        );
        assert_eq!(
            files_of(&results[1])["model.safetensors"],
            want_model["model.safetensors"],
            "{version}"
        );
        assert_eq!(
            files_of(&results[2]),
            want_model,
            "{version}: snapshot of the model"
        );
        assert_eq!(
            files_of(&results[3]),
            want_data,
            "{version}: snapshot of the dataset"
        );

        assert_eq!(
            hub.xet_token_hits(),
            0,
            "{version}: the client switched to Xet"
        );
        let cdn = hub.cdn().requests();
        assert!(
            !cdn.is_empty(),
            "{version}: LFS files must come from the CDN"
        );
        for r in &cdn {
            let ua = r.header("user-agent").unwrap_or("");
            assert!(
                ua.starts_with("hubcache/"),
                "{version}: the CDN was reached by a client ({ua}) instead of hubcache"
            );
        }
        let client_direct = hub.count(|r| {
            r.header("user-agent")
                .is_some_and(|ua| !ua.starts_with("hubcache/"))
        });
        assert_eq!(
            client_direct, 0,
            "{version}: a client reached the fake Hub directly"
        );
    }
}
