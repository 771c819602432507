//! What a sync has done so far: atomic counters the downloads move, read into the task's two
//! progress reports (`sync.downloading.files`, `sync.downloading.bytes`; `docs/prewarm.md`
//! "Progress").

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::tasks::{ProgressReport, TaskState};

/// `code` of the files report (what `hubcache prewarm` reads).
pub const FILES: &str = "sync.downloading.files";
/// `code` of the bytes report.
pub const BYTES: &str = "sync.downloading.bytes";

/// Counts of files and bytes: totals known once the tree is listed.
#[derive(Debug, Default)]
pub struct Counters {
    listed: AtomicBool,
    files_total: AtomicU64,
    files_done: AtomicU64,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
    /// Bytes read from the content path (not those already stored).
    fetched: AtomicU64,
}

impl Counters {
    /// Sets the totals (the files taken by the patterns).
    pub fn set_totals(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
        self.listed.store(true, Ordering::Relaxed);
    }

    /// A file is done: `skipped_bytes` of it were not downloaded (already stored, or the tree
    /// announced more than was read) and count as done now.
    pub fn file_done(&self, skipped_bytes: u64) {
        self.bytes_done.fetch_add(skipped_bytes, Ordering::Relaxed);
        self.files_done.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` bytes were downloaded.
    pub fn downloaded(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
        self.fetched.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes downloaded so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// The two reports, each in `state`. Before the tree is listed the totals are unknown
    /// (`None`). `done` never shows more than `total` (a file whose size the tree misstated
    /// fails its download anyway: the content path verifies lengths).
    pub fn reports(&self, state: TaskState) -> Vec<ProgressReport> {
        let listed = self.listed.load(Ordering::Relaxed);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let report = |message: &str, code: &str, total: u64, done: u64, suffix: Option<&str>| {
            ProgressReport {
                message: message.into(),
                code: code.into(),
                state,
                total: listed.then_some(total),
                done: if listed { done.min(total) } else { done },
                suffix: suffix.map(str::to_string),
            }
        };
        vec![
            report(
                "Downloading files",
                FILES,
                load(&self.files_total),
                load(&self.files_done),
                None,
            ),
            report(
                "Downloading bytes",
                BYTES,
                load(&self.bytes_total),
                load(&self.bytes_done),
                Some("B"),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_files_count_as_done_at_once_and_downloads_by_chunk() {
        let c = Counters::default();
        let before = c.reports(TaskState::Running);
        assert_eq!(before[0].total, None);
        c.set_totals(2, 30);
        c.file_done(10);
        c.downloaded(15);
        let r = c.reports(TaskState::Running);
        assert_eq!(
            (r[0].code.as_str(), r[0].total, r[0].done),
            (FILES, Some(2), 1)
        );
        assert_eq!(
            (r[1].code.as_str(), r[1].total, r[1].done),
            (BYTES, Some(30), 25)
        );
        assert_eq!(r[1].suffix.as_deref(), Some("B"));
        assert_eq!(c.fetched(), 15);
        c.downloaded(5);
        c.file_done(0);
        let r = c.reports(TaskState::Completed);
        assert_eq!((r[0].done, r[1].done), (2, 30));
        assert!(r.iter().all(|r| r.state == TaskState::Completed));
    }
}
