//! What reservations asks the shop: prices and the local availability (for
//! the fast "sold out" answer) and, as a fallback, the log's decision on a
//! hold.

use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use ticktak_core::ledger::HoldStatus;
use ticktak_core::{HoldId, MatchNumber};

#[derive(Clone)]
pub struct ShopClient {
    http: reqwest::Client,
    base: String,
    auth: String,
}

/// One category as the shop reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct CategoryAvailability {
    pub category: u8,
    pub price: u32,
    pub sellable: u32,
    pub status: String,
}

#[derive(Deserialize)]
struct Availability {
    categories: Vec<CategoryAvailability>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HoldView {
    status: HoldStatus,
}

impl ShopClient {
    pub fn new(base: &str, internal_token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().context("HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth: ticktak_kit::internal::bearer(internal_token),
        })
    }

    /// Price and availability of every category of match `m`; `None` when
    /// the match is unknown.
    pub async fn availability(&self, m: MatchNumber) -> anyhow::Result<Option<Vec<CategoryAvailability>>> {
        let url = format!("{}/api/matches/{m}/availability", self.base);
        let res = self.http.get(&url).send().await.with_context(|| format!("shop unreachable at {url}"))?;
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        anyhow::ensure!(res.status().is_success(), "shop answered {} at {url}", res.status());
        let a: Availability = res.json().await.context("unexpected availability")?;
        Ok(Some(a.categories))
    }

    /// The log's decision on a hold, if the shop has applied it yet.
    pub async fn hold_status(&self, id: HoldId) -> anyhow::Result<Option<HoldStatus>> {
        let url = format!("{}/internal/holds/{id}", self.base);
        let res = self
            .http
            .get(&url)
            .header("authorization", &self.auth)
            .send()
            .await
            .with_context(|| format!("shop unreachable at {url}"))?;
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        anyhow::ensure!(res.status().is_success(), "shop answered {} at {url}", res.status());
        Ok(Some(res.json::<HoldView>().await.context("unexpected hold")?.status))
    }
}
