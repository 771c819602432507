//! Repositories (`/pulp/api/v3/repositories/hugging_face/hugging-face/`): one Hub repository at
//! one revision, prewarmed into the cache by `sync/` and optionally pinned there
//! (`docs/pulp-api.md` "Repositories", `docs/prewarm.md`).
//!
//! * pulpcore's fields: `name`, `description`, `pulp_labels`, `remote` (the default of
//!   `sync/`), `retain_repo_versions` (default 1 here, pulpcore's is `null`: "keep all"),
//!   `retain_checkpoints` (only `null`), read-only `versions_href` and `latest_version_href`
//!   (`…/versions/0/`, the empty version, until the first sync completes).
//! * hubcache's: `repo_id` (`org/name`; optional at create, required to sync), `repo_type`
//!   (`models`, `datasets`, `spaces`), `revision` (default `main`), `allow_patterns` /
//!   `ignore_patterns` (`huggingface_hub.snapshot_download`'s globs), `pinned`.
//! * Create answers 201 + object; update and delete answer 202 + a completed task (pulpcore).
//!   PUT needs `name`; every other omitted field keeps its value (none declares a default in
//!   pulpcore's serializer, and the generated client's PUT does not know hubcache's fields).
//! * Lowering `retain_repo_versions` drops the oldest versions at once.
//! * Pins follow the stored repository: after every write the cache is told what the
//!   repository pins now ([`Repository::pinned_files`]); a write that would pin more than
//!   fits in `cache.max_size` is a 400 under `pinned` before anything changes.
//! * Deleting a repository cancels its running sync and releases its pins.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::distributions::href_field;
use super::error::ApiError;
use super::json::{py_type, Given, Input, Mode};
use super::resource::{href, kind_accessors, read_name, to_fields, Common, Kind, Reply};
use super::ApiDeps;
use crate::model::{Origin, Remote, RepoType, Repository};
use crate::registry::Snapshot;
use crate::rules;
use crate::sync::patterns;

pub(crate) mod sync;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pins;
#[cfg(test)]
mod tests_versions;
pub(crate) mod versions;

/// The task name of a sync (pulp_hugging_face's).
pub(crate) const SYNC_TASK: &str = "pulp_hugging_face.app.tasks.synchronizing.synchronize";

