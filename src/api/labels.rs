//! Labels: the `pulp_label_select` filter and the `set_label/` / `unset_label/` actions.
//!
//! `pulp_label_select`: comma-separated terms `key=val`, `key!=val`, `key~text`, `key`, `!key`
//! (`\,` is a literal comma), as pulpcore's `LabelFilter` reads them; a bad term is a 400
//! `["Invalid search term: '<term>'."]`.
//!
//! `POST <href>set_label/` `{"key", "value"}` and `POST <href>unset_label/` `{"key"}` answer
//! 201 `{"key", "value"}` (pulpcore's `LabelsMixin`; `value` is the old one for an unset). They
//! are writes like any other: declared objects are refused, the change is saved before the
//! answer, and `pulp_last_updated` moves.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::auth::Authenticated;
use super::error::{json_response, ApiError};
use super::handlers::{find_writable, write, Handled};
use super::json::{parse_body, Given};
use super::resource::Kind;
use super::ApiDeps;
use crate::model::{Distribution, Remote, Repository};

/// One `pulp_label_select` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelTerm {
    /// `key=value`.
    Eq(String, String),
    /// `key!=value`: the key is set to something else.
    Ne(String, String),
    /// `key~text`: the value contains `text`, ignoring case.
    Contains(String, String),
    /// `key`: the key is set.
    Has(String),
    /// `!key`: the key is not set.
    Missing(String),
}

/// Splits `pulp_label_select` on unescaped commas (`\,` is a literal comma) and parses each term.
pub(crate) fn parse_label_select(value: &str) -> Result<Vec<LabelTerm>, ApiError> {
    let mut terms = vec![String::new()];
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                if let Some(t) = terms.last_mut() {
                    t.push(',');
                }
            }
            ',' => terms.push(String::new()),
            c => {
                if let Some(t) = terms.last_mut() {
                    t.push(c);
                }
            }
        }
    }
    terms
        .iter()
        .map(|t| {
            parse_term(t)
                .ok_or_else(|| ApiError::List(vec![format!("Invalid search term: '{t}'.")]))
        })
        .collect()
}

fn parse_term(term: &str) -> Option<LabelTerm> {
    let key_ok = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | ' ' | '.' | '-'))
    };
    if let Some(key) = term.strip_prefix('!') {
        return key_ok(key).then(|| LabelTerm::Missing(key.into()));
    }
    let (key, op, val) = match term.find(['=', '~', '!']) {
        Some(i) => {
            let (key, rest) = term.split_at(i);
            let (op, val) = ["!=", "=", "~"]
                .iter()
                .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))?;
            (key, op, val.to_string())
        }
        None => return key_ok(term).then(|| LabelTerm::Has(term.into())),
    };
    if !key_ok(key) {
        return None;
    }
    let key = key.to_string();
    Some(match op {
        "=" => LabelTerm::Eq(key, val),
        "!=" => LabelTerm::Ne(key, val),
        _ => LabelTerm::Contains(key, val),
    })
}

impl LabelTerm {
    /// Do these labels pass the term?
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelTerm::Eq(k, v) => labels.get(k) == Some(v),
            LabelTerm::Ne(k, v) => labels.get(k).is_some_and(|x| x != v),
            LabelTerm::Contains(k, v) => labels
                .get(k)
                .is_some_and(|x| x.to_lowercase().contains(&v.to_lowercase())),
            LabelTerm::Has(k) => labels.contains_key(k),
            LabelTerm::Missing(k) => !labels.contains_key(k),
        }
    }
}

/// A kind with `pulp_labels` that `set_label/` and `unset_label/` can change.
pub(crate) trait Labelled: Kind {
    /// What `set_label/` and `unset_label/` answer: pulpcore's generated clients map only
    /// the status pulpcore declares (201 for remotes, 200 for distributions).
    const LABEL_ANSWER: StatusCode = StatusCode::CREATED;
    /// The labels, to change.
    fn labels_mut(&mut self) -> &mut BTreeMap<String, String>;
}

