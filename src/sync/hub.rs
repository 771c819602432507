//! The sync runner's view of a Hub repository, asked through this process's own content
//! listener ([`super::access`]) — so every answer is verified, remembered and single-flighted
//! exactly as for a client, and what a client will ask offline is what the sync asked:
//! `api/{type}s/{repo}/revision/{rev}`, the recursive tree at the commit, then `HEAD` and `GET`
//! of `resolve/{commit}/{path}` (`docs/prewarm.md`).

use std::time::Duration;

use futures::StreamExt;
use http::StatusCode;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use uuid::Uuid;

use super::access::{sync_path, SyncAccess, SYNC_HEADER};

/// Characters kept as-is in a path segment (Python's `quote(…, safe="")` keeps these too).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// A file path: segments encoded, `/` kept.
const PATH: &AsciiSet = &SEGMENT.remove(b'/');

/// Longest metadata answer read (a tree page of 1,000 entries is well under this).
const MAX_JSON: usize = 32 * 1024 * 1024;
/// Most tree pages followed (1,000 entries each on the Hub).
const MAX_PAGES: usize = 1_000;

/// Which Hub repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    /// `models`, `datasets` or `spaces`.
    pub repo_type: String,
    /// `org/name`.
    pub repo_id: String,
}

impl RepoRef {
    fn api(&self) -> String {
        format!("api/{}/{}", self.repo_type, self.repo_id)
    }
    fn resolve_prefix(&self) -> String {
        match self.repo_type.as_str() {
            "models" => self.repo_id.clone(),
            other => format!("{other}/{}", self.repo_id),
        }
    }
}

/// One file of the commit, from the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Path in the repository.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The etag the Hub gives it: the LFS sha256, else the git blob id.
    pub etag: String,
}

/// Why the sync could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The Hub (through hubcache) refused: its status and message.
    #[error("{message}")]
    Hub {
        /// The status answered.
        status: u16,
        /// `X-Error-Message`, else the body's text, else the status line.
        message: String,
    },
    /// Could not talk to the content listener, or an answer made no sense.
    #[error("{0}")]
    Broken(String),
    /// Canceled on request.
    #[error("canceled")]
    Canceled,
}

#[derive(Deserialize)]
struct RevisionInfo {
    sha: String,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    oid: String,
    size: u64,
}

/// A client of the content listener for one remote.
#[derive(Debug, Clone)]
pub struct Loopback {
    base: String,
    access: SyncAccess,
    http: reqwest::Client,
    remote: Uuid,
}

impl Loopback {
    /// `base`: `http://<listen address>` of this process's content listener.
    pub fn new(base: String, access: SyncAccess, remote: Uuid) -> Result<Self, SyncError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SyncError::Broken(format!("building the sync client: {e}")))?;
        Ok(Loopback {
            base,
            access,
            http,
            remote,
        })
    }

    fn url(&self, hub_path: &str) -> String {
        format!("{}{}", self.base, sync_path(self.remote, hub_path))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::Response, SyncError> {
        let resp = self
            .http
            .request(method, url)
            .header(SYNC_HEADER, self.access.header_value())
            .send()
            .await
            .map_err(|e| SyncError::Broken(format!("asking the content listener: {e}")))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(refusal(resp).await)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<(T, Option<String>), SyncError> {
        let resp = self.send(reqwest::Method::GET, url).await?;
        let prefix = sync_path(self.remote, "");
        let next = next_page(resp.headers(), &prefix).map(|p| format!("{}{p}", self.base));
        let body = read_capped(resp, MAX_JSON).await?;
        let value = serde_json::from_slice(&body)
            .map_err(|e| SyncError::Broken(format!("the Hub answered unreadable JSON: {e}")))?;
        Ok((value, next))
    }

    /// The commit `revision` names now.
    pub async fn resolve(&self, repo: &RepoRef, revision: &str) -> Result<String, SyncError> {
        let rev = utf8_percent_encode(revision, SEGMENT);
        let (info, _): (RevisionInfo, _) = self
            .json(&self.url(&format!("{}/revision/{rev}", repo.api())))
            .await?;
        if !crate::hub::is_commit(&info.sha) {
            return Err(SyncError::Broken(format!(
                "the Hub named no commit for revision '{revision}'"
            )));
        }
        Ok(info.sha)
    }

    /// Every file of the commit, following the tree's pages.
    pub async fn files(&self, repo: &RepoRef, commit: &str) -> Result<Vec<TreeFile>, SyncError> {
        let mut url = Some(self.url(&format!(
            "{}/tree/{commit}?recursive=true&expand=false",
            repo.api()
        )));
        let mut files = Vec::new();
        let mut pages = 0;
        while let Some(page) = url.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(SyncError::Broken("the tree has too many pages".into()));
            }
            let (entries, next): (Vec<Entry>, _) = self.json(&page).await?;
            files.extend(
                entries
                    .into_iter()
                    .filter(|e| e.kind == "file")
                    .map(|e| match e.lfs {
                        Some(lfs) => TreeFile {
                            path: e.path,
                            size: lfs.size,
                            etag: lfs.oid,
                        },
                        None => TreeFile {
                            path: e.path,
                            size: e.size,
                            etag: e.oid,
                        },
                    }),
            );
            url = next;
        }
        Ok(files)
    }

    fn resolve_url(&self, repo: &RepoRef, commit: &str, path: &str) -> String {
        let path = utf8_percent_encode(path, PATH);
        self.url(&format!(
            "{}/resolve/{commit}/{path}",
            repo.resolve_prefix()
        ))
    }

    /// `HEAD` of a file, as a client asks before downloading (remembered for offline use).
    pub async fn head(&self, repo: &RepoRef, commit: &str, path: &str) -> Result<(), SyncError> {
        self.send(reqwest::Method::HEAD, &self.resolve_url(repo, commit, path))
            .await
            .map(drop)
    }

    /// Downloads a file through the cache, calling `progress` with each chunk's length;
    /// returns the bytes read. Dropping the future stops it.
    pub async fn download(
        &self,
        repo: &RepoRef,
        commit: &str,
        path: &str,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, SyncError> {
        let resp = self
            .send(reqwest::Method::GET, &self.resolve_url(repo, commit, path))
            .await?;
        let mut stream = resp.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                SyncError::Broken(format!("downloading {path}: the transfer broke off: {e}"))
            })?;
            let n = chunk.len() as u64;
            total += n;
            progress(n);
        }
        Ok(total)
    }
}

