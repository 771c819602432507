//! The state file on disk: its version, its `sha256:` checksum line and its `.prev`
//! generation; parsing a file's text and saving a snapshot's API-made objects atomically.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::{DistributionRecord, GuardRecord, RemoteRecord, StateError, StateFile};
use crate::model::{Meta, Origin, Secret};
use crate::registry::Snapshot;

/// The format written: version 4 adds repositories to version 3, which added tasks to
/// version 2; all three end with the checksum line.
pub(super) const VERSION: u32 = 4;
/// The format before repositories: checked like version 4, loaded with no repository.
const NO_REPOSITORIES_VERSION: u32 = 3;
/// The format before tasks: checked like version 4, loaded with no task.
const NO_TASKS_VERSION: u32 = 2;
/// The format of the first release: no checksum line; still loaded.
const UNCHECKED_VERSION: u32 = 1;
/// The key of the last line of a version 2 file.
pub(super) const CHECKSUM_KEY: &str = "sha256: ";

fn to_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(super) fn meta(id: Uuid, created_ns: u64, updated_ns: u64) -> Meta {
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

pub(super) fn parse(path: &Path, text: &str) -> Result<StateFile, StateError> {
    let checked = match checksum_line(text) {
        Some((body, sum)) if sum == sha256_hex(body) => true,
        Some(_) => return Err(damaged(path, "its checksum does not match its content")),
        None => false,
    };
    let parsed: Result<StateFile, _> = serde_yaml::from_str(text);
    let file = match parsed {
        Ok(file) => file,
        // A version 2, 3 or 4 file without its last line was cut short (its YAML may be cut anywhere).
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
        VERSION | NO_REPOSITORIES_VERSION | NO_TASKS_VERSION if checked => Ok(file),
        VERSION | NO_REPOSITORIES_VERSION | NO_TASKS_VERSION => Err(damaged(
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
pub(super) fn checksum_line(text: &str) -> Option<(&str, &str)> {
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

pub(super) fn sha256_hex(text: &str) -> String {
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

/// A stored-only secret as the file keeps it (the file is its only copy).
fn exposed(secret: &Option<Secret>) -> Option<String> {
    secret.as_ref().map(|s| s.expose().to_string())
}

/// Writes the API-made objects (repositories included) and the tasks of `snapshot` to `path` atomically: a temp file
/// in the same
/// directory (mode 0600), fsynced, renamed over `path`, then the directory fsynced. On failure
/// the previous file is intact and the temp file removed.
pub fn save(path: &Path, snapshot: &Snapshot) -> Result<(), StateError> {
    let file = to_file(snapshot);
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
    crate::atomic::replace(path, text.as_bytes()).map_err(write_err)
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
    crate::atomic::replace(&previous_path(path), text.as_bytes())
}

/// The records of the API-made objects and the tasks of `snapshot`, secrets in clear.
pub(super) fn to_file(snapshot: &Snapshot) -> StateFile {
    let name_of_remote = |id| snapshot.remote(id).map(|r| r.name.clone());
    let name_of_guard = |id| snapshot.guard(id).map(|g| g.name.clone());
    StateFile {
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
                hf_hub_url: Some(r.hf_hub_url.clone()),
                headers_null: !r.headers_given,
                sock_connect_timeout: r.sock_connect_timeout.map(|d| d.as_secs_f64()),
                client_cert: r.stored.client_cert.clone(),
                client_key: exposed(&r.stored.client_key),
                proxy_url: r.stored.proxy_url.clone(),
                proxy_username: exposed(&r.stored.proxy_username),
                proxy_password: exposed(&r.stored.proxy_password),
                username: exposed(&r.stored.username),
                password: exposed(&r.stored.password),
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
        tasks: super::tasks::records(&snapshot.tasks),
        repositories: super::repositories::records(snapshot),
        _checksum: None,
    }
}
