//! What a person sees while a prewarm runs: an `indicatif` bar on a terminal, plain lines every
//! few seconds otherwise (logs of a CI job or a rollout script). Both write to stderr.

use std::time::{Duration, Instant};

use bytesize::ByteSize;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::task::Progress;

/// How progress is shown; the follow loop drives it (`follow.rs`).
pub trait Render {
    /// The task's state and progress after a poll.
    fn update(&mut self, state: &str, progress: &Progress);
    /// The task ended: the last progress, drawn one final time.
    fn finish(&mut self, progress: &Progress);
    /// Following ended with an error: leave the display so that the error line reads well.
    fn stop(&mut self);
    /// Write a line of its own (a notice) without breaking the display.
    fn note(&mut self, line: &str);
    /// Stop drawing (a prompt takes the terminal) until [`Render::resume`].
    fn pause(&mut self);
    fn resume(&mut self);
}

/// `1.2 GiB` (powers of 1024, as the configuration's sizes).
pub fn size(bytes: u64) -> String {
    ByteSize(bytes).display().iec().to_string()
}

/// `85.0 MiB/s`; `None` when no time passed.
pub fn rate(bytes: u64, elapsed: Duration) -> Option<String> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0).then(|| format!("{}/s", size((bytes as f64 / secs) as u64)))
}

/// One plain progress line: `prewarm: 12/40 files, 1.2 GiB/3.4 GiB, 85.0 MiB/s`; before the
/// task reports anything, `prewarm: task waiting`.
pub fn plain_line(state: &str, progress: &Progress, rate: Option<&str>) -> String {
    if !progress.reported {
        return format!("prewarm: task {state}");
    }
    let of = |done: String, total: Option<String>| match total {
        Some(total) => format!("{done}/{total}"),
        None => done,
    };
    let mut line = format!(
        "prewarm: {} files, {}",
        of(
            progress.files_done.to_string(),
            progress.files_total.map(|t| t.to_string())
        ),
        of(size(progress.bytes_done), progress.bytes_total.map(size)),
    );
    if let Some(rate) = rate {
        line.push_str(", ");
        line.push_str(rate);
    }
    line
}

/// Plain lines on stderr: the first poll, then at most one line per `every`, and the end (with
/// the average rate of the whole run).
pub struct Lines {
    every: Duration,
    started: Instant,
    last: Option<(Instant, u64)>,
    state: String,
    out: Box<dyn FnMut(&str) + Send>,
}

impl Lines {
    pub fn stderr(every: Duration) -> Self {
        Self::new(every, Box::new(|line| eprintln!("{line}")))
    }

    pub fn new(every: Duration, out: Box<dyn FnMut(&str) + Send>) -> Self {
        Self {
            every,
            started: Instant::now(),
            last: None,
            state: String::new(),
            out,
        }
    }

    fn update_at(&mut self, now: Instant, state: &str, progress: &Progress) {
        self.state = state.to_string();
        let due = match self.last {
            None => true,
            Some((at, _)) => now.duration_since(at) >= self.every,
        };
        if !due {
            return;
        }
        let line = match self.last {
            Some((at, bytes)) => {
                let rate = rate(
                    progress.bytes_done.saturating_sub(bytes),
                    now.duration_since(at),
                );
                plain_line(state, progress, rate.as_deref())
            }
            None => plain_line(state, progress, None),
        };
        (self.out)(&line);
        self.last = Some((now, progress.bytes_done));
    }

    fn finish_at(&mut self, now: Instant, progress: &Progress) {
        let rate = rate(progress.bytes_done, now.duration_since(self.started));
        let line = plain_line(&self.state, progress, rate.as_deref());
        (self.out)(&line);
    }
}

impl Render for Lines {
    fn update(&mut self, state: &str, progress: &Progress) {
        self.update_at(Instant::now(), state, progress);
    }
    fn finish(&mut self, progress: &Progress) {
        self.finish_at(Instant::now(), progress);
    }
    fn stop(&mut self) {}
    fn note(&mut self, line: &str) {
        (self.out)(&super::drf::one_line(line));
    }
    fn pause(&mut self) {}
    fn resume(&mut self) {}
}

/// `12/40 files` (or `12 files` before the total is known).
fn files(progress: &Progress) -> String {
    match progress.files_total {
        Some(total) => format!("{}/{total} files", progress.files_done),
        None => format!("{} files", progress.files_done),
    }
}

/// The terminal bar: bytes with a bar, files done/total, rate and ETA.
pub struct Bar {
    bar: ProgressBar,
    sized: bool,
}

