//! Remotes (`/pulp/api/v3/remotes/hugging_face/hugging-face/`): Pulp's JSON for a [`Remote`],
//! its validation, and what deleting one does to the distributions using it.
//!
//! * `url` is the Hub base URL hubcache fetches from; `hf_hub_url` is stored and answered as
//!   given (default `https://huggingface.co`), never fetched from.
//! * `hf_token` is write-only (`hidden_fields`); `null` or `""` clears it.
//! * `policy`: `on_demand` (default), `streamed`, or `immediate` (behaves as `on_demand`).
//! * `headers`: answered `null` until given.
//! * Client certificates, outbound proxy and basic credentials are stored and answered (the
//!   write-only ones only in `hidden_fields`) but not acted on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::ApiError;
use super::json::{Given, Input, Mode};
use super::openapi::schemas::{HiddenField, PolicyChoice};
use super::remote_fields::{read_headers, read_stored_only, read_timeouts, read_url};
use super::resource::{kind_accessors, read_name, to_fields, Common, Kind};
use crate::model::{Origin, Policy, Remote};
use crate::registry::Snapshot;
use crate::rules;

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
        "client_cert",
        "client_key",
        "proxy_url",
        "proxy_username",
        "proxy_password",
        "username",
        "password",
    ];
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
        let st = &self.stored;
        let set =
            |s: &Option<crate::model::Secret>| s.as_ref().is_some_and(|s| !s.expose().is_empty());
        let mut hidden: Vec<HiddenField> = HIDDEN
            .iter()
            .zip([
                &st.client_key,
                &st.proxy_username,
                &st.proxy_password,
                &st.username,
                &st.password,
            ])
            .map(|(name, value)| HiddenField::new(name, set(value)))
            .collect();
        hidden.push(HiddenField::new("hf_token", self.token().is_some()));
        to_fields(&RemoteResponse {
            common: Common::of::<Self>(&self.meta),
            name: self.name.clone(),
            url: self.url.clone(),
            hf_hub_url: self.hf_hub_url.clone(),
            policy: match self.policy {
                Policy::OnDemand => PolicyChoice::OnDemand,
                Policy::Streamed => PolicyChoice::Streamed,
                Policy::Immediate => PolicyChoice::Immediate,
            },
            pulp_labels: self.pulp_labels.clone(),
            tls_validation: self.tls_validation,
            ca_cert: self.ca_cert.clone(),
            client_cert: st.client_cert.clone(),
            proxy_url: st.proxy_url.clone(),
            max_retries: self.max_retries,
            connect_timeout: secs(self.connect_timeout),
            sock_connect_timeout: secs(self.sock_connect_timeout),
            sock_read_timeout: secs(self.sock_read_timeout),
            total_timeout: secs(self.total_timeout),
            headers: self.headers_given.then(|| {
                self.headers
                    .iter()
                    .map(|(k, v)| BTreeMap::from([(k.clone(), v.clone())]))
                    .collect()
            }),
            download_concurrency: self.download_concurrency,
            rate_limit: self.rate_limit,
            hidden_fields: hidden,
        })
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
            Given::Value(p) => match Policy::parse(&p) {
                Some(policy) => r.policy = policy,
                None => input
                    .errors
                    .push("policy", format!("\"{p}\" is not a valid choice.")),
            },
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
        read_stored_only(&mut input, &mut r.stored);
        read_timeouts(&mut input, &mut r);
        if let Some(headers) = read_headers(&mut input) {
            r.headers_given = headers.is_some();
            r.headers = headers.unwrap_or_default();
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

    /// Distributions serving this remote, and repositories syncing through it, keep existing
    /// with `remote: null` (pulpcore `SET_NULL`).
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
        // Repositories too (pulpcore's `Repository.remote` is `SET_NULL`).
        for repo in snap.repositories.iter_mut() {
            if repo.remote == Some(self.meta.id) {
                let mut r = repo.as_ref().clone();
                r.remote = None;
                r.meta.updated = now.max(r.meta.updated);
                *repo = Arc::new(r);
            }
        }
        Ok(())
    }
}

/// A remote as answered (`hugging_face.HuggingFaceRemoteResponse`): pulpcore's fields without
/// `hf_token`, which only shows up in `hidden_fields` (`docs/pulp-api.md` §5).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = hugging_face::HuggingFaceRemoteResponse)]
pub(crate) struct RemoteResponse {
    #[serde(flatten)]
    common: Common,
    /// A unique name for this remote.
    name: String,
    /// The Hub base URL hubcache fetches from.
    url: String,
    /// Stored and answered as given; not used for fetching.
    #[schema(format = Uri, default = "https://huggingface.co")]
    hf_hub_url: String,
    /// `on_demand` or `streamed`.
    #[schema(default = "on_demand")]
    policy: PolicyChoice,
    /// Free-form labels.
    pulp_labels: BTreeMap<String, String>,
    /// Verify the Hub's TLS certificate.
    tls_validation: bool,
    /// Extra PEM trust anchors.
    ca_cert: Option<String>,
    /// A PEM client certificate; stored, not used.
    client_cert: Option<String>,
    /// An outbound proxy; stored, not used.
    proxy_url: Option<String>,
    /// Retries of upstream connect failures.
    #[schema(format = Int64)]
    max_retries: Option<u32>,
    /// Upstream connect timeout in seconds.
    #[schema(minimum = 0.0)]
    connect_timeout: Option<f64>,
    /// TCP connect timeout in seconds (the shorter of the two bounds the connect).
    #[schema(minimum = 0.0)]
    sock_connect_timeout: Option<f64>,
    /// Longest wait for the next upstream read, in seconds.
    #[schema(minimum = 0.0)]
    sock_read_timeout: Option<f64>,
    /// Cap on one metadata exchange with the Hub, in seconds.
    #[schema(minimum = 0.0)]
    total_timeout: Option<f64>,
    /// Extra upstream headers, one-key objects; `null` when none are set.
    headers: Option<Vec<BTreeMap<String, String>>>,
    /// Cap on concurrent upstream requests.
    #[schema(minimum = 1, format = Int64)]
    download_concurrency: Option<u32>,
    /// Upstream requests per second.
    #[schema(format = Int64)]
    rate_limit: Option<u32>,
    /// The write-only fields and whether each is set.
    #[schema(read_only, inline)]
    hidden_fields: Vec<HiddenField>,
}

fn new_remote() -> Remote {
    Remote::new(Origin::Api, String::new(), String::new())
}
