//! Task claims across a fleet (`docs/fleet.md` "Tasks"): a node runs a task only while it
//! holds a PostgreSQL **session advisory lock** keyed by the task's id, on a connection of its
//! own held for as long as the node runs tasks. The lock dies with the session: a node
//! killed, or cut from the database, frees its tasks for another node to take over.
//!
//! When the connection is lost while tasks run, the next use (or [`Claims::keep`], every
//! second or two) reconnects and claims every held task again; a task another node claimed
//! meanwhile is marked lost, and its runner stops without saving anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use postgres::{Client, NoTls};
use uuid::Uuid;

/// The advisory lock key of task `id`: its 128 bits folded to 64.
pub fn key(id: Uuid) -> i64 {
    let (hi, lo) = id.as_u64_pair();
    i64::from_ne_bytes((hi ^ lo).to_ne_bytes())
}

/// Set when the claim of a running task was lost to another node: its runner stops and
/// saves nothing.
pub type Lost = Arc<AtomicBool>;

/// This node's claims connection and the tasks it holds.
pub struct Claims {
    config: postgres::Config,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("held", &self.inner.lock().held.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    client: Option<Client>,
    held: HashMap<Uuid, Lost>,
}

impl Inner {
    /// The open connection; a new one claims every held task again (those it cannot claim
    /// are marked lost and dropped).
    fn client(&mut self, config: &postgres::Config) -> Result<&mut Client, String> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut client = config.connect(NoTls).map_err(|e| e.to_string())?;
            let mut kept = HashMap::new();
            let mut held = std::mem::take(&mut self.held).into_iter();
            while let Some((id, lost)) = held.next() {
                match try_lock(&mut client, id) {
                    Ok(true) => {
                        kept.insert(id, lost);
                    }
                    Ok(false) => {
                        tracing::warn!(task = %id, "the claim of a running task was lost to another node: stopping it here");
                        lost.store(true, Ordering::Release);
                    }
                    Err(e) => {
                        // Kept: the next use reconnects and tries again.
                        kept.insert(id, lost);
                        kept.extend(held);
                        self.held = kept;
                        return Err(e.to_string());
                    }
                }
            }
            self.held = kept;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

fn try_lock(client: &mut Client, id: Uuid) -> Result<bool, postgres::Error> {
    Ok(client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key(id)])?
        .get(0))
}

impl Claims {
    /// Claims on a connection made with `config` (opened at the first use).
    pub fn new(config: postgres::Config) -> Self {
        Claims {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Claims task `id`: `Ok(Some(lost))` when this node holds it now, `Ok(None)` when
    /// another node does.
    pub fn claim(&self, id: Uuid) -> Result<Option<Lost>, String> {
        let mut inner = self.inner.lock();
        if let Some(lost) = inner.held.get(&id) {
            return Ok(Some(lost.clone()));
        }
        let client = inner.client(&self.config)?;
        match try_lock(client, id) {
            Ok(true) => {
                let lost = Lost::default();
                inner.held.insert(id, lost.clone());
                Ok(Some(lost))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                inner.client = None;
                Err(e.to_string())
            }
        }
    }

    /// Gives task `id` up (after its end was saved).
    pub fn release(&self, id: Uuid) {
        let mut inner = self.inner.lock();
        if inner.held.remove(&id).is_none() {
            return;
        }
        if let Some(client) = inner.client.as_mut().filter(|c| !c.is_closed()) {
            // An error means the session is gone, and the lock with it.
            if client
                .execute("SELECT pg_advisory_unlock($1)", &[&key(id)])
                .is_err()
            {
                inner.client = None;
            }
        }
    }

    /// Whether this node holds task `id`.
    pub fn holds(&self, id: Uuid) -> bool {
        self.inner.lock().held.contains_key(&id)
    }

    /// Checks the connection; after a loss, reconnects and claims the held tasks again.
    pub fn keep(&self) -> Result<(), String> {
        let mut inner = self.inner.lock();
        if let Some(client) = inner.client.as_mut() {
            if client.simple_query("SELECT 1").is_err() {
                inner.client = None;
            }
        }
        inner.client(&self.config).map(drop)
    }

    /// The stored state and node of task `id`, read on the claims connection (after a claim:
    /// an end saved before the lock was released is seen); `None` when it is not stored.
    pub fn stored(&self, id: Uuid) -> Result<Option<(String, Option<String>)>, String> {
        let mut inner = self.inner.lock();
        let client = inner.client(&self.config)?;
        let row = client
            .query_opt(
                "SELECT record->>'state', record->>'node' FROM tasks WHERE id = $1",
                &[&id],
            )
            .map_err(|e| e.to_string());
        if row.is_err() {
            inner.client = None;
        }
        Ok(row?.map(|r| (r.get(0), r.get(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_task_and_are_stable() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_eq!(key(a), key(a));
        assert_ne!(key(a), key(b));
    }

    #[test]
    fn an_unreachable_database_is_an_error_and_nothing_is_held() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config: postgres::Config = format!("postgres://u@127.0.0.1:{port}/d").parse().unwrap();
        let claims = Claims::new(config);
        let id = Uuid::now_v7();
        assert!(claims.claim(id).is_err());
        assert!(!claims.holds(id));
        claims.release(id);
        assert!(claims.keep().is_err());
    }
}
