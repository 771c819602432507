//! Readiness for `GET /readyz`: listeners bound, cache index loaded, state loaded.
//!
//! Startup code sets each flag once; `MetricsApp` reads them. `ListenerProbe` is a Pingora
//! background service that sets "listening" once every content/API listener accepts a TCP
//! connection: Pingora binds each service's sockets inside its own runtime, after
//! `run_forever`, so no startup code can know when that happened.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

/// Which parts of startup are done. All flags start false and only ever go to true.
#[derive(Debug, Default)]
pub struct Readiness {
    listening: AtomicBool,
    cache_loaded: AtomicBool,
    state_loaded: AtomicBool,
}

impl Readiness {
    /// A readiness with nothing done yet.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// The content (and API) listeners accept connections.
    pub fn set_listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    /// The disk cache index has been rebuilt from `cache.dir`.
    pub fn set_cache_loaded(&self) {
        self.cache_loaded.store(true, Ordering::Release);
    }

    /// The state file (remotes, distributions, guards) has been loaded.
    pub fn set_state_loaded(&self) {
        self.state_loaded.store(true, Ordering::Release);
    }

    /// The parts not done yet, named for the `/readyz` body; empty when ready.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            (&self.listening, "listeners not bound"),
            (&self.cache_loaded, "cache index not loaded"),
            (&self.state_loaded, "state not loaded"),
        ]
        .into_iter()
        .filter(|(flag, _)| !flag.load(Ordering::Acquire))
        .map(|(_, what)| what)
        .collect()
    }

    /// Whether every part is done.
    pub fn is_ready(&self) -> bool {
        self.missing().is_empty()
    }
}

/// A background service that connects to each listen address until all accept, then calls
/// [`Readiness::set_listening`]. Wildcard addresses are probed on loopback.
#[derive(Debug)]
pub struct ListenerProbe {
    /// The flags to update.
    pub readiness: Arc<Readiness>,
    /// The addresses Pingora listens on (content, and `api.listen` if set).
    pub addrs: Vec<SocketAddr>,
}

impl ListenerProbe {
    /// Probes until every address accepts a connection; returns early on shutdown.
    pub async fn run(&self, mut shutdown: ShutdownWatch) {
        let mut delay = Duration::from_millis(10);
        loop {
            if self.all_accept().await {
                self.readiness.set_listening();
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
            }
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    async fn all_accept(&self) -> bool {
        for addr in &self.addrs {
            let mut target = *addr;
            if target.ip().is_unspecified() {
                target.set_ip(if target.is_ipv4() {
                    Ipv4Addr::LOCALHOST.into()
                } else {
                    Ipv6Addr::LOCALHOST.into()
                });
            }
            let connect = tokio::net::TcpStream::connect(target);
            match tokio::time::timeout(Duration::from_secs(1), connect).await {
                Ok(Ok(_)) => {}
                _ => return false,
            }
        }
        true
    }
}

#[async_trait]
impl BackgroundService for ListenerProbe {
    async fn start(&self, shutdown: ShutdownWatch) {
        self.run(shutdown).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_clears_its_own_reason() {
        let r = Readiness::new();
        assert_eq!(r.missing().len(), 3);
        r.set_state_loaded();
        assert_eq!(
            r.missing(),
            ["listeners not bound", "cache index not loaded"]
        );
        r.set_cache_loaded();
        r.set_listening();
        assert!(r.is_ready());
    }

    #[tokio::test]
    async fn probe_marks_listening_once_the_port_accepts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let readiness = Arc::new(Readiness::new());
        let probe = ListenerProbe {
            readiness: readiness.clone(),
            addrs: vec![addr],
        };
        let (_tx, rx) = tokio::sync::watch::channel(false);
        tokio::time::timeout(Duration::from_secs(5), probe.run(rx))
            .await
            .unwrap();
        assert!(readiness.missing() == ["cache index not loaded", "state not loaded"]);
    }
}
