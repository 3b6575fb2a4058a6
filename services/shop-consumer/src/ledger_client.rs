//! Client of the shop's internal ledger API (`ticktak_contracts::ledger`).

use std::time::Duration;

use ticktak_contracts::ledger::{self, AppliedOffset, MasterListBatch, MasterListResult, SalesBatch, SalesBatchResult};
pub use ticktak_kit::internal::Refusal;

#[derive(Clone)]
pub struct LedgerClient {
    client: ticktak_kit::internal::Client,
}

impl LedgerClient {
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

    /// Apply master-list messages: the answer, the shop's refusal of the
    /// batch for what it holds, or an error (try again).
    pub async fn apply_masterlist(&self, batch: &MasterListBatch) -> anyhow::Result<Result<MasterListResult, Refusal>> {
        self.post_batch(ledger::MASTERLIST, batch).await
    }

    /// Apply sales messages: the answer, the shop's refusal of the batch for
    /// what it holds, or an error (try again).
    pub async fn apply_sales(&self, batch: &SalesBatch) -> anyhow::Result<Result<SalesBatchResult, Refusal>> {
        self.post_batch(ledger::SALES, batch).await
    }

    /// Only a refusal of the body itself (400, 413, 422) is about the data;
    /// any other 4xx (a wrong credential, a missing route) is this
    /// platform's configuration, and retrying is right: skipping messages
    /// for it would lose them.
    async fn post_batch<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        batch: &B,
    ) -> anyhow::Result<Result<R, Refusal>> {
        match self.client.post_or_refusal(path, batch).await? {
            Err(refusal) if ![400, 413, 422].contains(&refusal.status) => {
                anyhow::bail!("{} answered {}: {}", self.client.url(path), refusal.status, refusal.message)
            }
            answer => Ok(answer),
        }
    }
}
