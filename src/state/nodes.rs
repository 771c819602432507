//! The nodes of a fleet (`docs/fleet.md` "Nodes"): each node with `fleet` set upserts its row
//! of the `nodes` table about every [`BEAT_EVERY`] on a connection of its own, and reads back
//! the rows whose heartbeat is younger than [`LIVE_FOR`] by the database's clock. That list
//! ([`LiveNodes`]) is what the status answers and the owner ring reads. While the database
//! is unreachable the list keeps its last value (one warning per outage). A graceful shutdown
//! deletes the node's row.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use parking_lot::RwLock;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use postgres::{Client, NoTls};

use super::pg::PgStore;

/// How often a node writes its heartbeat.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// A node whose heartbeat is older than this is not live.
pub const LIVE_FOR: &str = "5 seconds";
/// Rows of nodes gone this long are deleted (their address was never reused).
const FORGET_AFTER: &str = "1 day";

/// One live node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its `fleet.advertise`.
    pub address: SocketAddr,
    /// When it started.
    pub started: SystemTime,
    /// Its last heartbeat.
    pub last_heartbeat: SystemTime,
}

/// The live nodes of the fleet, this one included (empty without `fleet`): cheap to read,
/// replaced at every heartbeat.
#[derive(Debug, Default)]
pub struct LiveNodes {
    nodes: RwLock<Vec<NodeInfo>>,
}

impl LiveNodes {
    /// Their addresses, sorted.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.nodes.read().iter().map(|n| n.address).collect()
    }

    /// Every live node, sorted by address.
    pub fn all(&self) -> Vec<NodeInfo> {
        self.nodes.read().clone()
    }

    /// Replaces the list (sorted by address here).
    pub fn set(&self, mut nodes: Vec<NodeInfo>) {
        nodes.sort_by_key(|n| n.address);
        nodes.dedup_by_key(|n| n.address);
        *self.nodes.write() = nodes;
    }
}

/// The heartbeat as a Pingora background service: its thread runs until the server shuts
/// down gracefully, then deletes this node's row.
pub struct Heartbeat {
    /// The store whose database holds `nodes`.
    pub pg: Arc<PgStore>,
    /// This node's `fleet.advertise`.
    pub advertise: SocketAddr,
}

#[async_trait]
impl BackgroundService for Heartbeat {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (stop, stopped) = mpsc::channel::<()>();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let (pg, advertise) = (self.pg.clone(), self.advertise);
        let spawned = std::thread::Builder::new()
            .name("hubcache-heartbeat".into())
            .spawn(move || {
                beat_until_stopped(&pg, advertise, &stopped);
                let _ = done.send(());
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "starting the heartbeat thread");
            return;
        }
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), finished).await;
    }
}

/// Beats every [`BEAT_EVERY`] until told to stop, then deletes the row.
fn beat_until_stopped(pg: &PgStore, advertise: SocketAddr, stop: &mpsc::Receiver<()>) {
    let started = SystemTime::now();
    let address = advertise.to_string();
    let mut client: Option<Client> = None;
    let mut down = false;
    loop {
        if client.as_ref().is_some_and(Client::is_closed) {
            client = None;
        }
        let result = match client.as_mut() {
            Some(c) => beat(c, &address, started),
            None => match pg.connection_config().connect(NoTls) {
                Ok(c) => beat(client.insert(c), &address, started),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(nodes) => {
                if down {
                    tracing::info!(node = %address, "heartbeat written again");
                    down = false;
                }
                pg.live_nodes().set(nodes);
            }
            Err(e) => {
                client = None;
                if !down {
                    tracing::warn!(node = %address, error = %e, "heartbeat not written: the database is unreachable; keeping the last list of live nodes");
                    down = true;
                }
            }
        }
        match stop.recv_timeout(BEAT_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    if let Some(mut c) = client.filter(|c| !c.is_closed()) {
        match c.execute("DELETE FROM nodes WHERE address = $1", &[&address]) {
            Ok(_) => tracing::info!(node = %address, "left the fleet"),
            Err(e) => tracing::warn!(node = %address, error = %e, "deleting the node's row"),
        }
    }
}

/// Writes this node's heartbeat and reads the live nodes.
fn beat(
    client: &mut Client,
    address: &str,
    started: SystemTime,
) -> Result<Vec<NodeInfo>, postgres::Error> {
    client.execute(
        "INSERT INTO nodes (address, started, heartbeat) VALUES ($1, $2, now())
         ON CONFLICT (address) DO UPDATE SET started = EXCLUDED.started, heartbeat = now()",
        &[&address, &started],
    )?;
    client.batch_execute(&format!(
        "DELETE FROM nodes WHERE now() - heartbeat > interval '{FORGET_AFTER}'"
    ))?;
    let rows = client.query(
        &format!(
            "SELECT address, started, heartbeat FROM nodes
             WHERE now() - heartbeat < interval '{LIVE_FOR}' ORDER BY address"
        ),
        &[],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let address: String = r.get(0);
            Some(NodeInfo {
                address: address.parse().ok()?,
                started: r.get(1),
                last_heartbeat: r.get(2),
            })
        })
        .collect())
}

/// This machine's host name (`localhost` when unknown): with the pid, how a node without
/// `fleet.advertise` is named.
pub fn hostname() -> String {
    fs_err::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16) -> NodeInfo {
        NodeInfo {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            started: SystemTime::UNIX_EPOCH,
            last_heartbeat: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_list_is_sorted_without_duplicates_and_empty_by_default() {
        let live = LiveNodes::default();
        assert!(live.addresses().is_empty());
        live.set(vec![node(9002), node(9000), node(9001), node(9000)]);
        let ports: Vec<u16> = live.addresses().iter().map(|a| a.port()).collect();
        assert_eq!(ports, [9000, 9001, 9002]);
        assert_eq!(live.all().len(), 3);
    }
}
