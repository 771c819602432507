//! The hubcache YAML config a `TestServer` writes (keys as in `conf/hubcache.yaml`).

use std::path::Path;

use serde_json::{json, Value};

use super::fake_hub::FakeHub;

/// A declared remote. `RemoteCfg::hub("hf", &hub).token("hf_x").policy("streamed")`.
#[derive(Clone, Debug)]
pub struct RemoteCfg {
    pub name: String,
    pub url: String,
    /// `on_demand` (default), `streamed` or `immediate`.
    pub policy: String,
    pub hf_token: Option<String>,
    pub connect_timeout: Option<f64>,
    pub sock_connect_timeout: Option<f64>,
    pub sock_read_timeout: Option<f64>,
    pub total_timeout: Option<f64>,
    pub max_retries: Option<u32>,
    /// Any other remote fields, merged in as is.
    pub extra: serde_json::Map<String, Value>,
}

impl RemoteCfg {
    pub fn new(name: &str, url: &str) -> Self {
        Self {
            name: name.to_string(),
            url: url.to_string(),
            policy: "on_demand".to_string(),
            hf_token: None,
            connect_timeout: None,
            sock_connect_timeout: None,
            sock_read_timeout: None,
            total_timeout: None,
            max_retries: None,
            extra: Default::default(),
        }
    }

    /// A remote whose `url` is the fake Hub (`http://127.0.0.1:<port>`).
    pub fn hub(name: &str, hub: &FakeHub) -> Self {
        Self::new(name, &hub.url())
    }

    pub fn token(mut self, token: &str) -> Self {
        self.hf_token = Some(token.to_string());
        self
    }

    pub fn policy(mut self, policy: &str) -> Self {
        self.policy = policy.to_string();
        self
    }

    pub fn connect_timeout(mut self, secs: f64) -> Self {
        self.connect_timeout = Some(secs);
        self
    }

    pub fn sock_read_timeout(mut self, secs: f64) -> Self {
        self.sock_read_timeout = Some(secs);
        self
    }

    pub fn field(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({ "name": self.name, "url": self.url, "policy": self.policy });
        let optional = [
            ("hf_token", self.hf_token.as_ref().map(|t| json!(t))),
            ("connect_timeout", self.connect_timeout.map(|t| json!(t))),
            (
                "sock_connect_timeout",
                self.sock_connect_timeout.map(|t| json!(t)),
            ),
            (
                "sock_read_timeout",
                self.sock_read_timeout.map(|t| json!(t)),
            ),
            ("total_timeout", self.total_timeout.map(|t| json!(t))),
            ("max_retries", self.max_retries.map(|t| json!(t))),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                v[key] = value;
            }
        }
        for (k, val) in &self.extra {
            v[k] = val.clone();
        }
        v
    }
}

/// A declared distribution; `remote` and `content_guard` are names.
#[derive(Clone, Debug)]
pub struct DistributionCfg {
    pub name: String,
    pub base_path: String,
    pub remote: Option<String>,
    pub content_guard: Option<String>,
    pub hidden: bool,
}

impl DistributionCfg {
    pub fn new(base_path: &str, remote: &str) -> Self {
        Self {
            name: base_path.to_string(),
            base_path: base_path.to_string(),
            remote: Some(remote.to_string()),
            content_guard: None,
            hidden: false,
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({ "name": self.name, "base_path": self.base_path, "remote": self.remote, "hidden": self.hidden });
        if let Some(guard) = &self.content_guard {
            v["content_guard"] = json!(guard);
        }
        v
    }
}

/// Everything a test can choose about the server, apart from ports and directories.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub remotes: Vec<RemoteCfg>,
    pub distributions: Vec<DistributionCfg>,
    pub content_origin: Option<String>,
    pub max_size: String,
    pub revision_ttl: String,
    pub separate_api_listener: bool,
    /// Raw YAML documents merged over the generated config (mappings merge, lists append).
    pub extra_yaml: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Extra command-line arguments after `--config <file>`.
    pub args: Vec<String>,
    /// Soft open-file limit the server starts with (as a login shell's `ulimit -Sn`).
    pub fd_soft_limit: Option<u64>,
    /// A fixed content port (a fleet's nodes must know each other's before they start).
    pub listen_port: Option<u16>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            remotes: Vec::new(),
            distributions: Vec::new(),
            content_origin: None,
            max_size: "1GiB".to_string(),
            revision_ttl: "5m".to_string(),
            separate_api_listener: false,
            extra_yaml: Vec::new(),
            env: Vec::new(),
            args: Vec::new(),
            fd_soft_limit: None,
            listen_port: None,
        }
    }
}

/// Ports a server instance listens on (kept across restarts).
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub listen: u16,
    pub metrics: u16,
    pub api: Option<u16>,
}

pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "password";

impl ServerConfig {
    /// The YAML text for `ports`, with cache and state under `dir`.
    pub fn render(&self, ports: Ports, dir: &Path) -> String {
        let doc = json!({
            "listen": format!("127.0.0.1:{}", ports.listen),
            "content_origin": self.content_origin,
            "api": { "listen": ports.api.map(|p| format!("127.0.0.1:{p}")) },
            "metrics": { "listen": format!("127.0.0.1:{}", ports.metrics) },
            "cache": {
                "dir": dir.join("cache").display().to_string(),
                "max_size": self.max_size,
                "revision_ttl": self.revision_ttl,
            },
            "state": { "path": dir.join("state.yaml").display().to_string() },
            "users": [{ "username": ADMIN_USER, "password": ADMIN_PASSWORD }],
            "remotes": self.remotes.iter().map(RemoteCfg::to_json).collect::<Vec<_>>(),
            "distributions": self.distributions.iter().map(DistributionCfg::to_json).collect::<Vec<_>>(),
        });
        let mut yaml: serde_yaml::Value = serde_yaml::to_value(&doc).expect("json is valid yaml");
        for extra in &self.extra_yaml {
            let extra: serde_yaml::Value = serde_yaml::from_str(extra)
                .unwrap_or_else(|e| panic!("TestServer: bad extra YAML: {e}\n{extra}"));
            merge(&mut yaml, extra);
        }
        serde_yaml::to_string(&yaml).expect("yaml serializes")
    }
}

fn merge(base: &mut serde_yaml::Value, extra: serde_yaml::Value) {
    use serde_yaml::Value as Y;
    match (base, extra) {
        (Y::Mapping(b), Y::Mapping(e)) => {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Y::Sequence(b), Y::Sequence(e)) => b.extend(e),
        (slot, e) => *slot = e,
    }
}
