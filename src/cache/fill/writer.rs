//! The writer thread of one fill: the pipelined writes that `write_body` feeds through a
//! bounded channel, the background `fdatasync`s, and the `Fill` methods that start, feed and
//! join it.

use std::fs::File;
use std::io::IoSlice;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Fill, FillDir, FillState, Inflight, IN_FLIGHT, SYNC_EVERY};
use crate::cache::layout::BODY;
use crate::cache::Error;
use crate::hub::digest::Verifier;

/// What the writer thread hands back when its channel closes.
struct Written {
    verifier: Verifier,
}

/// The per-fill writer: a blocking thread fed full buffers through a bounded channel.
pub(super) struct Writer {
    /// `None` once closed (the writer then drains the queue and returns).
    tx: Option<mpsc::Sender<Vec<Bytes>>>,
    handle: JoinHandle<Result<Written, Error>>,
}

impl Fill {
    /// Starts the writer thread (on the first buffer to write).
    fn start_writer(&mut self) -> Result<mpsc::Sender<Vec<Bytes>>, Error> {
        if self.writer.is_none() {
            let (Some(verifier), Some(dir)) = (self.verifier.take(), self.dir.clone()) else {
                return Err(self.interrupted());
            };
            let (tx, rx) = mpsc::channel(IN_FLIGHT);
            let entry = self.entry.clone();
            let handle = tokio::task::spawn_blocking(move || write_loop(rx, entry, dir, verifier));
            self.writer = Some(Writer {
                tx: Some(tx),
                handle,
            });
        }
        self.writer
            .as_ref()
            .and_then(|w| w.tx.clone())
            .ok_or_else(|| self.interrupted())
    }

    /// A slot in the writer's channel, waiting while it is full (backpressure). Cancel-safe:
    /// nothing is taken before the slot is there.
    pub(super) async fn reserve(&mut self) -> Result<mpsc::OwnedPermit<Vec<Bytes>>, Error> {
        let tx = self.start_writer()?;
        match tx.reserve_owned().await {
            Ok(permit) => Ok(permit),
            // The writer stopped: it failed; its error says why.
            Err(_) => Err(self
                .join_writer()
                .await
                .err()
                .unwrap_or_else(|| self.interrupted())),
        }
    }

    /// Hands the pending buffer, if any, to the writer.
    pub(super) async fn flush(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let permit = self.reserve().await?;
        self.pending_len = 0;
        permit.send(std::mem::take(&mut self.pending));
        Ok(())
    }

    /// Closes the writer's channel and waits for it to write what it holds; its verifier.
    /// Cancel-safe: the handle stays in `self` until the writer has exited.
    pub(super) async fn join_writer(&mut self) -> Result<Verifier, Error> {
        let Some(writer) = self.writer.as_mut() else {
            return self.verifier.take().ok_or_else(|| self.interrupted());
        };
        // Closed: the writer's `recv` returns `None` once the queue is drained.
        writer.tx = None;
        let joined = (&mut writer.handle).await;
        self.writer = None;
        match joined {
            Ok(Ok(Written { verifier })) => Ok(verifier),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Join {
                what: "writing a fill",
            }),
        }
    }

    /// Whether the writer has stopped before being asked to (it failed).
    pub(super) fn writer_stopped(&self) -> bool {
        self.writer
            .as_ref()
            .and_then(|w| w.tx.as_ref())
            .is_some_and(|tx| tx.is_closed())
    }
}

