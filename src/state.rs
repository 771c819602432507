//! `state.path`: the remotes, distributions and content guards made through the API, saved
//! atomically after every API write and merged with the configuration's objects at start-up.
//!
//! Every save ends the file with a `sha256:` line (the digest of every byte before it) and
//! first keeps the file it replaces as `<path>.prev`, so a damaged file (truncated, or changed
//! since hubcache wrote it) is refused at start instead of loading with objects missing, and
//! the previous generation is there to recover from. Files of version 1 (written before the
//! checksum existed) still load, unchecked.
//!
//! The file holds only API-made objects (config-declared ones live in the config file), secrets
//! included — it is their only copy — so it is written with mode 0600. Distributions name
//! their remote and guard by **name**, as the config file does: a declared object's id is
//! derived from its name ([`crate::config::declared_id`]), so renaming it in the file changes
//! its id, while its name is what the user wrote. Merge rules at load:
//! * declared objects come first; an API object whose name (or, for a distribution, base path)
//!   now clashes with a declared one is dropped, with a warning;
//! * a distribution whose remote no longer exists keeps existing with no remote (404s);
//! * a distribution whose guard no longer exists is dropped: serving it unguarded would
//!   expose what the guard protected.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{self, ContentGuard, Distribution, Meta, Origin, Policy, Remote, Secret};
use crate::registry::Snapshot;
use crate::rules;

/// The format written: version 2 ends with the checksum line.
const VERSION: u32 = 2;
/// The format of the previous release: no checksum line; still loaded.
const UNCHECKED_VERSION: u32 = 1;
/// The key of the last line of a version 2 file.
const CHECKSUM_KEY: &str = "sha256: ";

/// Why the state file could not be read or written. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Not a state file (YAML syntax, unknown keys, wrong version); quoted values are elided.
    #[error("{path}: {message}")]
    Parse {
        /// The state file.
        path: PathBuf,
        /// What is wrong, with its location.
        message: String,
    },
    /// The file is damaged (truncated, or changed since hubcache wrote it): starting with it
    /// could silently drop objects.
    #[error("{path} is damaged: {reason}. hubcache will not start with part of its objects missing. {advice}")]
    Damaged {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// How to recover (names the previous generation when there is one).
        advice: String,
    },
    /// A stored object breaks a field rule (the file was edited by hand?).
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The state file.
        path: PathBuf,
        /// Where, e.g. `remotes[2].url`.
        field: String,
        /// The rule broken.
        message: String,
    },
    /// Writing, syncing or renaming failed; the previous file is untouched.
    #[error("writing {path}: {source}")]
    Write {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// The merged objects and what the merge had to change.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Declared objects first, then the API-made ones.
    pub snapshot: Snapshot,
    /// One line per object dropped or changed by the merge (already logged as warnings).
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    #[serde(default)]
    remotes: Vec<RemoteRecord>,
    #[serde(default)]
    distributions: Vec<DistributionRecord>,
    #[serde(default)]
    content_guards: Vec<GuardRecord>,
    /// The checksum line: checked on the text before parsing, appended by [`save`].
    #[serde(default, skip_serializing, rename = "sha256")]
    _checksum: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    name: String,
    url: String,
    policy: String,
    #[serde(default)]
    hf_token: Option<String>,
    #[serde(default)]
    pulp_labels: BTreeMap<String, String>,
    tls_validation: bool,
    #[serde(default)]
    ca_cert: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    connect_timeout: Option<f64>,
    #[serde(default)]
    sock_read_timeout: Option<f64>,
    #[serde(default)]
    total_timeout: Option<f64>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    rate_limit: Option<u32>,
    #[serde(default)]
    download_concurrency: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistributionRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    name: String,
    base_path: String,
    #[serde(default)]
    remote: Option<String>,
    #[serde(default)]
    content_guard: Option<String>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    pulp_labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    name: String,
    #[serde(default)]
    description: Option<String>,
    header_name: String,
    header_value: String,
}

