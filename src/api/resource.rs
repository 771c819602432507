//! What every object kind shares: the [`Kind`] trait that remotes, distributions and guards
//! implement (the handlers in [`super::handlers`] are written once over it), the common JSON
//! fields, list filters and ordering, and the `name` rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::json::{timestamp, Given, Input, Mode};
use super::list::Row;
use crate::model::Meta;
use crate::registry::Snapshot;
use crate::rules;

/// Read-only fields of every object: ignored when sent in a body (DRF).
pub(crate) const COMMON_READ_ONLY: [&str; 5] = [
    "pulp_href",
    "prn",
    "pulp_created",
    "pulp_last_updated",
    "hidden_fields",
];
/// List filters every kind accepts.
pub(crate) const NAME_FILTERS: [&str; 9] = [
    "name",
    "name__contains",
    "name__icontains",
    "name__iexact",
    "name__in",
    "name__iregex",
    "name__istartswith",
    "name__regex",
    "name__startswith",
];
/// Fields every kind's list can be ordered by.
pub(crate) const COMMON_ORDERING: [&str; 3] = ["name", "pulp_created", "pulp_last_updated"];

/// How a write answers (`docs/pulp-api.md` "Writes"): what pulpcore does for that kind and
/// operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// At once: 201 + object (create), 200 + object (update), 204 (delete).
    Object,
    /// 202 `{"task": "<href>"}`: a task recorded `completed` in the same state write as the change.
    Task,
}

/// One kind of API object and how it maps to Pulp's JSON.
pub(crate) trait Kind: Clone + Send + Sync + 'static {
    /// Collection path, e.g. `/pulp/api/v3/remotes/hugging_face/hugging-face/`.
    const COLLECTION: &'static str;
    /// `prn` prefix, e.g. `prn:hugging_face.huggingfaceremote:`.
    const PRN: &'static str;
    /// Fields a body may set.
    const WRITABLE: &'static [&'static str];
    /// Pulp fields hubcache cannot honour: a body may send them, and [`Kind::build`] refuses
    /// any meaningful value (`null` is always accepted).
    const NULL_ONLY: &'static [&'static str] = &[];
    /// Read-only fields beyond [`COMMON_READ_ONLY`]; ignored when sent.
    const READ_ONLY: &'static [&'static str];
    /// List filters beyond [`NAME_FILTERS`] and the always-accepted parameters.
    const FILTERS: &'static [&'static str] = &[];
    /// Fields `ordering` accepts beyond [`COMMON_ORDERING`].
    const ORDERING: &'static [&'static str] = &[];
    /// How a create (POST) answers.
    const CREATE_REPLY: Reply = Reply::Object;
    /// How an update (PUT, PATCH) answers.
    const UPDATE_REPLY: Reply = Reply::Object;
    /// How a delete answers.
    const DELETE_REPLY: Reply = Reply::Object;

    /// The objects of this kind in `snap`.
    fn all(snap: &Snapshot) -> &Vec<Arc<Self>>;
    /// The same, to change.
    fn all_mut(snap: &mut Snapshot) -> &mut Vec<Arc<Self>>;
    /// Identity and timestamps.
    fn meta(&self) -> &Meta;
    /// Identity and timestamps, to stamp an update.
    fn meta_mut(&mut self) -> &mut Meta;
    /// The object's name.
    fn name(&self) -> &str;
    /// `base_path`, for the kinds that have one.
    fn base_path(&self) -> Option<&str> {
        None
    }
    /// `pulp_labels`, for the kinds that have them.
    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        None
    }
    /// The object's JSON: its response struct (with [`Common`]) serialized by [`to_fields`].
    fn fields(&self, snap: &Snapshot, content_origin: &str) -> Map<String, Value>;
    /// Validates `input` against `snap` and returns the new object (`current` for updates).
    fn build(
        input: Input,
        current: Option<&Self>,
        mode: Mode,
        snap: &Snapshot,
    ) -> Result<Self, ApiError>;
    /// Checks a built object against the rest of the server before it is stored (under the
    /// writer lock; e.g. a pinned repository's files against the cache budget). Default: nothing.
    fn check_store(&self, _deps: &super::ApiDeps) -> Result<(), ApiError> {
        Ok(())
    }
    /// After a create, update or delete of object `id` was saved: bring the rest of the server
    /// in line with the new state (e.g. a repository's pins). Runs off the async threads.
    /// Default: nothing.
    fn stored(_deps: &super::ApiDeps, _id: Uuid) {}
    /// Before `self` is removed from `snap`: refuse, or fix what pointed at it (default: nothing).
    fn on_delete(&self, _snap: &mut Snapshot) -> Result<(), ApiError> {
        Ok(())
    }

    /// What filters and ordering look at.
    fn row(&self) -> Row<'_> {
        let meta = self.meta();
        Row {
            id: meta.id,
            name: self.name(),
            base_path: self.base_path(),
            labels: self.labels(),
            created: meta.created,
            updated: meta.updated,
        }
    }
}

