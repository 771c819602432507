//! `GET /pulp/api/v3/status/` (no auth): pulpcore's status shape, every key kept so Pulp tooling
//! can parse it, plus hubcache's cache figures under `cache`. Always 200.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use http::StatusCode;
use serde_json::{json, Value};

use super::error::json_response;
use super::json::timestamp;
use super::{ApiDeps, StatusFigures};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The handler.
pub(crate) async fn status(State(deps): State<Arc<ApiDeps>>) -> axum::response::Response {
    let figures = (deps.status)();
    let connected = state_is_usable(&deps.state_path);
    json_response(
        StatusCode::OK,
        &body(&figures, connected, deps.content_origin.as_deref()),
    )
    .map(axum::body::Body::from)
}

/// The status document.
pub(crate) fn body(
    figures: &StatusFigures,
    state_usable: bool,
    content_origin: Option<&str>,
) -> Value {
    let app = json!({
        "name": format!("{}:{}", hostname(), std::process::id()),
        "last_heartbeat": timestamp(SystemTime::now()),
        "versions": { "hubcache": VERSION },
    });
    json!({
        "versions": [{
            "component": "hubcache", "version": VERSION, "package": "hubcache",
            "module": "hubcache", "domain_compatible": false,
        }],
        "online_workers": [],
        "online_api_apps": [app.clone()],
        "online_content_apps": [app],
        "database_connection": { "connected": state_usable },
        "redis_connection": { "connected": false },
        // pulpcore's filesystem figures (`shutil.disk_usage`); hubcache's own bytes are `cache.size`.
        "storage": storage(&figures.cache_dir),
        "domain_enabled": false,
        "content_settings": { "content_origin": content_origin, "content_path_prefix": "/pulp/content/" },
        // No `cache.dir`: this document needs no login, and an absolute path tells a
        // stranger about the machine's layout.
        "cache": {
            "max_size": figures.cache_max_size,
            "size": figures.cache_size,
            "objects": figures.cache_objects,
            "pinned": figures.cache_pinned,
            "fills_in_flight": figures.fills_in_flight,
            "evictions": figures.evictions,
        },
    })
}

/// `shutil.disk_usage` of the filesystem holding `dir` (or its nearest existing ancestor, as
/// `cache.dir` may not exist yet): `{total, used, free}` in bytes, zeros if it cannot be read.
fn storage(dir: &Path) -> Value {
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
            return json!({
                "total": fs.f_blocks.saturating_mul(unit),
                "used": fs.f_blocks.saturating_sub(fs.f_bfree).saturating_mul(unit),
                "free": fs.f_bavail.saturating_mul(unit),
            });
        }
        probe = path.parent();
    }
    json!({ "total": 0, "used": 0, "free": 0 })
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
    fs_err::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
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
        let body = body(&figures, true, None);
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
        assert_eq!(body["versions"][0]["component"], "hubcache");
    }

    #[test]
    fn state_usability() {
        let dir = tempfile::tempdir().unwrap();
        assert!(state_is_usable(&dir.path().join("state.yaml")));
        assert!(!state_is_usable(&dir.path().join("missing/state.yaml")));
    }
}