impl Labelled for Remote {
    fn labels_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.pulp_labels
    }
}

// pulpcore declares 201 for repositories' label actions, as for remotes.
impl Labelled for Repository {
    fn labels_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.pulp_labels
    }
}

impl Labelled for Distribution {
    const LABEL_ANSWER: StatusCode = StatusCode::OK;
    fn labels_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.pulp_labels
    }
}

/// Reads `key` (required, not blank) and, for a set, `value` (required; hubcache labels are
/// strings, so `null` is refused) from a label action's body.
fn read_key_value(
    headers: &HeaderMap,
    body: &[u8],
    with_value: bool,
) -> Result<(String, Option<String>), ApiError> {
    let fields: &[&str] = if with_value {
        &["key", "value"]
    } else {
        &["key"]
    };
    let mut input = parse_body(headers, body, fields, &[])?;
    let key = input.string("key", false);
    input.require("key", &key, super::json::Mode::Create);
    if matches!(&key, Given::Value(k) if k.is_empty()) {
        input.errors.push("key", "This field may not be blank.");
    }
    let value = if with_value {
        let value = input.string("value", false);
        input.require("value", &value, super::json::Mode::Create);
        value.into_option()
    } else {
        None
    };
    input.errors.into_result()?;
    Ok((key.into_option().unwrap_or_default(), value))
}

/// `POST <object>set_label/`: [`Labelled::LABEL_ANSWER`] `{"key", "value"}`.
pub(crate) async fn set_label<K: Labelled>(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Handled {
    let answer = write(&deps, move |snap| {
        let index = find_writable::<K>(snap, &id)?;
        let (key, value) = read_key_value(&headers, &body, true)?;
        let value = value.unwrap_or_default();
        let one = BTreeMap::from([(key.clone(), value.clone())]);
        crate::rules::check_labels(&one).map_err(|m| ApiError::field("non_field_errors", m))?;
        change::<K>(snap, index, |labels| {
            labels.insert(key.clone(), value.clone());
        });
        Ok(json!({"key": key, "value": value}))
    })
    .await?;
    reply_with::<K>(&answer)
}

/// `POST <object>unset_label/`: [`Labelled::LABEL_ANSWER`] `{"key", "value": <the old value>}`; a key that is not set
/// is a 400 under `key`.
pub(crate) async fn unset_label<K: Labelled>(
    State(deps): State<Arc<ApiDeps>>,
    _: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Handled {
    let answer = write(&deps, move |snap| {
        let index = find_writable::<K>(snap, &id)?;
        let (key, _) = read_key_value(&headers, &body, false)?;
        let Some(old) = K::all(snap)[index]
            .labels()
            .and_then(|l| l.get(&key))
            .cloned()
        else {
            return Err(ApiError::field(
                "key",
                format!("Label '{key}' is not set on the object."),
            ));
        };
        change::<K>(snap, index, |labels| {
            labels.remove(&key);
        });
        Ok(json!({"key": key, "value": old}))
    })
    .await?;
    reply_with::<K>(&answer)
}

/// Replaces object `index` of kind `K` in `snap` by a copy whose labels `edit` changed, its
/// `pulp_last_updated` moved.
fn change<K: Labelled>(
    snap: &mut crate::registry::Snapshot,
    index: usize,
    edit: impl FnOnce(&mut BTreeMap<String, String>),
) {
    let current = &K::all(snap)[index];
    let mut obj = current.as_ref().clone();
    edit(obj.labels_mut());
    obj.meta_mut().updated = SystemTime::now().max(current.meta().updated);
    K::all_mut(snap)[index] = Arc::new(obj);
}

fn reply_with<K: Labelled>(body: &Value) -> Handled {
    Ok(json_response(K::LABEL_ANSWER, body).map(axum::body::Body::from))
}
