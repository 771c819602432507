//! A task as the API answers it (`docs/pulp-api.md`, tasks): its state, its end, and the
//! progress of a sync (`sync.downloading.files`, `sync.downloading.bytes`).

use serde::Deserialize;
use serde_json::Value;

use super::drf;

/// Progress report codes of a repository sync.
pub const FILES: &str = "sync.downloading.files";
pub const BYTES: &str = "sync.downloading.bytes";

/// The fields of a task that a prewarm reads (the rest is ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    pub state: String,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub progress_reports: Vec<Report>,
}

/// One progress report (`total` is null until it is known).
#[derive(Debug, Clone, Deserialize)]
pub struct Report {
    pub code: String,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub done: Option<u64>,
}

/// pulpcore's task states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Waiting,
    Running,
    Canceling,
    Completed,
    Failed,
    Canceled,
    Skipped,
}

impl State {
    pub fn parse(state: &str) -> Option<Self> {
        Some(match state {
            "waiting" => Self::Waiting,
            "running" => Self::Running,
            "canceling" => Self::Canceling,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            "skipped" => Self::Skipped,
            _ => return None,
        })
    }
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// `error.description` (never the traceback).
    Failed(String),
    Canceled,
    Skipped,
}

/// Where a download stands; totals are `None` until the server knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    /// Whether the task has reported anything yet.
    pub reported: bool,
}

impl Task {
    /// `Ok(None)` while the task has not ended (waiting, running, canceling); `Err` for a state
    /// that is not pulpcore's.
    pub fn outcome(&self) -> Result<Option<Outcome>, String> {
        let state = State::parse(&self.state).ok_or_else(|| {
            format!(
                "the server answered an unknown task state '{}'",
                drf::one_line(&self.state)
            )
        })?;
        Ok(match state {
            State::Waiting | State::Running | State::Canceling => None,
            State::Completed => Some(Outcome::Completed),
            State::Failed => Some(Outcome::Failed(self.error_description())),
            State::Canceled => Some(Outcome::Canceled),
            State::Skipped => Some(Outcome::Skipped),
        })
    }

    fn error_description(&self) -> String {
        let description = self
            .error
            .as_ref()
            .and_then(|e| e.get("description"))
            .and_then(Value::as_str)
            .map(drf::one_line)
            .filter(|d| !d.is_empty());
        description.unwrap_or_else(|| "no reason given".to_string())
    }

    pub fn progress(&self) -> Progress {
        let mut progress = Progress::default();
        for report in &self.progress_reports {
            match report.code.as_str() {
                FILES => {
                    progress.files_done = report.done.unwrap_or(0);
                    progress.files_total = report.total;
                    progress.reported = true;
                }
                BYTES => {
                    progress.bytes_done = report.done.unwrap_or(0);
                    progress.bytes_total = report.total;
                    progress.reported = true;
                }
                _ => {}
            }
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task(value: Value) -> Task {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn unfinished_states_keep_polling_and_final_ones_end() {
        for state in ["waiting", "running", "canceling"] {
            assert_eq!(task(json!({"state": state})).outcome(), Ok(None), "{state}");
        }
        assert_eq!(
            task(json!({"state": "completed", "error": null})).outcome(),
            Ok(Some(Outcome::Completed))
        );
        assert_eq!(
            task(json!({"state": "canceled"})).outcome(),
            Ok(Some(Outcome::Canceled))
        );
        assert_eq!(
            task(json!({"state": "skipped"})).outcome(),
            Ok(Some(Outcome::Skipped))
        );
        assert!(task(json!({"state": "exploded"})).outcome().is_err());
    }

    #[test]
    fn a_failure_gives_the_description_only() {
        let failed = task(json!({"state": "failed", "error": {
            "description": "Repository Not Found for url: …/api/models/org/nope\n",
            "traceback": "Traceback (most recent call last): …"}}));
        assert_eq!(
            failed.outcome(),
            Ok(Some(Outcome::Failed(
                "Repository Not Found for url: …/api/models/org/nope".into()
            )))
        );
        assert_eq!(
            task(json!({"state": "failed", "error": null})).outcome(),
            Ok(Some(Outcome::Failed("no reason given".into())))
        );
    }

    #[test]
    fn progress_reads_both_reports() {
        let t = task(json!({"state": "running", "progress_reports": [
            {"message": "Downloading files", "code": FILES, "state": "running", "total": 40, "done": 12, "suffix": null},
            {"message": "Downloading bytes", "code": BYTES, "state": "running", "total": 3000, "done": 1200, "suffix": "B"},
            {"message": "other", "code": "sync.other", "state": "running", "total": 1, "done": 1}]}));
        assert_eq!(
            t.progress(),
            Progress {
                files_done: 12,
                files_total: Some(40),
                bytes_done: 1200,
                bytes_total: Some(3000),
                reported: true
            }
        );
        let listing = task(json!({"state": "running", "progress_reports": [
            {"code": FILES, "total": null, "done": 0}]}));
        assert_eq!(listing.progress().files_total, None);
        assert!(!task(json!({"state": "waiting"})).progress().reported);
    }
}
