//! [`Etag`]: a Hub etag, normalised once. It is the name clients give a blob (the file name in
//! their cache) and, for hubcache, the content address of stored bytes: a git blob sha1 (40
//! hex) for regular files, the content sha256 (64 hex) for LFS files. Anything else (a
//! proxy's own tag) names nothing that can be verified, so it is never a shared key.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A normalised etag: surrounding space, a leading `W/` and surrounding quotes removed, as
/// `huggingface_hub` normalises it. Derefs to the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Etag(String);

impl Etag {
    /// Normalises a raw `ETag` / `X-Linked-Etag` value.
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        Etag(
            raw.strip_prefix("W/")
                .unwrap_or(raw)
                .trim_matches('"')
                .to_owned(),
        )
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a content digest hubcache can verify: 40 (git blob sha1) or 64 (sha256)
    /// hex digits.
    pub fn is_digest(&self) -> bool {
        matches!(self.0.len(), 40 | 64) && self.0.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl Deref for Etag {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Etag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Etag {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Etag {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_once_and_digests_known() {
        let sha1 = "0123456789abcdef0123456789abcdef01234567";
        let sha256 = "a".repeat(64);
        let rows: &[(&str, &str, bool)] = &[
            (sha1, sha1, true),
            ("\"0123456789abcdef0123456789abcdef01234567\"", sha1, true),
            ("W/\"0123456789abcdef0123456789abcdef01234567\"", sha1, true),
            (
                "  \"0123456789ABCDEF0123456789abcdef01234567\" ",
                "0123456789ABCDEF0123456789abcdef01234567",
                true,
            ),
            (&sha256, &sha256, true),
            ("\"xet-hash-not-a-digest\"", "xet-hash-not-a-digest", false),
            (
                "0123456789abcdef0123456789abcdef0123456",
                "0123456789abcdef0123456789abcdef0123456",
                false,
            ),
            (
                "0123456789abcdef0123456789abcdef0123456g",
                "0123456789abcdef0123456789abcdef0123456g",
                false,
            ),
            ("", "", false),
        ];
        for (raw, text, digest) in rows {
            let etag = Etag::parse(raw);
            assert_eq!(etag.as_str(), *text, "row: {raw:?}");
            assert_eq!(etag.is_digest(), *digest, "row: {raw:?}");
        }
        assert_eq!(
            serde_json::to_string(&Etag::parse("\"ab\"")).unwrap(),
            "\"ab\""
        );
    }
}
