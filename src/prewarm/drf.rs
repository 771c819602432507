//! Error bodies of the API (Django REST Framework shapes, `docs/pulp-api.md` "Errors") turned
//! into one line a person can read: `{"repo_id": ["This field is required."]}` →
//! `repo_id: This field is required.`

use serde_json::Value;

/// Longest message taken from a body that is not JSON (an HTML page from a proxy, say).
const MAX_TEXT: usize = 200;

/// One line for an error body: DRF field errors as `field: message`, several fields joined by
/// `; `; `detail`, `non_field_errors` and `errors` without a prefix. `None` for an empty body.
pub fn message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let line = match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            let mut parts = Vec::new();
            collect(&value, "", &mut parts);
            parts.join("; ")
        }
        Err(_) => text.chars().take(MAX_TEXT).collect(),
    };
    let line = one_line(&line);
    (!line.is_empty()).then_some(line)
}

/// Control characters (a newline in a server message, an escape sequence) become spaces, so
/// that what the server says can neither break the line nor drive the terminal.
/// Unicode's format characters (category Cf) that matter on a terminal.
fn is_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{061c}')
}

pub fn one_line(text: &str) -> String {
    let cleaned: String = text
        .chars()
        // Control characters, and the invisible format ones (bidi overrides, zero widths)
        // that could make a line read other than it is.
        .map(|c| {
            if c.is_control() || is_format(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn collect(value: &Value, prefix: &str, parts: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let unprefixed = matches!(key.as_str(), "detail" | "non_field_errors" | "errors");
                let path = match (unprefixed, prefix.is_empty()) {
                    (true, _) => prefix.to_string(),
                    (false, true) => key.clone(),
                    (false, false) => format!("{prefix}.{key}"),
                };
                collect(value, &path, parts);
            }
        }
        Value::Array(items) => {
            // A list of messages for one field stays on that field: `field: a, b`.
            if items
                .iter()
                .all(|item| !item.is_object() && !item.is_array())
            {
                let texts: Vec<String> = items.iter().map(scalar).collect();
                push(parts, prefix, &texts.join(", "));
            } else {
                for (i, item) in items.iter().enumerate() {
                    collect(item, &format!("{prefix}[{i}]"), parts);
                }
            }
        }
        other => push(parts, prefix, &scalar(other)),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn push(parts: &mut Vec<String>, prefix: &str, text: &str) {
    if prefix.is_empty() {
        parts.push(text.to_string());
    } else {
        parts.push(format!("{prefix}: {text}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> Option<String> {
        message(body.as_bytes())
    }

    #[test]
    fn field_errors_name_the_field() {
        assert_eq!(
            msg(r#"{"repo_id": ["This field is required to sync."]}"#).unwrap(),
            "repo_id: This field is required to sync."
        );
        assert_eq!(
            msg(r#"{"name": ["a", "b"], "revision": ["c"]}"#).unwrap(),
            "name: a, b; revision: c"
        );
    }

    #[test]
    fn detail_non_field_and_filter_errors_have_no_prefix() {
        assert_eq!(msg(r#"{"detail": "Not found."}"#).unwrap(), "Not found.");
        assert_eq!(
            msg(r#"{"non_field_errors": ["proxy credentials without proxy_url"]}"#).unwrap(),
            "proxy credentials without proxy_url"
        );
        assert_eq!(
            msg(r#"{"errors": ["Invalid Filter: 'colour'"]}"#).unwrap(),
            "Invalid Filter: 'colour'"
        );
    }

    #[test]
    fn nested_errors_keep_their_path() {
        assert_eq!(
            msg(r#"{"pulp_labels": {"a b(": ["bad"]}}"#).unwrap(),
            "pulp_labels.a b(: bad"
        );
        assert_eq!(
            msg(r#"{"allow_patterns": [{"x": ["bad glob"]}]}"#).unwrap(),
            "allow_patterns[0].x: bad glob"
        );
    }

    #[test]
    fn text_bodies_are_cut_and_kept_on_one_line() {
        assert_eq!(msg("Bad Gateway\n<html>").unwrap(), "Bad Gateway <html>");
        assert_eq!(msg(&"x".repeat(1000)).unwrap().len(), MAX_TEXT);
        assert_eq!(msg("  "), None);
        assert_eq!(msg(r#"{"detail": "a\u001b[2Jb\nc"}"#).unwrap(), "a [2Jb c");
    }
}
