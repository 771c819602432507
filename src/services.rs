//! One function per Pingora service (content, API sidecar, metrics), and `build_server`,
//! which turns a validated `Config` into a ready-to-run Pingora `Server`.

use std::sync::Arc;

use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;

use crate::api::{Api, ApiDeps, ApiUser, StatusFigures};
use crate::config::{Config, Credential, User};
use crate::content::AdminApi;
use crate::content::ContentProxy;
use crate::downstream::HeadGuard;
use crate::origin::HubClient;
use crate::origin::HubMemory;
use crate::registry::Registry;

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
    /// The metric families could not be registered.
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The disk cache could not be opened.
    #[error("opening the disk cache: {0}")]
    Cache(String),
    /// The state could not be loaded.
    #[error("loading {from}: {reason}")]
    State {
        /// The state file, or PostgreSQL.
        from: String,
        /// Why.
        reason: String,
    },
}

/// Creates `path` and its missing parents with mode 0700: the cache and the state file's
/// directory hold private bytes and secrets. (An existing directory keeps its mode here; the
/// disk cache makes `cache.dir` private when it opens it.)
fn ensure_dir(path: &std::path::Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    // std's builder: fs_err has no synchronous one; the error names the path below.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(crate::atomic::PRIVATE_DIR)
        .create(path)
        .map_err(|source| StartError::Dir {
            path: path.to_path_buf(),
            source,
        })
}

