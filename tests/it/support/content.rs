//! File contents served by the fake Hub, and the digests the Hub derives from them.

use bytes::Bytes;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Size of the chunks a body is streamed in.
pub const CHUNK: u64 = 64 * 1024;

/// What a fake file holds. `Pattern` generates deterministic bytes on the fly, so a test can
/// serve gigabytes without holding them in memory.
#[derive(Clone, Debug)]
pub enum Content {
    Bytes(Bytes),
    Pattern { len: u64, seed: u64 },
}

impl Content {
    /// Deterministic pseudo-random content of `len` bytes.
    pub fn pattern(len: u64, seed: u64) -> Self {
        Content::Pattern { len, seed }
    }

    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Pattern { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes `start..end` (end exclusive, clamped to the length).
    pub fn slice(&self, start: u64, end: u64) -> Bytes {
        let end = end.min(self.len());
        let start = start.min(end);
        match self {
            Content::Bytes(b) => b.slice(start as usize..end as usize),
            Content::Pattern { seed, .. } => {
                let mut out = Vec::with_capacity((end - start) as usize);
                let mut word_index = start / 8;
                while (out.len() as u64) < end - start {
                    let word = splitmix64(seed ^ word_index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    let bytes = word.to_le_bytes();
                    let from = if word_index == start / 8 {
                        (start % 8) as usize
                    } else {
                        0
                    };
                    let want = (end - start) as usize - out.len();
                    out.extend_from_slice(&bytes[from..(from + want).min(8)]);
                    word_index += 1;
                }
                Bytes::from(out)
            }
        }
    }

    /// The whole content in memory (use only for small files).
    pub fn to_vec(&self) -> Vec<u8> {
        self.slice(0, self.len()).to_vec()
    }

    /// Calls `f` with consecutive chunks of `start..end`.
    pub fn for_each_chunk(&self, start: u64, end: u64, mut f: impl FnMut(&[u8])) {
        let mut pos = start;
        while pos < end.min(self.len()) {
            let next = (pos + CHUNK).min(end);
            f(&self.slice(pos, next));
            pos = next;
        }
    }

    /// Hex sha256 of the content: the LFS oid, and the etag of an LFS file.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        self.for_each_chunk(0, self.len(), |c| h.update(c));
        hex::encode(h.finalize())
    }

    /// Hex git blob sha1 (`sha1("blob {len}\0" ‖ bytes)`): the etag of a regular file.
    pub fn git_sha1(&self) -> String {
        let mut h = Sha1::new();
        h.update(format!("blob {}\0", self.len()).as_bytes());
        self.for_each_chunk(0, self.len(), |c| h.update(c));
        hex::encode(h.finalize())
    }
}

/// A stand-in for the Xet hash of a file: 64 hex, deterministic, never equal to the sha256.
pub fn xet_hash_of(sha256: &str) -> String {
    hex::encode(Sha256::digest(format!("xet:{sha256}").as_bytes()))
}

/// Git blob sha1 of arbitrary bytes (used for LFS pointer files).
pub fn git_sha1_of(bytes: &[u8]) -> String {
    Content::Bytes(Bytes::copy_from_slice(bytes)).git_sha1()
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl From<Vec<u8>> for Content {
    fn from(v: Vec<u8>) -> Self {
        Content::Bytes(Bytes::from(v))
    }
}

impl From<&[u8]> for Content {
    fn from(v: &[u8]) -> Self {
        Content::Bytes(Bytes::copy_from_slice(v))
    }
}

impl<const N: usize> From<&[u8; N]> for Content {
    fn from(v: &[u8; N]) -> Self {
        Content::Bytes(Bytes::copy_from_slice(v))
    }
}

impl From<&str> for Content {
    fn from(v: &str) -> Self {
        Content::Bytes(Bytes::copy_from_slice(v.as_bytes()))
    }
}

impl From<String> for Content {
    fn from(v: String) -> Self {
        Content::Bytes(Bytes::from(v))
    }
}

impl From<Bytes> for Content {
    fn from(v: Bytes) -> Self {
        Content::Bytes(v)
    }
}
