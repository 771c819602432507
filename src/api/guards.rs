//! Header content guards (`/pulp/api/v3/contentguards/core/header/`): Pulp's JSON for a
//! [`ContentGuard`] (its `header_value` write-only), its validation, and the refusal to delete
//! a guard a distribution still uses (pulpcore would silently make that distribution public).

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::ApiError;
use super::json::{Given, Input, Mode};
use super::openapi::schemas::HiddenField;
use super::resource::{kind_accessors, read_name, to_fields, Common, Kind};
use crate::model::{ContentGuard, Meta, Origin, Secret};
use crate::registry::Snapshot;
use crate::rules;

/// What `header_value` is answered as: never the stored value (`docs/pulp-api.md` §7). A write
/// that sends it back keeps the stored value.
pub(crate) const REDACTED: &str = crate::rules::GUARD_VALUE_MASK;

/// A header content guard as answered (`HeaderContentGuardResponse`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = HeaderContentGuardResponse)]
pub(crate) struct GuardResponse {
    #[serde(flatten)]
    common: Common,
    /// A unique name.
    name: String,
    /// An optional description.
    description: Option<String>,
    /// The header checked (case-insensitive).
    header_name: String,
    /// Always `"**********"`: the value is write-only.
    header_value: String,
    /// Always `null` (jq is not supported).
    jq_filter: Option<String>,
    /// `[{"name": "header_value", "is_set": …}]`.
    #[schema(read_only, inline)]
    hidden_fields: Vec<HiddenField>,
}

impl Kind for ContentGuard {
    const COLLECTION: &'static str = "/pulp/api/v3/contentguards/core/header/";
    const PRN: &'static str = "prn:core.headercontentguard:";
    const WRITABLE: &'static [&'static str] =
        &["name", "description", "header_name", "header_value"];
    const NULL_ONLY: &'static [&'static str] = &["jq_filter"];
    const READ_ONLY: &'static [&'static str] = &["pulp_domain"];

    kind_accessors!(guards);

    fn fields(&self, _snap: &Snapshot, _content_origin: &str) -> Map<String, Value> {
        to_fields(&GuardResponse {
            common: Common::of::<Self>(&self.meta),
            name: self.name.clone(),
            description: self.description.clone(),
            header_name: self.header_name.clone(),
            header_value: REDACTED.into(),
            jq_filter: None,
            hidden_fields: vec![HiddenField::new(
                "header_value",
                !self.header_value.expose().is_empty(),
            )],
        })
    }

    fn build(
        mut input: Input,
        current: Option<&Self>,
        mode: Mode,
        snap: &Snapshot,
    ) -> Result<Self, ApiError> {
        let mut g = current.cloned().unwrap_or_else(|| ContentGuard {
            meta: Meta::new(Origin::Api),
            name: String::new(),
            description: None,
            header_name: String::new(),
            header_value: Secret::new(""),
        });
        if let Some(name) = read_name(&mut input, mode, snap, current) {
            g.name = name;
        }
        match input.string("description", true) {
            Given::Value(text) => g.description = Some(text).filter(|t| !t.is_empty()),
            Given::Null => g.description = None,
            Given::Absent => {}
        }
        let header_name = input.string("header_name", false);
        input.require("header_name", &header_name, mode);
        if let Given::Value(header) = header_name {
            match rules::check_header_name(&header) {
                Ok(()) => g.header_name = header,
                Err(msg) => input.errors.push("header_name", msg),
            }
        }
        let header_value = input.string("header_value", false);
        input.require("header_value", &header_value, mode);
        match header_value {
            // The redacted form sent back (e.g. a GET body edited and PUT) keeps the value.
            Given::Value(v) if v == REDACTED && current.is_some() => {}
            Given::Value(v) if v == REDACTED => input.errors.push(
                "header_value",
                "\"**********\" stands for the stored value; a new guard needs the real one.",
            ),
            Given::Value(v) if v.is_empty() => input
                .errors
                .push("header_value", "This field may not be blank."),
            Given::Value(v) => match rules::check_header_value(&v) {
                Ok(()) => g.header_value = Secret::new(v),
                Err(msg) => input.errors.push("header_value", msg),
            },
            _ => {}
        }
        input.only_null(
            "jq_filter",
            "jq_filter is not supported by hubcache; only null is accepted.",
        );
        input.errors.into_result()?;
        Ok(g)
    }

    /// Refused while a distribution uses the guard: dropping it would make that content public.
    fn on_delete(&self, snap: &mut Snapshot) -> Result<(), ApiError> {
        match snap
            .distributions
            .iter()
            .find(|d| d.content_guard == Some(self.meta.id))
        {
            Some(d) => Err(ApiError::bad_request(format!(
                "Content guard is used by distribution '{}'",
                d.name
            ))),
            None => Ok(()),
        }
    }
}
