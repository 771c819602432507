//! The live set of remotes, distributions, content guards and tasks: written by the admin API,
//! read by the content proxy on every request from an atomic snapshot. Tasks live here too, so
//! an object change and the task that reports it are published and saved together.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::model::{ContentGuard, Distribution, Remote, Repository};
use crate::state::StateError;
use crate::tasks::Task;

/// How many times [`Registry::update_stored`] applies a change again on a fresher state.
const STALE_ATTEMPTS: usize = 4;

/// Where [`Registry::update_stored`] saves: [`crate::state::Store`] (a seam for unit tests).
pub trait Backing {
    /// Saves `snapshot`; [`StateError::Stale`] if the store moved on since the one in use.
    fn save(&self, snapshot: &Snapshot) -> Result<(), StateError>;
    /// The store's newer state, if it moved on since `current` (see [`crate::state::Store::fresh`]).
    fn fresh(&self, current: &Snapshot) -> Result<Option<Snapshot>, StateError>;
}

/// Told the snapshot replaced and its replacement when a reload replaces it.
type ReplaceHook = Box<dyn Fn(&Snapshot, &Snapshot) + Send + Sync>;

/// One consistent view of every object. Never mutated once published.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Remotes, in creation order.
    pub remotes: Vec<Arc<Remote>>,
    /// Distributions, in creation order.
    pub distributions: Vec<Arc<Distribution>>,
    /// Header content guards, in creation order.
    pub guards: Vec<Arc<ContentGuard>>,
    /// Repositories (prewarm and pin), in creation order.
    pub repositories: Vec<Arc<Repository>>,
    /// Tasks, in creation order (at most [`crate::tasks::MAX_FINISHED_TASKS`] finished ones).
    pub tasks: Vec<Arc<Task>>,
}

/// What a content request under `/pulp/content/` resolved to.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The distribution whose `base_path` is the longest prefix of the request path.
    pub distribution: Arc<Distribution>,
    /// Its remote, if it has one and it still exists.
    pub remote: Option<Arc<Remote>>,
    /// Its guard, if any.
    pub guard: Option<Arc<ContentGuard>>,
}

impl Snapshot {
    /// The remote with this id.
    pub fn remote(&self, id: Uuid) -> Option<&Arc<Remote>> {
        self.remotes.iter().find(|r| r.meta.id == id)
    }
    /// The distribution with this id.
    pub fn distribution(&self, id: Uuid) -> Option<&Arc<Distribution>> {
        self.distributions.iter().find(|d| d.meta.id == id)
    }
    /// The guard with this id.
    pub fn guard(&self, id: Uuid) -> Option<&Arc<ContentGuard>> {
        self.guards.iter().find(|g| g.meta.id == id)
    }
    /// The task with this id.
    pub fn task(&self, id: Uuid) -> Option<&Arc<Task>> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// Matches `rest` (the request path after `/pulp/content/`, raw) against the base paths,
    /// longest first, on whole segments. Returns the match and the hub path after it
    /// (without a leading `/`).
    pub fn match_content<'a>(&self, rest: &'a str) -> Option<(Matched, &'a str)> {
        let mut best: Option<(&Arc<Distribution>, &'a str)> = None;
        for dist in &self.distributions {
            let bp = dist.base_path.as_str();
            let tail = match rest.strip_prefix(bp) {
                Some("") => "",
                Some(t) if t.starts_with('/') => &t[1..],
                _ => continue,
            };
            if best.is_none_or(|(b, _)| b.base_path.len() < bp.len()) {
                best = Some((dist, tail));
            }
        }
        let (dist, tail) = best?;
        let remote = dist.remote.and_then(|id| self.remote(id)).cloned();
        let guard = dist.content_guard.and_then(|id| self.guard(id)).cloned();
        Some((
            Matched {
                distribution: dist.clone(),
                remote,
                guard,
            },
            tail,
        ))
    }
}

