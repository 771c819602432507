//! Remotes (`/pulp/api/v3/remotes/hugging_face/hugging-face/`): Pulp's JSON for a [`Remote`],
//! its validation, and what deleting one does to the distributions using it.
//!
//! * `url` is the Hub base URL; `hf_hub_url` is accepted as its alias and shown equal to it.
//! * `hf_token` is write-only (`hidden_fields`); `null` or `""` clears it.
//! * `policy`: `on_demand` (default) or `streamed`; `immediate` is refused until it exists.
//! * `sock_connect_timeout` is accepted as `connect_timeout` and shown equal to it.
//! * Fields the proxy cannot honour yet (client certificates, outbound proxy, basic
//!   credentials) are refused unless `null`, rather than stored and ignored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::json::{Given, Input, Mode};
use super::remote_fields::{read_headers, read_timeouts, read_url};
use super::resource::{kind_accessors, object, read_name, Kind};
use crate::model::{Origin, Policy, Remote};
use crate::registry::Snapshot;
use crate::rules;

/// Fields pulpcore has that the proxy cannot honour yet: accepted only as `null` (or `""`).
const UNSUPPORTED: [&str; 7] = [
    "client_cert",
    "client_key",
    "proxy_url",
    "proxy_username",
    "proxy_password",
    "username",
    "password",
];
/// Write-only fields, in `hidden_fields` order (pulpcore's, then `hf_token`).
const HIDDEN: [&str; 5] = [
    "client_key",
    "proxy_username",
    "proxy_password",
    "username",
    "password",
];

impl Kind for Remote {
    const COLLECTION: &'static str = "/pulp/api/v3/remotes/hugging_face/hugging-face/";
    const PRN: &'static str = "prn:hugging_face.huggingfaceremote:";
    const WRITABLE: &'static [&'static str] = &[
        "name",
        "url",
        "hf_hub_url",
        "hf_token",
        "policy",
        "pulp_labels",
        "tls_validation",
        "ca_cert",
        "max_retries",
        "connect_timeout",
        "sock_connect_timeout",
        "sock_read_timeout",
        "total_timeout",
        "headers",
        "download_concurrency",
        "rate_limit",
    ];
    const NULL_ONLY: &'static [&'static str] = &UNSUPPORTED;
    const READ_ONLY: &'static [&'static str] = &["pulp_domain"];
    const FILTERS: &'static [&'static str] = &["pulp_label_select"];
    // pulpcore: a remote is created at once, updated and deleted by a task.
    const UPDATE_REPLY: super::resource::Reply = super::resource::Reply::Task;
    const DELETE_REPLY: super::resource::Reply = super::resource::Reply::Task;

    kind_accessors!(remotes);
    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        Some(&self.pulp_labels)
    }

    fn fields(&self, _snap: &Snapshot, _content_origin: &str) -> Map<String, Value> {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let headers: Vec<Value> = self.headers.iter().map(|(k, v)| json!({ k: v })).collect();
        let mut hidden: Vec<Value> = HIDDEN
            .iter()
            .map(|name| json!({"name": name, "is_set": false}))
            .collect();
        hidden.push(json!({"name": "hf_token", "is_set": self.token().is_some()}));
        object(json!({
            "name": self.name,
            "url": self.url,
            "hf_hub_url": self.url,
            "policy": self.policy.as_str(),
            "pulp_labels": self.pulp_labels,
            "tls_validation": self.tls_validation,
            "ca_cert": self.ca_cert,
            "client_cert": null,
            "proxy_url": null,
            "max_retries": self.max_retries,
            "connect_timeout": secs(self.connect_timeout),
            "sock_connect_timeout": secs(self.connect_timeout),
            "sock_read_timeout": secs(self.sock_read_timeout),
            "total_timeout": secs(self.total_timeout),
            "headers": headers,
            "download_concurrency": self.download_concurrency,
            "rate_limit": self.rate_limit,
            "hidden_fields": hidden,
        }))
    }

    fn build(
        mut input: Input,
        current: Option<&Self>,
        mode: Mode,
        snap: &Snapshot,
    ) -> Result<Self, ApiError> {
        let mut r = current.cloned().unwrap_or_else(new_remote);
        if let Some(name) = read_name(&mut input, mode, snap, current) {
            r.name = name;
        }
        read_url(&mut input, &mut r, mode);
        match input.secret("hf_token") {
            Some(Some(token)) => match rules::check_token(token.expose()) {
                Ok(()) => r.hf_token = Some(token),
                Err(msg) => input.errors.push("hf_token", msg),
            },
            Some(None) => r.hf_token = None,
            None => {}
        }
        match input.string("policy", false) {
            Given::Value(p) if p == "on_demand" => r.policy = Policy::OnDemand,
            Given::Value(p) if p == "streamed" => r.policy = Policy::Streamed,
            Given::Value(p) if p == "immediate" => input.errors.push(
                "policy",
                "\"immediate\" is not supported yet: hubcache fetches on demand; use \"on_demand\" or \"streamed\".",
            ),
            Given::Value(p) => input.errors.push("policy", format!("\"{p}\" is not a valid choice.")),
            Given::Absent if mode == Mode::Put => r.policy = Policy::default(),
            _ => {}
        }
        if let Some(labels) = input.labels("pulp_labels") {
            r.pulp_labels = labels;
        }
        if let Some(tls) = input.boolean("tls_validation") {
            r.tls_validation = tls;
        }
        match input.string("ca_cert", true) {
            Given::Value(pem) if !pem.is_empty() => match rules::check_ca_cert(&pem) {
                Ok(()) => r.ca_cert = Some(pem),
                Err(msg) => input.errors.push("ca_cert", msg),
            },
            Given::Value(_) | Given::Null => r.ca_cert = None,
            Given::Absent => {}
        }
        for field in UNSUPPORTED {
            let set = matches!(input.raw(field), Given::Value(v) if v.as_str() != Some(""));
            if set {
                input
                    .errors
                    .push(field, format!("{field} is not supported by hubcache yet"));
            }
        }
        read_timeouts(&mut input, &mut r);
        if let Some(headers) = read_headers(&mut input) {
            r.headers = headers;
        }
        for (field, min) in [
            ("max_retries", 0),
            ("download_concurrency", 1),
            ("rate_limit", 1),
        ] {
            let value = match input.uint(field, min) {
                Given::Value(n) => Some(n),
                Given::Null => None,
                Given::Absent => continue,
            };
            match field {
                "max_retries" => r.max_retries = value,
                "download_concurrency" => r.download_concurrency = value,
                _ => r.rate_limit = value,
            }
        }
        input.errors.into_result()?;
        Ok(r)
    }

    /// Distributions serving this remote keep existing with `remote: null` (pulpcore `SET_NULL`).
    fn on_delete(&self, snap: &mut Snapshot) -> Result<(), ApiError> {
        let now = SystemTime::now();
        for dist in snap.distributions.iter_mut() {
            if dist.remote == Some(self.meta.id) {
                let mut d = dist.as_ref().clone();
                d.remote = None;
                d.meta.updated = now.max(d.meta.updated);
                *dist = Arc::new(d);
            }
        }
        Ok(())
    }
}

fn new_remote() -> Remote {
    Remote::new(Origin::Api, String::new(), String::new())
}
