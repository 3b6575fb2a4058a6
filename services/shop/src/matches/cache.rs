//! Availability served from memory: the hot read path (every reservation's
//! fast sold-out check, buyers refreshing a match page) does not touch
//! PostgreSQL. Entries are loaded on first read and updated from the ledger
//! right after each applied batch commits; a generation counter keeps a read
//! that raced with an update from installing stale counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sqlx::PgPool;
use ticktak_core::{TicketCounts, TicketType};

use ticktak_contracts::catalogue::CategoryView;

use super::store;

#[derive(Clone, Default)]
pub struct LiveAvailability {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    by_match: RwLock<HashMap<u8, Vec<CategoryView>>>,
    generation: AtomicU64,
}

impl LiveAvailability {
    /// The categories of match `n` (empty when the match is unknown).
    pub async fn get(&self, pool: &PgPool, n: u8) -> sqlx::Result<Vec<CategoryView>> {
        if let Some(v) = self.inner.by_match.read().expect("cache lock").get(&n) {
            return Ok(v.clone());
        }
        let generation = self.inner.generation.load(Ordering::Acquire);
        let fresh: Vec<CategoryView> = store::categories(pool, &[n]).await?.into_iter().map(|(_, c)| c).collect();
        let mut map = self.inner.by_match.write().expect("cache lock");
        if !fresh.is_empty() && self.inner.generation.load(Ordering::Acquire) == generation {
            map.insert(n, fresh.clone());
        }
        Ok(fresh)
    }

    /// New counts of ticket types, right after their batch committed.
    pub fn update(&self, counts: impl IntoIterator<Item = (TicketType, TicketCounts)>) {
        let mut map = self.inner.by_match.write().expect("cache lock");
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        for (tt, c) in counts {
            if let Some(cats) = map.get_mut(&tt.match_number.get()) {
                if let Some(view) = cats.iter_mut().find(|v| v.category == tt.category.get()) {
                    *view = CategoryView::new(view.category, view.price, c);
                }
            }
        }
    }

    /// Forget matches whose master-list entry changed.
    pub fn invalidate(&self, matches: impl IntoIterator<Item = u8>) {
        let mut map = self.inner.by_match.write().expect("cache lock");
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        for n in matches {
            map.remove(&n);
        }
    }
}
