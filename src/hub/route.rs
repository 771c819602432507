//! Hub path routing: the raw, still percent-encoded hub path → [`HubRoute`], or a [`RouteError`]
//! for every malformed path and for every `api/…` route hubcache does not forward.
//!
//! Only the repository-scoped read routes a download client needs are routes at all: the
//! remote's token goes upstream with each of them, so an account-wide route (`whoami`,
//! notifications, settings, organizations, listings by author) would let any client of an
//! unguarded distribution act as the token's owner. Those are refused
//! ([`RouteError::NotForwarded`]) before anything reaches the Hub.
//!
//! The *hub path* is what follows `/pulp/content/<base_path>/`, without its leading slash. The
//! caller splits the query off first ([`split_query`]); the query never takes part in routing, so
//! `recursive=true` and `recursive=True` (0.x clients) route alike. Upstream keeps the raw
//! encoding ([`upstream_path`]); decoded values are only for keys and decisions.

use http::Method;

mod error;
mod parse;

pub use error::RouteError;
pub use parse::parse_hub_path;

/// Longest hub path (without the query) accepted, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// The kind of Hub repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepoType {
    /// `…/{repo}` and `api/models/…`.
    Model,
    /// `datasets/{repo}` and `api/datasets/…`.
    Dataset,
    /// `spaces/{repo}` and `api/spaces/…`.
    Space,
    /// `kernels/{repo}` and `api/kernels/…`.
    Kernel,
}

impl RepoType {
    const ALL: [RepoType; 4] = [Self::Model, Self::Dataset, Self::Space, Self::Kernel];

    /// Prefix of `/resolve` URLs: `""`, `"datasets/"`, `"spaces/"` or `"kernels/"`.
    pub fn url_prefix(self) -> &'static str {
        match self {
            Self::Model => "",
            Self::Dataset => "datasets/",
            Self::Space => "spaces/",
            Self::Kernel => "kernels/",
        }
    }

    /// Segment after `api/`: `"models"`, `"datasets"`, `"spaces"` or `"kernels"`.
    pub fn api_segment(self) -> &'static str {
        match self {
            Self::Model => "models",
            Self::Dataset => "datasets",
            Self::Space => "spaces",
            Self::Kernel => "kernels",
        }
    }

    fn from_url_prefix_segment(seg: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| *t != Self::Model && t.api_segment() == seg)
    }

    fn from_api_segment(seg: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.api_segment() == seg)
    }
}

/// What a hub path asks for. `repo_id` is `ns/name` or a legacy single segment (`gpt2`);
/// `revision` and `path` are percent-decoded (`refs%2Fpr%2F1` → `refs/pr/1`).
#[allow(missing_docs)] // the fields mean the same in every variant, as described above
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubRoute {
    /// `[datasets/|spaces/|kernels/]{repo}/resolve/{rev}/{path}` (GET, HEAD), and the Hub's
    /// own `api/resolve-cache/{type}s/{repo}/{commit}/{path}` for the same file.
    Resolve {
        repo_type: RepoType,
        repo_id: String,
        revision: String,
        path: String,
    },
    /// `api/{type}s/{repo}[/revision/{rev}]` (GET, HEAD).
    RepoInfo {
        repo_type: RepoType,
        repo_id: String,
        revision: Option<String>,
    },
    /// `api/{type}s/{repo}/tree/{rev}[/{path}]` (GET, HEAD); `path` may arrive as one `%2F` segment.
    Tree {
        repo_type: RepoType,
        repo_id: String,
        revision: String,
        path: Option<String>,
    },
    /// `api/{type}s/{repo}/paths-info/{rev}` (POST only).
    PathsInfo {
        repo_type: RepoType,
        repo_id: String,
        revision: String,
    },
    /// `api/{type}s/{repo}/xet-read-token/{rev}` (GET, HEAD); never proxied
    /// (`docs/hub-protocol.md` "Xet").
    XetReadToken {
        repo_type: RepoType,
        repo_id: String,
        revision: String,
    },
    /// `api/{type}s/{repo}/refs` (GET, HEAD).
    Refs {
        repo_type: RepoType,
        repo_id: String,
    },
}

impl HubRoute {
    /// The repository type.
    pub fn repo_type(&self) -> RepoType {
        self.repo().0
    }

    /// The repository id.
    pub fn repo_id(&self) -> &str {
        self.repo().1
    }

    /// The decoded revision, when the path names one.
    pub fn revision(&self) -> Option<&str> {
        match self {
            Self::Resolve { revision, .. }
            | Self::Tree { revision, .. }
            | Self::PathsInfo { revision, .. }
            | Self::XetReadToken { revision, .. } => Some(revision),
            Self::RepoInfo { revision, .. } => revision.as_deref(),
            Self::Refs { .. } => None,
        }
    }

    /// Whether the Hub serves this route for `method`: POST for paths-info, GET/HEAD otherwise.
    pub fn allows_method(&self, method: &Method) -> bool {
        match self {
            Self::PathsInfo { .. } => method == Method::POST,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }

    fn repo(&self) -> (RepoType, &str) {
        match self {
            Self::Resolve {
                repo_type, repo_id, ..
            }
            | Self::RepoInfo {
                repo_type, repo_id, ..
            }
            | Self::Tree {
                repo_type, repo_id, ..
            }
            | Self::PathsInfo {
                repo_type, repo_id, ..
            }
            | Self::XetReadToken {
                repo_type, repo_id, ..
            }
            | Self::Refs { repo_type, repo_id } => (*repo_type, repo_id),
        }
    }
}

/// Whether `rev` is a full commit id: exactly 40 lowercase hex digits.
pub fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Splits `path?query` at the first `?`; the query (without `?`) is `None` when absent.
pub fn split_query(raw: &str) -> (&str, Option<&str>) {
    match raw.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (raw, None),
    }
}

/// The upstream request path for a raw hub path: `"/" + raw`, byte for byte, so the Hub sees
/// the client's own encoding. A query, if the caller kept it on `raw`, is kept too.
pub fn upstream_path(raw: &str) -> String {
    format!("/{raw}")
}

/// [`parse_hub_path`], then refuses a method the route does not serve (405).
pub fn parse_hub_request(method: &Method, raw: &str) -> Result<HubRoute, RouteError> {
    let route = parse_hub_path(raw)?;
    if route.allows_method(method) {
        Ok(route)
    } else {
        Err(RouteError::MethodNotAllowed {
            method: method.as_str().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
