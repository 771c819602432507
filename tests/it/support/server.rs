//! `TestServer`: the real hubcache binary as a child process, with its own config, temp
//! dirs and ports. Logs go to files in the temp dir and are printed if the test panics.
//!
//! ```ignore
//! let server = TestServer::builder().remote("hf", &hub).distribution("hf-public", "hf").start().await;
//! let resp = server.get("/pulp/content/hf-public/org/model/resolve/main/config.json").await;
//! ```

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::client::{test_client, TestResponse};
use super::fake_hub::FakeHub;
use super::server_config::{
    DistributionCfg, Ports, RemoteCfg, ServerConfig, ADMIN_PASSWORD, ADMIN_USER,
};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const BIND_ATTEMPTS: usize = 3;

#[derive(Default)]
pub struct TestServerBuilder {
    config: ServerConfig,
}

impl TestServerBuilder {
    /// A remote named `name` pointing at the fake Hub, defaults otherwise.
    pub fn remote(self, name: &str, hub: &FakeHub) -> Self {
        self.remote_with(RemoteCfg::hub(name, hub))
    }

    pub fn remote_with(mut self, remote: RemoteCfg) -> Self {
        self.config.remotes.push(remote);
        self
    }

    /// A distribution named and based at `base_path`, serving `remote`.
    pub fn distribution(self, base_path: &str, remote: &str) -> Self {
        self.distribution_with(DistributionCfg::new(base_path, remote))
    }

    pub fn distribution_with(mut self, distribution: DistributionCfg) -> Self {
        self.config.distributions.push(distribution);
        self
    }

    pub fn revision_ttl(mut self, ttl: &str) -> Self {
        self.config.revision_ttl = ttl.to_string();
        self
    }

    pub fn max_size(mut self, size: &str) -> Self {
        self.config.max_size = size.to_string();
        self
    }

    pub fn content_origin(mut self, origin: &str) -> Self {
        self.config.content_origin = Some(origin.to_string());
        self
    }

    /// Serve `/pulp/api/v3/` on its own port (`api.listen`).
    pub fn separate_api_listener(mut self) -> Self {
        self.config.separate_api_listener = true;
        self
    }

    /// Raw YAML merged over the generated config, for keys the builder does not model.
    pub fn yaml(mut self, extra: &str) -> Self {
        self.config.extra_yaml.push(extra.to_string());
        self
    }

