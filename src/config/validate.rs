//! Turns a parsed [`wire::File`] into a [`Config`]: every check, every conversion, every
//! problem with its YAML path. Never stops at the first problem and never panics.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::wire::{self, Scalar};
use super::{
    expand, objects, units, CacheConfig, Config, Credential, FleetConfig, PostgresState, Problems,
    ServerConfig, User,
};
use crate::model::Secret;
use crate::rules;
use crate::state::StateKey;

/// Looks a variable up for `${VAR}` expansion.
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Validates the whole file.
pub(super) fn validate(file: &wire::File, env: Env<'_>) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let listen = p.check("listen", socket_addr(&file.listen));
    let api_listen = file
        .api
        .listen
        .as_deref()
        .map(|a| p.check("api.listen", socket_addr(a)));
    let metrics_listen = file
        .metrics
        .listen
        .as_deref()
        .map(|a| p.check("metrics.listen", socket_addr(a)));
    check_distinct(
        &mut p,
        &[
            ("listen", listen),
            ("api.listen", api_listen.flatten()),
            ("metrics.listen", metrics_listen.flatten()),
        ],
    );
    let content_origin = match &file.content_origin {
        Some(origin) => p.check("content_origin", rules::check_origin(origin)),
        None => None,
    };
    let cache = cache(&file.cache, &mut p);
    let state_path = p
        .check("state.path", path(&file.state.path))
        .unwrap_or_default();
    if !cache.dir.as_os_str().is_empty() && state_path.starts_with(&cache.dir) {
        p.push(
            "state.path",
            "must not be inside cache.dir (the cache owns every file there)",
        );
    }
    let state_postgres = state_postgres(&file.state, env, &mut p);
    let fleet = fleet(&file.fleet, env, &mut p);
    let users = users(&file.users, env, &mut p);
    let server = server(&file.server, &mut p);
    let declared = objects::declare(file, env, &mut p);
    if !p.is_empty() {
        return Err(p);
    }
    Ok(Config {
        listen: listen.unwrap_or(UNSPECIFIED),
        content_origin,
        api_listen: api_listen.flatten(),
        metrics_listen: metrics_listen.flatten(),
        cache,
        state_path,
        state_postgres,
        fleet,
        users,
        server,
        declared,
    })
}

/// Placeholder for a listener that failed to parse; never returned (a problem was recorded).
const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not an address like \"127.0.0.1:8080\" or \"[::]:8080\""))
}

/// Two listeners on one port clash when their IPs are equal or either is a wildcard.
/// Port 0 (an ephemeral port, as in tests) never clashes.
fn check_distinct(p: &mut Problems, listeners: &[(&str, Option<SocketAddr>)]) {
    for (i, (path, addr)) in listeners.iter().enumerate() {
        let Some(addr) = addr else { continue };
        let clash = listeners[..i].iter().find(|(_, other)| {
            other.is_some_and(|o| {
                o.port() == addr.port()
                    && addr.port() != 0
                    && (o.ip() == addr.ip()
                        || o.ip().is_unspecified()
                        || addr.ip().is_unspecified())
            })
        });
        if let Some((other, _)) = clash {
            p.push(
                *path,
                format!("{addr} clashes with {other}; use another port"),
            );
        }
    }
}

fn path(text: &str) -> Result<PathBuf, String> {
    match text.trim() {
        "" => Err("This field may not be blank.".into()),
        _ => Ok(PathBuf::from(text)),
    }
}

/// `state.postgres` and `state.key_file` (`docs/fleet.md`): the URL (blank after expansion:
/// not used) and the key, read now so that `--check` reports a missing or bad key file.
fn state_postgres(w: &wire::State, env: Env<'_>, p: &mut Problems) -> Option<PostgresState> {
    let url = p.check(
        "state.postgres",
        expand::expand(w.postgres.as_deref()?, env).map(|e| e.value),
    )?;
    if url.trim().is_empty() {
        return None;
    }
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        p.push(
            "state.postgres",
            "must be a PostgreSQL URL: postgres://user@host:port/database",
        );
    }
    let key = match w.key_file.as_deref().map(str::trim) {
        None | Some("") => {
            p.push(
                "state.key_file",
                "required with state.postgres: a file holding the 32-byte key that seals the secrets (64 hex digits, e.g. from `openssl rand -hex 32`)",
            );
            None
        }
        Some(path) => p.check("state.key_file", StateKey::read(Path::new(path))),
    }?;
    Some(PostgresState {
        url: Secret::new(url),
        key,
    })
}