fn to_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn meta(id: Uuid, created_ns: u64, updated_ns: u64) -> Meta {
    let at = |ns| UNIX_EPOCH + Duration::from_nanos(ns);
    Meta {
        id,
        created: at(created_ns),
        updated: at(updated_ns),
        origin: Origin::Api,
    }
}

/// `id`, `created_ns` and `updated_ns` of a record: the inverse of [`meta`].
type Stamp = (Uuid, u64, u64);

/// The records of the API-made objects among `objects` (declared ones live in the config file),
/// `record` making one from an object and its [`Stamp`].
fn records<T, R>(
    objects: &[Arc<T>],
    meta: impl Fn(&T) -> &Meta,
    record: impl Fn(&T, Stamp) -> R,
) -> Vec<R> {
    objects
        .iter()
        .map(|o| (o.as_ref(), meta(o)))
        .filter(|(_, m)| m.origin == Origin::Api)
        .map(|(o, m)| record(o, (m.id, to_ns(m.created), to_ns(m.updated))))
        .collect()
}

/// Reads `path` (missing = no API objects) and merges it with `declared` (see the module docs).
pub fn load(path: &Path, declared: &Snapshot) -> Result<Loaded, StateError> {
    let file = match fs_err::read_to_string(path) {
        Ok(text) => parse(path, &text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => StateFile::default(),
        Err(source) => {
            return Err(StateError::Read {
                path: path.into(),
                source,
            })
        }
    };
    let loaded = merge(path, file, declared)?;
    for warning in &loaded.warnings {
        tracing::warn!(state = %path.display(), "{warning}");
    }
    Ok(loaded)
}

fn parse(path: &Path, text: &str) -> Result<StateFile, StateError> {
    let checked = match checksum_line(text) {
        Some((body, sum)) if sum == sha256_hex(body) => true,
        Some(_) => return Err(damaged(path, "its checksum does not match its content")),
        None => false,
    };
    let parsed: Result<StateFile, _> = serde_yaml::from_str(text);
    let file = match parsed {
        Ok(file) => file,
        // A version 2 file without its last line was cut short (its YAML may be cut anywhere).
        Err(_) if !checked && !text.starts_with(&format!("version: {UNCHECKED_VERSION}\n")) => {
            return Err(damaged(
                path,
                "it ends before its checksum line (truncated?)",
            ));
        }
        Err(e) => {
            return Err(StateError::Parse {
                path: path.into(),
                message: elide_quoted(&e.to_string()),
            })
        }
    };
    match file.version {
        VERSION if checked => Ok(file),
        VERSION => Err(damaged(
            path,
            "it ends before its checksum line (truncated?)",
        )),
        UNCHECKED_VERSION => Ok(file),
        other => Err(StateError::Parse {
            path: path.into(),
            message: format!("version {other} is not supported (expected {VERSION})"),
        }),
    }
}

/// The text before the checksum line and the checksum, if the file ends with one (its final
/// newline may be missing: everything it covers is there).
fn checksum_line(text: &str) -> Option<(&str, &str)> {
    let start = if text.starts_with(CHECKSUM_KEY) {
        0
    } else {
        text.rfind(&format!("\n{CHECKSUM_KEY}"))? + 1
    };
    let (body, line) = text.split_at(start);
    let sum = line[CHECKSUM_KEY.len()..]
        .strip_suffix('\n')
        .unwrap_or(&line[CHECKSUM_KEY.len()..]);
    Some((body, sum))
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `<path>.prev`: the generation a save replaced.
pub fn previous_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".prev");
    PathBuf::from(name)
}

fn damaged(path: &Path, reason: &str) -> StateError {
    let prev = previous_path(path);
    let advice = if prev.exists() {
        format!(
            "The previous generation is kept at {}: check it and copy it over {} to start with it (API changes made after it was saved are lost)",
            prev.display(),
            path.display()
        )
    } else {
        format!(
            "Restore {} from a backup, or move it away to start without the objects made through the API",
            path.display()
        )
    };
    StateError::Damaged {
        path: path.into(),
        reason: reason.into(),
        advice,
    }
}

