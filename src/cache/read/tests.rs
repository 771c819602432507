//! The reader's buffer reuse and page-cache reads.

use std::io::Write;

use super::*;

/// A body file of `len` bytes whose every byte differs from its neighbours'.
fn body(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&bytes).expect("write");
    (file, bytes)
}

#[tokio::test]
async fn a_chunk_still_held_is_never_read_into_again() {
    let len = 3 * CHUNK as usize + 7;
    let (file, bytes) = body(len);
    let opened = file.reopen().expect("reopen");
    let mut reader = Reader::complete("o".into(), opened, len as u64);
    // Every chunk is kept (as a client too slow to take them would): none may change later.
    let mut held = Vec::new();
    while let Some(chunk) = reader.next_chunk().await.expect("read") {
        held.push(chunk);
    }
    assert_eq!(held.len(), 4);
    assert_eq!(held.concat(), bytes);
}

#[tokio::test]
async fn a_released_chunk_buffer_is_reused() {
    let len = 3 * CHUNK as usize + 7;
    let (file, bytes) = body(len);
    let opened = file.reopen().expect("reopen");
    let mut reader = Reader::complete("o".into(), opened, len as u64);
    let mut got = Vec::new();
    let mut addresses = Vec::new();
    while let Some(chunk) = reader.next_chunk().await.expect("read") {
        got.extend_from_slice(&chunk);
        addresses.push(chunk.as_ptr());
        // Dropped here, as pingora does once the chunk is sent.
    }
    assert_eq!(got, bytes);
    assert!(
        addresses.windows(2).all(|w| w[0] == w[1]),
        "every chunk read into the first one's buffer: {addresses:?}"
    );
}

#[tokio::test]
async fn a_seek_back_reads_the_right_bytes_into_a_reused_buffer() {
    let len = 2 * CHUNK as usize;
    let (file, bytes) = body(len);
    let opened = file.reopen().expect("reopen");
    let mut reader = Reader::complete("o".into(), opened, len as u64);
    drop(reader.next_chunk().await.expect("read"));
    reader.seek(10, Some(20)).expect("seek");
    let chunk = reader.next_chunk().await.expect("read").expect("a chunk");
    assert_eq!(&chunk[..], &bytes[10..20]);
    // Longer again than the last chunk: the reused buffer grows back.
    reader.seek(5, None).expect("seek");
    let chunk = reader.next_chunk().await.expect("read").expect("a chunk");
    assert_eq!(&chunk[..], &bytes[5..5 + CHUNK as usize]);
}

#[test]
fn page_cache_reads_never_return_more_than_the_file_holds() {
    let (file, bytes) = body(1000);
    let opened = file.reopen().expect("reopen");
    let mut buf = vec![0; 600];
    let n = read_cached(&opened, &mut buf, 700);
    // Just written, so cached (or 0 where RWF_NOWAIT is not supported).
    assert!(n == 300 || n == 0, "{n}");
    assert_eq!(&buf[..n], &bytes[700..700 + n]);
}
