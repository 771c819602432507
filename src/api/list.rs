//! List requests: `limit`/`offset` pagination with absolute links, the name/base_path/label
//! filters, `ordering`, `fields`/`exclude_fields`, and the 400s for anything else (pulpcore).

use std::collections::BTreeMap;
use std::time::SystemTime;

use http::{header, HeaderMap, Uri};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::error::ApiError;
use super::labels::parse_label_select;

/// DRF `PAGE_SIZE` in pulpcore.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// Parameters every list accepts; the last three are ignored.
const ALWAYS: [&str; 8] = [
    "limit",
    "offset",
    "ordering",
    "fields",
    "exclude_fields",
    "minimal",
    "page_size",
    "format",
];
/// What DRF's `urlencode` leaves alone.
const QUERY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// What filters and ordering look at in one object.
#[derive(Debug, Clone)]
pub(crate) struct Row<'a> {
    /// Id (tie-break: UUIDv7 grows with creation time).
    pub(crate) id: Uuid,
    /// `name`.
    pub(crate) name: &'a str,
    /// `base_path` (distributions only).
    pub(crate) base_path: Option<&'a str>,
    /// `pulp_labels` (not on guards).
    pub(crate) labels: Option<&'a BTreeMap<String, String>>,
    /// `pulp_created`.
    pub(crate) created: SystemTime,
    /// `pulp_last_updated`.
    pub(crate) updated: SystemTime,
}

/// A parsed, valid list request.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pairs: Vec<(String, String)>,
    limit: usize,
    offset: usize,
    ordering: Vec<(String, bool)>,
    fields: Option<Vec<String>>,
    exclude: Vec<String>,
    /// The compiled `…__regex` / `…__iregex` patterns, by parameter.
    regexes: Vec<(String, regex::Regex)>,
}

/// Splits a raw query string into decoded pairs (`+` is a space).
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The value of the last `name` parameter in `pairs` (DRF reads the last one).
fn last_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Longest `__regex` / `__iregex` pattern accepted.
const MAX_PATTERN: usize = 1000;
/// Compiled-size cap of one pattern (`regex::RegexBuilder::size_limit`), so a client cannot
/// make the server build a huge automaton; matching is linear-time whatever the pattern.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Compiles the value of a `…__regex` (case-sensitive) or `…__iregex` parameter; a bad or
/// oversized pattern is a 400 under the parameter's name.
fn compile(param: &str, pattern: &str) -> Result<regex::Regex, ApiError> {
    if pattern.chars().count() > MAX_PATTERN {
        return Err(ApiError::field(
            param,
            format!("Ensure this value has at most {MAX_PATTERN} characters."),
        ));
    }
    regex::RegexBuilder::new(pattern)
        .case_insensitive(param.ends_with("__iregex"))
        .size_limit(PATTERN_SIZE_LIMIT)
        .dfa_size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let reason = match e {
                regex::Error::CompiledTooBig(_) => "the pattern is too large".to_string(),
                e => e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            };
            ApiError::field(param, format!("Invalid regular expression: {reason}"))
        })
}

/// The text of `field` in `row`: `name` (also `username` for users), `base_path`, and the
/// user fields that are always empty.
fn text<'a>(row: &Row<'a>, field: &str) -> Option<&'a str> {
    match field {
        "name" | "username" => Some(row.name),
        "base_path" => row.base_path,
        "first_name" | "last_name" | "email" => Some(""),
        _ => None,
    }
}