/// The writer thread of one fill: writes each buffer at the next offset, publishes the bytes
/// on disk, then hashes them. Ends when the channel closes (returning the verifier), on a
/// write error, or when the fill has failed. Holds `dir` until it returns, so a failed
/// fill's directory is removed only after the last write.
fn write_loop(
    mut rx: mpsc::Receiver<Vec<Bytes>>,
    entry: Arc<Inflight>,
    dir: Arc<FillDir>,
    mut verifier: Verifier,
) -> Result<Written, Error> {
    let mut written = 0u64;
    let mut synced_at = 0u64;
    let mut sync: Option<BackgroundSync> = None;
    let body = dir.path.join(BODY);
    while let Some(chunks) = rx.blocking_recv() {
        if entry.progress.borrow().state == FillState::Failed {
            return Err(Error::Interrupted {
                key: entry.name.clone(),
            });
        }
        write_all_at(&entry.file, &chunks, written).map_err(|source| Error::Io {
            op: "writing",
            path: body.clone(),
            source,
        })?;
        written += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
        // Published only now that the bytes are on disk (readers pread them).
        entry.progress.send_modify(|p| p.written = written);
        if written - synced_at >= SYNC_EVERY && sync.as_ref().is_none_or(BackgroundSync::is_done) {
            // The previous sync's outcome first: a writeback error is reported only once.
            BackgroundSync::check(sync.take(), &body)?;
            synced_at = written;
            sync = Some(BackgroundSync::start(&entry.file));
        }
        for chunk in &chunks {
            verifier.update(chunk);
        }
    }
    BackgroundSync::check(sync, &body)?;
    drop(dir);
    Ok(Written { verifier })
}

/// Writes `chunks` one after the other from offset `at`, with as few `pwritev`s as the kernel
/// allows (one per buffer, typically, rather than one per upstream read of ~64 KiB).
fn write_all_at(file: &File, chunks: &[Bytes], mut at: u64) -> std::io::Result<()> {
    /// Slices per `pwritev` (Linux's `IOV_MAX`).
    const IOV_MAX: usize = 1024;
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        let n = rest.len().min(IOV_MAX);
        match rustix::io::pwritev(file, &rest[..n], at) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(wrote) => {
                at += wrote as u64;
                IoSlice::advance_slices(&mut rest, wrote);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A background `fdatasync` of a fill's body, started by the writer every [`SYNC_EVERY`]
/// bytes so the disk writes while the body arrives. Its result is checked before the next one
/// starts and when the writer ends: Linux reports a writeback error to one `fsync` only, so
/// an error seen here would otherwise be lost to the fsync before publishing.
enum BackgroundSync {
    Running(std::thread::JoinHandle<std::io::Result<()>>),
    /// No thread could be started: synced inline.
    Done(std::io::Result<()>),
}

impl BackgroundSync {
    fn start(file: &Arc<File>) -> Self {
        let shared = file.clone();
        match std::thread::Builder::new()
            .name("fill-sync".into())
            .spawn(move || shared.sync_data())
        {
            Ok(handle) => BackgroundSync::Running(handle),
            Err(_) => BackgroundSync::Done(file.sync_data()),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            BackgroundSync::Running(handle) => handle.is_finished(),
            BackgroundSync::Done(_) => true,
        }
    }

    /// Waits for `sync` (if any) and turns its failure into the fill's.
    fn check(sync: Option<BackgroundSync>, body: &Path) -> Result<(), Error> {
        let result = match sync {
            None => return Ok(()),
            Some(BackgroundSync::Done(result)) => result,
            Some(BackgroundSync::Running(handle)) => handle.join().map_err(|_| Error::Join {
                what: "syncing a fill",
            })?,
        };
        result.map_err(|source| Error::Io {
            op: "syncing",
            path: body.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    #[test]
    fn chunks_are_written_back_to_back_from_the_offset() {
        let file = tempfile::tempfile().expect("temp file");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let chunks = [
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from(big.clone()),
            Bytes::from_static(b"z"),
        ];
        write_all_at(&file, &chunks, 5).expect("write");
        let mut back = vec![0; 5 + 3 + big.len() + 1];
        file.read_exact_at(&mut back, 0).expect("read");
        assert_eq!(&back[..5], &[0; 5]);
        assert_eq!(&back[5..8], b"abc");
        assert_eq!(&back[8..8 + big.len()], &big[..]);
        assert_eq!(back.last(), Some(&b'z'));
        assert!(write_all_at(&file, &[], 0).is_ok());
    }
}
