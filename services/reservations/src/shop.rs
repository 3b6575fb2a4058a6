//! What reservations asks the shop: prices and the local availability (for
//! the fast "sold out" answer) and, as a fallback, the log's decisions on
//! its holds. Bodies and paths: `ticktak_contracts`.

use std::time::Duration;

use ticktak_contracts::catalogue::{self, Availability, CategoryView, MatchView};
use ticktak_contracts::ledger::{self, HoldView, HoldsFound, HoldsQuery};
use ticktak_core::{HoldId, MatchNumber};

#[derive(Clone)]
pub struct ShopClient {
    client: ticktak_kit::internal::Client,
}

impl ShopClient {
    pub fn new(base: &str, internal_token: &str) -> anyhow::Result<Self> {
        Ok(Self { client: ticktak_kit::internal::Client::new(base, internal_token, Duration::from_secs(5))? })
    }

    /// Price and availability of every category of match `m`; `None` when
    /// the match is unknown.
    pub async fn availability(&self, m: MatchNumber) -> anyhow::Result<Option<Vec<CategoryView>>> {
        let found: Option<Availability> = self.client.get(&catalogue::availability_path(m.get())).await?;
        Ok(found.map(|a| a.categories))
    }

    /// Match `m` (teams, venue, kick-off); `None` when unknown.
    pub async fn match_view(&self, m: MatchNumber) -> anyhow::Result<Option<MatchView>> {
        self.client.get(&catalogue::match_path(m.get())).await
    }

    /// The log's decisions on `ids`, for those the shop has applied.
    pub async fn holds(&self, ids: &[HoldId]) -> anyhow::Result<Vec<HoldView>> {
        let found: HoldsFound = self.client.post(ledger::HOLDS, &HoldsQuery { hold_ids: ids.to_vec() }).await?;
        Ok(found.holds)
    }
}
