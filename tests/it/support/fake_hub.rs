//! `FakeHub`: a faithful fake of huggingface.co for tests (`docs/hub-protocol.md` "The Hub's
//! side"), with its own `FakeCdn` on another hostname.
//!
//! ```ignore
//! let hub = FakeHub::start().await;
//! hub.add_file("org/model", "main", "config.json", b"{}");
//! hub.add_lfs_file("org/model", "main", "model.safetensors", Content::pattern(10 << 20, 7));
//! let commit = hub.commit("org/model", "main");
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::content::Content;
use super::fake_cdn::{self, FakeCdn};
use super::http::{bind, FakeServer};
use super::model::{Fault, FaultRule, FileEntry, HubState, RepoSpec};
use super::recorder::{RecordedRequest, Recorder};

/// State shared by the Hub and CDN handlers.
pub(super) struct Shared {
    pub state: Mutex<HubState>,
    pub hub_addr: SocketAddr,
    pub cdn_addr: SocketAddr,
    pub signing_key: Mutex<Vec<u8>>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().expect("fake hub state lock")
    }

    pub fn hub_origin(&self) -> String {
        format!("http://{}", self.hub_addr)
    }
}

pub struct FakeHub {
    shared: Arc<Shared>,
    recorder: Recorder,
    server: FakeServer,
    cdn: FakeCdn,
}

impl FakeHub {
    /// Starts a Hub on `127.0.0.1:0` and its CDN on `127.0.0.2:0`.
    pub async fn start() -> Self {
        let hub_listener = bind("127.0.0.1").await;
        let cdn_listener = bind("127.0.0.2").await;
        let shared = Arc::new(Shared {
            state: Mutex::new(HubState::new()),
            hub_addr: hub_listener.local_addr().expect("hub addr"),
            cdn_addr: cdn_listener.local_addr().expect("cdn addr"),
            signing_key: Mutex::new(b"fake-cdn-key-0".to_vec()),
        });
        let recorder = Recorder::default();
        let handler_shared = shared.clone();
        let server = FakeServer::serve(hub_listener, "hub", recorder.clone(), move |req| {
            super::hub_routes::handle(handler_shared.clone(), req)
        });
        let cdn = fake_cdn::start(cdn_listener, shared.clone());
        Self {
            shared,
            recorder,
            server,
            cdn,
        }
    }

