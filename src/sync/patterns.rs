//! Which files of a Hub repository a sync takes: `allow_patterns` / `ignore_patterns`, read as
//! `huggingface_hub.snapshot_download` reads them (`docs/prewarm.md` "Patterns").
//!
//! * A pattern is a shell wildcard matched against the whole path, case-sensitively, and `*`
//!   also matches `/` (Python's `fnmatchcase`): `data/*.json` takes `data/a/b.json` too.
//! * A pattern ending in `/` names a folder: `*` is appended.
//! * Backslashes are path separators, in patterns and paths alike.
//! * A path is taken when it matches an allow pattern (or there are none) and no ignore pattern.
//!
//! One difference: an empty allow list takes everything, like no list at all (Python's takes
//! nothing); Pulp clients send `[]` for "not set".

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The longest pattern accepted, and the most patterns per list (a pattern becomes a regex).
pub const MAX_PATTERN_LEN: usize = 256;
/// See [`MAX_PATTERN_LEN`].
pub const MAX_PATTERNS: usize = 64;

/// A compiled allow / ignore pair.
#[derive(Debug, Clone)]
pub struct Patterns {
    allow: Option<GlobSet>,
    ignore: Option<GlobSet>,
}

/// A pattern that cannot be used, with the reason (for a 400 under the field's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPattern(pub String);

impl Patterns {
    /// Compiles both lists; `None` or empty lists filter nothing.
    pub fn new(allow: &[String], ignore: &[String]) -> Result<Self, BadPattern> {
        Ok(Patterns {
            allow: compile(allow)?,
            ignore: compile(ignore)?,
        })
    }

    /// Whether the sync takes `path`.
    pub fn takes(&self, path: &str) -> bool {
        let path = path.replace('\\', "/");
        self.allow.as_ref().is_none_or(|a| a.is_match(&path))
            && !self.ignore.as_ref().is_some_and(|i| i.is_match(&path))
    }
}

/// Checks one list without keeping it (API input validation).
pub fn check(patterns: &[String]) -> Result<(), BadPattern> {
    compile(patterns).map(|_| ())
}

fn compile(patterns: &[String]) -> Result<Option<GlobSet>, BadPattern> {
    if patterns.is_empty() {
        return Ok(None);
    }
    if patterns.len() > MAX_PATTERNS {
        return Err(BadPattern(format!(
            "Ensure this field has no more than {MAX_PATTERNS} elements."
        )));
    }
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        if pattern.is_empty() || pattern.len() > MAX_PATTERN_LEN {
            return Err(BadPattern(format!(
                "A pattern must have 1 to {MAX_PATTERN_LEN} characters."
            )));
        }
        let mut pattern = pattern.replace('\\', "/");
        if pattern.ends_with('/') {
            pattern.push('*');
        }
        let glob = GlobBuilder::new(&pattern)
            .literal_separator(false)
            .backslash_escape(false)
            .case_insensitive(false)
            .build()
            .map_err(|e| BadPattern(format!("Not a valid pattern: {}", e.kind())))?;
        set.add(glob);
    }
    set.build()
        .map(Some)
        .map_err(|e| BadPattern(format!("Not a valid pattern: {}", e.kind())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Rows checked against Python's `huggingface_hub.utils.filter_repo_objects`.
    #[test]
    fn filters_like_snapshot_download() {
        let paths = [
            "config.json",
            "model.safetensors",
            "data/a.json",
            "data/sub/b.json",
            ".gitattributes",
            "onnx/model.onnx",
            "README.md",
        ];
        let rows: [(&[&str], &[&str], &[&str]); 6] = [
            (&[], &[], &paths),
            (
                &["*.json"],
                &[],
                &["config.json", "data/a.json", "data/sub/b.json"],
            ),
            (&["data/*.json"], &[], &["data/a.json", "data/sub/b.json"]),
            (
                &[],
                &[".*", "onnx/"],
                &[
                    "config.json",
                    "model.safetensors",
                    "data/a.json",
                    "data/sub/b.json",
                    "README.md",
                ],
            ),
            (
                &["*.json", "*.md"],
                &["data/"],
                &["config.json", "README.md"],
            ),
            (&["[Rr]EADME.??"], &[], &["README.md"]),
        ];
        for (allow, ignore, want) in rows {
            let p = Patterns::new(&strings(allow), &strings(ignore)).unwrap();
            let got: Vec<&str> = paths.iter().copied().filter(|f| p.takes(f)).collect();
            assert_eq!(got, want, "allow {allow:?} ignore {ignore:?}");
        }
    }

    #[test]
    fn matching_is_case_sensitive_and_backslashes_are_separators() {
        let p = Patterns::new(&strings(&["Data\\*.json"]), &[]).unwrap();
        assert!(p.takes("Data/x.json"));
        assert!(p.takes("Data\\x.json"));
        assert!(!p.takes("data/x.json"));
    }

    #[test]
    fn refuses_unusable_patterns() {
        assert!(check(&strings(&["[unclosed"])).is_err());
        assert!(check(&strings(&[""])).is_err());
        assert!(check(&strings(&[&"a".repeat(MAX_PATTERN_LEN + 1)])).is_err());
        assert!(check(&vec!["*".to_string(); MAX_PATTERNS + 1]).is_err());
        assert!(check(&strings(&["*.safetensors", "tokenizer*"])).is_ok());
    }
}
