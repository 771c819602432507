//! Request bodies: media type (415), JSON parsing (400 `JSON parse error - …`), unknown fields,
//! and typed field readers that record DRF's messages instead of failing at the first one.
//! Also the timestamp format every object shares.

use std::collections::BTreeMap;
use std::time::SystemTime;

use http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::error::{ApiError, FieldErrors};
use crate::model::Secret;

/// A body field as sent: left out, `null`, or a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Given<T> {
    /// Not in the body.
    Absent,
    /// `null`.
    Null,
    /// A value of the right type.
    Value(T),
}

/// How a write treats omitted fields (DRF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// POST: required fields must be given; the rest take their defaults.
    Create,
    /// PUT: required fields must be given; `policy`/`hidden` return to their defaults.
    Put,
    /// PATCH: only what is given changes.
    Patch,
}

impl Mode {
    /// Must required fields be in the body?
    pub(crate) fn needs_required(self) -> bool {
        self != Mode::Patch
    }
}

/// A parsed JSON object body plus the field errors found so far.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    obj: Map<String, Value>,
    /// Everything wrong so far; the write is refused when not empty.
    pub(crate) errors: FieldErrors,
}

/// Checks the media type, parses the body as a JSON object, and records `Unexpected field`
/// for every key that is neither in `writable` nor in `read_only` (read-only ones are ignored).
pub(crate) fn parse_body(
    headers: &HeaderMap,
    body: &[u8],
    writable: &[&str],
    read_only: &[&str],
) -> Result<Input, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Input {
            obj: Map::new(),
            errors: FieldErrors::default(),
        });
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = media
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json"
        && !(essence.starts_with("application/") && essence.ends_with("+json"))
    {
        let shown = media.unwrap_or_default().replace('"', "'");
        return Err(ApiError::detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{shown}\" in request."),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("JSON parse error - {e}")))?;
    let Value::Object(obj) = value else {
        let msg = format!(
            "Invalid data. Expected a dictionary, but got {}.",
            py_type(&value)
        );
        return Err(ApiError::field("non_field_errors", msg));
    };
    let mut errors = FieldErrors::default();
    for key in obj.keys() {
        if !writable.contains(&key.as_str()) && !read_only.contains(&key.as_str()) {
            errors.push(key, "Unexpected field");
        }
    }
    Ok(Input { obj, errors })
}

/// Python's name for a JSON value's type, as DRF messages show it.
pub(crate) fn py_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

impl Input {
    /// An input with these fields (tests).
    #[cfg(test)]
    pub(crate) fn from_map(obj: Map<String, Value>) -> Self {
        Input {
            obj,
            errors: FieldErrors::default(),
        }
    }

    /// The raw value of `name`.
    pub(crate) fn raw(&self, name: &str) -> Given<&Value> {
        match self.obj.get(name) {
            None => Given::Absent,
            Some(Value::Null) => Given::Null,
            Some(v) => Given::Value(v),
        }
    }

    /// Records "This field is required." when a required field is missing (and not already wrong).
    pub(crate) fn require<T>(&mut self, name: &str, given: &Given<T>, mode: Mode) {
        if mode.needs_required() && matches!(given, Given::Absent) && !self.errors.has(name) {
            self.errors.push(name, "This field is required.");
        }
    }

    /// A string field; `null` is an error unless `nullable`. Blank strings are the caller's call.
    pub(crate) fn string(&mut self, name: &str, nullable: bool) -> Given<String> {
        match self.raw(name) {
            Given::Absent => Given::Absent,
            Given::Null if nullable => Given::Null,
            Given::Null => self.fail(name, "This field may not be null."),
            Given::Value(Value::String(s)) => Given::Value(s.clone()),
            Given::Value(_) => self.fail(name, "Not a valid string."),
        }
    }

