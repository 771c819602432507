//! One declared remote: the Pulp remote fields (`docs/pulp-api.md` "Remotes") checked with the
//! shared [`rules`] and turned into a [`Remote`] (its `meta` and `name` are set by `objects.rs`).

use super::objects::labels;
use super::validate::{count, timeout, Env};
use super::{expand, wire, Problems};
use crate::model::{Meta, Origin, Policy, Remote, Secret, StoredOnly, DEFAULT_HF_HUB_URL};
use crate::rules;

/// Checks one remote; `meta` and `name` are filled in by the caller.
pub(super) fn remote(at: &str, w: &wire::Remote, env: Env<'_>, p: &mut Problems) -> Option<Remote> {
    let before = p.len();
    // `url` is what hubcache fetches from; `hf_hub_url` is only stored (docs/pulp-api.md
    // "Remotes").
    let url = match &w.url {
        None => {
            p.push(format!("{at}.url"), "This field is required.");
            None
        }
        Some(url) => p.check(format!("{at}.url"), rules::check_url(url)),
    };
    let hf_hub_url = match &w.hf_hub_url {
        None => DEFAULT_HF_HUB_URL.to_string(),
        Some(u) => {
            p.check(format!("{at}.hf_hub_url"), rules::check_hf_hub_url(u));
            u.clone()
        }
    };
    let policy = match w.policy.as_deref() {
        None => Policy::OnDemand,
        Some(text) => Policy::parse(text).unwrap_or_else(|| {
            p.push(
                format!("{at}.policy"),
                format!("\"{text}\" is not a valid choice."),
            );
            Policy::OnDemand
        }),
    };
    // An empty token (e.g. "${HF_TOKEN:-}" with HF_TOKEN unset) means "no token".
    let hf_token = match &w.hf_token {
        None => None,
        Some(text) => p
            .check(format!("{at}.hf_token"), expand::expand(text, env))
            .and_then(|e| Some(Secret::new(e.value)).filter(|s| !s.expose().is_empty())),
    };
    if let Some(token) = &hf_token {
        p.check(format!("{at}.hf_token"), rules::check_token(token.expose()));
    }
    let ca_cert = w.ca_cert.clone().filter(|pem| !pem.trim().is_empty());
    if let Some(pem) = &ca_cert {
        p.check(format!("{at}.ca_cert"), rules::check_ca_cert(pem));
    }
    let mut headers = Vec::new();
    for (j, entry) in w.headers.iter().flatten().enumerate() {
        match entry.iter().next() {
            Some((name, value)) if entry.len() == 1 => {
                let header = (name.clone(), value.clone());
                // Checked one by one so the problem names the entry at fault.
                let checked = rules::check_headers(std::slice::from_ref(&header));
                if p.check(format!("{at}.headers[{j}]"), checked).is_some() {
                    headers.push(header);
                }
            }
            _ => p.push(
                format!("{at}.headers[{j}]"),
                "each header is a map with one key, e.g. {\"X-Foo\": \"bar\"}",
            ),
        }
    }
    let mut seconds = |field: &str, value: &Option<wire::Scalar>| {
        value
            .as_ref()
            .and_then(|v| p.check(format!("{at}.{field}"), timeout(v)))
    };
    let connect_timeout = seconds("connect_timeout", &w.connect_timeout);
    let sock_connect_timeout = seconds("sock_connect_timeout", &w.sock_connect_timeout);
    let sock_read_timeout = seconds("sock_read_timeout", &w.sock_read_timeout);
    let total_timeout = seconds("total_timeout", &w.total_timeout);
    let mut int = |field: &str, value: &Option<wire::Scalar>, min: u32| {
        value
            .as_ref()
            .and_then(|v| p.check(format!("{at}.{field}"), count(v, min, u32::MAX)))
    };
    let max_retries = int("max_retries", &w.max_retries, 0);
    let rate_limit = int("rate_limit", &w.rate_limit, 1);
    let download_concurrency = int("download_concurrency", &w.download_concurrency, 1);
    let stored = stored_only(at, w, env, p);
    let pulp_labels = labels(p, at, w.pulp_labels.as_ref());
    if p.len() > before {
        return None;
    }
    Some(Remote {
        meta: Meta::new(Origin::Config),
        name: String::new(),
        url: url?,
        hf_hub_url,
        policy,
        hf_token,
        pulp_labels,
        tls_validation: w.tls_validation.unwrap_or(true),
        ca_cert,
        headers,
        headers_given: w.headers.is_some(),
        connect_timeout,
        sock_connect_timeout,
        sock_read_timeout,
        total_timeout,
        max_retries,
        rate_limit,
        download_concurrency,
        stored,
    })
}

/// The Pulp fields hubcache stores only: strings or null; the write-only ones may use
/// `${VAR}` like `hf_token`; same rules as through the API.
fn stored_only(at: &str, w: &wire::Remote, env: Env<'_>, p: &mut Problems) -> StoredOnly {
    let mut text = |field: &str, value: &Option<serde_yaml::Value>, secret: bool| {
        let text = match value {
            None | Some(serde_yaml::Value::Null) => return None,
            Some(serde_yaml::Value::String(s)) => s,
            Some(_) => {
                p.push(format!("{at}.{field}"), "expected a string");
                return None;
            }
        };
        let text = if secret {
            p.check(format!("{at}.{field}"), expand::expand(text, env))?
                .value
        } else {
            text.clone()
        };
        Some(text).filter(|t| !t.is_empty())
    };
    let stored = StoredOnly {
        client_cert: text("client_cert", &w.client_cert, false),
        client_key: text("client_key", &w.client_key, true).map(Secret::new),
        proxy_url: text("proxy_url", &w.proxy_url, false),
        proxy_username: text("proxy_username", &w.proxy_username, true).map(Secret::new),
        proxy_password: text("proxy_password", &w.proxy_password, true).map(Secret::new),
        username: text("username", &w.username, true).map(Secret::new),
        password: text("password", &w.password, true).map(Secret::new),
    };
    if let Some(pem) = &stored.client_cert {
        p.check(format!("{at}.client_cert"), rules::check_ca_cert(pem));
    }
    if let Some(url) = &stored.proxy_url {
        p.check(format!("{at}.proxy_url"), rules::check_proxy_url(url));
    }
    p.check(
        at.to_string(),
        rules::check_proxy_credentials(
            stored.proxy_url.is_some(),
            stored.proxy_username.is_some(),
            stored.proxy_password.is_some(),
        ),
    );
    stored
}
