//! Owner routing (`docs/fleet.md` "Owner routing"): the bytes of a file belong to one node of
//! the fleet, chosen by consistent hashing (Ketama, pingora's load-balancing crate) of the
//! file's content key over the fleet's nodes. A node asked for a file it does not own streams
//! it from the owner; the owner serves it from its disk or fills it once from the Hub.
//!
//! * [`ring`]: who the nodes are (`fleet.peers`, and the live nodes of the `nodes` table) and
//!   their health, kept fresh by a background service; the owner of a key.
//! * [`peer`]: what travels between nodes — the peer path and the fleet secret, the file
//!   target the asking node resolved, and the request it sends to the owner.

pub mod peer;
pub mod ring;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::FleetConfig;
use crate::sync::KeyedPath;

pub use ring::{LiveFn, Ring};

/// Who serves a file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// This node: the disk cache, or a fill from the Hub.
    Me,
    /// Another node, reached at this address.
    Peer(SocketAddr),
}

/// This node's view of the fleet.
pub struct Fleet {
    /// This node's address on the ring (`fleet.advertise`).
    pub me: SocketAddr,
    /// The peer path, opened by the fleet secret.
    pub access: KeyedPath,
    /// The nodes and their health.
    pub ring: Arc<Ring>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// The fleet of `config`; `live` adds the nodes registered in PostgreSQL.
    pub fn new(config: &FleetConfig, live: Option<LiveFn>) -> Fleet {
        Fleet {
            me: config.advertise,
            access: peer::access(config.secret.expose()),
            ring: Arc::new(Ring::new(config.advertise, config.peers.clone(), live)),
        }
    }

    /// The node that owns `key` (a file's etag), skipping the peers in `tried` (they failed
    /// this request) and peers the health checks found down. This node is always acceptable,
    /// so the answer is [`Owner::Me`] when every other candidate is out.
    pub fn owner(&self, key: &str, tried: &[SocketAddr]) -> Owner {
        self.ring.owner(key.as_bytes(), tried)
    }
}
