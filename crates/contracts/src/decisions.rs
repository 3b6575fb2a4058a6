//! Reservations' intake of the log's decisions on this platform's holds,
//! pushed by shop-consumer as soon as the shop applied them.

use serde::{Deserialize, Serialize};
use ticktak_core::ledger::HoldStatus;
use ticktak_core::HoldId;

/// `POST`: [`Decisions`] → [`DecisionsApplied`].
pub const DECISIONS: &str = "/internal/decisions";

/// One decision of the log on a hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HoldDecision {
    pub hold_id: HoldId,
    pub status: HoldStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Decisions {
    pub decisions: Vec<HoldDecision>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DecisionsApplied {
    /// Reservations that changed (a decision already recorded changes none).
    pub updated: usize,
}