impl Kind for Repository {
    const COLLECTION: &'static str = "/pulp/api/v3/repositories/hugging_face/hugging-face/";
    const PRN: &'static str = "prn:hugging_face.huggingfacerepository:";
    const WRITABLE: &'static [&'static str] = &[
        "name",
        "description",
        "pulp_labels",
        "remote",
        "retain_repo_versions",
        "repo_id",
        "repo_type",
        "revision",
        "allow_patterns",
        "ignore_patterns",
        "pinned",
    ];
    const NULL_ONLY: &'static [&'static str] = &["retain_checkpoints"];
    const READ_ONLY: &'static [&'static str] =
        &["versions_href", "latest_version_href", "pulp_domain"];
    const FILTERS: &'static [&'static str] = &["pulp_label_select"];
    // pulpcore: a repository is created at once, updated and deleted by a task.
    const UPDATE_REPLY: Reply = Reply::Task;
    const DELETE_REPLY: Reply = Reply::Task;

    kind_accessors!(repositories);
    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        Some(&self.pulp_labels)
    }

    fn fields(&self, _snap: &Snapshot, _content_origin: &str) -> Map<String, Value> {
        let me = href::<Self>(self.meta.id);
        to_fields(&RepositoryResponse {
            common: Common::of::<Self>(&self.meta),
            versions_href: format!("{me}versions/"),
            pulp_labels: self.pulp_labels.clone(),
            latest_version_href: latest_version_href(self),
            name: self.name.clone(),
            description: self.description.clone(),
            retain_repo_versions: self.retain_repo_versions,
            retain_checkpoints: None,
            remote: self.remote.map(href::<Remote>),
            repo_id: self.repo_id.clone(),
            repo_type: RepoTypeChoice::from(self.repo_type),
            revision: self.revision.clone(),
            allow_patterns: self.allow_patterns.clone(),
            ignore_patterns: self.ignore_patterns.clone(),
            pinned: self.pinned,
        })
    }

    fn build(
        mut input: Input,
        current: Option<&Self>,
        mode: Mode,
        snap: &Snapshot,
    ) -> Result<Self, ApiError> {
        let mut r = current
            .cloned()
            .unwrap_or_else(|| Repository::new(Origin::Api, String::new()));
        if let Some(name) = read_name(&mut input, mode, snap, current) {
            r.name = name;
        }
        match input.string("description", true) {
            Given::Value(d) if d.is_empty() => {
                input
                    .errors
                    .push("description", "This field may not be blank.");
            }
            Given::Value(d) => r.description = Some(d),
            Given::Null => r.description = None,
            Given::Absent => {}
        }
        if let Some(labels) = input.labels("pulp_labels") {
            r.pulp_labels = labels;
        }
        match href_field(&mut input, "remote", Remote::COLLECTION, |id| {
            snap.remote(id).is_some()
        }) {
            Given::Value(id) => r.remote = Some(id),
            Given::Null => r.remote = None,
            Given::Absent => {}
        }
        match input.uint("retain_repo_versions", 1) {
            Given::Value(n) => r.retain_repo_versions = Some(u64::from(n)),
            Given::Null => r.retain_repo_versions = None,
            Given::Absent => {}
        }
        input.only_null(
            "retain_checkpoints",
            "hubcache keeps no checkpoint publications; retain_checkpoints must be null.",
        );
        read_hub_fields(&mut input, &mut r);
        input.errors.into_result()?;
        // The versions kept are the ones retained (and pinned); the older ones go now.
        let keep = r.retained().len();
        let drop = r.versions.len() - keep;
        r.versions.drain(..drop);
        Ok(r)
    }

    fn check_store(&self, deps: &ApiDeps) -> Result<(), ApiError> {
        let Some(disk) = disk(deps) else {
            return Ok(());
        };
        let files = self.pinned_files();
        if files.is_empty() {
            return Ok(());
        }
        disk.check_pin_fits(self.meta.id, &files)
            .map_err(|too_large| ApiError::field("pinned", too_large.to_string()))
    }

    fn stored(deps: &ApiDeps, id: Uuid) {
        apply_pins(deps, id);
    }

    /// Its running sync (if any) is canceled: the runner stops and records nothing.
    fn on_delete(&self, snap: &mut Snapshot) -> Result<(), ApiError> {
        let now = SystemTime::now();
        for task in running_syncs(snap, self.meta.id) {
            // A task that ended meanwhile cannot be canceled: nothing to do then.
            let _ = crate::tasks::cancel(snap, task, now);
        }
        Ok(())
    }
}

/// `repo_id`, `repo_type`, `revision`, the pattern lists and `pinned`.
fn read_hub_fields(input: &mut Input, r: &mut Repository) {
    match input.string("repo_id", true) {
        Given::Value(id) => match rules::check_repo_id(&id) {
            Ok(()) => r.repo_id = Some(id),
            Err(msg) => input.errors.push("repo_id", msg),
        },
        Given::Null => r.repo_id = None,
        Given::Absent => {}
    }
    if let Given::Value(t) = input.string("repo_type", false) {
        match RepoType::parse(&t) {
            Some(t) => r.repo_type = t,
            None => input
                .errors
                .push("repo_type", format!("\"{t}\" is not a valid choice.")),
        }
    }
    if let Given::Value(rev) = input.string("revision", false) {
        match rules::check_revision(&rev) {
            Ok(()) => r.revision = rev,
            Err(msg) => input.errors.push("revision", msg),
        }
    }
    if let Some(list) = patterns_field(input, "allow_patterns") {
        r.allow_patterns = list;
    }
    if let Some(list) = patterns_field(input, "ignore_patterns") {
        r.ignore_patterns = list;
    }
    if let Some(pinned) = input.boolean("pinned") {
        r.pinned = pinned;
    }
}

/// A list of glob patterns (`null` is the empty list), each checked as a sync will use it.
fn patterns_field(input: &mut Input, name: &str) -> Option<Vec<String>> {
    let items = match input.raw(name) {
        Given::Absent => return None,
        Given::Null => return Some(Vec::new()),
        Given::Value(Value::Array(items)) => items.clone(),
        Given::Value(v) => {
            let msg = format!("Expected a list of items but got type \"{}\".", py_type(v));
            return input.fail(name, msg).into_option();
        }
    };
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) => list.push(s),
            _ => return input.fail(name, "Not a valid string.").into_option(),
        }
    }
    match patterns::check(&list) {
        Ok(()) => Some(list),
        Err(e) => input.fail(name, e.0).into_option(),
    }
}

