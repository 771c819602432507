//! Tests of loading a whole configuration: defaults, the shipped file, conversions, stable
//! ids, nullable keys. Shared helpers for `problem_tests.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::model::{Origin, Policy};

pub(super) fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("hf_env_token".into()),
        "PW" => Some("s3cret-from-env".into()),
        _ => None,
    }
}

pub(super) fn load(yaml: &str) -> Result<Config, Problems> {
    Config::from_yaml_str_with_env(yaml, &env)
}

pub(super) fn problems(yaml: &str) -> Vec<(String, String)> {
    match load(yaml) {
        Ok(_) => Vec::new(),
        Err(p) => p
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    }
}

pub(super) const REMOTE: &str = "remotes: [{name: r, url: 'https://huggingface.co'}]\n";
pub(super) const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$QkGfYVgZi4u6ZJxZ7uYV1hWfPzXbTQ2vI2g5Tm3l2mE";

#[test]
fn empty_file_is_all_defaults() {
    for yaml in [
        "",
        "# only a comment\n",
        "cache:\nremotes:\nusers:\n",
        "cache: null\nusers: ~\n",
    ] {
        let c = load(yaml).unwrap_or_else(|p| panic!("{yaml:?}: {p}"));
        assert_eq!(c.listen, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!((c.api_listen, c.content_origin.as_deref()), (None, None));
        assert_eq!(c.cache.dir, PathBuf::from("var/cache"));
        assert_eq!(c.cache.max_size, 20 << 30);
        assert_eq!(c.cache.revision_ttl, Duration::from_secs(300));
        assert_eq!(c.cache.negative_ttl, Duration::from_secs(30));
        assert_eq!(c.state_path, PathBuf::from("var/state.yaml"));
        assert!(c.server.threads >= 1);
        assert_eq!(c.server.grace_period, Duration::from_secs(5));
        assert_eq!(c.server.graceful_shutdown_timeout, Duration::from_secs(5));
        assert_eq!(c.server.request_head_timeout, Duration::from_secs(20));
        assert_eq!(c.users.len(), 1);
        let admin = &c.users[0];
        assert_eq!(admin.username, "admin");
        assert_eq!(
            admin.credential,
            Credential::Password(Secret::new("password"))
        );
        assert!(admin.uses_default_password);
        assert!(c.declared.remotes.is_empty() && c.declared.distributions.is_empty());
        assert!(c.fleet.is_none());
    }
}

#[test]
fn fleet_keys_name_this_node_its_peers_and_the_secret() {
    let c = load(
        "fleet:\n  advertise: '127.0.0.1:8081'\n  peers: ['127.0.0.1:8081', '127.0.0.1:8082', 'localhost:8083', '127.0.0.1:8082']\n  secret: 'the-fleet-secret-${PW}'\n",
    )
    .unwrap();
    let fleet = c.fleet.expect("fleet");
    assert_eq!(
        fleet.advertise,
        "127.0.0.1:8081".parse::<SocketAddr>().unwrap()
    );
    // This node and the duplicate are left out; a name is resolved.
    assert_eq!(fleet.peers.len(), 2);
    assert_eq!(
        fleet.peers[0],
        "127.0.0.1:8082".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(fleet.peers[1].port(), 8083);
    assert_eq!(fleet.secret.expose(), "the-fleet-secret-s3cret-from-env");
    assert!(!format!("{fleet:?}").contains("s3cret"));
}

#[test]
fn shipped_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/hubcache.yaml");
    let text = fs_err::read_to_string(&path).unwrap();
    let c = Config::from_yaml_str_with_env(&text, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        c.metrics_listen.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9464")
    );
    let remote = &c.declared.remotes[0];
    assert_eq!(
        (remote.name.as_str(), remote.url.as_str()),
        ("huggingface", "https://huggingface.co")
    );
    assert_eq!(
        remote.hf_token, None,
        "an empty ${{HF_TOKEN:-}} means no token"
    );
    assert_eq!(remote.meta.origin, Origin::Config);
    let dist = &c.declared.distributions[0];
    assert_eq!((dist.name.as_str(), dist.base_path.as_str()), ("hf", "hf"));
    assert_eq!(dist.remote, Some(remote.meta.id));
    // With the environment set, the token and password come from it.
    let with_env = |name: &str| match name {
        "HF_TOKEN" => Some("hf_abc".to_string()),
        "HUBCACHE_ADMIN_PASSWORD" => Some("pw".to_string()),
        _ => None,
    };
    let c = Config::from_yaml_str_with_env(&text, &with_env).unwrap();
    assert_eq!(c.declared.remotes[0].token(), Some("hf_abc"));
    assert!(!c.users[0].uses_default_password);
    assert!(Config::load(&path).is_ok());
}

#[test]
fn declared_ids_are_stable_and_distinct() {
    let yaml = format!("{REMOTE}distributions: [{{name: r, base_path: a, remote: r}}]\n");
    let (a, b) = (load(&yaml).unwrap(), load(&yaml).unwrap());
    assert_eq!(a.declared.remotes[0].meta.id, b.declared.remotes[0].meta.id);
    assert_eq!(a.declared.remotes[0].meta.id, declared_id(REMOTE_KIND, "r"));
    assert_ne!(
        a.declared.remotes[0].meta.id,
        a.declared.distributions[0].meta.id
    );
    assert_eq!(a.declared.remotes[0].meta.id.get_version_num(), 5);
}

#[test]
fn remote_fields_are_converted() {
    let yaml = "remotes:\n- name: r\n  url: 'http://hub.local:8000/'\n  hf_hub_url: 'https://huggingface.co/'\n  policy: streamed\n  hf_token: '${TOKEN}'\n  \
                tls_validation: false\n  headers: [{X-Foo: bar}]\n  sock_connect_timeout: 2.5\n  sock_read_timeout: '1m'\n  \
                total_timeout: 30\n  max_retries: 0\n  rate_limit: '5'\n  download_concurrency: 4\n  pulp_labels: {team: ml}\n  \
                proxy_url: 'http://proxy:3128'\n  proxy_username: pu\n  proxy_password: '${TOKEN}'\n";
    let c = load(yaml).unwrap_or_else(|p| panic!("{p}"));
    let r = &c.declared.remotes[0];
    assert_eq!(r.url, "http://hub.local:8000");
    assert_eq!(r.hf_hub_url, "https://huggingface.co/", "kept as written");
    assert!(r.headers_given);
    assert_eq!(r.stored.proxy_url.as_deref(), Some("http://proxy:3128"));
    assert_eq!(
        r.stored.proxy_password.as_ref().map(|s| s.expose()),
        Some("hf_env_token")
    );
    assert_eq!(r.policy, Policy::Streamed);
    assert_eq!(r.token(), Some("hf_env_token"));
    assert!(!r.tls_validation);
    assert_eq!(r.headers, vec![("X-Foo".to_string(), "bar".to_string())]);
    assert_eq!(r.sock_connect_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(r.connect_timeout(), Duration::from_millis(2500));
    assert_eq!(r.sock_read_timeout, Some(Duration::from_secs(60)));
    assert_eq!(r.total_timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        (r.max_retries, r.rate_limit, r.download_concurrency),
        (Some(0), Some(5), Some(4))
    );
    assert_eq!(r.pulp_labels.get("team").map(String::as_str), Some("ml"));
}

#[test]
fn nullable_keys() {
    let c = load("metrics: {listen: null}\napi: {listen: '127.0.0.1:8081'}\ncontent_origin: 'https://c.example/'\n").unwrap();
    assert_eq!(c.metrics_listen, None);
    assert_eq!(c.api_listen, Some("127.0.0.1:8081".parse().unwrap()));
    assert_eq!(c.content_origin.as_deref(), Some("https://c.example"));
    // Port 0 (ephemeral, as in tests) never clashes.
    assert!(load("listen: '127.0.0.1:0'\nmetrics: {listen: '127.0.0.1:0'}\n").is_ok());
    let c = load(&format!(
        "{REMOTE}distributions: [{{name: d, base_path: a/b, remote: null, hidden: true}}]"
    ))
    .unwrap();
    let d = &c.declared.distributions[0];
    assert_eq!((d.remote, d.content_guard, d.hidden), (None, None, true));
}

#[test]
fn problems_display_one_per_line() {
    let mut p = Problems::default();
    p.push("", "whole file");
    p.push("remotes[0].url", "This field is required.");
    assert_eq!(
        p.to_string(),
        "whole file\nremotes[0].url: This field is required."
    );
    let err: &dyn std::error::Error = &p;
    assert!(err.to_string().contains("remotes[0].url"));
    let missing = Config::load(Path::new("/nonexistent/hubcache.yaml")).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/hubcache.yaml"),
        "{missing}"
    );
}
