//! Requests waiting for the log's decision on their hold, woken when the
//! decision arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Clone, Default)]
pub struct Waiters(Arc<Mutex<HashMap<Uuid, Arc<Notify>>>>);

impl Waiters {
    /// Register before the hold is published, so no decision is missed.
    pub fn register(&self, id: Uuid) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        self.0.lock().expect("waiters lock").insert(id, n.clone());
        n
    }

    pub fn remove(&self, id: Uuid) {
        self.0.lock().expect("waiters lock").remove(&id);
    }

    /// Wake whoever waits for `id` (a permit is kept if nobody waits yet).
    pub fn wake(&self, id: Uuid) {
        if let Some(n) = self.0.lock().expect("waiters lock").get(&id) {
            n.notify_one();
        }
    }
}