/// Writes the [`Kind`] accessors (`all`, `all_mut`, `meta`, `meta_mut`, `name`) of a model type
/// with `meta` and `name` fields whose objects live in the snapshot's field `$field`.
macro_rules! kind_accessors {
    ($field:ident) => {
        fn all(snap: &$crate::registry::Snapshot) -> &Vec<::std::sync::Arc<Self>> {
            &snap.$field
        }
        fn all_mut(snap: &mut $crate::registry::Snapshot) -> &mut Vec<::std::sync::Arc<Self>> {
            &mut snap.$field
        }
        fn meta(&self) -> &$crate::model::Meta {
            &self.meta
        }
        fn meta_mut(&mut self) -> &mut $crate::model::Meta {
            &mut self.meta
        }
        fn name(&self) -> &str {
            &self.name
        }
    };
}
pub(crate) use kind_accessors;

/// `/pulp/api/v3/…/<uuid>/` of an object.
pub(crate) fn href<K: Kind>(id: Uuid) -> String {
    format!("{}{id}/", K::COLLECTION)
}

/// `prn:…:<uuid>` of an object.
pub(crate) fn prn<K: Kind>(id: Uuid) -> String {
    format!("{}{id}", K::PRN)
}

/// The full JSON of `obj`, as its kind's response struct serializes it ([`Kind::fields`]).
pub(crate) fn render<K: Kind>(
    obj: &K,
    snap: &Snapshot,
    content_origin: &str,
) -> Map<String, Value> {
    obj.fields(snap, content_origin)
}

/// The fields every object answers first (pulpcore's `ModelSerializer`), flattened into each
/// kind's response struct.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Common {
    /// The object's relative href.
    #[schema(format = Uri, read_only)]
    pub pulp_href: String,
    /// The Pulp Resource Name (PRN).
    #[schema(read_only)]
    pub prn: String,
    /// Timestamp of creation.
    #[schema(format = DateTime, read_only)]
    pub pulp_created: String,
    /// Timestamp of the most recent update.
    #[schema(format = DateTime, read_only)]
    pub pulp_last_updated: String,
}

impl Common {
    /// The common fields of the object of kind `K` with `meta`.
    pub(crate) fn of<K: Kind>(meta: &Meta) -> Self {
        Common {
            pulp_href: href::<K>(meta.id),
            prn: prn::<K>(meta.id),
            pulp_created: timestamp(meta.created),
            pulp_last_updated: timestamp(meta.updated),
        }
    }
}

/// The JSON fields of a response struct, for [`Kind::fields`].
pub(crate) fn to_fields(response: &impl serde::Serialize) -> Map<String, Value> {
    match serde_json::to_value(response) {
        Ok(Value::Object(map)) => map,
        // A struct always serializes to an object; nothing else reaches here.
        _ => Map::new(),
    }
}

/// Is `name` free among the objects of kind `K` (other than `except`)?
pub(crate) fn name_is_free<K: Kind>(snap: &Snapshot, name: &str, except: Option<Uuid>) -> bool {
    !K::all(snap)
        .iter()
        .any(|o| o.name() == name && Some(o.meta().id) != except)
}

/// Reads `name` (required unless `mode` allows leaving it out): a valid name
/// ([`rules::check_name`]) that no other object of kind `K` than `current` has. `None` when
/// absent or refused (the refusal is recorded in `input.errors`).
pub(crate) fn read_name<K: Kind>(
    input: &mut Input,
    mode: Mode,
    snap: &Snapshot,
    current: Option<&K>,
) -> Option<String> {
    let name = input.string("name", false);
    input.require("name", &name, mode);
    let Given::Value(name) = name else {
        return None;
    };
    match rules::check_name(&name) {
        Err(msg) => input.errors.push("name", msg),
        Ok(()) if !name_is_free::<K>(snap, &name, current.map(|c| c.meta().id)) => {
            input.errors.push("name", "This field must be unique.");
        }
        Ok(()) => return Some(name),
    }
    None
}
