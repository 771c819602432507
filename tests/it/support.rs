//! Test harness: a fake Hugging Face Hub with its CDN, a request recorder, and `TestServer`,
//! which runs the real hubcache binary against them.
//!
//! ```ignore
//! let hub = FakeHub::start().await;
//! hub.add_file("org/model", "main", "config.json", b"{}");
//! let server = TestServer::builder().remote("hf", &hub).distribution("hf-public", "hf").start().await;
//! let resp = server.get("/pulp/content/hf-public/org/model/resolve/main/config.json").await;
//! assert_eq!(resp.header("x-repo-commit"), Some(hub.commit("org/model", "main").as_str()));
//! ```
#![allow(dead_code, unused_imports)]

use std::time::{Duration, Instant};

mod client;
mod content;
mod fake_cdn;
mod fake_hub;
mod file_response;
mod http;
mod hub_api;
mod hub_routes;
mod model;
mod postgres;
mod recorder;
mod server;
mod server_config;

pub use client::{test_client, TestResponse};
pub use content::Content;
pub use fake_cdn::FakeCdn;
pub use fake_hub::FakeHub;
pub use model::{Fault, FileEntry, RepoSpec, RepoType};
pub use postgres::Postgres;
pub use recorder::{RecordedRequest, ServedFile, Transfer};
pub use server::{free_port, refused_url, TestServer, TestServerBuilder};
pub use server_config::{DistributionCfg, RemoteCfg};

/// Waits (up to `limit`) until `cond` holds; whether it did.
pub async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}
