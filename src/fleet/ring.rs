//! The fleet's nodes on a Ketama ring (`docs/fleet.md` "Owner routing"): pingora's
//! `LoadBalancer<KetamaHashing>` over this node, `fleet.peers` and the live nodes of the
//! `nodes` table, with a TCP health check about every second. The load balancer runs as a
//! Pingora background service ([`Ring::service`]); selection reads its current ring.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::health_check::TcpHealthCheck;
use pingora::lb::selection::consistent::KetamaHashing;
use pingora::lb::{Backend, Backends, LoadBalancer};

use super::Owner;

/// The live nodes registered elsewhere (PostgreSQL's `nodes` table), read at every refresh.
pub type LiveFn = Box<dyn Fn() -> Vec<SocketAddr> + Send + Sync>;

/// How often the node set is refreshed and every peer checked.
pub const REFRESH: Duration = Duration::from_secs(1);

/// How far along the ring a selection walks (Ketama puts 160 points per node on it; a
/// handful of steps reaches every distinct node of a small fleet).
const MAX_ITERATIONS: usize = 1024;

/// The node set: this node, `fleet.peers`, and the live nodes.
struct Members {
    me: SocketAddr,
    peers: Vec<SocketAddr>,
    live: Option<LiveFn>,
}

impl Members {
    fn addresses(&self) -> BTreeSet<SocketAddr> {
        let mut all: BTreeSet<SocketAddr> = self.peers.iter().copied().collect();
        all.insert(self.me);
        if let Some(live) = &self.live {
            all.extend(live());
        }
        all
    }
}

fn backend(addr: SocketAddr) -> Backend {
    Backend {
        addr: pingora::protocols::l4::socket::SocketAddr::Inet(addr),
        weight: 1,
        ext: Default::default(),
    }
}

fn inet(backend: &Backend) -> Option<SocketAddr> {
    backend.addr.as_inet().copied()
}

#[async_trait]
impl ServiceDiscovery for Members {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let backends = self.addresses().into_iter().map(backend).collect();
        Ok((backends, HashMap::new()))
    }
}

/// The ring and the health of its nodes.
pub struct Ring {
    me: SocketAddr,
    lb: Arc<LoadBalancer<KetamaHashing>>,
}

impl Ring {
    /// A ring over `me`, `peers` and whatever `live` answers (before the first refresh: `me`
    /// and `peers`, all assumed up).
    pub fn new(me: SocketAddr, peers: Vec<SocketAddr>, live: Option<LiveFn>) -> Ring {
        let members = Members { me, peers, live };
        let mut backends = Backends::new(Box::new(members));
        let mut check = TcpHealthCheck::new();
        check.peer_template.options.connection_timeout = Some(Duration::from_millis(500));
        backends.set_health_check(check);
        let mut lb = LoadBalancer::from_backends(backends);
        lb.update_frequency = Some(REFRESH);
        lb.health_check_frequency = Some(REFRESH);
        lb.parallel_health_check = true;
        Ring {
            me,
            lb: Arc::new(lb),
        }
    }

    /// Discovers the nodes once now (the background service then keeps them fresh).
    pub async fn refresh(&self) -> pingora::Result<()> {
        self.lb.update().await
    }

    /// The Pingora background service that refreshes the node set and checks health.
    pub fn service(
        &self,
    ) -> pingora::services::background::GenBackgroundService<LoadBalancer<KetamaHashing>> {
        pingora::services::background::GenBackgroundService::new(
            "fleet ring".to_string(),
            self.lb.clone(),
        )
    }

    /// The owner of `key`: the first node along the ring that is this node, or a healthy
    /// peer not in `tried`.
    pub fn owner(&self, key: &[u8], tried: &[SocketAddr]) -> Owner {
        let me = self.me;
        let chosen = self.lb.select_with(key, MAX_ITERATIONS, |b, healthy| {
            inet(b).is_some_and(|a| a == me || (healthy && !tried.contains(&a)))
        });
        match chosen.as_ref().and_then(inet) {
            Some(addr) if addr != me => Owner::Peer(addr),
            _ => Owner::Me,
        }
    }

    /// How many nodes are up and down (this node counts as up).
    pub fn node_states(&self) -> (u64, u64) {
        let nodes = self.lb.backends().get_backend();
        let up = nodes
            .iter()
            .filter(|b| inet(b) == Some(self.me) || self.lb.backends().ready(b))
            .count() as u64;
        (up, nodes.len() as u64 - up)
    }

    /// Every node with whether it is up (this node always is), in address order.
    pub fn nodes(&self) -> Vec<(SocketAddr, bool)> {
        self.lb
            .backends()
            .get_backend()
            .iter()
            .filter_map(|b| {
                let addr = inet(b)?;
                Some((addr, addr == self.me || self.lb.backends().ready(b)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    async fn ring(me: u16, peers: &[u16]) -> Ring {
        let ring = Ring::new(addr(me), peers.iter().map(|p| addr(*p)).collect(), None);
        ring.refresh().await.unwrap();
        ring
    }

    #[tokio::test]
    async fn every_node_agrees_on_the_owner_and_keys_spread_over_all_nodes() {
        let ports = [7101, 7102, 7103];
        let mut rings = Vec::new();
        for me in ports {
            let peers: Vec<u16> = ports.iter().copied().filter(|p| *p != me).collect();
            rings.push(ring(me, &peers).await);
        }
        let mut owned = HashMap::<SocketAddr, usize>::new();
        for i in 0..300 {
            let key = format!("{i:064x}");
            let seen: Vec<SocketAddr> = rings
                .iter()
                .map(|r| match r.owner(key.as_bytes(), &[]) {
                    Owner::Me => r.me,
                    Owner::Peer(a) => a,
                })
                .collect();
            assert!(seen.iter().all(|a| *a == seen[0]), "{key}: {seen:?}");
            *owned.entry(seen[0]).or_default() += 1;
        }
        assert_eq!(owned.len(), 3, "{owned:?}");
        assert!(owned.values().all(|n| *n > 50), "{owned:?}");
    }

    #[tokio::test]
    async fn a_failed_peer_is_skipped_and_this_node_is_the_last_resort() {
        let r = ring(7201, &[7202, 7203]).await;
        let key = (0..1000)
            .map(|i| format!("{i:040x}"))
            .find(|k| r.owner(k.as_bytes(), &[]) == Owner::Peer(addr(7202)))
            .expect("a key owned by 7202");
        let next = r.owner(key.as_bytes(), &[addr(7202)]);
        assert_ne!(next, Owner::Peer(addr(7202)));
        assert_eq!(
            r.owner(key.as_bytes(), &[addr(7202), addr(7203)]),
            Owner::Me
        );
        assert_eq!(r.node_states(), (3, 0));
        assert_eq!(r.nodes().len(), 3);
    }

    #[tokio::test]
    async fn live_nodes_join_the_ring() {
        let r = Ring::new(addr(7301), vec![], Some(Box::new(|| vec![addr(7302)])));
        r.refresh().await.unwrap();
        let peers: Vec<_> = r.nodes().into_iter().map(|(a, _)| a).collect();
        assert_eq!(peers, vec![addr(7301), addr(7302)]);
    }
}
