//! Forwards the log's decisions on this platform's own holds to the
//! reservations service, so a buyer waiting for an answer gets it at once.
//! Best effort: a decision that does not get through is fetched from the
//! shop by the reservations service's decision poller, and the ledger never
//! waits for reservations.

use std::time::Duration;

use serde_json::json;
use shop::ledger::api::HoldView;
use ticktak_core::ledger::HoldStatus;

#[derive(Clone)]
pub struct DecisionForwarder {
    http: reqwest::Client,
    url: String,
    auth: String,
    platform: String,
}

impl DecisionForwarder {
    pub fn new(reservations_url: &str, internal_token: &str, platform: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        Ok(Self {
            http,
            url: format!("{}/internal/decisions", reservations_url.trim_end_matches('/')),
            auth: ticktak_kit::internal::bearer(internal_token),
            platform: platform.to_string(),
        })
    }

    /// Send the decisions on holds that originated on this platform.
    pub async fn forward(&self, holds: &[HoldView]) {
        let decisions: Vec<_> = holds
            .iter()
            .filter(|h| h.origin.as_deref() == Some(self.platform.as_str()))
            .filter(|h| matches!(h.status, HoldStatus::Granted | HoldStatus::Rejected))
            .map(|h| json!({"holdId": h.hold_id, "status": h.status}))
            .collect();
        if decisions.is_empty() {
            return;
        }
        let sent = self
            .http
            .post(&self.url)
            .header("authorization", &self.auth)
            .json(&json!({ "decisions": decisions }))
            .send()
            .await
            .and_then(|r| r.error_for_status());
        match sent {
            Ok(_) => metrics::counter!("consumer_decisions_forwarded_total").increment(decisions.len() as u64),
            Err(e) => {
                metrics::counter!("consumer_decisions_forward_errors_total").increment(1);
                tracing::debug!(error = %e, "decisions not forwarded; reservations will poll the shop");
            }
        }
    }
}
