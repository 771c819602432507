//! The follow loop against scripted task answers: every way a task can end, Ctrl-C with and
//! without a cancel, and a server that stops answering.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::api::ApiError;
use super::follow::{follow, wants_cancel, AlwaysCancel, Decide, Ended, Tasks, MAX_MISSED_POLLS};
use super::progress::Render;
use super::task::{Outcome, Task, BYTES, FILES};

/// One scripted poll answer: a task's JSON, or the error the poll fails with.
type Poll = Result<Value, fn() -> ApiError>;

/// Answers polls from a script; the last answer repeats. Records cancels.
struct Script {
    answers: Mutex<VecDeque<Poll>>,
    cancels: Mutex<u32>,
    cancel_answer: fn() -> Result<(), ApiError>,
    interrupt_after_poll: Mutex<Option<(usize, mpsc::Sender<()>)>>,
    polls: Mutex<usize>,
}

impl Script {
    fn new(answers: Vec<Poll>) -> Self {
        Self {
            answers: Mutex::new(answers.into()),
            cancels: Mutex::new(0),
            cancel_answer: || Ok(()),
            interrupt_after_poll: Mutex::new(None),
            polls: Mutex::new(0),
        }
    }
}

impl Tasks for Script {
    async fn task(&self, _: &str) -> Result<Task, ApiError> {
        let poll = {
            let mut polls = self.polls.lock().unwrap();
            *polls += 1;
            *polls
        };
        if let Some((at, tx)) = &*self.interrupt_after_poll.lock().unwrap() {
            if *at == poll {
                tx.try_send(()).unwrap();
            }
        }
        let mut answers = self.answers.lock().unwrap();
        let answer = if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().unwrap()
        };
        answer
            .map(|v| serde_json::from_value(v).unwrap())
            .map_err(|make| make())
    }

    async fn cancel(&self, _: &str) -> Result<(), ApiError> {
        *self.cancels.lock().unwrap() += 1;
        (self.cancel_answer)()
    }
}

#[derive(Default)]
struct Seen {
    updates: Vec<(String, u64)>,
    finished: Option<u64>,
    notes: Vec<String>,
    pauses: u32,
}

impl Render for Seen {
    fn update(&mut self, state: &str, p: &super::task::Progress) {
        self.updates.push((state.to_string(), p.bytes_done));
    }
    fn finish(&mut self, p: &super::task::Progress) {
        self.finished = Some(p.bytes_done);
    }
    fn stop(&mut self) {
        self.notes.push("stopped".into());
    }
    fn note(&mut self, line: &str) {
        self.notes.push(line.to_string());
    }
    fn pause(&mut self) {
        self.pauses += 1;
    }
    fn resume(&mut self) {}
}

struct Answer(bool);

impl Decide for Answer {
    async fn cancel_now(&mut self, _: &mut mpsc::Receiver<()>, render: &mut dyn Render) -> bool {
        render.pause();
        self.0
    }
}

fn running(done: u64) -> Poll {
    Ok(json!({"state": "running", "progress_reports": [
        {"code": FILES, "total": 2, "done": done / 10},
        {"code": BYTES, "total": 20, "done": done}]}))
}

fn state(state: &str) -> Poll {
    Ok(
        json!({"state": state, "error": {"description": "Hub said 404"}, "progress_reports": [
        {"code": BYTES, "total": 20, "done": 20}]}),
    )
}

fn unreachable() -> ApiError {
    ApiError::Unreachable {
        server: "http://127.0.0.1:1".into(),
        reason: "Connection refused".into(),
    }
}

async fn run<D: Decide>(
    script: &Script,
    decide: &mut D,
    rx: &mut mpsc::Receiver<()>,
) -> (Result<Ended, ApiError>, Seen) {
    let mut seen = Seen::default();
    let ended = follow(
        script,
        "/t/",
        Duration::from_millis(1),
        rx,
        decide,
        &mut seen,
    )
    .await;
    (ended, seen)
}

fn finished(outcome: Outcome, by_us: bool, ended: &Ended) {
    match ended {
        Ended::Finished {
            outcome: o,
            canceled_by_us,
            ..
        } => {
            assert_eq!((o, *canceled_by_us), (&outcome, by_us));
        }
        Ended::Abandoned => panic!("abandoned"),
    }
}

#[tokio::test]
async fn progress_is_drawn_until_the_task_completes() {
    let script = Script::new(vec![
        state("waiting"),
        running(0),
        running(10),
        state("completed"),
    ]);
    let (_tx, mut rx) = mpsc::channel(4);
    let (ended, seen) = run(&script, &mut AlwaysCancel, &mut rx).await;
    finished(Outcome::Completed, false, &ended.unwrap());
    assert_eq!(
        seen.updates,
        [
            ("waiting".into(), 20),
            ("running".into(), 0),
            ("running".into(), 10)
        ]
    );
    assert_eq!(seen.finished, Some(20));
}

