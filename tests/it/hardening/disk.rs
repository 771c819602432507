//! Disk and state: file modes, junk URLs within the budget, damaged state files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde_json::json;

use crate::api::{href, Admin, DISTRIBUTIONS, GUARDS, REMOTES};
use crate::cache::{hub_with, resolve};
use crate::support::{Content, FakeHub, TestServer};

/// Every file and directory under `dir` (itself included), with its mode.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        out.push((path.clone(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    out
}

/// What `du --apparent-size` would count under `dir`: file bytes, and the number of files.
fn file_bytes(dir: &Path) -> (u64, usize) {
    modes(dir)
        .iter()
        .filter_map(|(p, _)| std::fs::symlink_metadata(p).ok())
        .filter(|m| m.is_file())
        .fold((0, 0), |(bytes, files), m| (bytes + m.len(), files + 1))
}

fn assert_private(dir: &Path, when: &str) {
    let open: Vec<String> = modes(dir)
        .into_iter()
        .filter(|(_, mode)| mode & 0o077 != 0)
        .map(|(p, mode)| format!("{mode:o} {}", p.display()))
        .collect();
    assert!(
        open.is_empty(),
        "{when}: readable by others:\n{}",
        open.join("\n")
    );
}

/// Issue 10 item 3: the cache holds private bytes, so nothing under `cache.dir` is open to
/// group or others, and a `cache.dir` left open (an earlier release, the operator) is closed
/// at start.
#[tokio::test]
async fn cached_bytes_and_metadata_are_private_to_the_owner() {
    let hub = hub_with(&[
        (
            "config.json",
            Content::from(&b"{\"private\": true}"[..]),
            false,
        ),
        ("model.bin", Content::pattern(300_000, 3), true),
    ])
    .await;
    let mut server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .start()
        .await;
    for path in ["config.json", "model.bin"] {
        assert_eq!(server.get(&resolve(path)).await.status(), 200, "{path}");
    }
    for _ in 0..2 {
        assert_eq!(server.get(&resolve("missing.json")).await.status(), 404);
    }
    let cache = server.cache_dir();
    let (_, files) = file_bytes(&cache);
    assert!(
        files >= 4,
        "two objects (meta and body each) and their metadata"
    );
    assert_private(&cache, "after downloads");

    // An open tree, as an earlier release left it: closed again at start.
    server.kill9();
    for (path, _) in modes(&cache) {
        let open = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).unwrap();
    }
    server.restart().await;
    assert_private(&cache, "after a restart");
    assert_eq!(server.get(&resolve("model.bin")).await.status(), 200);
    assert_private(&cache, "after a hit");
}

/// Issue 10 item 10: distinct missing-file URLs cost no disk (remembered 404s stay in
/// memory, bounded), and everything under `cache.dir` stays within `cache.max_size`.
#[tokio::test]
async fn junk_urls_do_not_fill_the_disk_and_404s_are_remembered_in_memory() {
    const JUNK: usize = 2_000;
    let hub = hub_with(&[("config.json", Content::from(&b"{}"[..]), false)]).await;
    let max: u64 = 256 << 10;
    let server = TestServer::builder()
        .remote("hf", &hub)
        .distribution("hf", "hf")
        .max_size("256KiB")
        .start()
        .await;
    assert_eq!(server.get(&resolve("config.json")).await.status(), 200);
    let junk = |i: usize| resolve(&format!("junk/{i:05}-{}.bin", "x".repeat(40)));
    let statuses: Vec<u16> = futures::stream::iter(0..JUNK)
        .map(|i| {
            let server = &server;
            async move { server.get(&junk(i)).await.status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 404),
        "every junk URL is a 404"
    );
    let (bytes, files) = file_bytes(&server.cache_dir());
    eprintln!("after {JUNK} junk URLs: cache dir {bytes} bytes in {files} files (max_size {max})");
    assert!(
        bytes <= max,
        "cache dir holds {bytes} bytes in {files} files, max_size {max}"
    );

    // Remembered: the second time, no request reaches the Hub.
    for i in [0, JUNK / 2, JUNK - 1] {
        let path = format!("junk/{i:05}-");
        let asked = || hub.count(|r| r.path.contains(&path));
        let before = asked();
        let resp = server.get(&junk(i)).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.header("x-error-code"), Some("EntryNotFound"));
        assert_eq!(asked(), before, "{i}: asked the Hub again");
    }
    // The real file is still served from the cache.
    let before = hub.body_transfers("config.json");
    assert_eq!(server.get(&resolve("config.json")).await.body(), b"{}");
    assert_eq!(hub.body_transfers("config.json"), before);
}

/// Issue 10 item 12: a state file cut short anywhere makes hubcache refuse to start, naming
/// the file (and the previous generation when there is one), instead of starting with fewer
/// objects.
#[tokio::test]
async fn a_truncated_state_file_is_refused_never_loaded_with_fewer_objects() {
    let hub = FakeHub::start().await;
    let mut server = TestServer::builder().remote("hf", &hub).start().await;
    let admin = Admin::new(&server);
    let remote = admin
        .create(REMOTES, &json!({"name": "api-hf", "url": hub.url()}))
        .await;
    let guard = admin
        .create(
            GUARDS,
            &json!({"name": "g", "header_name": "Authorization", "header_value": "Bearer s3cret"}),
        )
        .await;
    for (i, name) in ["one", "two", "three"].iter().enumerate() {
        let mut body = json!({"name": name, "base_path": name, "remote": href(&remote)});
        if i == 0 {
            body["content_guard"] = json!(href(&guard));
        }
        admin.create(DISTRIBUTIONS, &body).await;
    }
    server.kill9();
    let state = server.state_path();
    let prev = state.with_file_name("state.yaml.prev");
    let full = std::fs::read(&state).unwrap();
    let kept = std::fs::read(&prev).ok();
    let _ = std::fs::remove_file(&prev);

    let step = (full.len() / 40).max(1);
    let cuts: Vec<usize> = (0..full.len() - 1)
        .step_by(step)
        .chain([full.len() - 2])
        .collect();
    for &len in &cuts {
        std::fs::write(&state, &full[..len]).unwrap();
        let refused = server.try_restart().await.err();
        let err = refused.unwrap_or_else(|| panic!("started with the state file cut at {len}"));
        assert!(err.contains("exited early"), "cut at {len}: {err}");
        assert!(!err.contains("exit status: 0"), "cut at {len}: {err}");
        assert!(
            err.contains(&*state.to_string_lossy()),
            "cut at {len}, file not named: {err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }

    // With the previous generation present, the message says where it is.
    let kept = kept.expect("the previous generation is kept beside the file");
    std::fs::write(&prev, &kept).unwrap();
    std::fs::write(&state, &full[..full.len() / 2]).unwrap();
    let err = server
        .try_restart()
        .await
        .expect_err("a damaged file is refused");
    assert!(err.contains(&*prev.to_string_lossy()), "{err}");

    // The whole file starts with every object.
    std::fs::write(&state, &full).unwrap();
    server.try_restart().await.unwrap();
    let admin = Admin::new(&server);
    assert_eq!(admin.list(DISTRIBUTIONS).await.len(), 3);
    assert_eq!(admin.list(GUARDS).await.len(), 1);
}