/// Pingora's `ServerConf`, built in code from ours.
fn server_conf(config: &Config) -> ServerConf {
    let state_dir = config
        .state_path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let run_file = |name: &str| {
        let p = if state_dir.as_os_str().is_empty() {
            std::path::PathBuf::from(name)
        } else {
            state_dir.join(name)
        };
        std::path::absolute(&p)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    ServerConf {
        threads: config.server.threads.max(1),
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(
            config.server.graceful_shutdown_timeout.as_secs().max(1),
        ),
        // Per instance, not the shared /tmp defaults: several hubcaches may share a host.
        pid_file: run_file("hubcache.pid"),
        upgrade_sock: run_file("hubcache-upgrade.sock"),
        ..ServerConf::default()
    }
}

/// Builds every service from the configuration. Starts no thread or runtime: Pingora does
/// that in `run_forever`.
pub fn build_server(config: Config, opt: Opt) -> Result<Server, StartError> {
    crate::downstream::raise_open_file_limit();
    ensure_dir(&config.cache.dir)?;
    let store = match &config.state_postgres {
        Some(pg) => crate::state::Store::Postgres(Arc::new(
            crate::state::PgStore::new(pg.url.expose(), &pg.key).map_err(|e| {
                StartError::State {
                    from: "PostgreSQL (state.postgres)".into(),
                    reason: e.to_string(),
                }
            })?,
        )),
        None => {
            if let Some(parent) = config
                .state_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                ensure_dir(parent)?;
            }
            crate::state::Store::File(config.state_path.clone())
        }
    };
    let loaded = store
        .load(&config.declared)
        .map_err(|e| StartError::State {
            from: store.describe(),
            reason: e.to_string(),
        })?;
    let registry = Arc::new(Registry::new(loaded.snapshot));
    let metrics = Arc::new(crate::metrics::Metrics::new()?);
    let readiness = Arc::new(crate::metrics::Readiness::new());
    readiness.set_state_loaded();
    // Pins are given at open: the start-up scan trims to the budget and must skip them
    // (`docs/prewarm.md` "Pins").
    let pins: Vec<_> = registry
        .snapshot()
        .repositories
        .iter()
        .filter(|r| r.pinned)
        .map(|r| (r.meta.id, r.pinned_files()))
        .collect();
    let disk = crate::cache::DiskCache::open_pinned(&config.cache.dir, config.cache.max_size, pins)
        .map_err(|e| StartError::Cache(e.to_string()))?;
    readiness.set_cache_loaded();
    let cache_lock: &'static pingora::cache::lock::CacheKeyLockImpl = Box::leak(
        pingora::cache::lock::CacheLock::new_boxed(crate::content::lock_age_timeout()),
    );
    let observer_metrics = metrics.clone();
    let hub = Arc::new(HubClient::new().with_observer(Arc::new(
        move |remote: &str, status: u16, took| {
            observer_metrics.observe_upstream(remote, status, took)
        },
    )));
    let metadata = Arc::new(HubMemory::new(
        hub,
        Some(disk),
        config.cache.revision_ttl,
        config.cache.negative_ttl,
    ));

    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&config));
    server.bootstrap();

    let users: Vec<ApiUser> = config.users.iter().map(api_user).collect();
    for listen in std::iter::once(config.listen).chain(config.api_listen) {
        if crate::api::insecure_default(&users, listen) {
            tracing::warn!(%listen, "the API uses a default password on a non-loopback listener: set HUBCACHE_ADMIN_PASSWORD");
        }
    }
    let cache_dir = config.cache.dir.clone();
    let max_size = config.cache.max_size;
    let sync_access = crate::sync::SyncAccess::new();
    let sync = Arc::new(crate::sync::run::SyncDeps {
        tasks: match &config.fleet {
            Some(fleet) => crate::tasks::Tasks::new(registry.clone(), store.clone())
                .with_node(fleet.advertise.to_string()),
            None => crate::tasks::Tasks::new(registry.clone(), store.clone()),
        },
        registry: registry.clone(),
        disk: Some(disk),
        access: sync_access.clone(),
        content_base: loopback_base(config.listen),
        metrics: metrics.clone(),
    });
    let api = Api::new(ApiDeps {
        registry: registry.clone(),
        users,
        state: store.clone(),
        content_origin: config.content_origin.clone(),
        status: Arc::new(move || {
            let s = disk.stats();
            StatusFigures {
                cache_max_size: max_size,
                cache_size: s.size_bytes,
                cache_objects: s.objects,
                cache_pinned: s.pinned_bytes,
                fills_in_flight: s.fills_in_flight,
                evictions: s.evictions,
                cache_dir: cache_dir.clone(),
            }
        }),
        sync: Some(sync.clone()),
    });

    // Owner routing (`docs/fleet.md` "Owner routing"): the ring is refreshed and its peers
    // checked by a background service.
    // With PostgreSQL, the ring also takes the live nodes of the `nodes` table.
    let live: Option<crate::fleet::LiveFn> = match &store {
        crate::state::Store::Postgres(pg) => {
            let nodes = pg.live_nodes();
            Some(Box::new(move || nodes.addresses()))
        }
        crate::state::Store::File(_) => None,
    };
    let fleet = config
        .fleet
        .as_ref()
        .map(|f| Arc::new(crate::fleet::Fleet::new(f, live)));
    if let Some(fleet) = &fleet {
        server.add_service(fleet.ring.service());
        tracing::info!(advertise = %fleet.me, peers = config.fleet.as_ref().map_or(0, |f| f.peers.len()), "fleet: owner routing");
    }
    let proxy = ContentProxy {
        registry: registry.clone(),
        memory: metadata,
        disk: Some(disk),
        cache_lock,
        metrics: metrics.clone(),
        api: Some(Arc::new(api.clone())),
        content_origin: config.content_origin.clone(),
        sync: Some(sync_access),
        fleet: fleet.clone(),
    };
    let head_timeout = config.server.request_head_timeout;
    let mut content = Service::new(
        "content".to_string(),
        HeadGuard::new(
            pingora::proxy::http_proxy(&server.configuration, proxy),
            head_timeout,
        ),
    );
    content.add_listener(crate::downstream::tcp_listener(&config.listen.to_string()));
    server.add_service(content);
    tracing::info!(listen = %config.listen, "content listener");

    if let Some(listen) = config.metrics_listen {
        let figures: crate::metrics::FiguresFn = Arc::new(move || {
            let s = disk.stats();
            crate::metrics::CacheFigures {
                size_bytes: s.size_bytes,
                objects: s.objects,
                max_size,
                evictions_total: s.evictions,
                fills_in_flight: s.fills_in_flight,
                pinned_bytes: s.pinned_bytes,
                store_failures: disk.store_failures(),
            }
        });
        let task_registry = registry.clone();
        let tasks: crate::metrics::TasksFn = Arc::new(move || {
            crate::metrics::count_tasks(task_registry.snapshot().tasks.iter().map(|t| &**t))
        });
        let mut app = crate::metrics::MetricsApp::new(metrics.clone(), readiness.clone(), figures)
            .with_tasks(tasks);
        if let Some(fleet) = &fleet {
            let ring = fleet.ring.clone();
            app = app.with_fleet(Arc::new(move || ring.node_states()));
        }
        server.add_service(crate::metrics::metrics_service(app, &listen.to_string()));
        tracing::info!(%listen, "metrics listener");
    }
    let addrs = std::iter::once(config.listen)
        .chain(config.api_listen)
        .collect();
    if let crate::state::Store::Postgres(pg) = &store {
        // A write on any node is used by all (`docs/fleet.md` "Shared state").
        registry.on_replace(Box::new(move |old, new| follow_pins(disk, old, new)));
        let gauge = metrics.clone();
        pg.observe_version(Box::new(move |v| gauge.set_fleet_state_version(v)));
        server.add_service(pingora::services::background::background_service(
            "state reload",
            crate::state::Reloader {
                pg: pg.clone(),
                registry: registry.clone(),
            },
        ));
        // Tasks of a node that is gone are taken over (`docs/fleet.md` "Tasks").
        server.add_service(pingora::services::background::background_service(
            "task takeover",
            crate::sync::run::Takeover { deps: sync },
        ));
        if let Some(fleet) = &config.fleet {
            // `docs/fleet.md` "Nodes": the live nodes, for the status and the owner ring.
            server.add_service(pingora::services::background::background_service(
                "heartbeat",
                crate::state::Heartbeat {
                    pg: pg.clone(),
                    advertise: fleet.advertise,
                },
            ));
        }
    }
    server.add_service(pingora::services::background::background_service(
        "listener probe",
        crate::metrics::ListenerProbe {
            readiness: readiness.clone(),
            addrs,
        },
    ));

    if let Some(listen) = config.api_listen {
        let mut service = Service::new(
            "api".to_string(),
            HeadGuard::new(ApiService(api), head_timeout),
        );
        service.add_listener(crate::downstream::tcp_listener(&listen.to_string()));
        server.add_service(service);
        tracing::info!(%listen, "API listener");
    }
    Ok(server)
}