    /// `http://127.0.0.1:<port>`: the `url` of a hubcache remote.
    pub fn url(&self) -> String {
        self.shared.hub_origin()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn cdn(&self) -> &FakeCdn {
        &self.cdn
    }

    // ---- setup -------------------------------------------------------------------------

    /// Adds (or replaces) a repository with an empty `main` commit.
    pub fn add_repo(&self, spec: RepoSpec) {
        self.shared.lock().add_repo(spec);
    }

    /// Puts a regular (git) file into the commit `rev` points at, creating a public repo if
    /// needed. Edits that commit in place: call [`FakeHub::move_branch`] first for a new one.
    pub fn add_file(&self, repo: &str, rev: &str, path: &str, content: impl Into<Content>) {
        self.insert(repo, rev, FileEntry::new(path, content.into(), false));
    }

    /// Puts an LFS/Xet file (sha256 etag, served through the CDN) into the commit `rev` points at.
    pub fn add_lfs_file(&self, repo: &str, rev: &str, path: &str, content: impl Into<Content>) {
        self.insert(repo, rev, FileEntry::new(path, content.into(), true));
    }

    pub fn with_file(self, repo: &str, rev: &str, path: &str, content: impl Into<Content>) -> Self {
        self.add_file(repo, rev, path, content);
        self
    }

    pub fn with_lfs_file(
        self,
        repo: &str,
        rev: &str,
        path: &str,
        content: impl Into<Content>,
    ) -> Self {
        self.add_lfs_file(repo, rev, path, content);
        self
    }

    /// Puts a file that *claims* to be `claimed` (another hub's file): this Hub reports its
    /// etag, but serves `content` (and reports its length) — a lying upstream.
    pub fn add_lying_file(
        &self,
        repo: &str,
        rev: &str,
        path: &str,
        content: impl Into<Content>,
        claimed: &FileEntry,
    ) {
        let mut entry = FileEntry::new(path, content.into(), claimed.lfs);
        entry.sha256 = claimed.sha256.clone();
        entry.blob_id = claimed.blob_id.clone();
        self.insert(repo, rev, entry);
    }

    pub fn remove_file(&self, repo: &str, rev: &str, path: &str) {
        self.shared.lock().tree_mut(repo, rev).remove(path);
    }

    fn insert(&self, repo: &str, rev: &str, entry: FileEntry) {
        self.shared
            .lock()
            .tree_mut(repo, rev)
            .insert(entry.path.clone(), Arc::new(entry));
    }

    /// The 40-hex commit `rev` (branch, tag, `refs/pr/N`, short commit) points at.
    pub fn commit(&self, repo: &str, rev: &str) -> String {
        let state = self.shared.lock();
        let r = state
            .repos
            .get(repo)
            .unwrap_or_else(|| panic!("fake hub: no repo {repo}"));
        r.resolve_rev(rev)
            .unwrap_or_else(|| panic!("fake hub: no rev {rev} in {repo}"))
    }

    /// Creates a new commit on `branch` with the same files and moves the branch to it;
    /// returns the new commit. Follow with `add_file` to change content.
    pub fn move_branch(&self, repo: &str, branch: &str) -> String {
        let mut state = self.shared.lock();
        let tree = state.tree_mut(repo, branch).clone();
        let commit = state.next_commit(repo);
        let r = state.repo_mut(repo);
        r.commits.insert(commit.clone(), tree);
        r.refs.insert(branch.to_string(), commit.clone());
        commit
    }

    /// Points a branch, tag or `refs/pr/N` at the commit `target` resolves to.
    pub fn set_ref(&self, repo: &str, name: &str, target: &str) {
        let commit = self.commit(repo, target);
        self.shared
            .lock()
            .repo_mut(repo)
            .refs
            .insert(name.to_string(), commit);
    }

    /// Makes `old` (e.g. `gpt2`) answer with a relative 307 to `new` (`openai-community/gpt2`).
    pub fn rename(&self, old: &str, new: &str) {
        self.shared
            .lock()
            .renames
            .insert(old.to_string(), new.to_string());
    }

    /// The file as stored at `rev`: etag, sha256, xet hash, size, content.
    pub fn file(&self, repo: &str, rev: &str, path: &str) -> Arc<FileEntry> {
        let commit = self.commit(repo, rev);
        let state = self.shared.lock();
        let tree = &state.repos[repo].commits[&commit];
        tree.get(path)
            .cloned()
            .unwrap_or_else(|| panic!("fake hub: no {path} in {repo}@{rev}"))
    }

    /// The unquoted etag clients see: git blob sha1 (regular) or sha256 (LFS).
    pub fn etag(&self, repo: &str, rev: &str, path: &str) -> String {
        self.file(repo, rev, path).etag().to_string()
    }

    /// Simple mode: regular files are answered 200 straight from `/resolve` (no 307).
    pub fn set_simple_mode(&self, on: bool) {
        self.shared.lock().simple_mode = on;
    }

    /// Entries per `/tree` page before a `Link: rel="next"` (default 1000).
    pub fn set_tree_page_size(&self, n: usize) {
        self.shared.lock().tree_page_size = n.max(1);
    }

    /// Lifetime of signed CDN URLs (default 1 h); `Duration::ZERO` makes them expire at once.
    pub fn set_signed_url_ttl(&self, ttl: Duration) {
        self.shared.lock().signed_url_ttl = ttl;
    }

    // ---- faults ------------------------------------------------------------------------

    /// Injects `fault` for every request about `repo`/`path`.
    pub fn fault(&self, repo: &str, path: &str, fault: Fault) {
        self.add_fault(repo, Some(path), fault, None);
    }

    /// Injects `fault` for the next `times` responses it affects, then behaves again.
    pub fn fault_times(&self, repo: &str, path: &str, fault: Fault, times: usize) {
        self.add_fault(repo, Some(path), fault, Some(times));
    }

    /// Injects `fault` for every request about any path of `repo` (API included).
    pub fn repo_fault(&self, repo: &str, fault: Fault) {
        self.add_fault(repo, None, fault, None);
    }

    /// Injects a byte fault (`DropAfter(n)` counts bytes of that response, `Stall`,
    /// `SlowFirstByte`, `Corrupt`, `IgnoreRange`: a 200 of the whole file, as when `If-Range`
    /// fails after a change) for the next `times` ranged GETs of `repo`/`path` whose range
    /// starts after 0 and holds the absolute file offset `offset`: one piece of a parallel fill.
    pub fn piece_fault(&self, repo: &str, path: &str, offset: u64, fault: Fault, times: usize) {
        self.shared.lock().faults.push(FaultRule {
            repo: repo.to_string(),
            path: Some(path.to_string()),
            fault,
            remaining: Some(times),
            piece_at: Some(offset),
        });
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    fn add_fault(&self, repo: &str, path: Option<&str>, fault: Fault, remaining: Option<usize>) {
        let rule = FaultRule {
            repo: repo.to_string(),
            path: path.map(str::to_string),
            fault,
            remaining,
            piece_at: None,
        };
        self.shared.lock().faults.push(rule);
    }

    /// Stops listening and closes open connections: connections are refused until `restart`.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    pub async fn restart(&self) {
        self.server.restart().await;
    }

    // ---- what the Hub saw --------------------------------------------------------------

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder.requests()
    }

    pub fn count(&self, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
        self.recorder.count(pred)
    }

    /// Forgets the requests seen so far (Hub and CDN).
    pub fn clear_requests(&self) {
        self.recorder.clear();
        self.cdn.recorder().clear();
    }

    /// GETs answered with file bytes, by the Hub or the CDN, whose `{repo}/{path}` contains
    /// `needle` (e.g. `"config.json"` or `"org/model/config.json"`).
    pub fn body_transfers(&self, needle: &str) -> usize {
        self.recorder.body_transfers(needle) + self.cdn.recorder().body_transfers(needle)
    }

    /// Requests to `/xet-read-token/`: any hit in a proxied test means Xet leaked.
    pub fn xet_token_hits(&self) -> usize {
        self.count(|r| r.path.contains("/xet-read-token/"))
    }

    pub fn saw_header_value(&self, name: &str, value: &str) -> bool {
        self.recorder.saw_header_value(name, value)
    }

    pub fn saw_header(&self, name: &str) -> bool {
        self.recorder.saw_header(name)
    }
}
