//! The remote fields that need more than a type check: `url` with its `hf_hub_url` alias, the
//! timeouts with `sock_connect_timeout` as an alias of `connect_timeout`, and `headers`.

use serde_json::Value;

use super::json::{Given, Input, Mode};
use crate::model::Remote;
use crate::rules;

/// `url`, with `hf_hub_url` as an alias (`null` alias: ignored).
pub(crate) fn read_url(input: &mut Input, r: &mut Remote, mode: Mode) {
    let url = input.string("url", false);
    let alias = input.string("hf_hub_url", true);
    let check = |input: &mut Input, field: &str, value: &str| match rules::check_url(value) {
        Ok(url) => Some(url),
        Err(msg) => {
            input.errors.push(field, msg);
            None
        }
    };
    match (&url, &alias) {
        (Given::Value(u), Given::Value(a)) => {
            let (u, a) = (check(input, "url", u), check(input, "hf_hub_url", a));
            if let (Some(u), Some(a)) = (u, a) {
                if u == a {
                    r.url = u;
                } else {
                    input.errors.push("hf_hub_url", "must equal url");
                }
            }
        }
        (Given::Value(u), _) | (_, Given::Value(u)) => {
            let field = if matches!(url, Given::Value(_)) {
                "url"
            } else {
                "hf_hub_url"
            };
            if let Some(u) = check(input, field, u) {
                r.url = u;
            }
        }
        _ => input.require("url", &url, mode),
    }
}

/// The four timeouts; `sock_connect_timeout` is an alias of `connect_timeout`.
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
    let connect = read(input, "connect_timeout");
    let sock_connect = read(input, "sock_connect_timeout");
    r.connect_timeout = match (connect, sock_connect) {
        (Given::Value(a), Given::Value(b)) if a != b => {
            input
                .errors
                .push("sock_connect_timeout", "must equal connect_timeout");
            r.connect_timeout
        }
        (Given::Value(d), _) | (_, Given::Value(d)) => Some(d),
        (Given::Null, _) | (_, Given::Null) => None,
        _ => r.connect_timeout,
    };
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

/// `headers`: a list of one-key objects, e.g. `[{"X-Foo": "bar"}]`; `null` clears.
pub(crate) fn read_headers(input: &mut Input) -> Option<Vec<(String, String)>> {
    let items = match input.raw("headers") {
        Given::Absent => return None,
        Given::Null => return Some(Vec::new()),
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
        Ok(()) => Some(headers),
        Err(msg) => {
            input.errors.push("headers", msg);
            None
        }
    }
}