/// serde_yaml quotes offending values ("invalid type: string \"hf_…\""); a value in the wrong
/// place might be a token, so quoted text never reaches a message.
fn elide_quoted(message: &str) -> String {
    message
        .split('"')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect::<Vec<_>>()
        .join("\"")
}

fn merge(path: &Path, file: StateFile, declared: &Snapshot) -> Result<Loaded, StateError> {
    let invalid = |field: String, message: String| StateError::Invalid {
        path: path.into(),
        field,
        message,
    };
    let mut snap = declared.clone();
    let mut warnings = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    let mut fresh_id = |id: Uuid, field: String| {
        if ids.contains(&id) {
            Err(invalid(field, format!("duplicate id {id}")))
        } else {
            ids.push(id);
            Ok(())
        }
    };
    for (i, g) in file.content_guards.into_iter().enumerate() {
        let at = |f: &str| format!("content_guards[{i}].{f}");
        rules::check_name(&g.name).map_err(|m| invalid(at("name"), m))?;
        rules::check_header_name(&g.header_name).map_err(|m| invalid(at("header_name"), m))?;
        fresh_id(g.id, at("id"))?;
        if snap.guards.iter().any(|x| x.name == g.name) {
            warnings.push(format!(
                "content guard '{}' dropped: the configuration file declares one of that name",
                g.name
            ));
            continue;
        }
        let meta = meta(g.id, g.created_ns, g.updated_ns);
        let guard = ContentGuard {
            meta,
            name: g.name,
            description: g.description,
            header_name: g.header_name,
            header_value: Secret::new(g.header_value),
        };
        snap.guards.push(Arc::new(guard));
    }
    for (i, r) in file.remotes.into_iter().enumerate() {
        let at = |f: &str| format!("remotes[{i}].{f}");
        rules::check_name(&r.name).map_err(|m| invalid(at("name"), m))?;
        let url = rules::check_url(&r.url).map_err(|m| invalid(at("url"), m))?;
        rules::check_labels(&r.pulp_labels).map_err(|m| invalid(at("pulp_labels"), m))?;
        rules::check_headers(&r.headers).map_err(|m| invalid(at("headers"), m))?;
        let policy = match r.policy.as_str() {
            "on_demand" => Policy::OnDemand,
            "streamed" => Policy::Streamed,
            _ => {
                return Err(invalid(
                    at("policy"),
                    "expected on_demand or streamed".into(),
                ))
            }
        };
        let timeout = |f: &str, v: Option<f64>| {
            v.map(rules::check_timeout)
                .transpose()
                .map_err(|m| invalid(at(f), m))
        };
        let (connect_timeout, sock_read_timeout, total_timeout) = (
            timeout("connect_timeout", r.connect_timeout)?,
            timeout("sock_read_timeout", r.sock_read_timeout)?,
            timeout("total_timeout", r.total_timeout)?,
        );
        fresh_id(r.id, at("id"))?;
        if snap.remotes.iter().any(|x| x.name == r.name) {
            warnings.push(format!(
                "remote '{}' dropped: the configuration file declares one of that name",
                r.name
            ));
            continue;
        }
        snap.remotes.push(Arc::new(Remote {
            meta: meta(r.id, r.created_ns, r.updated_ns),
            name: r.name,
            url,
            policy,
            hf_token: r.hf_token.filter(|t| !t.is_empty()).map(Secret::new),
            pulp_labels: r.pulp_labels,
            tls_validation: r.tls_validation,
            ca_cert: r.ca_cert,
            headers: r.headers,
            connect_timeout,
            sock_read_timeout,
            total_timeout,
            max_retries: r.max_retries,
            rate_limit: r.rate_limit,
            download_concurrency: r.download_concurrency,
        }));
    }
    for (i, d) in file.distributions.into_iter().enumerate() {
        let at = |f: &str| format!("distributions[{i}].{f}");
        rules::check_name(&d.name).map_err(|m| invalid(at("name"), m))?;
        rules::check_labels(&d.pulp_labels).map_err(|m| invalid(at("pulp_labels"), m))?;
        if !model::is_canonical_base_path(&d.base_path) {
            return Err(invalid(at("base_path"), "not in canonical form".into()));
        }
        fresh_id(d.id, at("id"))?;
        let name = d.name.clone();
        if let Some(other) = snap
            .distributions
            .iter()
            .find(|x| x.name == d.name || model::base_paths_overlap(&x.base_path, &d.base_path))
        {
            warnings.push(format!("distribution '{name}' dropped: its name or base_path clashes with distribution '{}'", other.name));
            continue;
        }
        let content_guard = match &d.content_guard {
            None => None,
            Some(g) => {
                match snap.guards.iter().find(|x| &x.name == g) {
                    Some(guard) => Some(guard.meta.id),
                    None => {
                        warnings.push(format!("distribution '{name}' dropped: its content guard '{g}' no longer exists"));
                        continue;
                    }
                }
            }
        };
        let remote = d.remote.as_ref().and_then(|r| {
            let found = snap.remotes.iter().find(|x| &x.name == r).map(|x| x.meta.id);
            if found.is_none() {
                warnings.push(format!("distribution '{name}': its remote '{r}' no longer exists; it has no remote now"));
            }
            found
        });
        let meta = meta(d.id, d.created_ns, d.updated_ns);
        let dist = Distribution {
            meta,
            name: d.name,
            base_path: d.base_path,
            remote,
            content_guard,
            hidden: d.hidden,
            pulp_labels: d.pulp_labels,
        };
        snap.distributions.push(Arc::new(dist));
    }
    Ok(Loaded {
        snapshot: snap,
        warnings,
    })
}

