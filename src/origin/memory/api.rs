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
        let asked = remembered_form(upstream_path);
        let key = format!("{ns}:api:{asked}");
        let neg_key = format!("{ns}:neg:{asked}");
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

/// The form of an `api/…` path and query answers are remembered under: boolean parameters
/// spelled `True`/`False` (Python's `str(bool)`, what huggingface_hub 0.x and `HfFileSystem`
/// send) and `true`/`false` (huggingface_hub ≥ 1) are the same question, so an answer a sync
/// or one client version fetched serves the other offline (`docs/prewarm.md`).
fn remembered_form(upstream_path: &str) -> std::borrow::Cow<'_, str> {
    let Some((path, query)) = upstream_path.split_once('?') else {
        return upstream_path.into();
    };
    if !query.contains("=True") && !query.contains("=False") {
        return upstream_path.into();
    }
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, "True")) => format!("{k}=true"),
            Some((k, "False")) => format!("{k}=false"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&")).into()
}

#[cfg(test)]
mod remembered_form_tests {
    use super::remembered_form;

    #[test]
    fn python_and_json_booleans_are_one_question() {
        let rows = [
            (
                "api/models/o/m/tree/c?recursive=True&expand=False",
                "api/models/o/m/tree/c?recursive=true&expand=false",
            ),
            (
                "api/models/o/m/tree/c?recursive=true&expand=false",
                "api/models/o/m/tree/c?recursive=true&expand=false",
            ),
            (
                "api/models/o/m/tree/c?cursor=Truex&recursive=True",
                "api/models/o/m/tree/c?cursor=Truex&recursive=true",
            ),
            (
                "api/models/o/m/revision/main",
                "api/models/o/m/revision/main",
            ),
        ];
        for (asked, want) in rows {
            assert_eq!(remembered_form(asked), want, "{asked}");
        }
    }
}
