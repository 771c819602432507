//! Stdout for log events. Access lines (target `access`, one per request) are collected in
//! memory and written in batches: at [`FLUSH_AT`] bytes, every [`FLUSH_EVERY`] by a
//! background thread, before any other event, and at exit ([`flush`]). Every other event is
//! written at once. Without this, each request costs a `write` and the runtime threads
//! contend on the stdout lock (seen as futex wake-ups per request in the small-file benchmark).

use std::io::{self, Write};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;
use tracing_subscriber::fmt::MakeWriter;

/// Pending bytes that make the next access line write the batch out.
const FLUSH_AT: usize = 32 * 1024;
/// Longest time an access line waits in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Lines waiting for `out`, and `out` with a spare buffer (swapped with the pending one, so
/// neither allocation is lost between batches).
pub struct Lines<W> {
    pending: Mutex<Vec<u8>>,
    out: Mutex<(W, Vec<u8>)>,
}

impl<W: Write> Lines<W> {
    /// Lines written to `out`.
    pub fn new(out: W) -> Self {
        Lines {
            pending: Mutex::new(Vec::with_capacity(FLUSH_AT * 2)),
            out: Mutex::new((out, Vec::with_capacity(FLUSH_AT * 2))),
        }
    }

    /// Queues one line; writes the batch once [`FLUSH_AT`] bytes are pending. A failed write
    /// is dropped: the access log must never fail a request.
    pub fn queue(&self, line: &[u8]) {
        let _ = self.push(line);
    }

    /// Queues one formatted event; writes the batch once [`FLUSH_AT`] bytes are pending.
    fn push(&self, line: &[u8]) -> io::Result<()> {
        let full = {
            let mut pending = self.pending.lock();
            pending.extend_from_slice(line);
            pending.len() >= FLUSH_AT
        };
        if full {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Writes what is pending, then `line` (empty: nothing more), in that order.
    fn write_out(&self, line: &[u8]) -> io::Result<()> {
        let mut out = self.out.lock();
        let (writer, spare) = &mut *out;
        std::mem::swap(&mut *self.pending.lock(), spare);
        let written = write_lines(writer, spare)
            .and_then(|()| writer.write_all(line))
            .and_then(|()| writer.flush());
        spare.clear();
        written
    }

    /// Writes everything pending.
    pub fn flush(&self) -> io::Result<()> {
        self.write_out(&[])
    }
}

/// Largest write that a pipe takes whole (`PIPE_BUF` on Linux): two processes sharing stdout
/// (the old and the new one during an upgrade) never interleave inside such a write.
const ATOMIC_WRITE: usize = 4096;

/// Writes whole lines of `data`, in writes of at most [`ATOMIC_WRITE`] bytes unless a single
/// line is longer.
fn write_lines<W: Write>(writer: &mut W, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let window = &data[..data.len().min(ATOMIC_WRITE)];
        let end = if window.len() == data.len() {
            data.len()
        } else {
            match window.iter().rposition(|&b| b == b'\n') {
                Some(last) => last + 1,
                // One line longer than the window: up to its end.
                None => data
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(data.len(), |nl| nl + 1),
            }
        };
        writer.write_all(&data[..end])?;
        writer.flush()?;
        data = &data[end..];
    }
    Ok(())
}

/// One event's writer: queues access lines, writes the rest through.
pub struct EventWriter<'a, W: Write> {
    lines: &'a Lines<W>,
    queued: bool,
}

impl<W: Write> Write for EventWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.queued {
            self.lines.push(buf)?;
        } else {
            self.lines.write_out(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for &'static Lines<W> {
    type Writer = EventWriter<'static, W>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            lines: self,
            queued: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EventWriter {
            lines: self,
            queued: meta.target() == "access" && *meta.level() == tracing::Level::INFO,
        }
    }
}

static STDOUT: OnceLock<Lines<io::Stdout>> = OnceLock::new();

/// The process's stdout lines, with their flushing thread started on first use.
pub fn stdout() -> &'static Lines<io::Stdout> {
    STDOUT.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(|| loop {
                std::thread::sleep(FLUSH_EVERY);
                if let Some(lines) = STDOUT.get() {
                    let _ = lines.flush();
                }
            });
        if let Err(err) = spawned {
            eprintln!(
                "hubcache: no log flushing thread ({err}): access lines wait for the next batch"
            );
        }
        Lines::new(io::stdout())
    })
}

/// Writes every pending access line (call before exiting).
pub fn flush() {
    if let Some(lines) = STDOUT.get() {
        let _ = lines.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A writer whose output the test can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn text(out: &Shared) -> String {
        String::from_utf8(out.0.lock().clone()).unwrap()
    }

    fn subscriber(lines: &'static Lines<Shared>) -> impl tracing::Subscriber {
        tracing_subscriber::fmt()
            .with_writer(lines)
            .with_ansi(false)
            .without_time()
            .finish()
    }

    #[test]
    fn access_lines_wait_for_a_flush_and_other_events_keep_the_order() {
        let out = Shared::default();
        let lines: &'static Lines<Shared> = Box::leak(Box::new(Lines::new(out.clone())));
        tracing::subscriber::with_default(subscriber(lines), || {
            tracing::info!(target: "access", n = 1);
            tracing::info!(target: "access", n = 2);
            assert_eq!(text(&out), "", "access lines are batched");
            tracing::warn!(target: "hubcache", "something else");
            tracing::info!(target: "access", n = 3);
        });
        let before_flush = text(&out);
        let order: Vec<&str> = before_flush
            .lines()
            .map(|l| l.split_once(": ").map_or(l, |(_, rest)| rest))
            .collect();
        assert_eq!(order, ["n=1", "n=2", "something else"], "{before_flush}");
        lines.flush().unwrap();
        assert!(text(&out).ends_with("n=3\n"), "{}", text(&out));
    }

    /// Records the size of each write.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.push(data.to_vec());
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn batches_go_out_in_whole_lines_a_pipe_takes_atomically() {
        let short = format!("{}\n", "s".repeat(300));
        let long = format!("{}\n", "l".repeat(ATOMIC_WRITE + 500));
        let data = [short.repeat(20), long.clone(), short.repeat(3)].concat();
        let mut out = Writes::default();
        write_lines(&mut out, data.as_bytes()).unwrap();
        assert_eq!(out.0.concat(), data.as_bytes(), "everything, in order");
        for write in &out.0 {
            assert!(write.ends_with(b"\n"), "whole lines only");
            assert!(
                write.len() <= ATOMIC_WRITE || write == long.as_bytes(),
                "a {}-byte write",
                write.len()
            );
        }
        assert!(out.0.len() < 20, "{} writes: still batched", out.0.len());
    }

    #[test]
    fn a_full_batch_is_written_without_waiting() {
        let out = Shared::default();
        let lines: &'static Lines<Shared> = Box::leak(Box::new(Lines::new(out.clone())));
        let line = format!("{}\n", "x".repeat(99));
        let n = FLUSH_AT / line.len() + 1;
        tracing::subscriber::with_default(subscriber(lines), || {
            for _ in 0..n {
                tracing::info!(target: "access", "{}", line.trim_end());
            }
        });
        let written = text(&out).lines().count();
        assert!(
            written > 0 && written < n,
            "{written} of {n} lines written before a flush: a batch goes out at FLUSH_AT bytes"
        );
        lines.flush().unwrap();
        assert_eq!(text(&out).lines().count(), n);
    }
}
