//! `${VAR}` / `${VAR:-default}` expansion from the environment, for the secret-bearing
//! fields of the configuration (`password`, `password_hash`, `hf_token`, `header_value`).
//!
//! Rules, as in a POSIX shell: `${VAR}` is the variable's value (unset → a problem);
//! `${VAR:-default}` is the value, or `default` when the variable is unset or empty.
//! `$${` writes a literal `${`. Any other `$` is kept as is (argon2 hashes are full of them).
//! Error messages name the variable, never a value.

/// The result of expanding one field.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Expanded {
    /// The expanded text.
    pub(super) value: String,
    /// True when at least one `${VAR:-default}` fell back to its default.
    pub(super) used_default: bool,
}

/// Expands `text`, looking variables up with `env` (the process environment in production).
pub(super) fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut value = String::with_capacity(text.len());
    let mut used_default = false;
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        value.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("$${") {
            value.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix("${") else {
            value.push('$');
            rest = &after[1..];
            continue;
        };
        let end = body_and_tail.find('}').ok_or_else(|| {
            "unterminated \"${\" (write \"$${\" for a literal \"${\")".to_string()
        })?;
        let body = &body_and_tail[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if !is_var_name(name) {
            return Err(format!(
                "{name:?} is not a valid environment variable name (use ${{NAME}} or ${{NAME:-default}})"
            ));
        }
        match (env(name), default) {
            (Some(v), Some(_)) if !v.is_empty() => value.push_str(&v),
            (Some(v), None) => value.push_str(&v),
            (_, Some(default)) => {
                used_default = true;
                value.push_str(default);
            }
            (None, None) => {
                return Err(format!("environment variable {name} is not set (use ${{{name}:-default}} for a default)"));
            }
        }
        rest = &body_and_tail[end + 1..];
    }
    value.push_str(rest);
    Ok(Expanded {
        value,
        used_default,
    })
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("hf_secret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    /// (input, Ok((value, used_default)) or Err(message fragment))
    type Row = (&'static str, Result<(&'static str, bool), &'static str>);

    #[test]
    fn expansion_table() {
        let rows: [Row; 14] = [
            ("plain", Ok(("plain", false))),
            ("${TOKEN}", Ok(("hf_secret", false))),
            ("Bearer ${TOKEN}", Ok(("Bearer hf_secret", false))),
            ("${TOKEN:-x}", Ok(("hf_secret", false))),
            ("${UNSET:-password}", Ok(("password", true))),
            ("${UNSET:-}", Ok(("", true))),
            ("${EMPTY}", Ok(("", false))),
            ("${EMPTY:-d}", Ok(("d", true))),
            ("$${TOKEN}", Ok(("${TOKEN}", false))),
            (
                "$argon2id$v=19$m=19456",
                Ok(("$argon2id$v=19$m=19456", false)),
            ),
            ("a$", Ok(("a$", false))),
            ("${UNSET}", Err("environment variable UNSET is not set")),
            ("${TOKEN", Err("unterminated")),
            ("${1BAD}", Err("not a valid environment variable name")),
        ];
        for (text, want) in rows {
            let got = expand(text, &env);
            match (got, want) {
                (Ok(got), Ok((value, used_default))) => {
                    assert_eq!(
                        got,
                        Expanded {
                            value: value.into(),
                            used_default
                        },
                        "{text:?}"
                    )
                }
                (Err(got), Err(fragment)) => assert!(got.contains(fragment), "{text:?}: {got}"),
                (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn messages_never_contain_values() {
        let err = expand("${TOKEN}${MISSING}", &env).unwrap_err();
        assert!(!err.contains("hf_secret"), "{err}");
    }
}
