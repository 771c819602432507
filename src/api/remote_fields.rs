//! The remote fields that need more than a type check: `url` and `hf_hub_url`, the timeouts,
//! `headers`, and the Pulp fields hubcache only stores (`docs/pulp-api.md` "Remotes").

use serde_json::Value;

use super::json::{Given, Input, Mode};
use crate::model::{Remote, StoredOnly, DEFAULT_HF_HUB_URL};
use crate::rules;

/// `url` (required; what hubcache fetches from) and `hf_hub_url` (stored as given, default
/// `https://huggingface.co`, back to it on a PUT that leaves it out; never fetched from).
pub(crate) fn read_url(input: &mut Input, r: &mut Remote, mode: Mode) {
    let url = input.string("url", false);
    input.require("url", &url, mode);
    if let Given::Value(u) = url {
        match rules::check_url(&u) {
            Ok(u) => r.url = u,
            Err(msg) => input.errors.push("url", msg),
        }
    }
    match input.string("hf_hub_url", false) {
        Given::Value(u) => match rules::check_hf_hub_url(&u) {
            Ok(()) => r.hf_hub_url = u,
            Err(msg) => input.errors.push("hf_hub_url", msg),
        },
        Given::Absent if mode == Mode::Put => r.hf_hub_url = DEFAULT_HF_HUB_URL.into(),
        _ => {}
    }
}

/// The stored-only Pulp fields: `client_cert` (PEM), `proxy_url` (no credentials), and the
/// write-only `client_key`, `proxy_username`, `proxy_password`, `username`, `password`
/// (omitted: unchanged; `null` or `""`: cleared). Then pulpcore's proxy rule on the result:
/// credentials only with a `proxy_url`, and both or neither (under `non_field_errors`).
pub(crate) fn read_stored_only(input: &mut Input, st: &mut StoredOnly) {
    for field in ["client_cert", "proxy_url"] {
        let value = match input.string(field, true) {
            Given::Absent => continue,
            Given::Null => None,
            Given::Value(v) => Some(v).filter(|v| !v.is_empty()),
        };
        if let Some(v) = &value {
            let checked = if field == "client_cert" {
                rules::check_ca_cert(v)
            } else {
                rules::check_proxy_url(v)
            };
            if let Err(msg) = checked {
                input.errors.push(field, msg);
                continue;
            }
        }
        if field == "client_cert" {
            st.client_cert = value;
        } else {
            st.proxy_url = value;
        }
    }
    for (field, slot) in [
        ("client_key", &mut st.client_key),
        ("proxy_username", &mut st.proxy_username),
        ("proxy_password", &mut st.proxy_password),
        ("username", &mut st.username),
        ("password", &mut st.password),
    ] {
        if let Some(value) = input.secret(field) {
            *slot = value;
        }
    }
    let set = |s: &Option<crate::model::Secret>| s.is_some();
    if let Err(msg) = rules::check_proxy_credentials(
        st.proxy_url.is_some(),
        set(&st.proxy_username),
        set(&st.proxy_password),
    ) {
        input.errors.push("non_field_errors", msg);
    }
}

/// The four timeouts, each stored as given (`connect_timeout` and `sock_connect_timeout` both
/// bound the upstream connect: [`Remote::connect_timeout`]).
pub(crate) fn read_timeouts(input: &mut Input, r: &mut Remote) {
    let read = |input: &mut Input, field: &str| match input.number(field) {
        Given::Value(secs) => match rules::check_timeout(secs) {
            Ok(d) => Given::Value(d),
            Err(msg) => {
                input.errors.push(field, msg);
                Given::Absent
            }
        },
        Given::Null => Given::Null,
        Given::Absent => Given::Absent,
    };
    for field in ["connect_timeout", "sock_connect_timeout"] {
        let slot = if field == "connect_timeout" {
            &mut r.connect_timeout
        } else {
            &mut r.sock_connect_timeout
        };
        match read(input, field) {
            Given::Value(d) => *slot = Some(d),
            Given::Null => *slot = None,
            Given::Absent => {}
        }
    }
    for field in ["sock_read_timeout", "total_timeout"] {
        let slot = if field == "total_timeout" {
            &mut r.total_timeout
        } else {
            &mut r.sock_read_timeout
        };
        match read(input, field) {
            Given::Value(d) => *slot = Some(d),
            Given::Null => *slot = None,
            Given::Absent => {}
        }
    }
}

