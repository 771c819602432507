//! Following a sync task until it ends: poll, draw progress, and on Ctrl-C ask (terminal) or
//! cancel (no terminal) — the task is canceled on the server with `PATCH {"state": "canceled"}`
//! (`docs/pulp-api.md`, tasks).

use std::io::Write;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use super::api::{Api, ApiError};
use super::progress::Render;
use super::task::{Outcome, Progress, Task};

/// How many polls in a row may fail to reach the server before the prewarm gives up (a brief
/// network hiccup should not end a long download).
pub const MAX_MISSED_POLLS: u32 = 20;

/// The task calls the follow loop makes (the API, or a script in the tests).
pub trait Tasks {
    async fn task(&self, href: &str) -> Result<Task, ApiError>;
    /// Asks the server to cancel; a task that already ended answers 409.
    async fn cancel(&self, href: &str) -> Result<(), ApiError>;
}

impl Tasks for Api {
    async fn task(&self, href: &str) -> Result<Task, ApiError> {
        const WHAT: &str = "cannot read the sync task";
        let value = self.get(href, &[], WHAT).await?;
        serde_json::from_value(value).map_err(|e| ApiError::unexpected(WHAT, e.to_string()))
    }

    async fn cancel(&self, href: &str) -> Result<(), ApiError> {
        let body = json!({"state": "canceled"});
        self.patch(href, &body, "cannot cancel the sync task")
            .await
            .map(drop)
    }
}

/// What to do on Ctrl-C.
pub trait Decide {
    /// Whether to cancel the task now. `interrupts` delivers further Ctrl-Cs.
    async fn cancel_now(
        &mut self,
        interrupts: &mut mpsc::Receiver<()>,
        render: &mut dyn Render,
    ) -> bool;
}

/// Without a terminal nobody can answer a question: Ctrl-C (SIGINT from a CI runner or a
/// script's timeout) cancels the task, so that no download goes on that nobody waits for.
pub struct AlwaysCancel;

impl Decide for AlwaysCancel {
    async fn cancel_now(&mut self, _: &mut mpsc::Receiver<()>, _: &mut dyn Render) -> bool {
        true
    }
}

/// On a terminal: "Cancel the sync task on the server? [y/N]"; a second Ctrl-C at the prompt
/// means yes, end of input means no.
#[derive(Default)]
pub struct AskOnTerminal {
    /// Lines of stdin, read by one thread for the whole run (a read cannot be called off, so a
    /// prompt answered by Ctrl-C must not leave a second reader behind).
    lines: Option<mpsc::Receiver<String>>,
}

impl Decide for AskOnTerminal {
    async fn cancel_now(
        &mut self,
        interrupts: &mut mpsc::Receiver<()>,
        render: &mut dyn Render,
    ) -> bool {
        let lines = self.lines.get_or_insert_with(stdin_lines);
        render.pause();
        eprint!("Cancel the sync task on the server? [y/N] ");
        let _ = std::io::stderr().flush();
        let cancel = tokio::select! {
            line = lines.recv() => line.is_some_and(|l| wants_cancel(&l)),
            Some(()) = interrupts.recv() => {
                eprintln!();
                true
            }
        };
        render.resume();
        cancel
    }
}

fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(1);
    std::thread::spawn(move || {
        let mut line = String::new();
        while matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0) {
            if tx.blocking_send(std::mem::take(&mut line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// `y` or `yes`, any case; anything else (an empty line included) is no.
pub fn wants_cancel(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// How following ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The task reached a final state; `canceled_by_us` when this run asked for the cancel.
    Finished {
        outcome: Outcome,
        canceled_by_us: bool,
        progress: Progress,
    },
    /// A second Ctrl-C while the cancel was under way: stopped waiting for it.
    Abandoned,
}

/// Polls `href` every `poll` until the task ends, drawing its progress.
pub async fn follow<T: Tasks, D: Decide>(
    api: &T,
    href: &str,
    poll: Duration,
    interrupts: &mut mpsc::Receiver<()>,
    decide: &mut D,
    render: &mut dyn Render,
) -> Result<Ended, ApiError> {
    let mut cancel_requested = false;
    let mut missed = 0;
    loop {
        match api.task(href).await {
            Ok(task) => {
                missed = 0;
                let progress = task.progress();
                match task.outcome() {
                    Ok(Some(outcome)) => {
                        render.finish(&progress);
                        return Ok(Ended::Finished {
                            outcome,
                            canceled_by_us: cancel_requested,
                            progress,
                        });
                    }
                    Ok(None) => render.update(&task.state, &progress),
                    Err(why) => {
                        return Err(ApiError::unexpected("cannot follow the sync task", why))
                    }
                }
            }
            Err(err @ ApiError::Unreachable { .. }) => {
                missed += 1;
                if missed > MAX_MISSED_POLLS {
                    return Err(err);
                }
            }
            Err(err) => return Err(err),
        }
        tokio::select! {
            biased;
            Some(()) = interrupts.recv() => {
                if cancel_requested {
                    render.note("prewarm: stopped waiting; the server is still canceling the task");
                    return Ok(Ended::Abandoned);
                }
                if decide.cancel_now(interrupts, render).await {
                    render.note("prewarm: canceling the sync task");
                    match api.cancel(href).await {
                        Ok(()) => cancel_requested = true,
                        // 409: it ended meanwhile; the next poll tells how.
                        Err(err) if err.status() == Some(409) => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            () = tokio::time::sleep(poll) => {}
        }
    }
}
