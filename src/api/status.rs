//! `GET /pulp/api/v3/status/` (no auth): pulpcore's status shape, every key kept so Pulp tooling
//! can parse it, plus hubcache's cache figures under `cache`. Always 200.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::json_response;
use super::json::timestamp;
use super::{ApiDeps, StatusFigures};

use super::openapi::PULP_APP_VERSIONS;

/// The handler.
pub(crate) async fn status(State(deps): State<Arc<ApiDeps>>) -> axum::response::Response {
    let figures = (deps.status)();
    let connected = match &deps.state {
        crate::state::Store::File(path) => state_is_usable(path),
        crate::state::Store::Postgres(pg) => {
            let pg = pg.clone();
            tokio::task::spawn_blocking(move || pg.is_usable())
                .await
                .unwrap_or(false)
        }
    };
    // With a fleet (`docs/fleet.md` "Nodes"): the live nodes by their heartbeats.
    let nodes = match &deps.state {
        crate::state::Store::Postgres(pg) => pg.live_nodes().all(),
        crate::state::Store::File(_) => Vec::new(),
    };
    let mut body = body(&figures, connected, deps.content_origin.as_deref());
    if !nodes.is_empty() {
        body.fleet(&nodes);
    }
    json_response(
        StatusCode::OK,
        &serde_json::to_value(body).unwrap_or_default(),
    )
    .map(axum::body::Body::from)
}

/// The status document (`StatusResponse`): pulpcore's keys plus hubcache's `cache`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = StatusResponse)]
pub(crate) struct StatusResponse {
    /// One entry: hubcache itself.
    versions: Vec<VersionResponse>,
    /// Empty for a single node (it has no separate workers); with a fleet, the live nodes
    /// (each runs tasks).
    online_workers: Vec<AppStatusResponse>,
    /// This process.
    online_api_apps: Vec<AppStatusResponse>,
    /// This process; with a fleet, the live nodes (`name`: the node's `fleet.advertise`).
    online_content_apps: Vec<AppStatusResponse>,
    /// Whether `state.path` is usable.
    database_connection: DatabaseConnectionResponse,
    /// Always `false`: no Redis.
    redis_connection: RedisConnectionResponse,
    /// The filesystem holding `cache.dir`.
    storage: StorageResponse,
    /// Always `false`: no domains.
    domain_enabled: bool,
    /// `content_origin` and the content path prefix.
    content_settings: ContentSettingsResponse,
    /// hubcache's own figures.
    cache: CacheStatusResponse,
}

/// A component and its version (`VersionResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = VersionResponse)]
pub(crate) struct VersionResponse {
    component: String,
    version: String,
    package: String,
    module: String,
    domain_compatible: bool,
}

/// A running process (`AppStatusResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AppStatusResponse)]
pub(crate) struct AppStatusResponse {
    /// `<host>:<pid>`.
    #[schema(read_only)]
    name: String,
    /// Now.
    #[schema(read_only, format = DateTime)]
    last_heartbeat: String,
    /// `{"hubcache": "<version>"}`.
    #[schema(read_only)]
    versions: BTreeMap<String, String>,
}

/// `database_connection` (`DatabaseConnectionResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = DatabaseConnectionResponse)]
pub(crate) struct DatabaseConnectionResponse {
    connected: bool,
}

/// `redis_connection` (`RedisConnectionResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RedisConnectionResponse)]
pub(crate) struct RedisConnectionResponse {
    connected: bool,
}

/// `storage` in bytes (`StorageResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = StorageResponse)]
pub(crate) struct StorageResponse {
    total: u64,
    used: u64,
    free: u64,
}

/// `content_settings` (`ContentSettingsResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ContentSettingsResponse)]
pub(crate) struct ContentSettingsResponse {
    content_origin: Option<String>,
    content_path_prefix: String,
}

