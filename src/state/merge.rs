//! Merging the API-made objects read from the state file with the configuration's declared
//! objects, by the rules in the module docs of [`crate::state`].

use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use super::format::meta;
use super::{Loaded, StateError, StateFile};
use crate::model::{self, ContentGuard, Distribution, Policy, Remote, Secret, StoredOnly};
use crate::registry::Snapshot;
use crate::rules;

pub(super) fn merge(
    path: &Path,
    file: StateFile,
    declared: &Snapshot,
    restart: bool,
) -> Result<Loaded, StateError> {
    let invalid = |field: String, message: String| StateError::Invalid {
        path: path.into(),
        field,
        message,
    };
    let mut snap = declared.clone();
    let mut warnings = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    let mut fresh_id = |id: Uuid, field: String| {
        if ids.contains(&id) {
            Err(invalid(field, format!("duplicate id {id}")))
        } else {
            ids.push(id);
            Ok(())
        }
    };
    for (i, g) in file.content_guards.into_iter().enumerate() {
        let at = |f: &str| format!("content_guards[{i}].{f}");
        rules::check_name(&g.name).map_err(|m| invalid(at("name"), m))?;
        rules::check_header_name(&g.header_name).map_err(|m| invalid(at("header_name"), m))?;
        // Checked at write time too; a file from an older release may still hold one that
        // would break every guarded request.
        rules::check_header_value(&g.header_value).map_err(|m| invalid(at("header_value"), m))?;
        fresh_id(g.id, at("id"))?;
        if snap.guards.iter().any(|x| x.name == g.name) {
            warnings.push(format!(
                "content guard '{}' dropped: the configuration file declares one of that name",
                g.name
            ));
            continue;
        }
        let meta = meta(g.id, g.created_ns, g.updated_ns);
        let guard = ContentGuard {
            meta,
            name: g.name,
            description: g.description,
            header_name: g.header_name,
            header_value: Secret::new(g.header_value),
        };
        snap.guards.push(Arc::new(guard));
    }
    for (i, r) in file.remotes.into_iter().enumerate() {
        let at = |f: &str| format!("remotes[{i}].{f}");
        rules::check_name(&r.name).map_err(|m| invalid(at("name"), m))?;
        let url = rules::check_url(&r.url).map_err(|m| invalid(at("url"), m))?;
        rules::check_labels(&r.pulp_labels).map_err(|m| invalid(at("pulp_labels"), m))?;
        rules::check_headers(&r.headers).map_err(|m| invalid(at("headers"), m))?;
        if let Some(token) = &r.hf_token {
            rules::check_token(token).map_err(|m| invalid(at("hf_token"), m))?;
        }
        let policy = Policy::parse(&r.policy).ok_or_else(|| {
            invalid(
                at("policy"),
                "expected on_demand, streamed or immediate".into(),
            )
        })?;
        let timeout = |f: &str, v: Option<f64>| {
            v.map(rules::check_timeout)
                .transpose()
                .map_err(|m| invalid(at(f), m))
        };
        let (connect_timeout, sock_connect_timeout, sock_read_timeout, total_timeout) = (
            timeout("connect_timeout", r.connect_timeout)?,
            timeout("sock_connect_timeout", r.sock_connect_timeout)?,
            timeout("sock_read_timeout", r.sock_read_timeout)?,
            timeout("total_timeout", r.total_timeout)?,
        );
        fresh_id(r.id, at("id"))?;
        if snap.remotes.iter().any(|x| x.name == r.name) {
            warnings.push(format!(
                "remote '{}' dropped: the configuration file declares one of that name",
                r.name
            ));
            continue;
        }
        snap.remotes.push(Arc::new(Remote {
            meta: meta(r.id, r.created_ns, r.updated_ns),
            name: r.name,
            url,
            hf_hub_url: r
                .hf_hub_url
                .unwrap_or_else(|| model::DEFAULT_HF_HUB_URL.into()),
            policy,
            hf_token: r.hf_token.filter(|t| !t.is_empty()).map(Secret::new),
            pulp_labels: r.pulp_labels,
            tls_validation: r.tls_validation,
            ca_cert: r.ca_cert,
            headers_given: !r.headers_null,
            headers: r.headers,
            connect_timeout,
            sock_connect_timeout,
            sock_read_timeout,
            total_timeout,
            max_retries: r.max_retries,
            rate_limit: r.rate_limit,
            download_concurrency: r.download_concurrency,
            stored: StoredOnly {
                client_cert: r.client_cert,
                client_key: r.client_key.map(Secret::new),
                proxy_url: r.proxy_url,
                proxy_username: r.proxy_username.map(Secret::new),
                proxy_password: r.proxy_password.map(Secret::new),
                username: r.username.map(Secret::new),
                password: r.password.map(Secret::new),
            },
        }));
    }
    for (i, d) in file.distributions.into_iter().enumerate() {
        let at = |f: &str| format!("distributions[{i}].{f}");
        rules::check_name(&d.name).map_err(|m| invalid(at("name"), m))?;
        rules::check_labels(&d.pulp_labels).map_err(|m| invalid(at("pulp_labels"), m))?;
        if !model::is_canonical_base_path(&d.base_path) {
            return Err(invalid(at("base_path"), "not in canonical form".into()));
        }
        fresh_id(d.id, at("id"))?;
        let name = d.name.clone();
        if let Some(other) = snap
            .distributions
            .iter()
            .find(|x| x.name == d.name || model::base_paths_overlap(&x.base_path, &d.base_path))
        {
            warnings.push(format!("distribution '{name}' dropped: its name or base_path clashes with distribution '{}'", other.name));
            continue;
        }
        let content_guard = match &d.content_guard {
            None => None,
            Some(g) => {
                match snap.guards.iter().find(|x| &x.name == g) {
                    Some(guard) => Some(guard.meta.id),
                    None => {
                        warnings.push(format!("distribution '{name}' dropped: its content guard '{g}' no longer exists"));
                        continue;
                    }
                }
            }
        };
        let remote = d.remote.as_ref().and_then(|r| {
            let found = snap.remotes.iter().find(|x| &x.name == r).map(|x| x.meta.id);
            if found.is_none() {
                warnings.push(format!("distribution '{name}': its remote '{r}' no longer exists; it has no remote now"));
            }
            found
        });
        let meta = meta(d.id, d.created_ns, d.updated_ns);
        let dist = Distribution {
            meta,
            name: d.name,
            base_path: d.base_path,
            remote,
            content_guard,
            hidden: d.hidden,
            pulp_labels: d.pulp_labels,
        };
        snap.distributions.push(Arc::new(dist));
    }
    super::repositories::restore(file.repositories, &mut snap, &mut warnings)
        .map_err(|(field, message)| invalid(field, message))?;
    snap.tasks = super::tasks::restore(file.tasks, &mut warnings, restart)
        .map_err(|(field, message)| invalid(field, message))?;
    Ok(Loaded {
        snapshot: snap,
        warnings,
    })
}
