//! Distributions (`/pulp/api/v3/distributions/hugging_face/hugging-face/`): Pulp's JSON for a
//! [`Distribution`] and its validation — canonical, unique, never nested `base_path`; `remote`
//! and `content_guard` hrefs that exist; `repository`/`publication` only `null`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;
use super::json::{py_type, Given, Input, Mode};
use super::resource::{href, kind_accessors, prn, read_name, to_fields, Common, Kind};
use crate::model::{
    base_paths_overlap, is_canonical_base_path, ContentGuard, Distribution, Meta, Origin, Remote,
};
use crate::registry::Snapshot;

impl Kind for Distribution {
    const COLLECTION: &'static str = "/pulp/api/v3/distributions/hugging_face/hugging-face/";
    const PRN: &'static str = "prn:hugging_face.huggingfacedistribution:";
    const WRITABLE: &'static [&'static str] = &[
        "name",
        "base_path",
        "remote",
        "content_guard",
        "hidden",
        "pulp_labels",
    ];
    const NULL_ONLY: &'static [&'static str] = &["repository", "repository_version", "publication"];
    const READ_ONLY: &'static [&'static str] = &[
        "base_url",
        "content_guard_prn",
        "no_content_change_since",
        "pulp_domain",
    ];
    const FILTERS: &'static [&'static str] =
        &["base_path", "base_path__contains", "pulp_label_select"];
    const ORDERING: &'static [&'static str] = &["base_path"];
    // pulpcore: every distribution write is a task.
    const CREATE_REPLY: super::resource::Reply = super::resource::Reply::Task;
    const UPDATE_REPLY: super::resource::Reply = super::resource::Reply::Task;
    const DELETE_REPLY: super::resource::Reply = super::resource::Reply::Task;

    kind_accessors!(distributions);
    fn base_path(&self) -> Option<&str> {
        Some(&self.base_path)
    }
    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        Some(&self.pulp_labels)
    }

    fn fields(&self, _snap: &Snapshot, content_origin: &str) -> Map<String, Value> {
        to_fields(&DistributionResponse {
            common: Common::of::<Self>(&self.meta),
            name: self.name.clone(),
            base_path: self.base_path.clone(),
            base_url: format!("{content_origin}/pulp/content/{}/", self.base_path),
            remote: self.remote.map(href::<Remote>),
            content_guard: self.content_guard.map(href::<ContentGuard>),
            content_guard_prn: self.content_guard.map(prn::<ContentGuard>),
            hidden: self.hidden,
            pulp_labels: self.pulp_labels.clone(),
            repository: None,
            repository_version: None,
            publication: None,
            no_content_change_since: None,
        })
    }

    fn build(
        mut input: Input,
        current: Option<&Self>,
        mode: Mode,
        snap: &Snapshot,
    ) -> Result<Self, ApiError> {
        let self_id = current.map(|c| c.meta.id);
        let mut d = current.cloned().unwrap_or_else(|| Distribution {
            meta: Meta::new(Origin::Api),
            name: String::new(),
            base_path: String::new(),
            remote: None,
            content_guard: None,
            hidden: false,
            pulp_labels: BTreeMap::new(),
        });
        if let Some(name) = read_name(&mut input, mode, snap, current) {
            d.name = name;
        }
        let base_path = input.string("base_path", false);
        input.require("base_path", &base_path, mode);
        if let Given::Value(path) = base_path {
            match check_base_path(&path, snap, self_id) {
                Ok(()) => d.base_path = path,
                Err(msg) => input.errors.push("base_path", msg),
            }
        }
        match href_field(&mut input, "remote", Remote::COLLECTION, |id| {
            snap.remote(id).is_some()
        }) {
            Given::Value(id) => d.remote = Some(id),
            Given::Null => d.remote = None,
            Given::Absent => {}
        }
        match href_field(
            &mut input,
            "content_guard",
            ContentGuard::COLLECTION,
            |id| snap.guard(id).is_some(),
        ) {
            Given::Value(id) => d.content_guard = Some(id),
            Given::Null => d.content_guard = None,
            Given::Absent => {}
        }
        match input.boolean("hidden") {
            Some(hidden) => d.hidden = hidden,
            None if mode == Mode::Put && !input.errors.has("hidden") => d.hidden = false,
            None => {}
        }
        if let Some(labels) = input.labels("pulp_labels") {
            d.pulp_labels = labels;
        }
        for field in Self::NULL_ONLY {
            input.only_null(
                field,
                &format!(
                    "hubcache serves a distribution from its remote only; {field} must be null."
                ),
            );
        }
        input.errors.into_result()?;
        Ok(d)
    }
}