/// hubcache's cache figures (not in pulpcore). No `cache.dir`: this document needs no login,
/// and an absolute path tells a stranger about the machine's layout.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = CacheStatusResponse)]
pub(crate) struct CacheStatusResponse {
    /// `cache.max_size` in bytes.
    max_size: u64,
    /// Bytes stored now.
    size: u64,
    /// Objects stored now.
    objects: u64,
    /// Fills running now.
    fills_in_flight: u64,
    /// Evictions since start.
    evictions: u64,
    /// Of `size`: bytes of pinned objects (never evicted).
    pinned: u64,
}

impl StatusResponse {
    /// A fleet's answer: every live node is a content app and a worker, named by its address,
    /// with its last heartbeat.
    pub(crate) fn fleet(&mut self, nodes: &[crate::state::NodeInfo]) {
        let versions = app_versions();
        let apps: Vec<AppStatusResponse> = nodes
            .iter()
            .map(|n| AppStatusResponse {
                name: n.address.to_string(),
                last_heartbeat: timestamp(n.last_heartbeat),
                versions: versions.clone(),
            })
            .collect();
        self.online_workers = apps.clone();
        self.online_content_apps = apps;
    }
}

fn app_versions() -> BTreeMap<String, String> {
    PULP_APP_VERSIONS
        .iter()
        .map(|(component, version, _, _)| (component.to_string(), version.to_string()))
        .collect()
}

/// The status document.
pub(crate) fn body(
    figures: &StatusFigures,
    state_usable: bool,
    content_origin: Option<&str>,
) -> StatusResponse {
    let app = AppStatusResponse {
        name: format!("{}:{}", hostname(), std::process::id()),
        last_heartbeat: timestamp(SystemTime::now()),
        versions: app_versions(),
    };
    StatusResponse {
        // Exactly the document's `x-pulp-app-versions`: `pulp status` compares them.
        versions: PULP_APP_VERSIONS
            .iter()
            .map(|(component, version, package, module)| VersionResponse {
                component: component.to_string(),
                version: version.to_string(),
                package: package.to_string(),
                module: module.to_string(),
                domain_compatible: false,
            })
            .collect(),
        online_workers: vec![],
        online_api_apps: vec![app.clone()],
        online_content_apps: vec![app],
        database_connection: DatabaseConnectionResponse {
            connected: state_usable,
        },
        redis_connection: RedisConnectionResponse { connected: false },
        // pulpcore's filesystem figures (`shutil.disk_usage`); hubcache's own bytes are `cache.size`.
        storage: storage(&figures.cache_dir),
        domain_enabled: false,
        content_settings: ContentSettingsResponse {
            content_origin: content_origin.map(str::to_string),
            content_path_prefix: "/pulp/content/".into(),
        },
        cache: CacheStatusResponse {
            max_size: figures.cache_max_size,
            size: figures.cache_size,
            objects: figures.cache_objects,
            fills_in_flight: figures.fills_in_flight,
            evictions: figures.evictions,
            pinned: figures.cache_pinned,
        },
    }
}

/// `shutil.disk_usage` of the filesystem holding `dir` (or its nearest existing ancestor, as
/// `cache.dir` may not exist yet): `{total, used, free}` in bytes, zeros if it cannot be read.
fn storage(dir: &Path) -> StorageResponse {
    let mut probe = Some(dir);
    while let Some(path) = probe {
        let path_or_cwd = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        if let Ok(fs) = rustix::fs::statvfs(path_or_cwd) {
            let unit = if fs.f_frsize > 0 {
                fs.f_frsize
            } else {
                fs.f_bsize
            };
            return StorageResponse {
                total: fs.f_blocks.saturating_mul(unit),
                used: fs.f_blocks.saturating_sub(fs.f_bfree).saturating_mul(unit),
                free: fs.f_bavail.saturating_mul(unit),
            };
        }
        probe = path.parent();
    }
    StorageResponse {
        total: 0,
        used: 0,
        free: 0,
    }
}

