//! `pulp_label_select`: comma-separated terms `key=val`, `key!=val`, `key~text`, `key`, `!key`
//! (`\,` is a literal comma), as pulpcore's `LabelFilter` reads them; a bad term is a 400
//! `["Invalid search term: '<term>'."]`.

use std::collections::BTreeMap;

use super::error::ApiError;

/// One `pulp_label_select` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelTerm {
    /// `key=value`.
    Eq(String, String),
    /// `key!=value`: the key is set to something else.
    Ne(String, String),
    /// `key~text`: the value contains `text`, ignoring case.
    Contains(String, String),
    /// `key`: the key is set.
    Has(String),
    /// `!key`: the key is not set.
    Missing(String),
}

/// Splits `pulp_label_select` on unescaped commas (`\,` is a literal comma) and parses each term.
pub(crate) fn parse_label_select(value: &str) -> Result<Vec<LabelTerm>, ApiError> {
    let mut terms = vec![String::new()];
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                chars.next();
                if let Some(t) = terms.last_mut() {
                    t.push(',');
                }
            }
            ',' => terms.push(String::new()),
            c => {
                if let Some(t) = terms.last_mut() {
                    t.push(c);
                }
            }
        }
    }
    terms
        .iter()
        .map(|t| {
            parse_term(t)
                .ok_or_else(|| ApiError::List(vec![format!("Invalid search term: '{t}'.")]))
        })
        .collect()
}

fn parse_term(term: &str) -> Option<LabelTerm> {
    let key_ok = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | ' ' | '.' | '-'))
    };
    if let Some(key) = term.strip_prefix('!') {
        return key_ok(key).then(|| LabelTerm::Missing(key.into()));
    }
    let (key, op, val) = match term.find(['=', '~', '!']) {
        Some(i) => {
            let (key, rest) = term.split_at(i);
            let (op, val) = ["!=", "=", "~"]
                .iter()
                .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))?;
            (key, op, val.to_string())
        }
        None => return key_ok(term).then(|| LabelTerm::Has(term.into())),
    };
    if !key_ok(key) {
        return None;
    }
    let key = key.to_string();
    Some(match op {
        "=" => LabelTerm::Eq(key, val),
        "!=" => LabelTerm::Ne(key, val),
        _ => LabelTerm::Contains(key, val),
    })
}

impl LabelTerm {
    /// Do these labels pass the term?
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelTerm::Eq(k, v) => labels.get(k) == Some(v),
            LabelTerm::Ne(k, v) => labels.get(k).is_some_and(|x| x != v),
            LabelTerm::Contains(k, v) => labels
                .get(k)
                .is_some_and(|x| x.to_lowercase().contains(&v.to_lowercase())),
            LabelTerm::Has(k) => labels.contains_key(k),
            LabelTerm::Missing(k) => !labels.contains_key(k),
        }
    }
}