/// Writes the API-made objects of `snapshot` to `path` atomically: a temp file in the same
/// directory (mode 0600), fsynced, renamed over `path`, then the directory fsynced. On failure
/// the previous file is intact and the temp file removed.
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), StateError> {
    let name_of_remote = |id| snapshot.remote(id).map(|r| r.name.clone());
    let name_of_guard = |id| snapshot.guard(id).map(|g| g.name.clone());
    let file = StateFile {
        version: VERSION,
        remotes: records(
            &snapshot.remotes,
            |r| &r.meta,
            |r, (id, created_ns, updated_ns)| RemoteRecord {
                id,
                created_ns,
                updated_ns,
                name: r.name.clone(),
                url: r.url.clone(),
                policy: r.policy.as_str().into(),
                hf_token: r.token().map(String::from),
                pulp_labels: r.pulp_labels.clone(),
                tls_validation: r.tls_validation,
                ca_cert: r.ca_cert.clone(),
                headers: r.headers.clone(),
                connect_timeout: r.connect_timeout.map(|d| d.as_secs_f64()),
                sock_read_timeout: r.sock_read_timeout.map(|d| d.as_secs_f64()),
                total_timeout: r.total_timeout.map(|d| d.as_secs_f64()),
                max_retries: r.max_retries,
                rate_limit: r.rate_limit,
                download_concurrency: r.download_concurrency,
            },
        ),
        distributions: records(
            &snapshot.distributions,
            |d| &d.meta,
            |d, (id, created_ns, updated_ns)| DistributionRecord {
                id,
                created_ns,
                updated_ns,
                name: d.name.clone(),
                base_path: d.base_path.clone(),
                remote: d.remote.and_then(name_of_remote),
                content_guard: d.content_guard.and_then(name_of_guard),
                hidden: d.hidden,
                pulp_labels: d.pulp_labels.clone(),
            },
        ),
        content_guards: records(
            &snapshot.guards,
            |g| &g.meta,
            |g, (id, created_ns, updated_ns)| GuardRecord {
                id,
                created_ns,
                updated_ns,
                name: g.name.clone(),
                description: g.description.clone(),
                header_name: g.header_name.clone(),
                header_value: g.header_value.expose().to_string(),
            },
        ),
        _checksum: None,
    };
    let mut text = serde_yaml::to_string(&file).map_err(|e| StateError::Write {
        path: path.into(),
        source: io::Error::other(e),
    })?;
    let sum = sha256_hex(&text);
    text.push_str(&format!("{CHECKSUM_KEY}{sum}\n"));
    let write_err = |source| StateError::Write {
        path: path.into(),
        source,
    };
    keep_previous(path).map_err(write_err)?;
    write_atomically(path, text.as_bytes()).map_err(write_err)
}