/// `database_connection.connected`: the state file can be read and written (or, before the
/// first write, its directory exists and is writable).
pub(crate) fn state_is_usable(path: &Path) -> bool {
    if path.exists() {
        return fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .is_ok();
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs_err::metadata(dir).is_ok_and(|m| m.is_dir() && !m.permissions().readonly())
}

fn hostname() -> String {
    crate::state::nodes::hostname()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pulp_key_is_present() {
        let figures = StatusFigures {
            cache_max_size: 100,
            cache_size: 40,
            cache_objects: 3,
            cache_pinned: 10,
            fills_in_flight: 1,
            evictions: 2,
            cache_dir: "var/cache".into(),
        };
        let body = serde_json::to_value(body(&figures, true, None)).unwrap();
        for key in [
            "versions",
            "online_workers",
            "online_api_apps",
            "online_content_apps",
            "database_connection",
            "redis_connection",
            "storage",
            "domain_enabled",
            "content_settings",
            "cache",
        ] {
            assert!(body.get(key).is_some(), "{key}");
        }
        assert_eq!(body["cache"]["size"], 40);
        assert_eq!(body["cache"]["pinned"], 10);
        assert!(!body.to_string().contains("var/cache"), "{body}");
        let storage = &body["storage"];
        let total = storage["total"].as_u64().unwrap();
        assert!(total > 0, "{storage}");
        assert!(storage["used"].as_u64().unwrap() <= total);
        assert!(storage["free"].as_u64().unwrap() <= total);
        assert_eq!(
            body["content_settings"]["content_path_prefix"],
            "/pulp/content/"
        );
        // `pulp status` needs exactly the document's `x-pulp-app-versions` here.
        let components: Vec<&str> = body["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["component"].as_str().unwrap())
            .collect();
        assert_eq!(components, ["core", "hugging_face", "hubcache"]);
        let doc = serde_json::to_value(crate::api::openapi::document()).unwrap();
        for v in body["versions"].as_array().unwrap() {
            let c = v["component"].as_str().unwrap();
            assert_eq!(doc["info"]["x-pulp-app-versions"][c], v["version"], "{c}");
        }
    }

    #[test]
    fn a_fleet_lists_its_live_nodes_as_content_apps_and_workers() {
        let figures = StatusFigures {
            cache_max_size: 1,
            cache_size: 0,
            cache_objects: 0,
            cache_pinned: 0,
            fills_in_flight: 0,
            evictions: 0,
            cache_dir: ".".into(),
        };
        let single = serde_json::to_value(body(&figures, true, None)).unwrap();
        assert_eq!(single["online_content_apps"].as_array().unwrap().len(), 1);
        assert_eq!(single["online_workers"], serde_json::json!([]));
        let node = |port: u16| crate::state::NodeInfo {
            address: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            started: SystemTime::UNIX_EPOCH,
            last_heartbeat: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1),
        };
        let mut fleet = body(&figures, true, None);
        fleet.fleet(&[node(9000), node(9001)]);
        let fleet = serde_json::to_value(fleet).unwrap();
        for key in ["online_content_apps", "online_workers"] {
            let apps = fleet[key].as_array().unwrap();
            let names: Vec<&str> = apps.iter().map(|a| a["name"].as_str().unwrap()).collect();
            assert_eq!(names, ["127.0.0.1:9000", "127.0.0.1:9001"], "{key}");
            assert_eq!(apps[0]["last_heartbeat"], "1970-01-01T00:00:01.000000Z");
            assert!(apps[0]["versions"]["hubcache"].is_string());
        }
        assert_eq!(fleet["online_api_apps"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn state_usability() {
        let dir = tempfile::tempdir().unwrap();
        assert!(state_is_usable(&dir.path().join("state.yaml")));
        assert!(!state_is_usable(&dir.path().join("missing/state.yaml")));
    }
}