/// The shortest `fleet.secret` accepted: it is all that tells a peer from a client.
pub(super) const MIN_FLEET_SECRET: usize = 16;

/// `fleet:` (`docs/fleet.md`): nothing without `advertise`; with it, a secret and the peers.
fn fleet(w: &wire::Fleet, env: Env<'_>, p: &mut Problems) -> Option<FleetConfig> {
    let Some(advertise) = w.advertise.as_deref() else {
        if !w.peers.is_empty() {
            p.push(
                "fleet.peers",
                "needs fleet.advertise (this node's own address as the peers reach it)",
            );
        }
        return None;
    };
    let advertise = p.check("fleet.advertise", node_addr(advertise));
    let mut peers = Vec::new();
    for (i, peer) in w.peers.iter().enumerate() {
        if let Some(addr) = p.check(format!("fleet.peers[{i}]"), node_addr(peer)) {
            if Some(addr) != advertise && !peers.contains(&addr) {
                peers.push(addr);
            }
        }
    }
    let secret = match w.secret.as_deref().map(|text| expand::expand(text, env)) {
        None => Some(String::new()),
        Some(Ok(expanded)) => Some(expanded.value),
        // Already reported (an unset variable).
        Some(Err(message)) => {
            p.push("fleet.secret", message);
            None
        }
    };
    let secret = match secret {
        None => None,
        Some(s) if !s.bytes().all(|b| b.is_ascii_graphic()) => {
            p.push(
                "fleet.secret",
                "must be printable ASCII without spaces (it travels in a header), e.g. from `openssl rand -hex 32`",
            );
            None
        }
        Some(s) if s.chars().count() >= MIN_FLEET_SECRET => Some(Secret::new(s)),
        Some(s) if !s.is_empty() => {
            p.push(
                "fleet.secret",
                format!(
                    "must be at least {MIN_FLEET_SECRET} characters (e.g. `openssl rand -hex 32`)"
                ),
            );
            None
        }
        Some(_) => {
            p.push(
                "fleet.secret",
                "required with fleet.advertise: the same secret on every node (set HUBCACHE_FLEET_SECRET, e.g. from `openssl rand -hex 32`)",
            );
            None
        }
    };
    Some(FleetConfig {
        advertise: advertise?,
        peers,
        secret: secret?,
    })
}

/// A node's address: `ip:port` or `host:port` (resolved now), never a wildcard or port 0.
fn node_addr(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let bad = || format!("{text:?} is not a node address like \"10.0.0.5:8080\"");
    let addr = match text.trim().parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => text
            .trim()
            .to_socket_addrs()
            .map_err(|_| bad())?
            .next()
            .ok_or_else(bad)?,
    };
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(format!(
            "{text:?} must be an address other nodes can reach (not a wildcard, not port 0)"
        ));
    }
    Ok(addr)
}

fn cache(w: &wire::Cache, p: &mut Problems) -> CacheConfig {
    let positive = |n: u64| {
        if n == 0 {
            Err("must be greater than 0".to_string())
        } else {
            Ok(n)
        }
    };
    let max_size = p
        .check("cache.max_size", size(&w.max_size).and_then(positive))
        .unwrap_or_default();
    CacheConfig {
        dir: p.check("cache.dir", path(&w.dir)).unwrap_or_default(),
        max_size,
        revision_ttl: p
            .check("cache.revision_ttl", duration(&w.revision_ttl))
            .unwrap_or_default(),
        negative_ttl: p
            .check("cache.negative_ttl", duration(&w.negative_ttl))
            .unwrap_or_default(),
    }
}

fn server(w: &wire::Server, p: &mut Problems) -> ServerConfig {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = match &w.threads {
        None => cpus,
        Some(n) => p
            .check("server.threads", count(n, 1, 1024))
            .map_or(cpus, |n| n as usize),
    };
    ServerConfig {
        threads,
        grace_period: p
            .check("server.grace_period", duration(&w.grace_period))
            .unwrap_or_default(),
        graceful_shutdown_timeout: p
            .check(
                "server.graceful_shutdown_timeout",
                duration(&w.graceful_shutdown_timeout),
            )
            .unwrap_or_default(),
        request_head_timeout: p
            .check(
                "server.request_head_timeout",
                duration(&w.request_head_timeout).and_then(head_timeout),
            )
            .unwrap_or_default(),
    }
}

/// A request-head timeout: long enough for a slow link, short enough that idle connections
/// cannot pile up.
fn head_timeout(d: Duration) -> Result<Duration, String> {
    if (Duration::from_secs(1)..=Duration::from_secs(300)).contains(&d) {
        Ok(d)
    } else {
        Err("Ensure this value is between 1s and 5m.".to_string())
    }
}

