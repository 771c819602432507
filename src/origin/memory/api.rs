//! `api/…` answers through the memory: revision and tree JSON remembered (immutable at a
//! commit, `cache.revision_ttl` otherwise), Hub refusals kept for `cache.negative_ttl`, the
//! last answer served while the Hub fails. Other routes pass through unremembered.

use std::sync::Arc;

use http::{Method, StatusCode};

use super::{
    from_stored, is_kept_refusal, query_is_rememberable, to_stored, HubMemory, Lookup, Value,
    STALE_WAIT,
};
use crate::hub::{is_commit, HubRoute};
use crate::model::Remote;
use crate::origin::{Fetched, UpstreamError};

impl HubMemory {
    /// An `api/…` GET/HEAD, remembered when the route is a revision or tree answer.
    pub async fn api(
        &self,
        remote: &Arc<Remote>,
        route: &HubRoute,
        method: Method,
        upstream_path: &str,
        body: Option<(bytes::Bytes, Option<String>)>,
        remember: bool,
    ) -> Result<(Fetched, Lookup), UpstreamError> {
        let cacheable = remember
            && method == Method::GET
            && matches!(route, HubRoute::RepoInfo { .. } | HubRoute::Tree { .. })
            && query_is_rememberable(upstream_path);
        if !cacheable {
            let fetched = self.hub.fetch(remote, method, upstream_path, body).await?;
            return Ok((fetched, Lookup::Bypass));
        }
        let pinned = route.revision().is_some_and(is_commit);
        let ns = self.namespace_of(remote);
        let key = format!("{ns}:api:{upstream_path}");
        let neg_key = format!("{ns}:neg:{upstream_path}");
        if let Some(e) = self.store.get(&neg_key) {
            if let Value::Refusal(a) = &e.value {
                if e.age() < self.negative_ttl {
                    return Ok((from_stored(a), Lookup::Hit));
                }
            }
        }
        let remembered = self.store.get(&key).and_then(|e| match &e.value {
            Value::Answer(a) => Some((from_stored(a), pinned || e.age() < self.revision_ttl)),
            _ => None,
        });
        if let Some((fetched, true)) = &remembered {
            return Ok((fetched.clone(), Lookup::Hit));
        }
        let asked = match &remembered {
            Some(_) if self.is_failing(&ns) => Err(UpstreamError::Connect),
            Some(_) => tokio::time::timeout(
                STALE_WAIT,
                self.hub.fetch(remote, Method::GET, upstream_path, None),
            )
            .await
            .unwrap_or(Err(UpstreamError::Timeout)),
            None => {
                self.hub
                    .fetch(remote, Method::GET, upstream_path, None)
                    .await
            }
        };
        if matches!(asked, Err(UpstreamError::Connect | UpstreamError::Timeout)) {
            self.mark_failing(&ns);
        }
        match asked {
            Ok(fetched) if fetched.status == StatusCode::OK => {
                let source = match &remembered {
                    Some((old, false)) if old.body == fetched.body => Lookup::Revalidated,
                    _ => Lookup::Miss,
                };
                self.store.put(&key, Value::Answer(to_stored(&fetched)));
                Ok((fetched, source))
            }
            Ok(fetched)
                if fetched.status.is_server_error()
                    || fetched.status == StatusCode::TOO_MANY_REQUESTS =>
            {
                match remembered {
                    Some((old, _)) => Ok((old, Lookup::Stale)),
                    None => Ok((fetched, Lookup::Miss)),
                }
            }
            Ok(fetched) => {
                if is_kept_refusal(&fetched) {
                    self.store
                        .put(&neg_key, Value::Refusal(to_stored(&fetched)));
                }
                Ok((fetched, Lookup::Miss))
            }
            Err(err) => match remembered {
                Some((old, _)) => Ok((old, Lookup::Stale)),
                None => Err(err),
            },
        }
    }
}