    /// A non-null boolean.
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.raw(name) {
            Given::Absent => None,
            Given::Null => self.fail(name, "This field may not be null.").into_option(),
            Given::Value(Value::Bool(b)) => Some(*b),
            Given::Value(_) => self.fail(name, "Must be a valid boolean.").into_option(),
        }
    }

    /// A nullable integer ≥ `min` that fits a `u32` (whole floats such as `3.0` count, as in DRF).
    pub(crate) fn uint(&mut self, name: &str, min: u32) -> Given<u32> {
        let whole = |n: &serde_json::Number| {
            n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                    .map(|f| f as i64)
            })
        };
        let n = match self.raw(name) {
            Given::Absent => return Given::Absent,
            Given::Null => return Given::Null,
            Given::Value(Value::Number(n)) => match whole(n) {
                Some(n) => n,
                None => return self.fail(name, "A valid integer is required."),
            },
            Given::Value(_) => return self.fail(name, "A valid integer is required."),
        };
        if n < i64::from(min) {
            return self.fail(
                name,
                format!("Ensure this value is greater than or equal to {min}."),
            );
        }
        match u32::try_from(n) {
            Ok(n) => Given::Value(n),
            Err(_) => self.fail(
                name,
                format!("Ensure this value is less than or equal to {}.", u32::MAX),
            ),
        }
    }

    /// A nullable number.
    pub(crate) fn number(&mut self, name: &str) -> Given<f64> {
        match self.raw(name) {
            Given::Absent => Given::Absent,
            Given::Null => Given::Null,
            Given::Value(Value::Number(n)) => match n.as_f64() {
                Some(f) => Given::Value(f),
                None => self.fail(name, "A valid number is required."),
            },
            Given::Value(_) => self.fail(name, "A valid number is required."),
        }
    }

    /// `pulp_labels`: a non-null object of strings, checked with `rules::check_labels`.
    pub(crate) fn labels(&mut self, name: &str) -> Option<BTreeMap<String, String>> {
        let obj = match self.raw(name) {
            Given::Absent => return None,
            Given::Null => return self.fail(name, "This field may not be null.").into_option(),
            Given::Value(Value::Object(obj)) => obj.clone(),
            Given::Value(v) => {
                let msg = format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    py_type(v)
                );
                return self.fail(name, msg).into_option();
            }
        };
        let mut labels = BTreeMap::new();
        for (k, v) in obj {
            match v {
                Value::String(s) => {
                    labels.insert(k, s);
                }
                _ => self
                    .errors
                    .push(name, format!("The value of '{k}' is not a valid string.")),
            }
        }
        if let Err(msg) = crate::rules::check_labels(&labels) {
            self.errors.push(name, msg);
        }
        (!self.errors.has(name)).then_some(labels)
    }

    /// A write-only secret: `None` = omitted (unchanged); `Some(None)` = `null` or `""` (cleared).
    pub(crate) fn secret(&mut self, name: &str) -> Option<Option<Secret>> {
        match self.string(name, true) {
            Given::Absent => None,
            Given::Null => Some(None),
            Given::Value(s) if s.is_empty() => Some(None),
            Given::Value(s) => Some(Some(Secret::new(s))),
        }
    }

    /// A field hubcache accepts only as `null` (or left out): anything else → `message`.
    pub(crate) fn only_null(&mut self, name: &str, message: &str) {
        if let Given::Value(_) = self.raw(name) {
            self.errors.push(name, message);
        }
    }

    /// Records `message` under `name` and returns `Absent`, so later checks skip the field.
    pub(crate) fn fail<T>(&mut self, name: &str, message: impl Into<String>) -> Given<T> {
        self.errors.push(name, message);
        Given::Absent
    }
}

impl<T> Given<T> {
    /// `Value(v)` → `Some(v)`; otherwise `None`.
    pub(crate) fn into_option(self) -> Option<T> {
        match self {
            Given::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// `pulp_created` / `pulp_last_updated`: ISO 8601 UTC with microseconds.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_have_microseconds() {
        let t = UNIX_EPOCH + Duration::from_micros(1_777_889_472_345_678);
        assert_eq!(timestamp(t), "2026-05-04T10:11:12.345678Z");
    }

    #[test]
    fn field_readers_record_drf_messages() {
        let body = serde_json::json!({"s": 1, "b": "yes", "i": -1, "f": "x", "l": [1], "n": null, "big": 5_000_000_000u64});
        let Value::Object(obj) = body else {
            unreachable!()
        };
        let mut input = Input::from_map(obj);
        assert_eq!(input.string("s", false), Given::Absent);
        assert_eq!(input.boolean("b"), None);
        assert_eq!(input.uint("i", 0), Given::Absent);
        assert_eq!(input.uint("big", 0), Given::Absent);
        assert_eq!(input.number("f"), Given::Absent);
        assert_eq!(input.labels("l"), None);
        assert_eq!(input.string("n", false), Given::Absent);
        let shown = format!("{:?}", input.errors);
        for want in [
            "Not a valid string.",
            "Must be a valid boolean.",
            "greater than or equal to 0",
            "less than or equal to 4294967295",
            "A valid number is required.",
            "Expected a dictionary of items but got type \\\"list\\\".",
            "This field may not be null.",
        ] {
            assert!(shown.contains(want), "{want} in {shown}");
        }
    }
}
