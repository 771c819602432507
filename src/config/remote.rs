//! One declared remote: the Pulp remote fields (`docs/pulp-api.md` "Remotes") checked with the
//! shared [`rules`] and turned into a [`Remote`] (its `meta` and `name` are set by `objects.rs`).

use super::objects::labels;
use super::validate::{count, timeout, Env};
use super::{expand, wire, Problems};
use crate::model::{Meta, Origin, Policy, Remote, Secret};
use crate::rules;

/// Fields of a remote hubcache cannot honour yet; only null is accepted.
const UNSUPPORTED: [&str; 7] = [
    "proxy_url",
    "proxy_username",
    "proxy_password",
    "client_cert",
    "client_key",
    "username",
    "password",
];

/// Checks one remote; `meta` and `name` are filled in by the caller.
pub(super) fn remote(at: &str, w: &wire::Remote, env: Env<'_>, p: &mut Problems) -> Option<Remote> {
    let before = p.len();
    let url = match (&w.url, &w.hf_hub_url) {
        (None, None) => {
            p.push(format!("{at}.url"), "This field is required.");
            None
        }
        (Some(url), None) => p.check(format!("{at}.url"), rules::check_url(url)),
        (None, Some(url)) => p.check(format!("{at}.hf_hub_url"), rules::check_url(url)),
        (Some(url), Some(alias)) => {
            let url = p.check(format!("{at}.url"), rules::check_url(url));
            let alias = p.check(format!("{at}.hf_hub_url"), rules::check_url(alias));
            if let (Some(url), Some(alias)) = (&url, &alias) {
                if url != alias {
                    p.push(format!("{at}.hf_hub_url"), "must equal url");
                }
            }
            url
        }
    };
    let policy = match w.policy.as_deref() {
        None | Some("on_demand") => Policy::OnDemand,
        Some("streamed") => Policy::Streamed,
        Some("immediate") => {
            p.push(
                format!("{at}.policy"),
                "\"immediate\" is not supported yet; use on_demand or streamed",
            );
            Policy::OnDemand
        }
        Some(other) => {
            p.push(
                format!("{at}.policy"),
                format!("\"{other}\" is not a valid choice."),
            );
            Policy::OnDemand
        }
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
    let unsupported = [
        &w.proxy_url,
        &w.proxy_username,
        &w.proxy_password,
        &w.client_cert,
        &w.client_key,
        &w.username,
        &w.password,
    ];
    for (field, value) in UNSUPPORTED.iter().zip(unsupported) {
        if value.is_some() {
            p.push(
                format!("{at}.{field}"),
                format!("{field} is not supported by hubcache yet"),
            );
        }
    }
    let pulp_labels = labels(p, at, w.pulp_labels.as_ref());
    if p.len() > before {
        return None;
    }
    Some(Remote {
        meta: Meta::new(Origin::Config),
        name: String::new(),
        url: url?,
        policy,
        hf_token,
        pulp_labels,
        tls_validation: w.tls_validation.unwrap_or(true),
        ca_cert,
        headers,
        connect_timeout: connect_timeout.or(sock_connect_timeout),
        sock_read_timeout,
        total_timeout,
        max_retries,
        rate_limit,
        download_concurrency,
    })
}