/// Moves the pins of every repository a reload changed (`docs/prewarm.md` "Pins"): a
/// repository gone or not pinned pins nothing.
fn follow_pins(
    disk: &crate::cache::DiskCache,
    old: &crate::registry::Snapshot,
    new: &crate::registry::Snapshot,
) {
    let ids = old
        .repositories
        .iter()
        .chain(&new.repositories)
        .map(|r| r.meta.id);
    let mut seen = std::collections::HashSet::new();
    for id in ids.filter(|id| seen.insert(*id)) {
        let before = old.repositories.iter().find(|r| r.meta.id == id);
        let after = new.repositories.iter().find(|r| r.meta.id == id);
        match (before, after) {
            (Some(b), Some(a)) if Arc::ptr_eq(b, a) => {}
            (_, Some(a)) => disk.set_pins(id, a.pinned_files()),
            (_, None) => disk.release_pins(id),
        }
    }
}

/// `http://<addr>` for this process to reach its own content listener: a wildcard address
/// is reached on loopback.
fn loopback_base(listen: std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, listen.port()))
}

fn api_user(user: &User) -> ApiUser {
    let (password, password_hash) = match &user.credential {
        Credential::Password(secret) => (Some(secret.clone()), None),
        Credential::Hash(hash) => (None, Some(hash.clone())),
    };
    ApiUser {
        username: user.username.clone(),
        password,
        password_hash,
        uses_default_password: user.uses_default_password,
    }
}

#[async_trait]
impl AdminApi for Api {
    async fn handle(&self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        Api::handle(self, request).await
    }
}

/// The API on its own listener (`api.listen`): the same handler as on the content listener.
struct ApiService(Api);

#[async_trait]
impl ServeHttp for ApiService {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let Ok(body) = crate::api::read_body(session).await else {
            return http::Response::builder()
                .status(400)
                .body(b"{\"detail\":\"Malformed request.\"}".to_vec())
                .unwrap_or_default();
        };
        let response = self.0.handle(crate::api::request(session, body)).await;
        let (parts, body) = response.into_parts();
        http::Response::from_parts(parts, body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::model::{Origin, Repository, RepositoryVersion, VersionFile};
    use crate::registry::Snapshot;

    fn repo(name: &str, pinned: bool, etag: &str) -> Repository {
        let mut r = Repository::new(Origin::Api, name);
        r.pinned = pinned;
        r.versions = vec![RepositoryVersion {
            number: 1,
            created: SystemTime::now(),
            commit: "0".repeat(40),
            revision: "main".into(),
            files: vec![VersionFile {
                etag: etag.into(),
                size: 1,
            }],
        }];
        r
    }

    fn with(repositories: Vec<Arc<Repository>>) -> Snapshot {
        Snapshot {
            repositories,
            ..Default::default()
        }
    }

    #[test]
    fn a_reload_moves_the_pins_of_the_repositories_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let disk = crate::cache::DiskCache::open(dir.path(), 1000).unwrap();
        let kept = Arc::new(repo("kept", true, "k"));
        let gone = Arc::new(repo("gone", true, "g"));
        let before = with(vec![kept.clone(), gone.clone()]);
        follow_pins(disk, &Snapshot::default(), &before);
        assert!(disk.is_pinned("k") && disk.is_pinned("g"));

        let mut unpinned = Repository::clone(&kept);
        unpinned.pinned = false;
        let new = Arc::new(repo("new", true, "n"));
        follow_pins(disk, &before, &with(vec![Arc::new(unpinned), new]));
        assert!(!disk.is_pinned("k"), "unpinned on another node");
        assert!(!disk.is_pinned("g"), "deleted on another node");
        assert!(disk.is_pinned("n"), "created pinned on another node");
    }
}