/// Copies the file about to be replaced to `<path>.prev` (atomically, mode 0600), if it is a
/// good one: a damaged file never replaces the last good generation.
fn keep_previous(path: &Path) -> io::Result<()> {
    let text = match fs_err::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if parse(path, &text).is_err() {
        tracing::warn!(state = %path.display(), "not keeping a damaged state file as the previous generation");
        return Ok(());
    }
    write_atomically(&previous_path(path), text.as_bytes())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::atomic::replace(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(name: &str, origin: Origin) -> Arc<Remote> {
        Arc::new(Remote {
            meta: Meta {
                origin,
                ..Meta::new(origin)
            },
            name: name.into(),
            url: "https://huggingface.co".into(),
            policy: Policy::Streamed,
            hf_token: Some(Secret::new("hf_tok")),
            pulp_labels: BTreeMap::from([("env".to_string(), "prod".to_string())]),
            tls_validation: false,
            ca_cert: None,
            headers: vec![("X-Foo".into(), "bar".into())],
            connect_timeout: Some(Duration::from_millis(2500)),
            sock_read_timeout: None,
            total_timeout: Some(Duration::from_secs(60)),
            max_retries: Some(3),
            rate_limit: None,
            download_concurrency: Some(4),
        })
    }

    fn guard(name: &str, origin: Origin) -> Arc<ContentGuard> {
        let meta = Meta::new(origin);
        Arc::new(ContentGuard {
            meta,
            name: name.into(),
            description: Some("d".into()),
            header_name: "Authorization".into(),
            header_value: Secret::new("Bearer s"),
        })
    }

    fn dist(
        name: &str,
        base_path: &str,
        remote: Option<Uuid>,
        guard: Option<Uuid>,
    ) -> Arc<Distribution> {
        let meta = Meta::new(Origin::Api);
        Arc::new(Distribution {
            meta,
            name: name.into(),
            base_path: base_path.into(),
            remote,
            content_guard: guard,
            hidden: true,
            pulp_labels: BTreeMap::new(),
        })
    }

    fn api_snapshot() -> Snapshot {
        let r = remote("hf", Origin::Api);
        let g = guard("g", Origin::Api);
        let d = dist("d", "hf/public", Some(r.meta.id), Some(g.meta.id));
        Snapshot {
            remotes: vec![r],
            distributions: vec![d],
            guards: vec![g],
        }
    }

    #[test]
    fn save_then_load_round_trips_and_keeps_only_api_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        let mut snap = api_snapshot();
        snap.remotes.push(remote("declared", Origin::Config));
        save(&path, &snap).unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(!text.contains("declared"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let loaded = load(&path, &Snapshot::default()).unwrap();
        let want = api_snapshot_without_declared(&snap);
        assert_eq!(loaded.snapshot.remotes, want.remotes);
        assert_eq!(loaded.snapshot.distributions, want.distributions);
        assert_eq!(loaded.snapshot.guards, want.guards);
        assert!(loaded.warnings.is_empty());
        let names: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state.yaml"], "no temp file left");
    }

    /// A hand edit of a saved file, signed again as `save` would.
    fn edit(path: &Path, from: &str, to: &str) {
        let text = fs_err::read_to_string(path).unwrap();
        let (body, _) = checksum_line(&text).unwrap();
        let body = body.replace(from, to);
        let signed = format!("{body}{CHECKSUM_KEY}{}\n", sha256_hex(&body));
        fs_err::write(path, signed).unwrap();
    }

    fn api_snapshot_without_declared(snap: &Snapshot) -> Snapshot {
        let mut s = snap.clone();
        s.remotes.retain(|r| r.meta.origin == Origin::Api);
        s
    }

    #[test]
    fn a_missing_file_is_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let declared = Snapshot {
            remotes: vec![remote("declared", Origin::Config)],
            ..Default::default()
        };
        let loaded = load(&dir.path().join("none.yaml"), &declared).unwrap();
        assert_eq!(loaded.snapshot.remotes.len(), 1);
    }

    #[test]
    fn merge_with_declared_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        let mut snap = api_snapshot();
        let r2 = remote("gone", Origin::Api);
        snap.distributions
            .push(dist("d2", "other", Some(r2.meta.id), None));
        snap.distributions.push(dist("d3", "third", None, None));
        snap.remotes.push(r2);
        save(&path, &snap).unwrap();
        // The config now declares "hf" (remote), "g" (guard) and a distribution at "third/x".
        let declared = Snapshot {
            remotes: vec![remote("hf", Origin::Config)],
            guards: vec![guard("g", Origin::Config)],
            distributions: vec![Arc::new(Distribution {
                meta: Meta::new(Origin::Config),
                ..(*dist("cfg", "third/x", None, None)).clone()
            })],
        };
        let loaded = load(&path, &declared).unwrap();
        let s = &loaded.snapshot;
        let names = |v: Vec<&str>| v.join(",");
        assert_eq!(
            names(s.remotes.iter().map(|r| r.name.as_str()).collect()),
            "hf,gone"
        );
        assert_eq!(s.remotes[0].meta.origin, Origin::Config);
        assert_eq!(
            names(s.distributions.iter().map(|d| d.name.as_str()).collect()),
            "cfg,d,d2"
        );
        // "d" named remote "hf" and guard "g": both now the declared ones.
        assert_eq!(s.distributions[1].remote, Some(s.remotes[0].meta.id));
        assert_eq!(s.distributions[1].content_guard, Some(s.guards[0].meta.id));
        assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
        assert!(loaded
            .warnings
            .iter()
            .any(|w| w.contains("distribution 'd3' dropped")));
        // A remote that disappeared leaves its distribution without one.
        let path2 = dir.path().join("state2.yaml");
        let mut snap2 = api_snapshot();
        snap2.remotes.clear();
        snap2.guards.clear();
        let d = Distribution {
            content_guard: None,
            ..(*snap2.distributions[0]).clone()
        };
        snap2.distributions = vec![Arc::new(d)];
        save(&path2, &snap2).unwrap();
        edit(&path2, "remote: null", "remote: vanished");
        let loaded = load(&path2, &Snapshot::default()).unwrap();
        assert_eq!(loaded.snapshot.distributions[0].remote, None);
        assert!(loaded.warnings[0].contains("remote 'vanished' no longer exists"));
    }

    #[test]
    fn a_distribution_whose_guard_vanished_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        let mut snap = api_snapshot();
        snap.guards.clear();
        save(&path, &snap).unwrap();
        edit(&path, "content_guard: null", "content_guard: ghost");
        let loaded = load(&path, &Snapshot::default()).unwrap();
        assert!(loaded.snapshot.distributions.is_empty());
        assert!(loaded.warnings[0].contains("content guard 'ghost' no longer exists"));
    }

    #[test]
    fn bad_files_are_errors_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        let rows = [
            ("version: 3\n", "version 3 is not supported"),
            ("version: 2\n", "ends before its checksum line"),
            ("version: 1\ncolour: red\n", "unknown field"),
            ("version: [\n", ""),
            ("version: 1\nremotes:\n- {id: 0190a4b0-0000-7000-8000-000000000000, created_ns: 0, updated_ns: 0, name: x, url: \"ftp://h\", policy: on_demand, tls_validation: true}\n", "remotes[0].url"),
            ("version: 1\nremotes:\n- {id: 0190a4b0-0000-7000-8000-000000000000, created_ns: \"hf_SECRET\", updated_ns: 0}\n", ""),
        ];
        for (text, want) in rows {
            fs_err::write(&path, text).unwrap();
            let err = load(&path, &Snapshot::default()).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains("hf_SECRET"), "{err}");
        }
    }

    #[test]
    fn a_failed_save_leaves_the_previous_state_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // The state path is a directory: the final rename fails after the temp file was written.
        let path = dir.path().join("state.yaml");
        fs_err::create_dir(&path).unwrap();
        fs_err::write(path.join("keep"), "old").unwrap();
        assert!(matches!(
            save(&path, &api_snapshot()),
            Err(StateError::Write { .. })
        ));
        assert_eq!(fs_err::read_to_string(path.join("keep")).unwrap(), "old");
        let names: Vec<String> = fs_err::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state.yaml"]);
        // A missing directory fails before anything is written.
        assert!(save(&dir.path().join("nope/state.yaml"), &api_snapshot()).is_err());
        // Overwriting works and replaces the whole file.
        let file = dir.path().join("s.yaml");
        fs_err::write(&file, "version: 1\n").unwrap();
        save(&file, &Snapshot::default()).unwrap();
        save(&file, &api_snapshot()).unwrap();
        assert_eq!(
            load(&file, &Snapshot::default())
                .unwrap()
                .snapshot
                .remotes
                .len(),
            1
        );
    }

    #[test]
    fn a_file_cut_anywhere_is_refused_never_loaded_with_fewer_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        let mut snap = api_snapshot();
        snap.distributions.push(dist("d2", "two", None, None));
        save(&path, &snap).unwrap();
        let text = fs_err::read(&path).unwrap();
        let cut_at = dir.path().join("cut.yaml");
        for len in 0..text.len() {
            fs_err::write(&cut_at, &text[..len]).unwrap();
            match load(&cut_at, &Snapshot::default()) {
                // Only the final newline is missing: everything the checksum covers is there.
                Ok(loaded) => {
                    assert_eq!(len, text.len() - 1, "cut at {len} loaded");
                    assert_eq!(loaded.snapshot.distributions.len(), 2);
                }
                Err(e) => assert!(e.to_string().contains("cut.yaml"), "cut at {len}: {e}"),
            }
        }
        // A changed byte is caught too.
        let changed = String::from_utf8(text.clone())
            .unwrap()
            .replace("hf/public", "hf/publik");
        fs_err::write(&cut_at, changed).unwrap();
        let err = load(&cut_at, &Snapshot::default()).unwrap_err().to_string();
        assert!(err.contains("checksum does not match"), "{err}");
        assert!(err.contains("from a backup"), "{err}");
    }

    #[test]
    fn each_save_keeps_the_previous_generation_and_the_error_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        let prev = previous_path(&path);
        let first = api_snapshot();
        save(&path, &first).unwrap();
        assert!(!prev.exists(), "nothing to keep on the first save");
        let mut second = first.clone();
        second.distributions.push(dist("d2", "two", None, None));
        save(&path, &second).unwrap();
        let kept = load(&prev, &Snapshot::default()).unwrap();
        assert_eq!(kept.snapshot.distributions.len(), 1, "the first generation");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(&prev).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A damaged file never replaces the good previous generation.
        let text = fs_err::read_to_string(&path).unwrap();
        fs_err::write(&path, &text[..text.len() / 2]).unwrap();
        let err = load(&path, &Snapshot::default()).unwrap_err().to_string();
        assert!(err.contains("state.yaml.prev"), "{err}");
        save(&path, &second).unwrap();
        assert_eq!(
            load(&prev, &Snapshot::default())
                .unwrap()
                .snapshot
                .distributions
                .len(),
            1
        );
    }

    #[test]
    fn a_file_of_the_previous_release_without_a_checksum_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.yaml");
        save(&path, &api_snapshot()).unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        let (body, _) = checksum_line(&text).unwrap();
        let old = body.replacen("version: 2", "version: 1", 1);
        fs_err::write(&path, old).unwrap();
        let loaded = load(&path, &Snapshot::default()).unwrap();
        assert_eq!(loaded.snapshot.distributions.len(), 1);
        assert_eq!(loaded.snapshot.guards.len(), 1);
    }
}
