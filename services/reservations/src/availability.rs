//! The shop's availability as the fast "sold out" answer sees it: fetched
//! per match and reused for `AVAILABILITY_TTL_MS`, so a busy category costs
//! the shop a few requests per second instead of one per buyer. Concurrent
//! requests for a stale match wait for one fetch. Staleness only moves
//! requests between the fast answer and the log, which decides either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ticktak_core::{MatchNumber, TicketType};

use ticktak_contracts::catalogue::CategoryView;

use crate::shop::ShopClient;

type Entry = Arc<tokio::sync::Mutex<Option<(Instant, Option<Vec<CategoryView>>)>>>;

#[derive(Clone)]
pub struct RecentAvailability {
    shop: ShopClient,
    ttl: Duration,
    entries: Arc<Mutex<HashMap<MatchNumber, Entry>>>,
}

impl RecentAvailability {
    pub fn new(shop: ShopClient, ttl: Duration) -> Self {
        Self { shop, ttl, entries: Default::default() }
    }

    /// The category of `tt` as an API answers it: 404 for an unknown match,
    /// 503 while the shop cannot be asked.
    pub async fn known(&self, tt: TicketType) -> ticktak_kit::ApiResult<CategoryView> {
        self.category(tt)
            .await
            .map_err(|e| ticktak_kit::ApiError::Unavailable(format!("catalogue unavailable: {e:#}")))?
            .ok_or_else(|| ticktak_kit::ApiError::NotFound(format!("no match {}", tt.match_number)))
    }

    /// The category of `tt`; `None` when the match is unknown.
    pub async fn category(&self, tt: TicketType) -> anyhow::Result<Option<CategoryView>> {
        let find = |categories: &Option<Vec<CategoryView>>| {
            categories.as_ref().and_then(|cs| cs.iter().find(|c| c.category == tt.category.get()).cloned())
        };
        if self.ttl.is_zero() {
            return Ok(find(&self.shop.availability(tt.match_number).await?));
        }
        let entry = self.entries.lock().expect("availability lock").entry(tt.match_number).or_default().clone();
        let mut slot = entry.lock().await;
        if let Some((at, categories)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(find(categories));
            }
        }
        let categories = self.shop.availability(tt.match_number).await?;
        let found = find(&categories);
        *slot = Some((Instant::now(), categories));
        Ok(found)
    }
}
