//! `hubcache prewarm`: a client of a running hubcache that downloads one Hub repository revision
//! into its cache ahead of a rollout, optionally pinned, and exits 0 only when that is done.
//!
//! Through the API (`docs/pulp-api.md`, repositories and `sync/`): find the remote (`--remote`,
//! or the only one), find or create the repository `<type>/<repo_id>` (PATCH it when a field
//! differs), `POST <repository>sync/`, then follow the task until it ends, drawing its progress
//! reports. The password is read from `HUBCACHE_ADMIN_PASSWORD` (the shipped configuration's
//! default, `password`, when unset) and is never printed; a `--server` URL with credentials in
//! it is refused.
//!
//! Exit codes: 0 the task completed; 1 anything else (unreachable server, refused credentials,
//! a 400, the task failed or was canceled by someone else); 130 interrupted (Ctrl-C: on a
//! terminal after "cancel? y"; without a terminal the task is always canceled — nobody is left
//! to answer, and a download nobody waits for should not go on).
//!
//! - `api`: the HTTP client and its one-line errors; `drf`: DRF error bodies as one line.
//! - `repository`: which remote and repository, and what to write (pure).
//! - `task`: a task's state, end and progress (pure); `follow`: the poll loop and Ctrl-C.
//! - `progress`: the terminal bar and the plain lines.

mod api;
mod drf;
mod follow;
#[cfg(test)]
mod follow_tests;
mod progress;
mod repository;
mod task;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cli::PrewarmArgs;
use api::{Api, ApiError};
use follow::{AlwaysCancel, AskOnTerminal, Ended};
use progress::{Bar, Lines, Render};
use repository::{ChosenRemote, Desired, REMOTES, REPOSITORIES};
use task::Outcome;

/// How often the task is polled.
const POLL: Duration = Duration::from_millis(300);
/// The environment variable holding the password.
pub const PASSWORD_ENV: &str = "HUBCACHE_ADMIN_PASSWORD";
/// The password when the variable is unset: the shipped configuration's default.
const DEFAULT_PASSWORD: &str = "password";

/// Exit status after an interrupt (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

/// Runs `hubcache prewarm` and returns the process's exit status.
pub fn main(args: PrewarmArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hubcache prewarm: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args));
    // The stdin reader of the Ctrl-C prompt may still be blocked on a read.
    runtime.shutdown_background();
    code
}

/// How a prewarm ended, before it becomes an exit status.
enum Failure {
    /// One line, exit 1.
    Error(String),
    /// Ctrl-C, exit 130, with what happened.
    Interrupted(String),
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Self::Error(err.to_string())
    }
}

async fn run(args: PrewarmArgs) -> ExitCode {
    let mut interrupts = interrupts();
    match prewarm(&args, &mut interrupts).await {
        // Every line may quote the server: one printable line each, whatever it sent.
        Ok(summary) => {
            println!("{}", drf::one_line(&summary));
            ExitCode::SUCCESS
        }
        Err(Failure::Error(line)) => {
            eprintln!("hubcache prewarm: {}", drf::one_line(&line));
            ExitCode::FAILURE
        }
        Err(Failure::Interrupted(line)) => {
            eprintln!("hubcache prewarm: {}", drf::one_line(&line));
            ExitCode::from(INTERRUPTED)
        }
    }
}

/// Every Ctrl-C, as a message (the handler is installed once, before the first request, so
/// none is lost between the start of the sync and the follow loop).
fn interrupts() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    rx
}

async fn prewarm(
    args: &PrewarmArgs,
    interrupts: &mut mpsc::Receiver<()>,
) -> Result<String, Failure> {
    let started = Instant::now();
    let base = api::parse_server(&args.server).map_err(Failure::Error)?;
    let name =
        repository::repository_name(args.repo_type, &args.repo_id).map_err(Failure::Error)?;
    let password = std::env::var(PASSWORD_ENV).unwrap_or_else(|_| DEFAULT_PASSWORD.to_string());
    let api = Api::new(base, args.user.clone(), password).map_err(Failure::Error)?;

    // Nothing runs on the server yet: Ctrl-C simply stops.
    let setup = async {
        let remote = find_remote(&api, args.remote.as_deref()).await?;
        let desired = Desired::new(args, name.clone(), remote.href.clone());
        let repository = ensure_repository(&api, &desired).await?;
        Ok::<_, Failure>((remote, repository))
    };
    let (remote, repository) = tokio::select! {
        biased;
        Some(()) = interrupts.recv() => {
            return Err(Failure::Interrupted("interrupted before the sync started".into()));
        }
        done = setup => done?,
    };
    let repo_href = href_of(&repository, "the repository")?;

    let what = format!("cannot start the sync of repository '{name}'");
    let answer = api
        .post(
            &format!("{repo_href}sync/"),
            &json!({"remote": remote.href}),
            &what,
        )
        .await?;
    let task_href = answer
        .get("task")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::unexpected(&what, "no task href"))?
        .to_string();

    let terminal = std::io::stderr().is_terminal();
    let mut render: Box<dyn Render> = if terminal {
        Box::new(Bar::stderr())
    } else {
        Box::new(Lines::stderr(args.progress_every))
    };
    render.note(&format!(
        "prewarm: syncing {} {}@{} through remote '{}' into repository '{name}' (task {task_href})",
        args.repo_type.as_str(),
        args.repo_id,
        args.revision,
        remote.name
    ));
    let ended = if terminal && std::io::stdin().is_terminal() {
        let mut ask = AskOnTerminal::default();
        follow::follow(
            &api,
            &task_href,
            POLL,
            interrupts,
            &mut ask,
            render.as_mut(),
        )
        .await
    } else {
        let mut cancel = AlwaysCancel;
        follow::follow(
            &api,
            &task_href,
            POLL,
            interrupts,
            &mut cancel,
            render.as_mut(),
        )
        .await
    };
    let ended = ended.inspect_err(|_| render.stop())?;
    match ended {
        Ended::Finished {
            outcome: Outcome::Completed,
            progress,
            ..
        } => Ok(summary(&api, args, &repo_href, &progress, started.elapsed()).await),
        Ended::Finished {
            outcome: Outcome::Failed(why),
            ..
        } => Err(Failure::Error(format!("the sync task failed: {why}"))),
        Ended::Finished {
            outcome: Outcome::Canceled,
            canceled_by_us: true,
            ..
        } => Err(Failure::Interrupted(format!(
            "canceled the sync task {task_href}"
        ))),
        Ended::Finished {
            outcome: Outcome::Canceled,
            ..
        } => Err(Failure::Error(format!(
            "the sync task {task_href} was canceled on the server"
        ))),
        Ended::Finished {
            outcome: Outcome::Skipped,
            ..
        } => Err(Failure::Error(format!(
            "the server skipped the sync task {task_href}"
        ))),
        Ended::Abandoned => Err(Failure::Interrupted(format!(
            "stopped; the server is canceling the sync task {task_href}"
        ))),
    }
}

