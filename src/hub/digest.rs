//! Incremental verification of file bodies against the Hub etag: sha256 of the content for a
//! 64-hex (LFS) etag, git blob sha1 (`sha1("blob {len}\0" ‖ bytes)`) for a 40-hex one.

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// What a body must hash to, chosen from its etag by [`Expected::from_etag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// 64-hex etag: sha256 of the content (the LFS oid).
    Sha256([u8; 32]),
    /// 40-hex etag: git blob sha1 of the content.
    GitBlobSha1([u8; 20]),
    /// Any other etag: only the length can be checked.
    None,
}

impl Expected {
    /// Reads an etag (quotes and `W/` allowed, hex of either case).
    pub fn from_etag(etag: &str) -> Self {
        let etag = super::headers::normalize_etag(etag);
        let mut sha256 = [0u8; 32];
        let mut sha1 = [0u8; 20];
        if hex::decode_to_slice(&etag, &mut sha256).is_ok() {
            Self::Sha256(sha256)
        } else if hex::decode_to_slice(&etag, &mut sha1).is_ok() {
            Self::GitBlobSha1(sha1)
        } else {
            Self::None
        }
    }
}

/// Why a body may not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The body is shorter or longer than announced.
    #[error("body length {got} does not match the expected {expected}")]
    Length {
        /// Bytes received.
        got: u64,
        /// Bytes announced (`X-Linked-Size`).
        expected: u64,
    },
    /// The body has the announced length but not the announced digest.
    #[error("{algorithm} mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// `"sha256"` or `"git blob sha1"`.
        algorithm: &'static str,
        /// Expected digest, hex.
        expected: String,
        /// Digest of the bytes received, hex.
        actual: String,
    },
}

enum Hasher {
    Sha256(Sha256),
    Sha1(Sha1),
    None,
}

/// Hashes a body chunk by chunk, then checks its length and digest in [`Verifier::finish`].
pub struct Verifier {
    expected: Expected,
    expected_len: u64,
    received: u64,
    hasher: Hasher,
}

impl Verifier {
    /// A verifier for a body of `expected_len` bytes whose etag is `etag`.
    pub fn new(etag: &str, expected_len: u64) -> Self {
        Self::with_expected(Expected::from_etag(etag), expected_len)
    }

    /// A verifier for an already parsed [`Expected`].
    pub fn with_expected(expected: Expected, expected_len: u64) -> Self {
        let hasher = match expected {
            Expected::Sha256(_) => Hasher::Sha256(Sha256::new()),
            Expected::GitBlobSha1(_) => {
                // The git object header needs the length up front; a wrong length fails anyway.
                let mut sha1 = Sha1::new();
                sha1.update(format!("blob {expected_len}\0").as_bytes());
                Hasher::Sha1(sha1)
            }
            Expected::None => Hasher::None,
        };
        Self {
            expected,
            expected_len,
            received: 0,
            hasher,
        }
    }

    /// Feeds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.received = self.received.saturating_add(chunk.len() as u64);
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(chunk),
            Hasher::Sha1(h) => h.update(chunk),
            Hasher::None => {}
        }
    }

    /// Bytes fed so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether more bytes than announced have arrived (the fill can stop early).
    pub fn is_overrun(&self) -> bool {
        self.received > self.expected_len
    }

    /// Checks the length, then the digest.
    pub fn finish(self) -> Result<(), DigestError> {
        if self.received != self.expected_len {
            return Err(DigestError::Length {
                got: self.received,
                expected: self.expected_len,
            });
        }
        let (algorithm, expected, actual) = match (self.expected, self.hasher) {
            (Expected::Sha256(want), Hasher::Sha256(h)) => {
                ("sha256", hex::encode(want), hex::encode(h.finalize()))
            }
            (Expected::GitBlobSha1(want), Hasher::Sha1(h)) => (
                "git blob sha1",
                hex::encode(want),
                hex::encode(h.finalize()),
            ),
            _ => return Ok(()),
        };
        if expected == actual {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                algorithm,
                expected,
                actual,
            })
        }
    }
}

#[cfg(test)]
mod tests;