/// The disk cache pins live in (`None` in unit tests, or with no disk cache).
pub(crate) fn disk(deps: &ApiDeps) -> Option<&'static crate::cache::DiskCache> {
    deps.sync.as_ref().and_then(|s| s.disk)
}

/// Tells the cache what repository `id` pins now, as the registry holds it (a repository that
/// is gone, or not pinned, pins nothing).
pub(crate) fn apply_pins(deps: &ApiDeps, id: Uuid) {
    let Some(disk) = disk(deps) else {
        return;
    };
    let snap = deps.registry.snapshot();
    match snap.repositories.iter().find(|r| r.meta.id == id) {
        Some(repo) => disk.set_pins(id, repo.pinned_files()),
        None => disk.release_pins(id),
    }
}

/// The ids of the unfinished sync tasks of repository `id`.
pub(crate) fn running_syncs(snap: &Snapshot, id: Uuid) -> Vec<Uuid> {
    let me = href::<Repository>(id);
    snap.tasks
        .iter()
        .filter(|t| t.name == SYNC_TASK && !t.state.is_final())
        .filter(|t| t.reserved_resources.contains(&me))
        .map(|t| t.id)
        .collect()
}

/// `<repository href>versions/<number>/`.
pub(crate) fn version_href(id: Uuid, number: u64) -> String {
    format!("{}versions/{number}/", href::<Repository>(id))
}

/// The newest version's href; `…/versions/0/` (the empty version) before the first sync.
pub(crate) fn latest_version_href(repo: &Repository) -> String {
    version_href(repo.meta.id, repo.versions.last().map_or(0, |v| v.number))
}

/// `repo_type` as the document declares it (pulp_hugging_face's `RepoTypeEnum`, which its
/// content units use).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RepoTypeEnum)]
pub(crate) enum RepoTypeChoice {
    /// Models (the default).
    Models,
    /// Datasets.
    Datasets,
    /// Spaces.
    Spaces,
}

impl From<RepoType> for RepoTypeChoice {
    fn from(t: RepoType) -> Self {
        match t {
            RepoType::Models => RepoTypeChoice::Models,
            RepoType::Datasets => RepoTypeChoice::Datasets,
            RepoType::Spaces => RepoTypeChoice::Spaces,
        }
    }
}

/// A repository as answered (`hugging_face.HuggingFaceRepositoryResponse`): pulpcore's fields,
/// then hubcache's (`docs/pulp-api.md` "Repositories").
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = hugging_face::HuggingFaceRepositoryResponse)]
pub(crate) struct RepositoryResponse {
    #[serde(flatten)]
    common: Common,
    /// `<href>versions/`.
    #[schema(format = Uri, read_only)]
    versions_href: String,
    /// Free-form labels.
    pulp_labels: BTreeMap<String, String>,
    /// The newest version; `…/versions/0/` (empty) before the first sync.
    #[schema(format = Uri, read_only)]
    latest_version_href: String,
    /// A unique name for this repository.
    name: String,
    /// An optional description.
    description: Option<String>,
    /// How many synced versions are kept (and pinned); `null`: all.
    #[schema(minimum = 1, format = Int64)]
    retain_repo_versions: Option<u64>,
    /// Always `null`.
    #[schema(minimum = 1, format = Int64)]
    retain_checkpoints: Option<u64>,
    /// The remote `sync/` uses when its body names none.
    #[schema(format = Uri)]
    remote: Option<String>,
    /// The Hub repository, `org/name`; required to sync.
    repo_id: Option<String>,
    /// `models`, `datasets` or `spaces`.
    repo_type: RepoTypeChoice,
    /// Branch, tag or commit to sync.
    revision: String,
    /// Files to take (globs); empty: all.
    allow_patterns: Vec<String>,
    /// Files to leave out (globs).
    ignore_patterns: Vec<String>,
    /// Keep the retained versions' files out of eviction.
    pinned: bool,
}