/// The remote named by `--remote`, or the server's only one.
async fn find_remote(api: &Api, requested: Option<&str>) -> Result<ChosenRemote, Failure> {
    const WHAT: &str = "cannot list the remotes";
    let listed = match requested {
        Some(name) => api.list(REMOTES, &[("name", name)], WHAT).await?,
        None => api.list(REMOTES, &[], WHAT).await?,
    };
    let all = if requested.is_some() && listed.is_empty() {
        api.list(REMOTES, &[], WHAT).await?
    } else {
        listed.clone()
    };
    let names: Vec<String> = all
        .iter()
        .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    repository::choose_remote(requested, &listed, &names).map_err(Failure::Error)
}

/// The repository as the server has it after creating or updating it.
async fn ensure_repository(api: &Api, desired: &Desired) -> Result<Value, Failure> {
    let name = &desired.name;
    let found = api
        .list(
            REPOSITORIES,
            &[("name", name)],
            "cannot list the repositories",
        )
        .await?;
    let Some(existing) = found
        .into_iter()
        .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
    else {
        let what = format!("cannot create repository '{name}'");
        return Ok(api
            .post(REPOSITORIES, &desired.create_body(), &what)
            .await?);
    };
    let Some(patch) = desired.patch_body(&existing) else {
        return Ok(existing);
    };
    let href = href_of(&existing, "the repository")?;
    let what = format!("cannot update repository '{name}'");
    let answer = api.patch(&href, &patch, &what).await?;
    // 202 + task (done at once for a configuration write); wait for it all the same.
    if let Some(task_href) = answer.get("task").and_then(Value::as_str) {
        wait_for_write(api, task_href, &what).await?;
    }
    Ok(api.get(&href, &[], &what).await?)
}

/// Polls the task of a configuration write until it ends; only `completed` is fine.
async fn wait_for_write(api: &Api, task_href: &str, what: &str) -> Result<(), Failure> {
    use follow::Tasks;
    loop {
        let task = api.task(task_href).await?;
        match task
            .outcome()
            .map_err(|why| Failure::Error(format!("{what}: {why}")))?
        {
            None => tokio::time::sleep(POLL).await,
            Some(Outcome::Completed) => return Ok(()),
            Some(Outcome::Failed(why)) => return Err(Failure::Error(format!("{what}: {why}"))),
            Some(Outcome::Canceled) => {
                return Err(Failure::Error(format!("{what}: its task was canceled")))
            }
            Some(Outcome::Skipped) => {
                return Err(Failure::Error(format!("{what}: its task was skipped")))
            }
        }
    }
}

fn href_of(object: &Value, what: &str) -> Result<String, Failure> {
    object
        .get("pulp_href")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Failure::Error(format!("the server answered {what} without a pulp_href")))
}

/// The last line: what is now in the cache. The commit, file count and size come from the
/// repository's latest version; when it cannot be read, from the task's progress.
async fn summary(
    api: &Api,
    args: &PrewarmArgs,
    repo_href: &str,
    progress: &task::Progress,
    elapsed: Duration,
) -> String {
    const WHAT: &str = "cannot read the repository";
    let repository = api.get(repo_href, &[], WHAT).await.ok();
    let version = match repository
        .as_ref()
        .and_then(|r| r.get("latest_version_href"))
        .and_then(Value::as_str)
    {
        Some(href) => api.get(href, &[], WHAT).await.ok(),
        None => None,
    };
    let number =
        |v: &Option<Value>, key: &str| v.as_ref().and_then(|v| v.get(key)).and_then(Value::as_u64);
    let files = number(&version, "files").unwrap_or(progress.files_done);
    let bytes = number(&version, "bytes").unwrap_or(progress.bytes_done);
    let commit = version
        .as_ref()
        .and_then(|v| v.get("commit"))
        .and_then(Value::as_str)
        .map(|c| format!(" = commit {}", drf::one_line(c)))
        .unwrap_or_default();
    let pinned = repository
        .as_ref()
        .and_then(|r| r.get("pinned"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    format!(
        "prewarm: done in {:.1}s: {} {}@{}{commit}, {files} files, {}{}",
        elapsed.as_secs_f64(),
        args.repo_type.as_str(),
        args.repo_id,
        args.revision,
        progress::size(bytes),
        if pinned { ", pinned" } else { "" }
    )
}