/// Does `row` pass filter `param=value` (`field__lookup`, Django's lookups)? Parameters that
/// are not filters pass (checked earlier); `regexes` holds the compiled patterns.
fn filter_matches(
    param: &str,
    value: &str,
    row: &Row<'_>,
    regexes: &[(String, regex::Regex)],
) -> Result<bool, ApiError> {
    if param == "pulp_label_select" {
        let terms = parse_label_select(value)?;
        let empty = BTreeMap::new();
        return Ok(terms
            .iter()
            .all(|t| t.matches(row.labels.unwrap_or(&empty))));
    }
    if param == "is_active" || param == "is_staff" {
        // Every user is active and staff: the row passes when `true` is asked for.
        return parse_bool(param, value);
    }
    let (field, lookup) = param.split_once("__").unwrap_or((param, "exact"));
    let Some(have) = text(row, field) else {
        // A text field this row lacks (e.g. `base_path` on a generic list's guard).
        return Ok(false);
    };
    let lower = || (have.to_lowercase(), value.to_lowercase());
    Ok(match lookup {
        "exact" => have == value,
        "iexact" => {
            let (h, v) = lower();
            h == v
        }
        "contains" => have.contains(value),
        "icontains" => {
            let (h, v) = lower();
            h.contains(&v)
        }
        "startswith" => have.starts_with(value),
        "istartswith" => {
            let (h, v) = lower();
            h.starts_with(&v)
        }
        "in" => value.split(',').any(|n| n == have),
        "regex" | "iregex" => regexes
            .iter()
            .find(|(p, _)| p == param)
            .is_some_and(|(_, re)| re.is_match(have)),
        _ => true,
    })
}

/// A boolean filter value as django-filter's `BooleanFilter` reads it (the users' `is_active`
/// and `is_staff`, which are always true here).
fn parse_bool(param: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "True" | "1" => Ok(true),
        "false" | "False" | "0" => Ok(false),
        _ => Err(ApiError::field(param, "Select a valid choice.")),
    }
}

impl ListQuery {
    /// Validates the query of a list whose filters are `filters` and ordering fields `ordering`.
    pub(crate) fn parse(
        raw: Option<&str>,
        filters: &[&str],
        ordering: &[&str],
    ) -> Result<Self, ApiError> {
        let pairs = query_pairs(raw);
        let mut unknown: Vec<String> = Vec::new();
        for (k, _) in &pairs {
            if !ALWAYS.contains(&k.as_str())
                && !filters.contains(&k.as_str())
                && !unknown.contains(k)
            {
                unknown.push(k.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(ApiError::Filters(unknown));
        }
        let last = |name: &str| last_value(&pairs, name);
        let limit = last("limit")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_LIMIT);
        let offset = last("offset")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut order = Vec::new();
        for term in last("ordering")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let (field, desc) = term.strip_prefix('-').map_or((term, false), |f| (f, true));
            if !ordering.contains(&field) {
                return Err(ApiError::field(
                    "ordering",
                    format!("Select a valid choice. {term} is not one of the available choices."),
                ));
            }
            order.push((field.to_string(), desc));
        }
        let mut regexes = Vec::new();
        for (k, v) in &pairs {
            if k == "pulp_label_select" && !v.is_empty() {
                parse_label_select(v)?;
            }
            if (k == "is_active" || k == "is_staff") && !v.is_empty() {
                parse_bool(k, v)?;
            }
        }
        // Only the last value of each regex parameter counts (as for every filter), so only
        // that one is compiled: a request cannot make the server compile dozens.
        for (i, (k, v)) in pairs.iter().enumerate() {
            let last = !pairs[i + 1..].iter().any(|(later, _)| later == k);
            if last && (k.ends_with("__regex") || k.ends_with("__iregex")) && !v.is_empty() {
                regexes.push((k.clone(), compile(k, v)?));
            }
        }
        let shaping = Self::shaping_of(pairs);
        Ok(ListQuery {
            limit,
            offset,
            ordering: order,
            regexes,
            ..shaping
        })
    }

    /// Only `fields`/`exclude_fields` of a query (reading one object); the rest is ignored.
    pub(crate) fn shaping(raw: Option<&str>) -> Self {
        let pairs = query_pairs(raw)
            .into_iter()
            .filter(|(k, _)| k == "fields" || k == "exclude_fields")
            .collect();
        Self::shaping_of(pairs)
    }

