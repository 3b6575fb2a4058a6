//! The shop's internal ledger API: shop-consumer hands over the logs in
//! order (`MASTERLIST`, `SALES`) and resumes at `OFFSETS`; reservations asks
//! for the log's decisions on its holds (`HOLDS`); tests and operators read
//! `LEDGER`.

use serde::{Deserialize, Serialize};
use ticktak_core::ledger::LedgerOp;
use ticktak_core::ledger::{HoldStatus, LineOrigin};
use ticktak_core::{Action, BuyerId, Category, HoldId, MasterListMatch, MatchNumber, PlatformId, Quantity, TicketType};

/// `POST`: a [`MasterListBatch`] → [`MasterListResult`].
pub const MASTERLIST: &str = "/internal/masterlist";
/// `POST`: a [`SalesBatch`] → [`SalesBatchResult`].
pub const SALES: &str = "/internal/sales";
/// `GET`: every partition's last applied offset → `Vec<AppliedOffset>`.
pub const OFFSETS: &str = "/internal/offsets";
/// `GET`: the whole ledger → [`LedgerSnapshot`].
pub const LEDGER: &str = "/internal/ledger";
/// `POST`: [`HoldsQuery`] → [`HoldsFound`], the holds the shop has applied.
pub const HOLDS: &str = "/internal/holds";

/// Master-list messages in log order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MasterListBatch {
    pub messages: Vec<MasterListEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MasterListEntry {
    pub partition: i32,
    pub offset: i64,
    /// `None` for a message that failed validation: only the offset moves.
    pub content: Option<MasterListMatch>,
    /// When the organisers signed it (`issued-at`, covered by their
    /// signature); `None` when unsigned. Decides whether it replaces what
    /// is known of its match (`MasterListMatch::replaced_by`).
    #[serde(default)]
    pub issued_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MasterListResult {
    /// Matches inserted or changed.
    pub changed: u64,
    /// Messages identical to what was stored, or delivered again.
    pub unchanged: u64,
    /// Messages the shop's database refused for their data: applied as
    /// invalid (only their offsets moved). shop-consumer records them.
    #[serde(default)]
    pub refused: Vec<Refused>,
}

/// A message applied as invalid because storage refused its data (a
/// deterministic refusal: retrying it would stop the platform for good).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Refused {
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

/// Ticket-sales messages in log order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SalesBatch {
    pub messages: Vec<SalesEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SalesEntry {
    pub partition: i32,
    pub offset: i64,
    /// The message's ticket lines; empty for a message that failed
    /// validation (only the offset moves).
    pub lines: Vec<SalesLine>,
    pub hold_id: Option<HoldId>,
    pub origin: Option<String>,
    pub produced_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set on a line re-published to its home partition (`rehomed-from`).
    #[serde(default)]
    pub rehomed_from: Option<LineOrigin>,
    /// The hold's buyer (`buyer`, signed), for the market's per-buyer cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<BuyerId>,
}

impl SalesEntry {
    /// The ledger ops of the message, or `None` when it cannot be applied
    /// (its offset still moves). The shop and analytics both apply these.
    pub fn ops(&self) -> Option<Vec<LedgerOp>> {
        if self.lines.is_empty() || (self.hold_id.is_some() && self.lines.len() != 1) {
            return None;
        }
        self.lines
            .iter()
            .map(|l| {
                Some(LedgerOp {
                    action: l.action,
                    ticket_type: TicketType::new(
                        MatchNumber::new(i64::from(l.match_number)).ok()?,
                        Category::new(i64::from(l.category)).ok()?,
                    ),
                    quantity: Quantity::new(i64::from(l.quantity)).ok()?,
                    hold: self.hold_id,
                    producer: self.origin.as_deref().and_then(|o| PlatformId::new(o).ok()),
                    rehomed_from: self.rehomed_from,
                    buyer: self.buyer,
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SalesLine {
    pub action: Action,
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
    /// The unit price the message states (checked against the master list).
    pub price: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SalesBatchResult {
    /// Messages applied now.
    pub applied: u64,
    /// Messages at offsets applied before (answered from storage).
    pub redelivered: u64,
    /// Anomalies the batch revealed.
    pub anomalies: u64,
    /// Ticket lines whose price is not the master list's price of their
    /// ticket type (applied all the same: the log says the sale happened).
    pub price_mismatches: u64,
    /// Holds the batch granted.
    pub granted: u64,
    /// Holds the batch rejected.
    pub rejected: u64,
    /// The current state of every hold the batch mentions.
    pub holds: Vec<HoldView>,
    /// Messages the shop's database refused for their data: applied as
    /// invalid (only their offsets moved). shop-consumer records them.
    #[serde(default)]
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HoldView {
    pub hold_id: HoldId,
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
    pub status: HoldStatus,
    pub origin: Option<String>,
    /// Where the ticket-sales log decided it and last changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<HoldPosition>,
}

/// A hold's place in the ticket-sales log: the partition of its ticket
/// type, the offset of the message that decided it and of the latest one
/// that changed it (a confirmation, a release, a refund).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HoldPosition {
    pub partition: i32,
    pub decided_offset: i64,
    pub last_offset: i64,
}

/// Counters of one ticket type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TypeCounts {
    pub match_number: u8,
    pub category: u8,
    pub capacity: u32,
    pub held: u32,
    pub sold: u32,
    pub anonymous_held: u32,
    pub anonymous_credit: u32,
    pub anomalies: u32,
}

/// The whole ledger of one platform.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerSnapshot {
    /// md5 over every ticket type's counters and every hold's state, in a
    /// fixed order: equal digests mean equal ledgers.
    pub digest: String,
    pub holds: i64,
    pub types: Vec<TypeCounts>,
    /// Last applied offset per topic partition (not part of the digest:
    /// platforms may read different copies of the same log).
    pub offsets: Vec<AppliedOffset>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppliedOffset {
    pub topic: String,
    pub partition: i32,
    pub last_offset: i64,
}

/// Which holds the caller wants the log's decision on (at most 1,000).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldsQuery {
    pub hold_ids: Vec<HoldId>,
}

/// The asked holds the shop has applied; the others are not in the log yet.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HoldsFound {
    pub holds: Vec<HoldView>,
}