    /// An extra command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.config.args.push(arg.to_string());
        self
    }

    /// Start hubcache with this soft open-file limit (the hard limit is left as it is).
    pub fn fd_soft_limit(mut self, limit: u64) -> Self {
        self.config.fd_soft_limit = Some(limit);
        self
    }

    /// Listen for content on this port (chosen by the test, e.g. with `free_port`).
    pub fn listen_port(mut self, port: u16) -> Self {
        self.config.listen_port = Some(port);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.config.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Writes the config and runs `hubcache --config <file> --check` on it: no server starts.
    pub fn check(self) -> std::process::Output {
        let dir = tempfile::Builder::new()
            .prefix("hubcache-it-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("hubcache.yaml");
        let ports = Ports {
            listen: free_port(),
            metrics: free_port(),
            api: self.config.separate_api_listener.then(free_port),
        };
        std::fs::write(&path, self.config.render(ports, dir.path())).expect("write config");
        Command::new(env!("CARGO_BIN_EXE_hubcache"))
            .arg("--config")
            .arg(&path)
            .arg("--check")
            .current_dir(dir.path())
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("run hubcache --check")
    }

    /// Writes the config, spawns hubcache and waits until `GET /pulp/content/` answers 200.
    pub async fn start(self) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("hubcache-it-")
            .tempdir()
            .expect("temp dir");
        let mut server = TestServer {
            config: self.config,
            config_path: dir.path().join("hubcache.yaml"),
            dir,
            ports: Ports {
                listen: 0,
                metrics: 0,
                api: None,
            },
            child: None,
            client: test_client(),
        };
        for attempt in 1..=BIND_ATTEMPTS {
            // Distinct ports: two `free_port` calls may hand out the same one (it was free
            // both times), and hubcache refuses a metrics port that clashes with `listen`.
            let listen = server.config.listen_port.unwrap_or_else(free_port);
            let metrics = free_port_except(&[listen]);
            server.ports = Ports {
                listen,
                metrics,
                api: server
                    .config
                    .separate_api_listener
                    .then(|| free_port_except(&[listen, metrics])),
            };
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(e) if attempt < BIND_ATTEMPTS && server.logs().contains("in use") => {
                    eprintln!("TestServer: retrying with new ports after: {e}");
                }
                Err(e) => panic!("TestServer: hubcache did not start: {e}\n{}", server.logs()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }
}

pub struct TestServer {
    config: ServerConfig,
    config_path: PathBuf,
    dir: TempDir,
    ports: Ports,
    child: Option<Child>,
    client: reqwest::Client,
}

impl TestServer {
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// `http://127.0.0.1:<listen>{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.listen)
    }

    /// The `HF_ENDPOINT` for a distribution: `http://127.0.0.1:<listen>/pulp/content/<base_path>`.
    pub fn endpoint(&self, base_path: &str) -> String {
        self.url(&format!("/pulp/content/{base_path}"))
    }

    /// URL on the API listener (the content listener unless `separate_api_listener`).
    pub fn api_url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}{path}",
            self.ports.api.unwrap_or(self.ports.listen)
        )
    }

    pub fn metrics_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.metrics)
    }

    pub fn admin_credentials(&self) -> (&'static str, &'static str) {
        (ADMIN_USER, ADMIN_PASSWORD)
    }

    /// A client with redirects off and no proxy.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        TestResponse::send(self.client.get(self.url(path))).await
    }

    pub async fn head(&self, path: &str) -> TestResponse {
        TestResponse::send(self.client.head(self.url(path))).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> TestResponse {
        let mut req = self.client.get(self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        TestResponse::send(req).await
    }

    /// A POST of an `application/x-www-form-urlencoded` body (as `HfFileSystem` sends).
    pub async fn post_form(&self, path: &str, form: &str) -> TestResponse {
        let req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string());
        TestResponse::send(req).await
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.yaml")
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's resident memory (`VmRSS` of /proc/<pid>/status), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.pid().expect("server running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Everything the server printed so far (stdout, then stderr).
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- hubcache stdout ---\n{}--- hubcache stderr ---\n{}",
            read("stdout.log"),
            read("stderr.log")
        )
    }

    /// The logs once `ready` holds for them (access lines are written in batches, within
    /// 100 ms); after 10 s, whatever is there.
    pub async fn logs_when(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if ready(&logs) || std::time::Instant::now() > deadline {
                return logs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, as in a crash: no graceful shutdown.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (graceful stop) and wait up to 30 s for the exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills the process if running and starts it again: same config, dirs and ports.
    pub async fn restart(&mut self) {
        self.kill9();
        if let Err(e) = self.spawn_and_wait().await {
            panic!("TestServer: hubcache did not restart: {e}\n{}", self.logs());
        }
    }

    /// Kills the process if running and starts it again; `Err` when it did not become ready,
    /// with why and what it printed on stderr during this attempt (for start-up refusals).
    pub async fn try_restart(&mut self) -> Result<(), String> {
        self.kill9();
        let stderr = self.dir.path().join("stderr.log");
        let before = std::fs::metadata(&stderr).map_or(0, |m| m.len() as usize);
        let started = self.spawn_and_wait().await;
        started.map_err(|e| {
            self.kill9();
            let all = std::fs::read(&stderr).unwrap_or_default();
            let printed = String::from_utf8_lossy(all.get(before..).unwrap_or_default());
            format!("{e}\n{printed}")
        })
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        // A previous attempt that never got ready (ports in use) must not outlive the test.
        self.kill9();
        std::fs::write(
            &self.config_path,
            self.config.render(self.ports, self.dir.path()),
        )
        .map_err(|e| format!("write config: {e}"))?;
        let log = |name: &str| -> Result<File, String> {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join(name))
                .map_err(|e| format!("{name}: {e}"))
        };
        let bin = env!("CARGO_BIN_EXE_hubcache");
        let mut cmd = match self.config.fd_soft_limit {
            // The shell lowers its soft limit and execs hubcache in its place (same pid).
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -Sn {limit} && exec \"$0\" \"$@\""))
                    .arg(bin);
                sh
            }
            None => Command::new(bin),
        };
        cmd.arg("--config")
            .arg(&self.config_path)
            .args(&self.config.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log("stdout.log")?)
            .stderr(log("stderr.log")?);
        for (k, v) in &self.config.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().map_err(|e| format!("spawn hubcache: {e}"))?);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        self.wait_answering(self.url("/pulp/content/"), deadline)
            .await?;
        // A separate API listener is another service: it may bind a moment after content.
        if self.ports.api.is_some() {
            self.wait_answering(self.api_url("/pulp/api/v3/status/"), deadline)
                .await?;
        }
        Ok(())
    }

    /// Polls `url` until it answers 200 (or the process exits, or `deadline` passes).
    async fn wait_answering(&mut self, url: String, deadline: Instant) -> Result<(), String> {
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("hubcache exited early with {status}"));
            }
            let probe = self
                .client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "GET {url} did not answer 200 within {READY_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "TestServer config ({}):\n{}",
                self.config_path.display(),
                std::fs::read_to_string(&self.config_path).unwrap_or_default()
            );
            eprintln!("{}", self.logs());
        }
    }
}

/// A port that was free a moment ago (bind `127.0.0.1:0`, read, release).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A free port other than `taken`.
fn free_port_except(taken: &[u16]) -> u16 {
    loop {
        let port = free_port();
        if !taken.contains(&port) {
            return port;
        }
    }
}

/// A URL nothing listens on: connections are refused.
pub fn refused_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}
