//! A repository: one Hub repository at one revision, synced into the cache on request and
//! optionally pinned there (`docs/prewarm.md`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use uuid::Uuid;

use super::Meta;

/// Which kind of Hub repository (`repo_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepoType {
    /// `models` (the default).
    #[default]
    Models,
    /// `datasets`.
    Datasets,
    /// `spaces`.
    Spaces,
}

impl RepoType {
    /// The API spelling, also the Hub's `api/{type}` segment.
    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Models => "models",
            RepoType::Datasets => "datasets",
            RepoType::Spaces => "spaces",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "models" => Some(RepoType::Models),
            "datasets" => Some(RepoType::Datasets),
            "spaces" => Some(RepoType::Spaces),
            _ => None,
        }
    }
}

/// One file a synced version holds: what a pin keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFile {
    /// The Hub etag (LFS sha256 or git blob id): the cache's content key.
    pub etag: String,
    /// Bytes.
    pub size: u64,
}

/// A completed sync: `…/versions/<number>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryVersion {
    /// 1, 2, … in sync order (pulpcore's version 0 is the empty repository, not listed here).
    pub number: u64,
    /// When the sync completed.
    pub created: SystemTime,
    /// The commit the revision named then.
    pub commit: String,
    /// The revision synced (as asked: branch, tag or commit).
    pub revision: String,
    /// The files taken by the patterns.
    pub files: Vec<VersionFile>,
}

impl RepositoryVersion {
    /// Total bytes of its files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// A repository.
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    /// Identity and timestamps.
    pub meta: Meta,
    /// Unique name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Free-form labels.
    pub pulp_labels: BTreeMap<String, String>,
    /// The remote `sync/` uses when its body names none.
    pub remote: Option<Uuid>,
    /// How many synced versions stay pinned (and listed); `None`: pulpcore's "keep all".
    pub retain_repo_versions: Option<u64>,
    /// The Hub repository, `org/name`; required to sync (optional at create: the generated
    /// client's model has no such field).
    pub repo_id: Option<String>,
    /// `models`, `datasets` or `spaces`.
    pub repo_type: RepoType,
    /// Branch, tag or commit to sync (default `main`).
    pub revision: String,
    /// `snapshot_download`'s allow patterns (empty: every file).
    pub allow_patterns: Vec<String>,
    /// `snapshot_download`'s ignore patterns.
    pub ignore_patterns: Vec<String>,
    /// Keep the retained versions' files out of eviction.
    pub pinned: bool,
    /// Synced versions, oldest first (at most `retain_repo_versions`).
    pub versions: Vec<RepositoryVersion>,
}

impl Repository {
    /// A repository with every optional field at its default.
    pub fn new(origin: super::Origin, name: impl Into<String>) -> Self {
        Repository {
            meta: Meta::new(origin),
            name: name.into(),
            description: None,
            pulp_labels: BTreeMap::new(),
            remote: None,
            retain_repo_versions: Some(1),
            repo_id: None,
            repo_type: RepoType::default(),
            revision: "main".into(),
            allow_patterns: Vec::new(),
            ignore_patterns: Vec::new(),
            pinned: false,
            versions: Vec::new(),
        }
    }

    /// The versions `retain_repo_versions` keeps (the newest ones).
    pub fn retained(&self) -> &[RepositoryVersion] {
        let keep = self
            .retain_repo_versions
            .map_or(self.versions.len(), |n| n as usize);
        let start = self.versions.len().saturating_sub(keep);
        &self.versions[start..]
    }

    /// What its pin holds: the retained versions' files (each etag once), or nothing when not
    /// pinned.
    pub fn pinned_files(&self) -> Vec<(String, u64)> {
        if !self.pinned {
            return Vec::new();
        }
        let mut seen = BTreeMap::new();
        for v in self.retained() {
            for f in &v.files {
                seen.entry(f.etag.clone()).or_insert(f.size);
            }
        }
        seen.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;

    fn version(n: u64, files: &[(&str, u64)]) -> RepositoryVersion {
        RepositoryVersion {
            number: n,
            created: SystemTime::now(),
            commit: format!("{n:040}"),
            revision: "main".into(),
            files: files
                .iter()
                .map(|(e, s)| VersionFile {
                    etag: e.to_string(),
                    size: *s,
                })
                .collect(),
        }
    }

    #[test]
    fn a_pin_holds_the_retained_versions_files_once() {
        let mut repo = Repository::new(Origin::Api, "r");
        repo.versions = vec![
            version(1, &[("a", 1), ("b", 2)]),
            version(2, &[("b", 2), ("c", 3)]),
            version(3, &[("c", 3), ("d", 4)]),
        ];
        assert!(repo.pinned_files().is_empty(), "not pinned");
        repo.pinned = true;
        repo.retain_repo_versions = Some(2);
        assert_eq!(
            repo.pinned_files(),
            [("b".to_string(), 2), ("c".into(), 3), ("d".into(), 4)]
        );
        repo.retain_repo_versions = None;
        assert_eq!(repo.pinned_files().len(), 4);
        assert_eq!(repo.retained()[0].bytes(), 3);
    }
}
