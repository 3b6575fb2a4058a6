//! Client of the shop's internal ledger API (`ticktak_contracts::ledger`).

use std::time::Duration;

use ticktak_contracts::ledger::{self, AppliedOffset, MasterListBatch, MasterListResult, SalesBatch, SalesBatchResult};

#[derive(Clone)]
pub struct ShopClient {
    client: ticktak_kit::internal::Client,
}

impl ShopClient {
    pub fn new(base: impl Into<String>, internal_token: &str) -> anyhow::Result<Self> {
        Ok(Self { client: ticktak_kit::internal::Client::new(&base.into(), internal_token, Duration::from_secs(30))? })
    }

    /// The last applied offset of every partition the shop has seen.
    pub async fn applied_offsets(&self) -> anyhow::Result<Vec<AppliedOffset>> {
        self.client
            .get(ledger::OFFSETS)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{} answered 404", self.client.url(ledger::OFFSETS)))
    }

    pub async fn apply_masterlist(&self, batch: &MasterListBatch) -> anyhow::Result<MasterListResult> {
        self.client.post(ledger::MASTERLIST, batch).await
    }

    pub async fn apply_sales(&self, batch: &SalesBatch) -> anyhow::Result<SalesBatchResult> {
        self.client.post(ledger::SALES, batch).await
    }
}