/// `⠙ [00:00:42] [=======>      ] 1.2 GiB/3.4 GiB · 12/40 files · 85 MiB/s · ETA 25s`
const BAR_TEMPLATE: &str = "{spinner} [{elapsed_precise}] [{wide_bar}] {binary_bytes}/{binary_total_bytes} · {msg} · {binary_bytes_per_sec} · ETA {eta}";
/// Before the sizes are known.
const WAIT_TEMPLATE: &str = "{spinner} [{elapsed_precise}] {msg}";

impl Bar {
    pub fn stderr() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(style(WAIT_TEMPLATE));
        bar.set_message("waiting for the sync task");
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar, sized: false }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the bar templates are constants")
        .progress_chars("=> ")
}

impl Render for Bar {
    fn update(&mut self, state: &str, progress: &Progress) {
        match (progress.bytes_total, self.sized) {
            (Some(total), _) => {
                self.bar.set_message(files(progress));
                if !self.sized {
                    self.bar.set_style(style(BAR_TEMPLATE));
                    self.sized = true;
                }
                self.bar.set_length(total);
                self.bar.set_position(progress.bytes_done);
            }
            (None, false) if progress.reported => self.bar.set_message("listing the files"),
            (None, false) => self.bar.set_message(format!("task {state}")),
            (None, true) => {}
        }
    }
    fn finish(&mut self, progress: &Progress) {
        if progress.bytes_total.is_some() {
            self.update("", progress);
        }
        // The last frame stays on screen; what follows goes below it.
        self.bar.abandon();
        eprintln!();
    }
    fn stop(&mut self) {
        self.bar.abandon();
        eprintln!();
    }
    fn note(&mut self, line: &str) {
        self.bar.println(super::drf::one_line(line));
    }
    fn pause(&mut self) {
        // The last frame stays as it is; the prompt goes on the next line.
        self.bar.set_draw_target(ProgressDrawTarget::hidden());
        eprintln!();
    }
    fn resume(&mut self) {
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn progress(files: (u64, u64), bytes: (u64, u64)) -> Progress {
        Progress {
            files_done: files.0,
            files_total: Some(files.1),
            bytes_done: bytes.0,
            bytes_total: Some(bytes.1),
            reported: true,
        }
    }

    #[test]
    fn plain_lines_read_like_the_docs() {
        let gib = 1 << 30;
        let p = progress((12, 40), (gib + gib / 5, 3 * gib + 2 * gib / 5));
        assert_eq!(
            plain_line("running", &p, Some("85.0 MiB/s")),
            "prewarm: 12/40 files, 1.2 GiB/3.4 GiB, 85.0 MiB/s"
        );
        let listing = Progress {
            reported: true,
            files_done: 0,
            ..Progress::default()
        };
        assert_eq!(
            plain_line("running", &listing, None),
            "prewarm: 0 files, 0 B"
        );
        assert_eq!(
            plain_line("waiting", &Progress::default(), None),
            "prewarm: task waiting"
        );
    }

    #[test]
    fn rates_need_time() {
        assert_eq!(
            rate(100 << 20, Duration::from_secs(2)).unwrap(),
            "50.0 MiB/s"
        );
        assert_eq!(rate(5, Duration::ZERO), None);
    }

    #[test]
    fn lines_come_first_then_every_interval_then_at_the_end() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        let mut lines = Lines::new(
            Duration::from_secs(5),
            Box::new(move |l| sink.lock().unwrap().push(l.to_string())),
        );
        let t0 = lines.started;
        let mib = 1 << 20;
        lines.update_at(t0, "waiting", &Progress::default());
        lines.update_at(
            t0 + Duration::from_secs(1),
            "running",
            &progress((1, 4), (mib, 40 * mib)),
        );
        lines.update_at(
            t0 + Duration::from_secs(5),
            "running",
            &progress((2, 4), (21 * mib, 40 * mib)),
        );
        lines.update_at(
            t0 + Duration::from_secs(6),
            "running",
            &progress((3, 4), (30 * mib, 40 * mib)),
        );
        lines.finish_at(
            t0 + Duration::from_secs(8),
            &progress((4, 4), (40 * mib, 40 * mib)),
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "prewarm: task waiting",
                "prewarm: 2/4 files, 21.0 MiB/40.0 MiB, 4.2 MiB/s",
                "prewarm: 4/4 files, 40.0 MiB/40.0 MiB, 5.0 MiB/s",
            ]
        );
    }

    #[test]
    fn the_bar_templates_parse() {
        let _ = style(BAR_TEMPLATE);
        let _ = style(WAIT_TEMPLATE);
    }
}
