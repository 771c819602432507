//! One function per Pingora service (content, API sidecar, metrics), and `build_server`,
//! which turns a validated `Config` into a ready-to-run Pingora `Server`.

use std::sync::Arc;

use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;

use crate::config::Config;
use crate::content::ContentProxy;
use crate::metadata::Metadata;
use crate::registry::{Registry, Snapshot};
use crate::upstream::HubClient;

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A directory could not be created.
    #[error("creating {path}: {source}")]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state file could not be loaded.
    #[error("loading the state file {path}: {reason}")]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
}

fn ensure_dir(path: &std::path::Path) -> Result<(), StartError> {
    fs_err::create_dir_all(path).map_err(|source| StartError::Dir { path: path.to_path_buf(), source })
}

/// Pingora's `ServerConf`, built in code from ours.
fn server_conf(config: &Config) -> ServerConf {
    let state_dir = config.state_path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let run_file = |name: &str| {
        let p = if state_dir.as_os_str().is_empty() { std::path::PathBuf::from(name) } else { state_dir.join(name) };
        std::path::absolute(&p).unwrap_or(p).to_string_lossy().into_owned()
    };
    ServerConf {
        threads: config.server.threads.max(1),
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.server.graceful_shutdown_timeout.as_secs().max(1)),
        // Per instance, not the shared /tmp defaults: several hubcaches may share a host.
        pid_file: run_file("hubcache.pid"),
        upgrade_sock: run_file("hubcache-upgrade.sock"),
        ..ServerConf::default()
    }
}

/// Builds every service from the configuration. Starts no thread or runtime: Pingora does
/// that in `run_forever`.
pub fn build_server(config: Config, opt: Opt) -> Result<Server, StartError> {
    ensure_dir(&config.cache.dir)?;
    if let Some(parent) = config.state_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(parent)?;
    }
    let snapshot: Snapshot = config.declared.clone();
    let registry = Arc::new(Registry::new(snapshot));
    let hub = Arc::new(HubClient::new());
    let metadata = Arc::new(Metadata::new(
        hub.clone(),
        Some(config.cache.dir.join("v1").join("meta")),
        config.cache.revision_ttl,
        config.cache.negative_ttl,
    ));

    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&config));
    server.bootstrap();

    let proxy = ContentProxy { registry, hub, metadata, api: None, content_origin: config.content_origin.clone() };
    let mut content = pingora::proxy::http_proxy_service_with_name(&server.configuration, proxy, "content");
    content.add_tcp(&config.listen.to_string());
    server.add_service(content);
    tracing::info!(listen = %config.listen, "hubcache content listener");
    Ok(server)
}
