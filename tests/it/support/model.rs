//! The fake Hub's data: repositories, commits, refs, files and injected faults.
//!
//! A repository is named by its Hub path prefix plus id: `"org/model"` (a model),
//! `"datasets/org/data"`, `"spaces/org/app"`, `"kernels/org/k"`, or a legacy `"gpt2"`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};

use super::content::{git_sha1_of, xet_hash_of, Content};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RepoType {
    Model,
    Dataset,
    Space,
    Kernel,
}

impl RepoType {
    /// `models`, `datasets`, … as used in `/api/{type}s/`.
    pub fn plural(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
            RepoType::Kernel => "kernels",
        }
    }

    /// The prefix of `/resolve` URLs: `""` for models, `datasets/` for datasets, …
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
            RepoType::Kernel => "kernels/",
        }
    }

    pub fn from_plural(s: &str) -> Option<Self> {
        [
            RepoType::Model,
            RepoType::Dataset,
            RepoType::Space,
            RepoType::Kernel,
        ]
        .into_iter()
        .find(|t| t.plural() == s)
    }

    /// Splits `"datasets/org/x"` into `(Dataset, "org/x")`; no known prefix means a model.
    pub fn split_key(key: &str) -> (Self, &str) {
        for t in [RepoType::Dataset, RepoType::Space, RepoType::Kernel] {
            if let Some(id) = key.strip_prefix(t.url_prefix()) {
                return (t, id);
            }
        }
        (RepoType::Model, key)
    }

    pub fn key(self, id: &str) -> String {
        format!("{}{id}", self.url_prefix())
    }
}

/// How a repository is set up: `RepoSpec::model("org/m").private("hf_tok")`.
#[derive(Clone, Debug)]
pub struct RepoSpec {
    pub kind: RepoType,
    pub id: String,
    /// `Some(token)`: private, readable only with `Authorization: Bearer <token>`.
    pub private_token: Option<String>,
    /// `Some(tokens)`: gated; files are readable only with one of these tokens.
    pub gated_tokens: Option<Vec<String>>,
    pub disabled: bool,
}

impl RepoSpec {
    pub fn new(kind: RepoType, id: &str) -> Self {
        Self {
            kind,
            id: id.to_string(),
            private_token: None,
            gated_tokens: None,
            disabled: false,
        }
    }
    pub fn model(id: &str) -> Self {
        Self::new(RepoType::Model, id)
    }
    pub fn dataset(id: &str) -> Self {
        Self::new(RepoType::Dataset, id)
    }
    pub fn space(id: &str) -> Self {
        Self::new(RepoType::Space, id)
    }
    pub fn private(mut self, token: &str) -> Self {
        self.private_token = Some(token.to_string());
        self
    }
    /// Gated: `/resolve` needs one of `granted` tokens (401/403 `GatedRepo` otherwise).
    pub fn gated(mut self, granted: &[&str]) -> Self {
        self.gated_tokens = Some(granted.iter().map(|t| t.to_string()).collect());
        self
    }
    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }
    pub fn key(&self) -> String {
        self.kind.key(&self.id)
    }
}

/// One file in a commit, with every digest the Hub reports about it.
#[derive(Debug)]
pub struct FileEntry {
    pub path: String,
    pub content: Content,
    pub lfs: bool,
    /// Git blob sha1 of the content (regular) or of the LFS pointer (LFS).
    pub blob_id: String,
    pub sha256: String,
    pub xet_hash: String,
    pub pointer_size: u64,
}

impl FileEntry {
    pub fn new(path: &str, content: Content, lfs: bool) -> Self {
        let sha256 = content.sha256();
        let pointer = format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {}\n",
            content.len()
        );
        let blob_id = if lfs {
            git_sha1_of(pointer.as_bytes())
        } else {
            content.git_sha1()
        };
        Self {
            path: path.to_string(),
            xet_hash: xet_hash_of(&sha256),
            pointer_size: pointer.len() as u64,
            content,
            lfs,
            blob_id,
            sha256,
        }
    }

    /// The etag the Hub reports (unquoted): sha256 for LFS, git blob sha1 otherwise.
    pub fn etag(&self) -> &str {
        if self.lfs {
            &self.sha256
        } else {
            &self.blob_id
        }
    }

    pub fn size(&self) -> u64 {
        self.content.len()
    }
}

pub type Tree = BTreeMap<String, Arc<FileEntry>>;

#[derive(Debug)]
pub struct Repo {
    pub spec: RepoSpec,
    /// commit sha → files of that commit.
    pub commits: HashMap<String, Tree>,
    /// branch/tag/`refs/pr/N` → commit sha.
    pub refs: HashMap<String, String>,
}

impl Repo {
    /// `main`, a tag, `refs/pr/1`, a full or (≥ 7 hex) short commit → full commit.
    pub fn resolve_rev(&self, rev: &str) -> Option<String> {
        if let Some(c) = self.refs.get(rev) {
            return Some(c.clone());
        }
        let is_hex =
            rev.len() >= 7 && rev.len() <= 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex {
            return None;
        }
        let mut matches = self.commits.keys().filter(|c| c.starts_with(rev));
        match (matches.next(), matches.next()) {
            (Some(c), None) => Some(c.clone()),
            _ => None,
        }
    }
}

