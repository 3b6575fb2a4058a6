//! Client of the shop's internal ledger API.

use std::time::Duration;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;
use shop::ledger::api::{AppliedOffset, MasterListBatch, MasterListResult, SalesBatch, SalesBatchResult};

#[derive(Clone)]
pub struct ShopClient {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl ShopClient {
    pub fn new(base: impl Into<String>, internal_token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build()
            .context("cannot build HTTP client")?;
        Ok(Self {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            auth: ticktak_kit::internal::bearer(internal_token),
        })
    }

    /// Send an internal request and read its JSON answer; a non-2xx answer
    /// is an error carrying the shop's message.
    async fn call<R: DeserializeOwned>(&self, request: reqwest::RequestBuilder, url: &str) -> anyhow::Result<R> {
        let res = request
            .header("authorization", &self.auth)
            .send()
            .await
            .with_context(|| format!("shop unreachable at {url}"))?;
        let status = res.status();
        if !status.is_success() {
            let text = res.text().await.unwrap_or_default();
            anyhow::bail!("shop answered {status} at {url}: {text}");
        }
        res.json().await.with_context(|| format!("unexpected answer from {url}"))
    }

    async fn post<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> anyhow::Result<R> {
        let url = format!("{}{path}", self.base);
        self.call(self.http.post(&url).json(body), &url).await
    }

    /// The last applied offset of every partition the shop has seen.
    pub async fn applied_offsets(&self) -> anyhow::Result<Vec<AppliedOffset>> {
        let url = format!("{}/internal/offsets", self.base);
        self.call(self.http.get(&url), &url).await
    }

    pub async fn apply_masterlist(&self, batch: &MasterListBatch) -> anyhow::Result<MasterListResult> {
        self.post("/internal/masterlist", batch).await
    }

    pub async fn apply_sales(&self, batch: &SalesBatch) -> anyhow::Result<SalesBatchResult> {
        self.post("/internal/sales", batch).await
    }
}