    fn shaping_of(pairs: Vec<(String, String)>) -> Self {
        let last = |name: &str| last_value(&pairs, name);
        let csv = |v: &str| {
            v.split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let fields = last("fields").map(csv).filter(|f| !f.is_empty());
        let exclude = last("exclude_fields").map(csv).unwrap_or_default();
        ListQuery {
            pairs,
            limit: DEFAULT_LIMIT,
            offset: 0,
            ordering: Vec::new(),
            fields,
            exclude,
            regexes: Vec::new(),
        }
    }

    /// Keeps the rows passing every filter, sorted (newest first after the asked ordering).
    pub(crate) fn select<'a, T>(&self, items: Vec<(Row<'a>, T)>) -> Result<Vec<T>, ApiError> {
        let mut kept = Vec::new();
        'items: for (row, item) in items {
            for (k, v) in &self.pairs {
                if !ALWAYS.contains(&k.as_str())
                    && !v.is_empty()
                    && !filter_matches(k, v, &row, &self.regexes)?
                {
                    continue 'items;
                }
            }
            kept.push((row, item));
        }
        kept.sort_by(|(a, _), (b, _)| {
            for (field, desc) in &self.ordering {
                let ord = match field.as_str() {
                    "name" | "username" => a.name.cmp(b.name),
                    "id" => a.id.cmp(&b.id),
                    "base_path" => a.base_path.cmp(&b.base_path),
                    "pulp_last_updated" => a.updated.cmp(&b.updated),
                    _ => a.created.cmp(&b.created),
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            b.created.cmp(&a.created).then(b.id.cmp(&a.id))
        });
        Ok(kept.into_iter().map(|(_, item)| item).collect())
    }

    /// Applies `fields`/`exclude_fields` to one rendered object.
    pub(crate) fn shape(&self, mut obj: Map<String, Value>) -> Value {
        if let Some(fields) = &self.fields {
            obj.retain(|k, _| fields.contains(k));
        }
        obj.retain(|k, _| !self.exclude.contains(k));
        Value::Object(obj)
    }

    /// The page body `{count, next, previous, results}` for `all` (already filtered and sorted).
    pub(crate) fn page(
        &self,
        all: Vec<Map<String, Value>>,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Value {
        let count = all.len();
        let results: Vec<Value> = all
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .map(|o| self.shape(o))
            .collect();
        let base = format!("{}{}", request_origin(headers, uri), uri.path());
        let next = (self.offset.saturating_add(self.limit) < count)
            .then(|| self.link(&base, Some(self.offset + self.limit)));
        let previous = (self.offset > 0).then(|| {
            let back = self.offset.saturating_sub(self.limit);
            self.link(&base, (back > 0).then_some(back))
        });
        json!({ "count": count, "next": next, "previous": previous, "results": results })
    }

    /// `base` with this query, `limit` set and `offset` set or removed; keys sorted (DRF).
    fn link(&self, base: &str, offset: Option<usize>) -> String {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .cloned()
            .collect();
        pairs.push(("limit".into(), self.limit.to_string()));
        if let Some(offset) = offset {
            pairs.push(("offset".into(), offset.to_string()));
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let enc = |s: &str| utf8_percent_encode(s, QUERY_SAFE).to_string();
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        format!("{base}?{}", query.join("&"))
    }
}

/// `scheme://host` of the request: `X-Forwarded-Proto` (else `http`) and `Host` (else the URI's).
pub(crate) fn request_origin(headers: &HeaderMap, uri: &Uri) -> String {
    let header_str = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(',').next().unwrap_or("").trim().to_string())
    };
    let scheme = header_str("x-forwarded-proto")
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".into());
    // Only what a host[:port] can hold: the value is reflected in answers anyone may read.
    let plausible = |h: &String| {
        !h.is_empty()
            && h.len() <= 255
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .filter(plausible)
        .unwrap_or_else(|| "localhost".into());
    format!("{scheme}://{host}")
}
