//! `cache::Error`: every way the disk cache fails, with the path or object it concerns, and
//! its bridge into pingora's error type.

use std::path::PathBuf;

use crate::hub::digest::DigestError;

/// A disk cache failure. Object names (`key`) are `CacheKey::combined()` hex.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done ("writing", "renaming", …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A `meta` file is malformed or of another format version.
    #[error("meta {} is unreadable: {reason}", path.display())]
    BadMeta { path: PathBuf, reason: String },
    /// A stored header cannot be rebuilt into a response.
    #[error("stored response header is invalid: {reason}")]
    BadHeader { reason: String },
    /// Refused: without `Content-Length` no room can be reserved and no length checked.
    #[error("response for {key} has no valid Content-Length: not cached")]
    NoContentLength { key: String },
    /// Refused: `X-Linked-Size` and `Content-Length` disagree.
    #[error("response for {key}: X-Linked-Size {linked} but Content-Length {size}: not cached")]
    SizeMismatch {
        key: String,
        linked: String,
        size: u64,
    },
    /// Refused: the response names another etag than the key's.
    #[error("response for {key} carries etag {etag}, not the key's: not cached")]
    EtagMismatch { key: String, etag: String },
    /// Refused: larger than the budget, or the budget is taken by pins and fills in flight.
    #[error("{key} ({size} bytes) does not fit the cache budget of {max} bytes: not cached")]
    NoRoom { key: String, size: u64, max: u64 },
    /// The upstream sent more bytes than announced.
    #[error("fill of {key} received more than the announced {expected} bytes")]
    Overrun { key: String, expected: u64 },
    /// The body failed its length or digest check.
    #[error("fill of {key} failed verification")]
    Verify {
        key: String,
        #[source]
        source: DigestError,
    },
    /// A write was cancelled mid-way, or the fill already failed.
    #[error("fill of {key} was interrupted")]
    Interrupted { key: String },
    /// A reader's fill failed: the body must not be taken as complete (pingora #932).
    #[error("fill of {key} failed; its readers are aborted")]
    FillFailed { key: String },
    /// Reading a body failed (a truncated file included).
    #[error("reading the body of {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// A seek outside the body.
    #[error("seek to {start}..{end} outside the {size}-byte body of {key}")]
    Seek {
        key: String,
        start: u64,
        end: u64,
        size: u64,
    },
    /// A blocking task panicked or was cancelled.
    #[error("blocking task for {what} did not complete")]
    Join { what: &'static str },
}

impl From<Error> for Box<pingora::Error> {
    /// Refusals and failed fills get their own error types so logs tell them from disk faults.
    /// (For pingora the outcome is the same: a failed `get_miss_handler` is served uncached,
    /// a failed read aborts the client's response.)
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::NoContentLength { .. }
            | Error::SizeMismatch { .. }
            | Error::EtagMismatch { .. }
            | Error::NoRoom { .. } => pingora::ErrorType::Custom("disk cache refused"),
            Error::Overrun { .. } | Error::Verify { .. } | Error::FillFailed { .. } => {
                pingora::ErrorType::Custom("disk cache fill failed")
            }
            _ => pingora::ErrorType::InternalError,
        };
        pingora::Error::because(kind, "disk cache", err)
    }
}