/// The registry: readers load the current snapshot lock-free; writers serialise on a mutex,
/// build a new snapshot and publish it atomically.
pub struct Registry {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    on_replace: OnceLock<ReplaceHook>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry holding `initial`.
    pub fn new(initial: Snapshot) -> Self {
        Registry {
            current: ArcSwap::from_pointee(initial),
            writer: Mutex::new(()),
            on_replace: OnceLock::new(),
        }
    }

    /// Calls `hook` with the old and the new snapshot whenever a reload replaces the snapshot
    /// (e.g. to move the repositories' pins along). Set once.
    pub fn on_replace(&self, hook: ReplaceHook) {
        let _ = self.on_replace.set(hook);
    }

    /// Publishes `next` in place of the current snapshot (the writer lock held).
    fn replace_locked(&self, next: Snapshot) {
        let old = self.current.swap(Arc::new(next));
        if let Some(hook) = self.on_replace.get() {
            hook(&old, &self.current.load());
        }
    }

    /// Replaces the snapshot with what `fresh` reads, if it reads anything (another node's
    /// saves: nothing of the current snapshot is kept but what `fresh` keeps). `Ok(true)`
    /// when it replaced.
    pub fn replace<E>(
        &self,
        fresh: impl FnOnce(&Snapshot) -> Result<Option<Snapshot>, E>,
    ) -> Result<bool, E> {
        let _guard = self.writer.lock();
        match fresh(&self.current.load_full())? {
            Some(next) => {
                self.replace_locked(next);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// [`Self::update`] saving into `store`: when the store moved on meanwhile (another node
    /// saved), its state is published and `change` applied again on it, a few times at most,
    /// so no node's write is lost. Store errors are mapped with `err`.
    pub fn update_stored<T, E, F>(
        &self,
        change: F,
        store: &impl Backing,
        err: impl Fn(StateError) -> E,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Snapshot) -> Result<T, E> + Clone,
    {
        let _guard = self.writer.lock();
        let mut attempt = 1;
        loop {
            let mut next = (*self.current.load_full()).clone();
            let out = change.clone()(&mut next)?;
            match store.save(&next) {
                Ok(()) => {
                    self.current.store(Arc::new(next));
                    return Ok(out);
                }
                Err(StateError::Stale) if attempt < STALE_ATTEMPTS => {
                    attempt += 1;
                    tracing::info!(attempt, "the state changed on another node meanwhile: applying the write again on it");
                    if let Some(fresh) = store.fresh(&self.current.load_full()).map_err(&err)? {
                        self.replace_locked(fresh);
                    }
                }
                Err(e) => return Err(err(e)),
            }
        }
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Applies `change` to a copy of the current snapshot under the writer lock. When it
    /// returns `Ok`, `commit` runs (e.g. persisting the state file) and only if that also
    /// succeeds is the new snapshot published. Either way nothing half-done is visible.
    pub fn update<T, E>(
        &self,
        change: impl FnOnce(&mut Snapshot) -> Result<T, E>,
        commit: impl FnOnce(&Snapshot) -> Result<(), E>,
    ) -> Result<T, E> {
        let _guard = self.writer.lock();
        let mut next = (*self.current.load_full()).clone();
        let out = change(&mut next)?;
        commit(&next)?;
        self.current.store(Arc::new(next));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Meta, Origin};
    use std::collections::BTreeMap;

    fn dist(base_path: &str) -> Arc<Distribution> {
        Arc::new(Distribution {
            meta: Meta::new(Origin::Config),
            name: base_path.replace('/', "-"),
            base_path: base_path.into(),
            remote: None,
            content_guard: None,
            hidden: false,
            pulp_labels: BTreeMap::new(),
        })
    }

    #[test]
    fn longest_base_path_wins_on_whole_segments() {
        let snap = Snapshot {
            distributions: vec![dist("hf"), dist("hf/private"), dist("hfx")],
            ..Default::default()
        };
        let rows = [
            (
                "hf/org/model/resolve/main/a",
                Some(("hf", "org/model/resolve/main/a")),
            ),
            (
                "hf/private/org/m/resolve/main/a",
                Some(("hf/private", "org/m/resolve/main/a")),
            ),
            ("hfx/a", Some(("hfx", "a"))),
            ("hf", Some(("hf", ""))),
            ("hfy/a", None),
            ("", None),
        ];
        for (path, want) in rows {
            let got = snap
                .match_content(path)
                .map(|(m, tail)| (m.distribution.base_path.clone(), tail));
            let want = want.map(|(b, t)| (b.to_string(), t));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn failed_commit_publishes_nothing() {
        let reg = Registry::new(Snapshot::default());
        let r: Result<(), &str> = reg.update(
            |s| {
                s.distributions.push(dist("a"));
                Ok(())
            },
            |_| Err("disk full"),
        );
        assert!(r.is_err());
        assert!(reg.snapshot().distributions.is_empty());
    }

    /// A store shared with "another node": a version counter and the stored snapshot.
    #[derive(Default)]
    struct SharedDb {
        stored: Mutex<(u64, Snapshot)>,
        seen: Mutex<u64>,
    }

    impl SharedDb {
        fn other_node_adds(&self, base_path: &str) {
            let mut stored = self.stored.lock();
            stored.0 += 1;
            stored.1.distributions.push(dist(base_path));
        }
    }

    impl Backing for SharedDb {
        fn save(&self, snapshot: &Snapshot) -> Result<(), StateError> {
            let mut stored = self.stored.lock();
            let mut seen = self.seen.lock();
            if *seen != stored.0 {
                return Err(StateError::Stale);
            }
            *stored = (stored.0 + 1, snapshot.clone());
            *seen = stored.0;
            Ok(())
        }
        fn fresh(&self, _current: &Snapshot) -> Result<Option<Snapshot>, StateError> {
            let stored = self.stored.lock();
            let mut seen = self.seen.lock();
            if *seen == stored.0 {
                return Ok(None);
            }
            *seen = stored.0;
            Ok(Some(stored.1.clone()))
        }
    }

    fn base_paths(snap: &Snapshot) -> Vec<String> {
        snap.distributions
            .iter()
            .map(|d| d.base_path.clone())
            .collect()
    }

    #[test]
    fn a_stale_save_applies_the_change_again_on_the_stored_state() {
        let reg = Registry::new(Snapshot::default());
        let replaced = Arc::new(Mutex::new(Vec::new()));
        let seen = replaced.clone();
        reg.on_replace(Box::new(move |old, new| {
            seen.lock().push((base_paths(old), base_paths(new)))
        }));
        let db = SharedDb::default();
        db.other_node_adds("theirs");
        let b = dist("mine");
        let out: Result<usize, StateError> = reg.update_stored(
            move |s| {
                s.distributions.push(b);
                Ok(s.distributions.len())
            },
            &db,
            |e| e,
        );
        assert_eq!(out.unwrap(), 2, "applied on the stored state");
        assert_eq!(base_paths(&reg.snapshot()), ["theirs", "mine"]);
        assert_eq!(base_paths(&db.stored.lock().1), ["theirs", "mine"]);
        assert_eq!(
            *replaced.lock(),
            [(vec![], vec!["theirs".to_string()])],
            "the stored state was published through the replace hook"
        );
    }

    #[test]
    fn a_store_that_keeps_moving_gives_up_with_stale() {
        struct AlwaysStale;
        impl Backing for AlwaysStale {
            fn save(&self, _: &Snapshot) -> Result<(), StateError> {
                Err(StateError::Stale)
            }
            fn fresh(&self, _: &Snapshot) -> Result<Option<Snapshot>, StateError> {
                Ok(None)
            }
        }
        let reg = Registry::new(Snapshot::default());
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let out: Result<(), StateError> = reg.update_stored(
            |s| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                s.distributions.push(dist("x"));
                Ok(())
            },
            &AlwaysStale,
            |e| e,
        );
        assert!(matches!(out, Err(StateError::Stale)), "{out:?}");
        assert_eq!(calls.into_inner(), STALE_ATTEMPTS);
        assert!(reg.snapshot().distributions.is_empty());
    }
}