#[tokio::test]
async fn a_failed_task_ends_with_its_description() {
    let script = Script::new(vec![running(0), state("failed")]);
    let (_tx, mut rx) = mpsc::channel(4);
    let (ended, _) = run(&script, &mut AlwaysCancel, &mut rx).await;
    finished(
        Outcome::Failed("Hub said 404".into()),
        false,
        &ended.unwrap(),
    );
}

#[tokio::test]
async fn ctrl_c_without_a_terminal_cancels_and_waits_for_canceled() {
    let script = Script::new(vec![running(0), state("canceling"), state("canceled")]);
    let (tx, mut rx) = mpsc::channel(4);
    *script.interrupt_after_poll.lock().unwrap() = Some((1, tx));
    let (ended, seen) = run(&script, &mut AlwaysCancel, &mut rx).await;
    finished(Outcome::Canceled, true, &ended.unwrap());
    assert_eq!(*script.cancels.lock().unwrap(), 1);
    assert_eq!(seen.notes, ["prewarm: canceling the sync task"]);
}

#[tokio::test]
async fn answering_no_keeps_following() {
    let script = Script::new(vec![running(0), running(10), state("completed")]);
    let (tx, mut rx) = mpsc::channel(4);
    *script.interrupt_after_poll.lock().unwrap() = Some((1, tx));
    let (ended, seen) = run(&script, &mut Answer(false), &mut rx).await;
    finished(Outcome::Completed, false, &ended.unwrap());
    assert_eq!(*script.cancels.lock().unwrap(), 0);
    assert_eq!(seen.pauses, 1);
}

#[tokio::test]
async fn a_cancel_that_comes_too_late_reports_how_the_task_ended() {
    let mut script = Script::new(vec![running(0), state("completed")]);
    script.cancel_answer = || {
        Err(ApiError::Refused {
            what: "cannot cancel the sync task".into(),
            status: 409,
            message: "already completed".into(),
        })
    };
    let (tx, mut rx) = mpsc::channel(4);
    *script.interrupt_after_poll.lock().unwrap() = Some((1, tx));
    let (ended, _) = run(&script, &mut Answer(true), &mut rx).await;
    finished(Outcome::Completed, false, &ended.unwrap());
    assert_eq!(*script.cancels.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_second_ctrl_c_while_canceling_stops_waiting() {
    let script = Script::new(vec![running(0), state("canceling")]);
    let (tx, mut rx) = mpsc::channel(4);
    tx.try_send(()).unwrap();
    tx.try_send(()).unwrap();
    let (ended, seen) = run(&script, &mut AlwaysCancel, &mut rx).await;
    assert_eq!(ended.unwrap(), Ended::Abandoned);
    assert_eq!(seen.notes.len(), 2, "{:?}", seen.notes);
}

#[tokio::test]
async fn a_few_missed_polls_are_forgiven_but_not_many() {
    let script = Script::new(vec![
        running(0),
        Err(unreachable),
        Err(unreachable),
        state("completed"),
    ]);
    let (_tx, mut rx) = mpsc::channel(4);
    let (ended, _) = run(&script, &mut AlwaysCancel, &mut rx).await;
    finished(Outcome::Completed, false, &ended.unwrap());

    let script = Script::new(vec![running(0), Err(unreachable)]);
    let (ended, _) = run(&script, &mut AlwaysCancel, &mut rx).await;
    let err = ended.unwrap_err();
    assert!(
        err.to_string().starts_with("cannot reach hubcache"),
        "{err}"
    );
    assert_eq!(
        *script.polls.lock().unwrap(),
        1 + MAX_MISSED_POLLS as usize + 1
    );
}

#[tokio::test]
async fn refused_credentials_end_at_once() {
    let script = Script::new(vec![
        running(0),
        Err(|| ApiError::Unauthorized {
            user: "admin".into(),
        }),
    ]);
    let (_tx, mut rx) = mpsc::channel(4);
    let (ended, _) = run(&script, &mut AlwaysCancel, &mut rx).await;
    assert!(matches!(ended, Err(ApiError::Unauthorized { .. })));
    assert_eq!(*script.polls.lock().unwrap(), 2);
}

#[test]
fn only_yes_cancels() {
    for yes in ["y", "Y\n", " yes ", "YES"] {
        assert!(wants_cancel(yes), "{yes:?}");
    }
    for no in ["", "\n", "n", "no", "yy", "sure"] {
        assert!(!wants_cancel(no), "{no:?}");
    }
}
