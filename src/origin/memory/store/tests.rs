//! The metadata store: restarts, corrupt files, caps, the cache budget.
use super::*;

/// A disk cache of `max` bytes in `dir`, opened as at a (re)start.
fn open(dir: &tempfile::TempDir, max: u64) -> Option<&'static DiskCache> {
    Some(DiskCache::open(dir.path(), max).unwrap())
}

fn side_path(dir: &tempfile::TempDir, key: &str) -> std::path::PathBuf {
    dir.path().join("v1/meta").join(MetaStore::file_for(key).0)
}

/// Bytes and count of the files under `v1/meta`.
fn meta_files(dir: &tempfile::TempDir) -> (u64, usize) {
    let mut total = (0, 0);
    for shard in fs_err::read_dir(dir.path().join("v1/meta")).unwrap() {
        for file in fs_err::read_dir(shard.unwrap().path()).unwrap() {
            total.0 += file.unwrap().metadata().unwrap().len();
            total.1 += 1;
        }
    }
    total
}

#[test]
fn survives_a_restart_and_drops_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetaStore::new(open(&dir, 1 << 20));
    store.put("rev:a", Value::Commit("c".repeat(40)));
    let reopened = MetaStore::new(open(&dir, 1 << 20));
    assert_eq!(
        reopened.get("rev:a").map(|e| e.value),
        Some(Value::Commit("c".repeat(40)))
    );
    assert!(reopened.get("rev:b").is_none());

    let path = side_path(&dir, "rev:a");
    fs_err::write(&path, b"{not json").unwrap();
    let third = MetaStore::new(open(&dir, 1 << 20));
    assert!(third.get("rev:a").is_none());
    assert!(!path.exists(), "a corrupt entry is removed");
}

#[test]
fn keys_remembered_as_absent_stay_within_their_byte_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetaStore::new(open(&dir, 1 << 20));
    for i in 0..40 {
        let key = format!("{i}:{}", "p".repeat(1 << 20));
        assert!(store.get(&key).is_none());
        let absent = store.absent.lock();
        assert!(absent.keys.contains(&key), "just looked up");
        assert!(absent.bytes <= ABSENT_MAX_BYTES, "{} bytes", absent.bytes);
    }
    assert!(store.get("rev:x").is_none());
    store.put("rev:x", Value::Commit("x".repeat(40)));
    let reopened = MetaStore::new(open(&dir, 1 << 20));
    assert!(store.get("rev:x").is_some() && reopened.get("rev:x").is_some());
}

#[test]
fn only_files_listed_at_start_or_written_since_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let first = MetaStore::new(open(&dir, 1 << 20));
    let second = MetaStore::new(open(&dir, 1 << 20));
    first.put("rev:a", Value::Commit("a".repeat(40)));
    // `second` listed the directory before the file existed: a key it never saw costs it
    // no file system call (every resolve asks for a refusal that is almost never there).
    assert!(second.get("rev:a").is_none());
    second.put("rev:b", Value::Commit("b".repeat(40)));
    second.remove("rev:b");
    assert!(second.get("rev:b").is_none());
    let third = MetaStore::new(open(&dir, 1 << 20));
    assert!(third.get("rev:a").is_some() && third.get("rev:b").is_none());
}

#[test]
fn refusals_stay_in_memory_within_their_caps() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetaStore::new(open(&dir, 1 << 20));
    let refusal = |i: usize| {
        Value::Refusal(StoredAnswer {
            status: 404,
            headers: vec![("x-error-code".into(), "EntryNotFound".into())],
            body: format!("Remembered {i} not found").into_bytes(),
        })
    };
    let count = REFUSALS_MAX + 100;
    for i in 0..count {
        store.put(&format!("neg:{i}"), refusal(i));
    }
    assert_eq!(meta_files(&dir), (0, 0), "nothing written to disk");
    assert_eq!(
        store.get(&format!("neg:{}", count - 1)).map(|e| e.value),
        Some(refusal(count - 1))
    );
    assert!(store.get("neg:0").is_none(), "the oldest was dropped");
    let refusals = store.refusals.lock();
    assert_eq!(refusals.lru.len(), REFUSALS_MAX);
    drop(refusals);
    // Large refusals are capped by bytes.
    for i in 0..200 {
        let big = Value::Refusal(StoredAnswer {
            status: 404,
            headers: Vec::new(),
            body: vec![b'x'; 256 << 10],
        });
        store.put(&format!("big:{i}"), big);
    }
    assert!(store.refusals.lock().bytes <= REFUSALS_MAX_BYTES);
}

#[test]
fn side_files_stay_within_the_cache_budget() {
    let dir = tempfile::tempdir().unwrap();
    let max = 8 << 10;
    let cache = open(&dir, max);
    let store = MetaStore::new(cache);
    for i in 0..500 {
        store.put(&format!("rev:{i}"), Value::Commit(format!("{i:040}")));
        let (bytes, _) = meta_files(&dir);
        assert!(bytes <= max, "{bytes} bytes on disk after {i}");
    }
    let stats = cache.unwrap().stats();
    assert!(
        stats.side_bytes <= max && stats.side_files > 10,
        "{stats:?}"
    );
    assert_eq!(
        meta_files(&dir),
        (stats.side_bytes, stats.side_files as usize)
    );
    // After a restart the most recent ones are known, the oldest were evicted.
    let reopened = MetaStore::new(open(&dir, max));
    assert!(reopened.get("rev:499").is_some());
    assert!(reopened.get("rev:0").is_none());
}
