//! Repositories in the state file (format version 4): every field, and their versions with
//! each file as etag + size (what a pin holds). A repository names its remote by **name**, as
//! distributions do; a remote gone since is dropped from it (with a warning).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::format::meta;
use crate::model::{RepoType, Repository, RepositoryVersion, VersionFile};
use crate::registry::Snapshot;
use crate::rules;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RepositoryRecord {
    id: Uuid,
    created_ns: u64,
    updated_ns: u64,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pulp_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remote: Option<String>,
    /// `null`: keep every version.
    retain_repo_versions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repo_id: Option<String>,
    repo_type: String,
    revision: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allow_patterns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ignore_patterns: Vec<String>,
    #[serde(default)]
    pinned: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    versions: Vec<VersionRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VersionRecord {
    number: u64,
    created_ns: u64,
    commit: String,
    revision: String,
    /// `[etag, size]` per file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<(String, u64)>,
}

impl RepositoryRecord {
    pub(super) fn id(&self) -> Uuid {
        self.id
    }

    /// Its versions, taken out (PostgreSQL keeps them in a table of their own).
    pub(super) fn take_versions(&mut self) -> Vec<VersionRecord> {
        std::mem::take(&mut self.versions)
    }

    pub(super) fn set_versions(&mut self, versions: Vec<VersionRecord>) {
        self.versions = versions;
    }
}

fn to_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The records of `snapshot`'s repositories (all are API-made).
pub(super) fn records(snapshot: &Snapshot) -> Vec<RepositoryRecord> {
    snapshot
        .repositories
        .iter()
        .map(|r| RepositoryRecord {
            id: r.meta.id,
            created_ns: to_ns(r.meta.created),
            updated_ns: to_ns(r.meta.updated),
            name: r.name.clone(),
            description: r.description.clone(),
            pulp_labels: r.pulp_labels.clone(),
            remote: r
                .remote
                .and_then(|id| snapshot.remote(id).map(|x| x.name.clone())),
            retain_repo_versions: r.retain_repo_versions,
            repo_id: r.repo_id.clone(),
            repo_type: r.repo_type.as_str().into(),
            revision: r.revision.clone(),
            allow_patterns: r.allow_patterns.clone(),
            ignore_patterns: r.ignore_patterns.clone(),
            pinned: r.pinned,
            versions: r
                .versions
                .iter()
                .map(|v| VersionRecord {
                    number: v.number,
                    created_ns: to_ns(v.created),
                    commit: v.commit.clone(),
                    revision: v.revision.clone(),
                    files: v.files.iter().map(|f| (f.etag.clone(), f.size)).collect(),
                })
                .collect(),
        })
        .collect()
}

/// Adds the repositories of `records` to `snap` (its remotes already merged), checking each
/// field as the API does. `Err((field, message))` for a record that breaks a rule; a
/// duplicate name is an error too (the file never holds two).
pub(super) fn restore(
    records: Vec<RepositoryRecord>,
    snap: &mut Snapshot,
    warnings: &mut Vec<String>,
) -> Result<(), (String, String)> {
    for (i, r) in records.into_iter().enumerate() {
        let at = |f: &str| format!("repositories[{i}].{f}");
        let fail = |f: &str, m: String| (at(f), m);
        rules::check_name(&r.name).map_err(|m| fail("name", m))?;
        rules::check_labels(&r.pulp_labels).map_err(|m| fail("pulp_labels", m))?;
        if let Some(id) = &r.repo_id {
            rules::check_repo_id(id).map_err(|m| fail("repo_id", m))?;
        }
        rules::check_revision(&r.revision).map_err(|m| fail("revision", m))?;
        let repo_type = RepoType::parse(&r.repo_type)
            .ok_or_else(|| fail("repo_type", "expected models, datasets or spaces".into()))?;
        for (f, list) in [
            ("allow_patterns", &r.allow_patterns),
            ("ignore_patterns", &r.ignore_patterns),
        ] {
            crate::sync::patterns::check(list).map_err(|e| fail(f, e.0))?;
        }
        if r.retain_repo_versions == Some(0) {
            return Err(fail("retain_repo_versions", "must be at least 1".into()));
        }
        if snap.repositories.iter().any(|x| x.name == r.name) {
            return Err(fail("name", format!("duplicate name '{}'", r.name)));
        }
        if snap.repositories.iter().any(|x| x.meta.id == r.id) {
            return Err(fail("id", format!("duplicate id {}", r.id)));
        }
        let remote = r.remote.as_ref().and_then(|name| {
            let found = snap
                .remotes
                .iter()
                .find(|x| &x.name == name)
                .map(|x| x.meta.id);
            if found.is_none() {
                warnings.push(format!(
                    "repository '{}': its remote '{name}' no longer exists; it has no remote now",
                    r.name
                ));
            }
            found
        });
        let at_ns = |ns| UNIX_EPOCH + Duration::from_nanos(ns);
        snap.repositories.push(Arc::new(Repository {
            meta: meta(r.id, r.created_ns, r.updated_ns),
            name: r.name,
            description: r.description,
            pulp_labels: r.pulp_labels,
            remote,
            retain_repo_versions: r.retain_repo_versions,
            repo_id: r.repo_id,
            repo_type,
            revision: r.revision,
            allow_patterns: r.allow_patterns,
            ignore_patterns: r.ignore_patterns,
            pinned: r.pinned,
            versions: r
                .versions
                .into_iter()
                .map(|v| RepositoryVersion {
                    number: v.number,
                    created: at_ns(v.created_ns),
                    commit: v.commit,
                    revision: v.revision,
                    files: v
                        .files
                        .into_iter()
                        .map(|(etag, size)| VersionFile { etag, size })
                        .collect(),
                })
                .collect(),
        }));
    }
    Ok(())
}
