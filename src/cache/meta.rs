//! The versioned on-disk meta of an object (`meta`, JSON) and its conversion to and from
//! pingora's `CacheMeta`.
//!
//! We store our own format rather than `CacheMeta::serialize()`: pingora compresses the header
//! blob with zstd through `pingora-header-serde`, readable only with the same dictionary
//! setting (`docs/pingora.md` "Storage and metadata"), and its internal meta is MessagePack
//! that pingora may change. The format is described in `docs/cache-format.md` "Object meta".

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pingora::cache::CacheMeta;
use pingora::http::ResponseHeader;
use serde::{Deserialize, Serialize};

use super::layout::{io_err, META};
use super::Error;

/// Version of the meta format; bump on any incompatible change (objects of another version
/// are dropped at startup and refetched).
pub(crate) const META_VERSION: u32 = 1;

/// Objects are immutable (content-addressed): fresh "forever". 100 years keeps the
/// `SystemTime` arithmetic far from overflow.
const FRESH_FOR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What `meta` holds: enough to rebuild the response and to validate the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredMeta {
    pub(crate) version: u32,
    /// HTTP status of the stored response (200).
    pub(crate) status: u16,
    /// Response headers in order, names lowercase.
    pub(crate) headers: Vec<(String, HeaderText)>,
    /// Body length in bytes; `body` must have exactly this length.
    pub(crate) size: u64,
    /// Normalised Hub etag the body was verified against (sha256 or git blob sha1).
    pub(crate) etag: String,
    /// Unix seconds of the fill.
    pub(crate) created: u64,
    /// Unix seconds of the last meta write. The LRU position survives restarts through the
    /// `meta` file's mtime, which every hit bumps; this field is the floor for it.
    pub(crate) last_access: u64,
}

/// A header value: text when it is UTF-8 (all Hub headers), raw bytes otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum HeaderText {
    Text(String),
    Bytes(Vec<u8>),
}

impl StoredMeta {
    /// The meta of a new fill of `size` bytes from the response header pingora stored.
    pub(crate) fn from_response(
        header: &ResponseHeader,
        size: u64,
        etag: &str,
        now: SystemTime,
    ) -> Self {
        let now = unix_secs(now);
        Self {
            version: META_VERSION,
            status: header.status.as_u16(),
            headers: encode_headers(header),
            size,
            etag: etag.to_owned(),
            created: now,
            last_access: now,
        }
    }

    /// Replaces the stored response headers (after `update_meta`), keeping the rest.
    pub(crate) fn with_response(mut self, header: &ResponseHeader, now: SystemTime) -> Self {
        self.status = header.status.as_u16();
        self.headers = encode_headers(header);
        self.last_access = unix_secs(now);
        self
    }

    /// When the body was fetched.
    pub(crate) fn created_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.created)
    }

    /// Rebuilds the `CacheMeta` pingora serves from: fresh far ahead, no stale windows.
    pub(crate) fn to_cache_meta(&self) -> Result<CacheMeta, Error> {
        let bad = |reason: String| Error::BadHeader { reason };
        let mut header = ResponseHeader::build(self.status, Some(self.headers.len()))
            .map_err(|e| bad(e.to_string()))?;
        for (name, value) in &self.headers {
            let value = match value {
                HeaderText::Text(text) => http::HeaderValue::from_str(text),
                HeaderText::Bytes(bytes) => http::HeaderValue::from_bytes(bytes),
            }
            .map_err(|e| bad(format!("{name}: {e}")))?;
            header
                .append_header(name.clone(), value)
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(CacheMeta::new(
            SystemTime::now() + FRESH_FOR,
            self.created_at(),
            0,
            0,
            header,
        ))
    }

    /// Parses a meta file's bytes; another version or malformed JSON is an error.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadMeta {
            path: path.to_path_buf(),
            reason,
        };
        let meta: Self = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if meta.version != META_VERSION {
            return Err(bad(format!(
                "version {} (expected {META_VERSION})",
                meta.version
            )));
        }
        Ok(meta)
    }

    /// Only what the startup scan needs (version, size, last access), without building the
    /// header list: `None` for another version or malformed JSON.
    pub(crate) fn decode_summary(bytes: &[u8]) -> Option<Summary> {
        let summary: Summary = serde_json::from_slice(bytes).ok()?;
        (summary.version == META_VERSION).then_some(summary)
    }

    /// Reads and parses `<dir>/meta`.
    pub(crate) fn read(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(META);
        let bytes = fs_err::read(&path).map_err(io_err("reading", &path))?;
        Self::decode(&bytes, &path)
    }

    /// Writes `<dir>/meta` through a tmp file, fsync and rename, so a reader sees the old or
    /// the new meta, never a torn one. Used for new fills and for `update_meta`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join(META);
        let bytes = serde_json::to_vec(self).map_err(|e| Error::BadMeta {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        crate::atomic::replace(&path, &bytes).map_err(io_err("writing", &path))
    }
}

fn encode_headers(header: &ResponseHeader) -> Vec<(String, HeaderText)> {
    header
        .headers
        .iter()
        .map(|(name, value)| {
            let value = match value.to_str() {
                Ok(text) => HeaderText::Text(text.to_owned()),
                Err(_) => HeaderText::Bytes(value.as_bytes().to_vec()),
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// Seconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_status_headers_and_opaque_bytes() {
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.append_header("content-length", "5").unwrap();
        header.append_header("x-linked-etag", "\"abc\"").unwrap();
        header
            .append_header(
                "x-opaque",
                http::HeaderValue::from_bytes(b"a\xffb").unwrap(),
            )
            .unwrap();
        let meta = StoredMeta::from_response(&header, 5, "abc", SystemTime::now());
        let dir = tempfile::tempdir().unwrap();
        meta.write(dir.path()).unwrap();
        let back = StoredMeta::read(dir.path()).unwrap();
        let cache_meta = back.to_cache_meta().unwrap();
        let rebuilt = cache_meta.response_header();
        assert_eq!(rebuilt.status, 200);
        assert_eq!(rebuilt.headers.get("content-length").unwrap(), "5");
        assert_eq!(
            rebuilt.headers.get("x-opaque").unwrap().as_bytes(),
            b"a\xffb"
        );
        assert!(cache_meta.is_fresh(SystemTime::now()));
        assert_eq!((back.size, back.etag.as_str()), (5, "abc"));
    }

    #[test]
    fn other_versions_and_garbage_are_rejected() {
        let path = Path::new("/x/meta");
        assert!(StoredMeta::decode(b"{not json", path).is_err());
        let v2 = br#"{"version":2,"status":200,"headers":[],"size":1,"etag":"e","created":0,"last_access":0}"#;
        assert!(StoredMeta::decode(v2, path).is_err());
        let v1 = br#"{"version":1,"status":200,"headers":[],"size":1,"etag":"e","created":0,"last_access":0}"#;
        assert_eq!(StoredMeta::decode(v1, path).unwrap().size, 1);
    }
}

/// The fields of a meta file the startup scan reads.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Summary {
    version: u32,
    /// Body length.
    pub(crate) size: u64,
    /// Last access floor, seconds since the epoch.
    pub(crate) last_access: u64,
}
