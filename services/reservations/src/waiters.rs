//! Requests waiting for the log's decision on their hold, handed the
//! decision when it arrives (so the answer needs no second read).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::store::ReservationStatus;

/// What a waiting request is told: the new status and, for a hold, its expiry.
pub type Decided = (ReservationStatus, Option<DateTime<Utc>>);

#[derive(Clone, Default)]
pub struct Waiters(Arc<Mutex<HashMap<Uuid, oneshot::Sender<Decided>>>>);

impl Waiters {
    /// Register before the hold is published, so no decision is missed.
    pub fn register(&self, id: Uuid) -> oneshot::Receiver<Decided> {
        let (tx, rx) = oneshot::channel();
        self.0.lock().expect("waiters lock").insert(id, tx);
        rx
    }

    pub fn remove(&self, id: Uuid) {
        self.0.lock().expect("waiters lock").remove(&id);
    }

    /// Hand the decision to whoever waits for `id`.
    pub fn wake(&self, id: Uuid, decided: Decided) {
        if let Some(tx) = self.0.lock().expect("waiters lock").remove(&id) {
            let _ = tx.send(decided);
        }
    }
}