fn users(list: &[wire::User], env: Env<'_>, p: &mut Problems) -> Vec<User> {
    if list.is_empty() {
        p.push("users", "at least one user is needed for the API");
    }
    let mut out: Vec<User> = Vec::new();
    for (i, w) in list.iter().enumerate() {
        let at = format!("users[{i}]");
        let username = match w.username.as_deref() {
            None => {
                p.push(format!("{at}.username"), "This field is required.");
                None
            }
            Some(name) => p.check(format!("{at}.username"), check_username(name, &out)),
        };
        let credential = match (&w.password, &w.password_hash) {
            (None, None) => {
                p.push(
                    &at,
                    "neither password nor password_hash is set; set one of them",
                );
                None
            }
            (Some(_), Some(_)) => {
                p.push(&at, "both password and password_hash are set; set only one");
                None
            }
            (Some(pw), None) => {
                p.check(format!("{at}.password"), secret(pw, env))
                    .map(|(value, used_default)| {
                        (Credential::Password(Secret::new(value)), used_default)
                    })
            }
            (None, Some(hash)) => p.check(format!("{at}.password_hash"), password_hash(hash, env)),
        };
        if let (Some(username), Some((credential, uses_default_password))) = (username, credential)
        {
            out.push(User {
                username,
                credential,
                uses_default_password,
            });
        }
    }
    out
}

fn check_username(name: &str, earlier: &[User]) -> Result<String, String> {
    rules::check_name(name)?;
    if name.contains(':') {
        return Err("A user name may not contain ':' (HTTP basic auth splits on it).".into());
    }
    if earlier.iter().any(|u| u.username == name) {
        return Err(format!("{name:?} is listed more than once"));
    }
    Ok(name.to_string())
}

/// Expands a required secret; blank after expansion is a problem. Returns it and whether a
/// `${VAR:-default}` default was used.
pub(super) fn secret(text: &str, env: Env<'_>) -> Result<(String, bool), String> {
    let expanded = expand::expand(text, env)?;
    if expanded.value.is_empty() {
        return Err("This field may not be blank.".into());
    }
    Ok((expanded.value, expanded.used_default))
}

fn password_hash(text: &str, env: Env<'_>) -> Result<(Credential, bool), String> {
    let (hash, used_default) = secret(text, env)?;
    let is_argon2 =
        argon2::PasswordHash::new(&hash).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"));
    if !is_argon2 {
        return Err(
            "not an argon2 PHC string (expected \"$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>\")"
                .into(),
        );
    }
    Ok((Credential::Hash(hash), used_default))
}

/// A byte size: an integer number of bytes, or a string with a unit (`"20GiB"`).
fn size(value: &Scalar) -> Result<u64, String> {
    match value {
        Scalar::Int(n) => u64::try_from(*n).map_err(|_| "a size may not be negative".to_string()),
        Scalar::Float(n) => Err(format!(
            "{n} is not a whole number of bytes; write e.g. \"1.5GiB\""
        )),
        Scalar::Text(text) => units::parse_size(text),
    }
}

/// A duration with a unit (`"30s"`); a bare number is refused as ambiguous.
fn duration(value: &Scalar) -> Result<Duration, String> {
    match value {
        Scalar::Int(n) => Err(format!("{n} needs a unit, e.g. \"{n}s\"")),
        Scalar::Float(n) => Err(format!("{n} needs a unit, e.g. \"{n}s\"")),
        Scalar::Text(text) => units::parse_duration(text),
    }
}

/// A remote timeout: a number of seconds (Pulp's form, floats allowed) or a duration string.
pub(super) fn timeout(value: &Scalar) -> Result<Duration, String> {
    let seconds = match value {
        Scalar::Int(n) => *n as f64,
        Scalar::Float(n) => *n,
        Scalar::Text(text) => match text.trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => units::parse_duration(text)?.as_secs_f64(),
        },
    };
    rules::check_timeout(seconds)
}

/// An integer in `min..=max` (a numeric string is accepted, as DRF does).
pub(super) fn count(value: &Scalar, min: u32, max: u32) -> Result<u32, String> {
    let n = match value {
        Scalar::Int(n) => Some(*n),
        Scalar::Text(text) => text.trim().parse::<i64>().ok(),
        Scalar::Float(_) => None,
    }
    .ok_or_else(|| "A valid integer is required.".to_string())?;
    if n < i64::from(min) {
        return Err(format!(
            "Ensure this value is greater than or equal to {min}."
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("Ensure this value is less than or equal to {max}."))
}
