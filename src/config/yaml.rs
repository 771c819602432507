//! Reading YAML text into a [`File`]: serde errors become (YAML path, message) with
//! the line and column, and an empty document means all defaults.

use super::wire::File;

/// Parses `text` into a [`File`]. Errors carry the YAML path (`cache.max_sise`) and message.
pub(super) fn parse(text: &str) -> Result<File, (String, String)> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|err| (String::new(), with_location(&err)))?;
    if value.is_null() {
        return Ok(File::default()); // an empty file, or only comments: all defaults
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = match err.path().to_string() {
            p if p == "." || p == "?" => String::new(),
            p => p,
        };
        let message = strip_path_prefix(&path, &with_location(err.inner()));
        (path, message)
    })
}

/// serde_yaml's message, with the line and column appended when it left them out.
fn with_location(err: &serde_yaml::Error) -> String {
    let message = err.to_string();
    match err.location() {
        Some(loc) if !message.contains(" at line ") => {
            format!("{message} at line {} column {}", loc.line(), loc.column())
        }
        _ => message,
    }
}

/// serde_yaml prefixes its own path (the parent's, for an unknown field); we print ours.
fn strip_path_prefix(path: &str, message: &str) -> String {
    let mut candidates = vec![path];
    let mut rest = path;
    while let Some(i) = rest.rfind(['.', '[']) {
        rest = &rest[..i];
        candidates.push(rest);
    }
    candidates
        .into_iter()
        .filter(|p| !p.is_empty())
        .find_map(|p| message.strip_prefix(p).and_then(|m| m.strip_prefix(": ")))
        .unwrap_or(message)
        .to_string()
}