/// The error a non-2xx answer stands for: the Hub's `X-Error-Message` when it gave one.
async fn refusal(resp: reqwest::Response) -> SyncError {
    let status = resp.status();
    let header = resp
        .headers()
        .get("x-error-message")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let message = match header {
        Some(m) => m,
        None => {
            let body = read_capped(resp, 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&body).trim().to_string();
            let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                text
            }
        }
    };
    SyncError::Hub {
        status: status.as_u16(),
        message: if status == StatusCode::NOT_FOUND
            || message.contains(&status.as_u16().to_string())
        {
            message
        } else {
            format!("{message} (HTTP {})", status.as_u16())
        },
    }
}

async fn read_capped(resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, SyncError> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| SyncError::Broken(format!("reading an answer: {e}")))?;
        if body.len() + chunk.len() > cap {
            return Err(SyncError::Broken("an answer was too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The path and query of `Link: <…>; rel="next"`, when it stays under `prefix` (this remote's
/// sync path). The host of the link is never used: hubcache rewrites it to its own origin
/// (`content_origin`, or the request's), and a link naming any other place is not followed,
/// so the sync key only ever goes to this process's own listener.
fn next_page(headers: &http::HeaderMap, prefix: &str) -> Option<String> {
    let target = crate::hub::headers::link_targets(headers, "next")
        .into_iter()
        .next()?;
    let base = url::Url::parse("http://loopback.invalid/").ok()?;
    let url = base.join(&target).ok()?;
    let path = url.path();
    if !path.starts_with(prefix) || path.split('/').any(|s| s == ".." || s == ".") {
        return None;
    }
    Some(match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.append(http::header::LINK, value.parse().unwrap());
        h
    }

    #[test]
    fn only_a_next_page_under_this_remotes_sync_path_is_followed() {
        let prefix = sync_path(Uuid::nil(), "");
        let page = format!("{prefix}api/models/o/m/tree/c?cursor=2");
        let rows = [
            // The origin is ignored (content_origin may differ from the loopback base).
            (
                format!("<https://cache.example{page}>; rel=\"next\""),
                Some(page.clone()),
            ),
            (
                format!("<http://x/p>; rel=\"prev\", <{page}>; rel=next"),
                Some(page.clone()),
            ),
            // A comma inside a quoted parameter does not make a member.
            (
                format!(
                    "<https://h/x>; title=\"a, <http://127.0.0.1:1@evil.com{prefix}x>; rel=next\""
                ),
                None,
            ),
            (
                "<http://evil.com/elsewhere>; rel=\"next\"".to_string(),
                None,
            ),
            (format!("<{prefix}../other/x>; rel=\"next\""), None),
            (String::new(), None),
        ];
        for (value, want) in rows {
            let headers = if value.is_empty() {
                http::HeaderMap::new()
            } else {
                link(&value)
            };
            assert_eq!(next_page(&headers, &prefix), want, "{value}");
        }
    }

    #[test]
    fn paths_are_encoded_as_hub_clients_encode_them() {
        let l = Loopback::new("http://127.0.0.1:1".into(), SyncAccess::new(), Uuid::nil()).unwrap();
        let repo = RepoRef {
            repo_type: "datasets".into(),
            repo_id: "org/set".into(),
        };
        assert_eq!(
            l.resolve_url(&repo, "c0ffee", "dir/a b#1.json"),
            format!(
                "http://127.0.0.1:1/pulp/content/.hubcache-sync/{}/datasets/org/set/resolve/c0ffee/dir/a%20b%231.json",
                Uuid::nil()
            )
        );
    }
}
