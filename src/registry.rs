//! The live set of remotes, distributions, content guards and tasks: written by the admin API,
//! read by the content proxy on every request from an atomic snapshot. Tasks live here too, so
//! an object change and the task that reports it are published and saved together.

use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::model::{ContentGuard, Distribution, Remote, Repository};
use crate::tasks::Task;

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
#[derive(Debug)]
pub struct Registry {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
}

impl Registry {
    /// A registry holding `initial`.
    pub fn new(initial: Snapshot) -> Self {
        Registry {
            current: ArcSwap::from_pointee(initial),
            writer: Mutex::new(()),
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
}