/// A distribution as answered (`hugging_face.HuggingFaceDistributionResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = hugging_face::HuggingFaceDistributionResponse)]
pub(crate) struct DistributionResponse {
    #[serde(flatten)]
    common: Common,
    /// A unique name.
    name: String,
    /// The path under `/pulp/content/`.
    base_path: String,
    /// Where clients reach it: `{origin}/pulp/content/{base_path}/`.
    #[schema(read_only)]
    base_url: String,
    /// The remote it serves.
    #[schema(format = Uri)]
    remote: Option<String>,
    /// Its header content guard.
    #[schema(format = Uri)]
    content_guard: Option<String>,
    /// The guard's `prn`.
    #[schema(read_only)]
    content_guard_prn: Option<String>,
    /// Left out of the content listing.
    #[schema(default = false)]
    hidden: bool,
    /// Free-form labels.
    pulp_labels: BTreeMap<String, String>,
    /// Always `null`.
    #[schema(format = Uri)]
    repository: Option<String>,
    /// Always `null`.
    #[schema(format = Uri)]
    repository_version: Option<String>,
    /// Always `null`.
    #[schema(format = Uri)]
    publication: Option<String>,
    /// Always `null`.
    #[schema(read_only)]
    no_content_change_since: Option<String>,
}

/// `base_path`: not blank, canonical, and neither equal to nor nested in (or around) another.
pub(crate) fn check_base_path(
    path: &str,
    snap: &Snapshot,
    self_id: Option<Uuid>,
) -> Result<(), String> {
    if path.is_empty() {
        return Err("This field may not be blank.".into());
    }
    if !is_canonical_base_path(path) {
        return Err(format!("Relative path is not in canonical form. {path}"));
    }
    for other in snap
        .distributions
        .iter()
        .filter(|o| Some(o.meta.id) != self_id)
    {
        if other.base_path == path {
            return Err("This field must be unique.".into());
        }
        if base_paths_overlap(&other.base_path, path) {
            return Err(format!(
                "Overlaps with existing distribution '{}'",
                other.name
            ));
        }
    }
    Ok(())
}

/// The id in a hyperlink to `collection` (e.g. `/pulp/api/v3/remotes/hugging_face/hugging-face/`),
/// relative or absolute (`http://host/pulp/…`) as DRF accepts.
pub(crate) fn parse_href(href: &str, collection: &str) -> Result<Uuid, &'static str> {
    let path = match href.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => href,
    };
    path.strip_prefix(collection)
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or("Invalid hyperlink - No URL match.")
}

/// Reads a hyperlink field pointing into `collection`; `exists` says whether an id is known.
pub(crate) fn href_field(
    input: &mut Input,
    name: &str,
    collection: &str,
    exists: impl Fn(Uuid) -> bool,
) -> Given<Uuid> {
    let href = match input.raw(name) {
        Given::Absent => return Given::Absent,
        Given::Null => return Given::Null,
        Given::Value(Value::String(s)) => s.clone(),
        Given::Value(v) => {
            let msg = format!(
                "Incorrect type. Expected URL string, received {}.",
                py_type(v)
            );
            return input.fail(name, msg);
        }
    };
    match parse_href(&href, collection) {
        Ok(id) if exists(id) => Given::Value(id),
        Ok(_) => input.fail(name, "Invalid hyperlink - Object does not exist."),
        Err(msg) => input.fail(name, msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs() {
        let c = "/pulp/api/v3/remotes/hugging_face/hugging-face/";
        let id = Uuid::now_v7();
        let rows = [
            (format!("{c}{id}/"), true),
            (format!("http://cache:8080{c}{id}/"), true),
            (format!("{c}{id}"), false),
            (
                format!("/pulp/api/v3/contentguards/core/header/{id}/"),
                false,
            ),
            (format!("{c}not-a-uuid/"), false),
            (String::new(), false),
        ];
        for (href, ok) in rows {
            assert_eq!(parse_href(&href, c).is_ok(), ok, "{href}");
        }
    }
}