/// A misbehaviour injected for one file or a whole repository.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// 429 with `RateLimit` and `Retry-After`, on the first hop.
    RateLimited { retry_after: u32 },
    /// A bare status such as 500 or 503, on the first hop.
    Status(u16),
    /// Send headers and only this many body bytes, then close the socket (byte-serving hop).
    DropAfter(u64),
    /// Wait this long before sending the response headers (byte-serving hop).
    SlowFirstByte(Duration),
    /// Send headers and `after` body bytes, then nothing for `duration`, then the rest.
    Stall { after: u64, duration: Duration },
    /// Gzip the body and send it chunked when `Accept-Encoding` has gzip (regular files).
    Gzip,
    /// Answer 200 with the whole body whatever the `Range` (an origin without range support).
    IgnoreRange,
    /// Flip the byte at absolute file offset `at` in a GET body that carries that offset.
    Corrupt { at: u64 },
}

impl Fault {
    /// Status faults hit the first request for a file (or every request of a repo).
    pub fn is_status(&self) -> bool {
        matches!(self, Fault::RateLimited { .. } | Fault::Status(_))
    }
}

#[derive(Debug)]
pub struct FaultRule {
    pub repo: String,
    pub path: Option<String>,
    pub fault: Fault,
    pub remaining: Option<usize>,
    /// `Some(offset)`: only for a ranged GET whose range starts after 0 and holds `offset`
    /// (one piece of a parallel fill).
    pub piece_at: Option<u64>,
}

/// Everything the fake Hub knows, behind one mutex (never held across an await).
#[derive(Debug, Default)]
pub struct HubState {
    pub repos: HashMap<String, Repo>,
    /// old repo key → new repo key (legacy ids, renames).
    pub renames: HashMap<String, String>,
    pub faults: Vec<FaultRule>,
    pub simple_mode: bool,
    pub tree_page_size: usize,
    pub signed_url_ttl: Duration,
    /// Bytes a second each CDN file body is sent at (`None`: as fast as the socket takes).
    pub cdn_rate: Option<u64>,
    commit_counter: u64,
}

impl HubState {
    pub fn new() -> Self {
        Self {
            tree_page_size: 1000,
            signed_url_ttl: Duration::from_secs(3600),
            ..Default::default()
        }
    }

    /// A fresh deterministic 40-hex commit id.
    pub fn next_commit(&mut self, repo: &str) -> String {
        self.commit_counter += 1;
        hex::encode(Sha1::digest(
            format!("{repo}\n{}", self.commit_counter).as_bytes(),
        ))
    }

    pub fn add_repo(&mut self, spec: RepoSpec) -> &mut Repo {
        let key = spec.key();
        let commit = self.next_commit(&key);
        let repo = Repo {
            spec,
            commits: HashMap::from([(commit.clone(), Tree::new())]),
            refs: HashMap::from([("main".to_string(), commit)]),
        };
        self.repos.insert(key.clone(), repo);
        self.repos.get_mut(&key).expect("just inserted")
    }

    pub fn repo_mut(&mut self, key: &str) -> &mut Repo {
        if !self.repos.contains_key(key) {
            let (kind, id) = RepoType::split_key(key);
            self.add_repo(RepoSpec::new(kind, id));
        }
        self.repos.get_mut(key).expect("created above")
    }

    /// The tree a ref points at, for in-place edits during setup.
    pub fn tree_mut(&mut self, repo: &str, rev: &str) -> &mut Tree {
        let r = self.repo_mut(repo);
        let commit = r
            .resolve_rev(rev)
            .unwrap_or_else(|| panic!("fake hub: no rev {rev} in {repo}"));
        r.commits.get_mut(&commit).expect("ref points at a commit")
    }

    /// Faults for `(repo, path)` that `applies` accepts, consuming one use of each. Piece
    /// faults never match here: see [`HubState::take_range_faults`].
    pub fn take_faults(
        &mut self,
        repo: &str,
        path: Option<&str>,
        applies: impl Fn(&Fault) -> bool,
    ) -> Vec<Fault> {
        self.take_range_faults(repo, path, None, applies)
    }

    /// Like [`HubState::take_faults`] for a response asked with `Range` `range` (`start..end`,
    /// end exclusive): piece faults match too when `start > 0` and their offset is inside.
    pub fn take_range_faults(
        &mut self,
        repo: &str,
        path: Option<&str>,
        range: Option<(u64, u64)>,
        applies: impl Fn(&Fault) -> bool,
    ) -> Vec<Fault> {
        let mut out = Vec::new();
        for rule in &mut self.faults {
            let path_ok = rule.path.is_none() || rule.path.as_deref() == path;
            let piece_ok = match rule.piece_at {
                None => true,
                Some(at) => range.is_some_and(|(a, b)| a > 0 && a <= at && at < b),
            };
            if rule.repo != repo
                || !path_ok
                || !piece_ok
                || !applies(&rule.fault)
                || rule.remaining == Some(0)
            {
                continue;
            }
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            out.push(rule.fault.clone());
        }
        out
    }
}
