//! The remotes, content guards and distributions declared in the file, checked with the
//! same [`rules`] as the admin API and turned into a [`Snapshot`] of `Origin::Config`
//! objects whose ids come from [`declared_id`] (stable across restarts).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::remote::remote;
use super::validate::{secret, Env};
use super::{declared_id, wire, Problems, CONTENT_GUARD_KIND, DISTRIBUTION_KIND, REMOTE_KIND};
use crate::model::{self, ContentGuard, Distribution, Meta, Origin, Secret};
use crate::registry::Snapshot;
use crate::rules;

/// Checks every declared object; the snapshot holds those without problems.
pub(super) fn declare(file: &wire::File, env: Env<'_>, p: &mut Problems) -> Snapshot {
    let now = SystemTime::now();
    let meta = |kind: &str, name: &str| Meta {
        id: declared_id(kind, name),
        created: now,
        updated: now,
        origin: Origin::Config,
    };
    let remote_names = names(p, "remotes", file.remotes.iter().map(|r| r.name.as_deref()));
    let guard_names = names(
        p,
        "content_guards",
        file.content_guards.iter().map(|g| g.name.as_deref()),
    );
    let dist_names = names(
        p,
        "distributions",
        file.distributions.iter().map(|d| d.name.as_deref()),
    );
    let mut snapshot = Snapshot::default();
    for (i, (w, name)) in file.remotes.iter().zip(&remote_names).enumerate() {
        let remote = remote(&format!("remotes[{i}]"), w, env, p);
        if let (Some(name), Some(mut remote)) = (name, remote) {
            remote.meta = meta(REMOTE_KIND, name);
            remote.name.clone_from(name);
            snapshot.remotes.push(Arc::new(remote));
        }
    }
    for (i, (w, name)) in file.content_guards.iter().zip(&guard_names).enumerate() {
        let guard = guard(&format!("content_guards[{i}]"), w, env, p);
        if let (Some(name), Some((description, header_name, header_value))) = (name, guard) {
            let meta = meta(CONTENT_GUARD_KIND, name);
            let guard = ContentGuard {
                meta,
                name: name.clone(),
                description,
                header_name,
                header_value,
            };
            snapshot.guards.push(Arc::new(guard));
        }
    }
    let mut base_paths: Vec<(String, usize)> = Vec::new();
    for (i, (w, name)) in file.distributions.iter().zip(&dist_names).enumerate() {
        let at = format!("distributions[{i}]");
        let base_path = base_path(p, i, w.base_path.as_deref(), &mut base_paths, &dist_names);
        let remote = reference(
            p,
            &format!("{at}.remote"),
            w.remote.as_deref(),
            &remote_names,
            REMOTE_KIND,
        );
        let guard = reference(
            p,
            &format!("{at}.content_guard"),
            w.content_guard.as_deref(),
            &guard_names,
            CONTENT_GUARD_KIND,
        );
        let pulp_labels = labels(p, &at, w.pulp_labels.as_ref());
        let only_null = [
            ("repository", &w.repository),
            ("repository_version", &w.repository_version),
            ("publication", &w.publication),
        ];
        for (field, value) in only_null {
            if value.is_some() {
                p.push(
                    format!("{at}.{field}"),
                    format!("{field} is not supported by hubcache; only null is accepted"),
                );
            }
        }
        if let (Some(name), Some(base_path), Some(remote), Some(content_guard)) =
            (name, base_path, remote, guard)
        {
            snapshot.distributions.push(Arc::new(Distribution {
                meta: meta(DISTRIBUTION_KIND, name),
                name: name.clone(),
                base_path,
                remote,
                content_guard,
                hidden: w.hidden.unwrap_or(false),
                pulp_labels,
            }));
        }
    }
    snapshot
}

/// Checks the `name` of each entry of `list`: required, well formed, unique.
fn names<'a>(
    p: &mut Problems,
    list: &str,
    names: impl Iterator<Item = Option<&'a str>>,
) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    for (i, name) in names.enumerate() {
        let at = format!("{list}[{i}].name");
        let checked = match name {
            None => Err("This field is required.".to_string()),
            Some(name) => rules::check_name(name).and_then(|()| {
                match out.iter().position(|n| n.as_deref() == Some(name)) {
                    Some(j) => Err(format!(
                        "This field must be unique: {list}[{j}] is also named {name:?}."
                    )),
                    None => Ok(name.to_string()),
                }
            }),
        };
        out.push(p.check(at, checked));
    }
    out
}

/// A `remote` or `content_guard` name → its id. `Some(None)` when unset, `None` on a problem.
fn reference(
    p: &mut Problems,
    at: &str,
    name: Option<&str>,
    known: &[Option<String>],
    kind: &str,
) -> Option<Option<uuid::Uuid>> {
    let Some(name) = name else { return Some(None) };
    if known.iter().any(|k| k.as_deref() == Some(name)) {
        return Some(Some(declared_id(kind, name)));
    }
    let list = if kind == REMOTE_KIND {
        "remotes"
    } else {
        "content_guards"
    };
    p.push(at, format!("no {kind} named {name:?} in {list}"));
    None
}

/// `base_path`: required, canonical, and overlapping no earlier distribution's.
fn base_path(
    p: &mut Problems,
    i: usize,
    value: Option<&str>,
    seen: &mut Vec<(String, usize)>,
    names: &[Option<String>],
) -> Option<String> {
    let at = format!("distributions[{i}].base_path");
    let Some(path) = value else {
        p.push(at, "This field is required.");
        return None;
    };
    if !model::is_canonical_base_path(path) {
        p.push(
            at,
            format!("Relative path is not in canonical form. {path}"),
        );
        return None;
    }
    if let Some((_, j)) = seen
        .iter()
        .find(|(other, _)| model::base_paths_overlap(path, other))
    {
        let other = names
            .get(*j)
            .cloned()
            .flatten()
            .unwrap_or_else(|| format!("distributions[{j}]"));
        p.push(at, format!("Overlaps with existing distribution '{other}'"));
        return None;
    }
    seen.push((path.to_string(), i));
    Some(path.to_string())
}

/// `pulp_labels` (null: none), checked with [`rules::check_labels`].
pub(super) fn labels(
    p: &mut Problems,
    at: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let labels = labels.cloned().unwrap_or_default();
    p.check(
        format!("{at}.pulp_labels"),
        rules::check_labels(&labels).map(|()| labels),
    )
    .unwrap_or_default()
}

/// Checks one guard: its (description, header_name, header_value).
fn guard(
    at: &str,
    w: &wire::ContentGuard,
    env: Env<'_>,
    p: &mut Problems,
) -> Option<(Option<String>, String, Secret)> {
    let header_name = match w.header_name.as_deref() {
        None => Err("This field is required.".to_string()),
        Some(name) => http::HeaderName::from_bytes(name.as_bytes())
            .map(|_| name.to_string())
            .map_err(|_| format!("'{name}' is not a valid header name.")),
    };
    let header_name = p.check(format!("{at}.header_name"), header_name);
    let header_value = match w.header_value.as_deref() {
        None => Err("This field is required.".to_string()),
        Some(text) => secret(text, env)
            .and_then(|(value, _)| rules::check_header_value(&value).map(|()| Secret::new(value))),
    };
    let header_value = p.check(format!("{at}.header_value"), header_value);
    if w.jq_filter.is_some() {
        p.push(
            format!("{at}.jq_filter"),
            "jq_filter is not supported by hubcache; only null is accepted",
        );
    }
    Some((w.description.clone(), header_name?, header_value?))
}
