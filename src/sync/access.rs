//! How the sync runner reaches a remote through this process's own content listener
//! (`docs/prewarm.md` "Fetching through the content path"): requests under
//! `/pulp/content/.hubcache-sync/<remote id>/<hub path>` that carry this process's random
//! key in [`SYNC_HEADER`] are served for that remote as if a distribution without a guard
//! served it. The key is made at start, lives only in memory and is compared in constant time;
//! without it such a path is an ordinary content path (a distribution may even use that
//! base path). The header is never sent upstream: upstream requests are built from scratch
//! (`origin::credentials`).

use std::sync::Arc;

use http::HeaderMap;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::model::Distribution;

/// The header carrying the key.
pub const SYNC_HEADER: &str = "x-hubcache-sync";
/// The first segment of an internal sync path after `/pulp/content/`.
pub const SYNC_SEGMENT: &str = ".hubcache-sync";
/// The `distribution` name sync requests are counted under in metrics and the access log.
pub const SYNC_DISTRIBUTION: &str = "(prewarm)";

/// A keyed internal path: requests under `/pulp/content/<segment>/<remote id>/<hub path>`
/// carrying `key` in `header` are served for that remote as if an unguarded, hidden
/// distribution named `name` served it. The sync runner's key is [`SyncAccess`] (random, per
/// process); a fleet's peers use one with the fleet secret (`crate::fleet::peer`).
#[derive(Clone)]
pub struct KeyedPath {
    key: Arc<str>,
    header: &'static str,
    segment: &'static str,
    name: &'static str,
}

/// This process's sync key.
pub type SyncAccess = KeyedPath;

impl std::fmt::Debug for KeyedPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyedPath({}, ***)", self.segment)
    }
}

impl KeyedPath {
    /// The sync runner's access: a fresh random key (256 bits) on [`SYNC_SEGMENT`].
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        // The OS random source failing at start-up is not something to run without.
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        KeyedPath::with_key(
            &hex::encode(bytes),
            SYNC_HEADER,
            SYNC_SEGMENT,
            SYNC_DISTRIBUTION,
        )
    }

    /// An access with a given key, header, path segment and stand-in distribution name.
    pub fn with_key(
        key: &str,
        header: &'static str,
        segment: &'static str,
        name: &'static str,
    ) -> Self {
        KeyedPath {
            key: key.into(),
            header,
            segment,
            name,
        }
    }

    /// The header carrying the key.
    pub fn header_name(&self) -> &'static str {
        self.header
    }

    /// The value to send in the header.
    pub fn header_value(&self) -> &str {
        &self.key
    }

    /// Does the request carry the key (compared in constant time)?
    pub fn permits(&self, headers: &HeaderMap) -> bool {
        let expected = self.key.as_bytes();
        headers.get_all(self.header).iter().any(|v| {
            let v = v.as_bytes();
            v.len() == expected.len() && bool::from(v.ct_eq(expected))
        })
    }

    /// For `rest` (the path after `/pulp/content/`) of a request carrying the key: the remote
    /// id it names, the stand-in distribution serving it and the Hub path after it.
    pub fn split<'a>(
        &self,
        rest: &'a str,
        headers: &HeaderMap,
    ) -> Option<(Uuid, Distribution, &'a str)> {
        let after = rest.strip_prefix(self.segment)?.strip_prefix('/')?;
        let (id, tail) = after.split_once('/').unwrap_or((after, ""));
        let id = Uuid::parse_str(id).ok()?;
        if !self.permits(headers) {
            return None;
        }
        let dist = Distribution {
            meta: crate::model::Meta::new(crate::model::Origin::Api),
            name: self.name.into(),
            base_path: format!("{}/{id}", self.segment),
            remote: Some(id),
            content_guard: None,
            hidden: true,
            pulp_labels: Default::default(),
        };
        Some((id, dist, tail))
    }

    /// The path of `hub_path` (no leading `/`) for `remote` under this access's segment.
    pub fn path(&self, remote: Uuid, hub_path: &str) -> String {
        format!("/pulp/content/{}/{remote}/{hub_path}", self.segment)
    }
}

impl Default for KeyedPath {
    fn default() -> Self {
        Self::new()
    }
}

/// The path of `hub_path` (no leading `/`) for `remote` through the content listener.
pub fn sync_path(remote: Uuid, hub_path: &str) -> String {
    format!("/pulp/content/{SYNC_SEGMENT}/{remote}/{hub_path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(SYNC_HEADER, value.parse().unwrap());
        h
    }

    #[test]
    fn only_this_processs_key_opens_the_sync_path() {
        let access = SyncAccess::new();
        let other = SyncAccess::new();
        let id = Uuid::now_v7();
        let rest = format!("{SYNC_SEGMENT}/{id}/org/m/resolve/main/a.bin");
        let (got, dist, tail) = access
            .split(&rest, &with(access.header_value()))
            .expect("own key");
        assert_eq!((got, tail), (id, "org/m/resolve/main/a.bin"));
        assert_eq!(dist.remote, Some(id));
        assert!(dist.content_guard.is_none());
        assert!(access.split(&rest, &with(other.header_value())).is_none());
        assert!(access.split(&rest, &HeaderMap::new()).is_none());
        assert!(access
            .split(
                &format!("{SYNC_SEGMENT}/not-a-uuid/x"),
                &with(access.header_value())
            )
            .is_none());
        assert!(!format!("{access:?}").contains(access.header_value()));
        assert_eq!(
            access.path(id, "org/m/resolve/main/a.bin"),
            sync_path(id, "org/m/resolve/main/a.bin")
        );
    }
}
