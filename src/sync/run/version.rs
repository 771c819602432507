//! What a completed sync records: a repository version, its href and prn, and what the
//! repository's pin holds while and after it runs (`docs/prewarm.md` "Versions and pins").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use uuid::Uuid;

use super::super::hub::TreeFile;
use crate::model::{Repository, RepositoryVersion, VersionFile};
use crate::registry::Snapshot;

/// The collection path of repositories.
pub const REPOSITORIES_PATH: &str = "/pulp/api/v3/repositories/hugging_face/hugging-face/";

/// `…/repositories/hugging_face/hugging-face/<id>/versions/<number>/`.
pub fn version_href(repository: Uuid, number: u64) -> String {
    format!("{REPOSITORIES_PATH}{repository}/versions/{number}/")
}

/// pulpcore names a version `prn:core.repositoryversion:<version uuid>`; hubcache's versions
/// have no id of their own, so the uuid is derived from the repository's and the number. The
/// API's version answers use this function too.
pub fn version_prn(repository: Uuid, number: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(repository.as_bytes());
    h.update(number.to_be_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!(
        "prn:core.repositoryversion:{}",
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    )
}

/// The version's files: one per path taken, in tree order.
pub fn version_files(files: &[TreeFile]) -> Vec<VersionFile> {
    files
        .iter()
        .map(|f| VersionFile {
            etag: f.etag.clone(),
            size: f.size,
        })
        .collect()
}

/// What the pin must hold once this sync is recorded: the files of the versions that stay
/// retained next to the new one, and the new one's (each etag once).
pub fn pin_after(repo: &Repository, new: &[VersionFile]) -> Vec<(String, u64)> {
    let keep_old = repo
        .retain_repo_versions
        .map_or(repo.versions.len(), |n| n.saturating_sub(1) as usize);
    let start = repo.versions.len().saturating_sub(keep_old);
    let mut seen = BTreeMap::new();
    for f in repo.versions[start..]
        .iter()
        .flat_map(|v| &v.files)
        .chain(new)
    {
        seen.entry(f.etag.clone()).or_insert(f.size);
    }
    seen.into_iter().collect()
}

/// Whether `files` at `commit` is what the latest version already holds: then the sync
/// records no new version (pulpcore creates none when the content is unchanged).
pub fn unchanged(repo: &Repository, commit: &str, files: &[VersionFile]) -> bool {
    repo.versions
        .last()
        .is_some_and(|v| v.commit == commit && v.files == files)
}

/// Appends version `last + 1` to repository `id` in `snap`, dropping versions beyond
/// `retain_repo_versions`; answers its href and prn. Nothing (and no resource) when the
/// repository is gone or its latest version already holds exactly this.
pub fn record(
    snap: &mut Snapshot,
    id: Uuid,
    commit: &str,
    revision: &str,
    files: Vec<VersionFile>,
) -> Vec<(String, String)> {
    let Some(slot) = snap.repositories.iter_mut().find(|r| r.meta.id == id) else {
        return Vec::new();
    };
    if unchanged(slot, commit, &files) {
        return Vec::new();
    }
    let mut repo = Repository::clone(slot);
    let number = repo.versions.last().map_or(0, |v| v.number) + 1;
    repo.versions.push(RepositoryVersion {
        number,
        created: SystemTime::now(),
        commit: commit.to_string(),
        revision: revision.to_string(),
        files,
    });
    if let Some(keep) = repo.retain_repo_versions {
        let excess = repo.versions.len().saturating_sub(keep.max(1) as usize);
        repo.versions.drain(..excess);
    }
    *slot = Arc::new(repo);
    vec![(version_href(id, number), version_prn(id, number))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;

    fn files(list: &[(&str, u64)]) -> Vec<VersionFile> {
        list.iter()
            .map(|(e, s)| VersionFile {
                etag: e.to_string(),
                size: *s,
            })
            .collect()
    }

    fn snapshot(retain: Option<u64>) -> (Snapshot, Uuid) {
        let mut repo = Repository::new(Origin::Api, "r");
        repo.retain_repo_versions = retain;
        repo.pinned = true;
        let id = repo.meta.id;
        let snap = Snapshot {
            repositories: vec![Arc::new(repo)],
            ..Snapshot::default()
        };
        (snap, id)
    }

    #[test]
    fn versions_are_numbered_retained_and_not_repeated_for_unchanged_content() {
        let (mut snap, id) = snapshot(Some(2));
        let c = |n: u8| format!("{:040}", n);
        let got = record(&mut snap, id, &c(1), "main", files(&[("a", 1)]));
        assert_eq!(
            got,
            [(
                format!("{REPOSITORIES_PATH}{id}/versions/1/"),
                version_prn(id, 1)
            )]
        );
        assert!(
            record(&mut snap, id, &c(1), "main", files(&[("a", 1)])).is_empty(),
            "same commit, same files: no new version"
        );
        let got = record(&mut snap, id, &c(1), "main", files(&[("a", 1), ("b", 2)]));
        assert_eq!(got[0].0, version_href(id, 2), "new patterns: a new version");
        record(&mut snap, id, &c(2), "main", files(&[("c", 3)]));
        let repo = &snap.repositories[0];
        let numbers: Vec<_> = repo.versions.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [2, 3], "retain_repo_versions: 2");
        assert!(record(&mut snap, Uuid::now_v7(), &c(3), "main", Vec::new()).is_empty());
        let prn = version_prn(id, 1);
        assert!(prn.starts_with("prn:core.repositoryversion:"), "{prn}");
        assert!(Uuid::parse_str(&prn["prn:core.repositoryversion:".len()..]).is_ok());
        assert_ne!(prn, version_prn(id, 2));
    }

    #[test]
    fn the_pin_during_a_sync_holds_what_stays_retained_and_the_new_files() {
        let (mut snap, id) = snapshot(Some(2));
        record(
            &mut snap,
            id,
            &format!("{:040}", 1),
            "main",
            files(&[("a", 1)]),
        );
        record(
            &mut snap,
            id,
            &format!("{:040}", 2),
            "main",
            files(&[("b", 2)]),
        );
        let repo = Repository::clone(&snap.repositories[0]);
        // Version 1 drops out when the new one is recorded; version 2 stays.
        assert_eq!(
            pin_after(&repo, &files(&[("c", 3), ("b", 2)])),
            [("b".to_string(), 2), ("c".into(), 3)]
        );
        let mut keep_all = repo.clone();
        keep_all.retain_repo_versions = None;
        assert_eq!(pin_after(&keep_all, &files(&[("c", 3)])).len(), 3);
        let mut keep_one = repo;
        keep_one.retain_repo_versions = Some(1);
        assert_eq!(
            pin_after(&keep_one, &files(&[("c", 3)])),
            [("c".to_string(), 3)]
        );
    }
}