/// `headers`: a list of one-key objects, e.g. `[{"X-Foo": "bar"}]`; `null` clears them (then
/// answered `null`, as when never given). `None`: omitted or refused; `Some(None)`: `null`.
pub(crate) fn read_headers(input: &mut Input) -> Option<Option<Vec<(String, String)>>> {
    let items = match input.raw("headers") {
        Given::Absent => return None,
        Given::Null => return Some(None),
        Given::Value(Value::Array(items)) => items.clone(),
        Given::Value(v) => {
            let msg = format!(
                "Expected a list of items but got type \"{}\".",
                super::json::py_type(v)
            );
            input.errors.push("headers", msg);
            return None;
        }
    };
    let mut headers = Vec::new();
    for item in &items {
        match item
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
        {
            Some((k, Value::String(v))) => headers.push((k.clone(), v.clone())),
            _ => {
                input.errors.push("headers", "Each header must be an object with one key and a string value, e.g. {\"X-Foo\": \"bar\"}.");
                return None;
            }
        }
    }
    match rules::check_headers(&headers) {
        Ok(()) => Some(Some(headers)),
        Err(msg) => {
            input.errors.push("headers", msg);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Origin;
    use serde_json::json;

    /// The `url` / `hf_hub_url` rule as a table: (mode, body) → (url, hf_hub_url) or the
    /// field refused. The current remote fetches from `http://127.0.0.1:1234` and has the
    /// default `hf_hub_url`.
    #[test]
    fn url_and_hf_hub_url_are_separate() {
        const HUB: &str = "https://huggingface.co";
        const FAKE: &str = "http://127.0.0.1:1234";
        type Want = Result<(&'static str, &'static str), &'static str>;
        let rows: [(Mode, Value, Want); 9] = [
            (Mode::Create, json!({"url": FAKE}), Ok((FAKE, HUB))),
            (
                Mode::Create,
                json!({"url": FAKE, "hf_hub_url": HUB}),
                Ok((FAKE, HUB)),
            ),
            (
                Mode::Create,
                json!({"url": HUB, "hf_hub_url": "https://mirror.example/"}),
                Ok((HUB, "https://mirror.example/")),
            ),
            (Mode::Create, json!({"hf_hub_url": HUB}), Err("url")),
            (
                Mode::Create,
                json!({"url": FAKE, "hf_hub_url": null}),
                Err("hf_hub_url"),
            ),
            (
                Mode::Create,
                json!({"url": FAKE, "hf_hub_url": "nope"}),
                Err("hf_hub_url"),
            ),
            // The generated client sends hf_hub_url on every PATCH: url stays as it was.
            (
                Mode::Patch,
                json!({"hf_token": "x", "hf_hub_url": HUB}),
                Ok((FAKE, HUB)),
            ),
            (
                Mode::Patch,
                json!({"hf_hub_url": "http://elsewhere.example"}),
                Ok((FAKE, "http://elsewhere.example")),
            ),
            (Mode::Put, json!({"url": FAKE}), Ok((FAKE, HUB))),
        ];
        for (mode, body, want) in rows {
            let mut current = Remote::new(Origin::Api, "r", FAKE);
            current.hf_hub_url = "https://before.example".into();
            if mode == Mode::Create {
                current = Remote::new(Origin::Api, "", "");
            }
            let Value::Object(map) = body.clone() else {
                unreachable!()
            };
            let mut input = Input::from_map(map);
            read_url(&mut input, &mut current, mode);
            let got = match input.errors.into_result() {
                Ok(()) => Ok((current.url.as_str(), current.hf_hub_url.as_str())),
                Err(e) => Err(format!("{e}")),
            };
            match (&got, want) {
                (Ok(got), Ok(want)) => assert_eq!(*got, want, "{body}"),
                (Err(e), Err(field)) => assert!(e.contains(field), "{body}: {e}"),
                _ => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}
