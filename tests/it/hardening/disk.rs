//! Disk and state: file modes, junk URLs within the budget, damaged state files.

use serde_json::json;

use crate::api::{href, Admin, DISTRIBUTIONS, GUARDS, REMOTES};
use crate::support::{FakeHub, TestServer};

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
