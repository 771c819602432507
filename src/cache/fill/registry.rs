//! `Fills`: the registry of fills in flight that lookups join.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::Inflight;

/// Fills in flight by object name (several per name are possible when pingora's lock times
/// out; a lookup joins any of them, `lookup_streaming_write` a precise one).
#[derive(Default)]
pub(crate) struct Fills(Mutex<HashMap<String, Vec<Arc<Inflight>>>>);

impl Fills {
    pub(crate) fn insert(&self, fill: Arc<Inflight>) {
        self.0
            .lock()
            .entry(fill.name.clone())
            .or_default()
            .push(fill);
    }

    /// Registers `fill` unless a fill of the same name is in flight; whether it did.
    pub(crate) fn insert_if_absent(&self, fill: Arc<Inflight>) -> bool {
        let mut map = self.0.lock();
        let fills = map.entry(fill.name.clone()).or_default();
        if !fills.is_empty() {
            return false;
        }
        fills.push(fill);
        true
    }

    pub(crate) fn remove(&self, name: &str, id: u64) {
        let mut map = self.0.lock();
        if let Some(fills) = map.get_mut(name) {
            fills.retain(|f| f.id != id);
            if fills.is_empty() {
                map.remove(name);
            }
        }
    }

    pub(crate) fn any(&self, name: &str) -> Option<Arc<Inflight>> {
        self.0
            .lock()
            .get(name)
            .and_then(|fills| fills.first().cloned())
    }

    pub(crate) fn find(&self, name: &str, id: u64) -> Option<Arc<Inflight>> {
        self.0
            .lock()
            .get(name)
            .and_then(|fills| fills.iter().find(|f| f.id == id).cloned())
    }

    pub(crate) fn count(&self) -> u64 {
        self.0.lock().values().map(|fills| fills.len() as u64).sum()
    }
}
