//! Forwards the log's decisions on this platform's own holds to the
//! reservations service, so a buyer waiting for an answer gets it at once.
//! Best effort: a decision that does not get through is fetched from the
//! shop by the reservations service's decision poller, and the ledger never
//! waits for reservations.

use std::time::Duration;

use ticktak_contracts::decisions::{self, Decisions, DecisionsApplied, HoldDecision};
use ticktak_contracts::ledger::HoldView;
use ticktak_core::ledger::HoldStatus;

#[derive(Clone)]
pub struct DecisionForwarder {
    client: ticktak_kit::internal::Client,
    platform: String,
}

impl DecisionForwarder {
    pub fn new(reservations_url: &str, internal_token: &str, platform: &str) -> anyhow::Result<Self> {
        let client = ticktak_kit::internal::Client::new(reservations_url, internal_token, Duration::from_secs(2))?;
        Ok(Self { client, platform: platform.to_string() })
    }

    /// Send the decisions on holds that originated on this platform.
    pub async fn forward(&self, holds: &[HoldView]) {
        let decisions: Vec<HoldDecision> = holds
            .iter()
            .filter(|h| h.origin.as_deref() == Some(self.platform.as_str()))
            .filter(|h| matches!(h.status, HoldStatus::Granted | HoldStatus::Rejected))
            .map(|h| HoldDecision { hold_id: h.hold_id, status: h.status })
            .collect();
        if decisions.is_empty() {
            return;
        }
        let count = decisions.len() as u64;
        let sent: anyhow::Result<DecisionsApplied> =
            self.client.post(decisions::DECISIONS, &Decisions { decisions }).await;
        match sent {
            Ok(_) => metrics::counter!("consumer_decisions_forwarded_total").increment(count),
            Err(e) => {
                metrics::counter!("consumer_decisions_forward_errors_total").increment(1);
                tracing::warn!(error = %format!("{e:#}"), decisions = count,
                    "decisions not forwarded; reservations will ask the shop for them");
            }
        }
    }
}
