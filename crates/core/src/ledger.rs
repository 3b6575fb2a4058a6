//! The ledger rule: how every platform applies the ticket-sales log so that
//! all of them reach the same decision for every hold without a coordinator.
//!
//! This module is the only place the rule lives. The shop loads the part of
//! the ledger a batch touches into a [`Ledger`], applies the batch here and
//! writes the result back in one transaction.
//!
//! Per ticket type: `sellable = capacity − sold − held`.
//! - `PENDING(q, hold h)`: granted when `q ≤ sellable` (`held += q`), else
//!   rejected. A hold id seen before is a duplicate: no change.
//! - `RESERVED(q, h)`: a granted open hold becomes sold.
//! - `CANCELLED(q, h)`: a granted open hold is released; a confirmed (paid)
//!   one is refunded and its tickets go back on sale (`sold −= q`); a
//!   rejected one is left alone.
//! - `CANCELLED(q, h)` for a hold not seen yet (it overtook its `PENDING`,
//!   or the `PENDING` never came): remembered as a refused hold, so a
//!   `PENDING` of `h` arriving later holds nothing. Counted as an anomaly.
//! - Only the hold's owner closes it: `RESERVED`/`CANCELLED` count only when
//!   their `client-id` is the one that published the hold's `PENDING` (no
//!   `client-id` matches only no `client-id`). Anyone else's is an anomaly
//!   and changes nothing — on every platform alike.
//! - Messages without a hold id (other teams') are applied by counts against
//!   an anonymous pool, clamped so no counter goes negative; what would push
//!   `sold + held` past `capacity` is still recorded and counted an anomaly.
//!   An anonymous `CANCELLED` beyond the pool (it overtook its `PENDING`) is
//!   kept as a credit that the next anonymous `PENDING` of the type uses up,
//!   so it never holds a ticket for nobody.
//! - A ticket line is applied only on its match's home partition
//!   (`crate::partition`). shop-consumer re-publishes a line found elsewhere
//!   to its home with its origin (`rehomed-from`); every platform does, and
//!   the ledger applies the first copy of each origin and ignores the rest.
//! - Every message has a log position; a position at or before the last one
//!   applied on its partition is a redelivery and changes nothing.
//! - **Caps per person across the market.** A hold's `PENDING` that names
//!   its buyer (the signed `buyer` header, a pseudonym the same on every
//!   platform) is rejected when that buyer's granted and confirmed tickets
//!   of the match, over its three categories, would pass
//!   [`TICKETS_PER_BUYER`]; a released or refunded hold gives its tickets
//!   back to its buyer. All of a match's messages are on one partition (its
//!   home): every platform sees them in the same order and decides alike.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::ids::{BuyerId, HoldId, MatchNumber, PlatformId, Quantity, TicketType};
use crate::sales::Action;

/// Most tickets of one match, over its categories, a buyer may hold or have
/// bought across the market (the market's rule: the same on every platform).
pub const TICKETS_PER_BUYER: u32 = 4;

/// Counters of one ticket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketCounts {
    /// The master list's `available` for the category.
    pub capacity: u32,
    /// Market-wide held (pending) tickets: granted holds plus the anonymous pool.
    pub held: u32,
    /// Market-wide sold (reserved) tickets.
    pub sold: u32,
    /// The part of `held` that came from messages without a hold id.
    pub anonymous_held: u32,
    /// Messages that could not be applied as the rule expects.
    pub anomalies: u32,
    /// Anonymous tickets cancelled before their `PENDING` arrived: the next
    /// anonymous `PENDING`s of the type use these up instead of holding.
    pub anonymous_credit: u32,
}

/// What buyers are told about a ticket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CategoryStatus {
    Available,
    TemporarilyUnavailable,
    SoldOut,
}

impl CategoryStatus {
    /// The name on the wire: `AVAILABLE`, `TEMPORARILY_UNAVAILABLE`, `SOLD_OUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            CategoryStatus::Available => "AVAILABLE",
            CategoryStatus::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            CategoryStatus::SoldOut => "SOLD_OUT",
        }
    }
}

impl TicketCounts {
    /// No counter goes past this (`i32::MAX`, what storage holds): a flood
    /// of anonymous lines saturates here, on every platform alike, instead
    /// of overflowing. Reaching it is an anomaly already (it is far above
    /// any capacity, `crate::masterlist::MAX_CAPACITY`).
    pub const MAX: u32 = i32::MAX as u32;

    /// Tickets that a new hold may still take.
    pub fn sellable(&self) -> u32 {
        self.capacity.saturating_sub(self.sold.saturating_add(self.held))
    }

    /// `capacity − sold`: the course's "available" count.
    pub fn unsold(&self) -> u32 {
        self.capacity.saturating_sub(self.sold)
    }

    pub fn status(&self) -> CategoryStatus {
        if self.unsold() == 0 {
            CategoryStatus::SoldOut
        } else if self.sellable() == 0 {
            CategoryStatus::TemporarilyUnavailable
        } else {
            CategoryStatus::Available
        }
    }
}

/// Where a hold stands in the shared ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HoldStatus {
    /// Granted and open: its tickets count as held.
    Granted,
    /// Refused when it was decided; it never held anything.
    Rejected,
    /// Granted, then reserved (paid): its tickets count as sold.
    Confirmed,
    /// Granted, then cancelled or expired: its tickets are back on sale.
    Released,
    /// Confirmed, then cancelled (refunded): its tickets are back on sale.
    Refunded,
}

/// The decision the log made on a `PENDING` for a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    Granted,
    Rejected,
}

/// A hold as the ledger remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub ticket_type: TicketType,
    pub quantity: Quantity,
    pub status: HoldStatus,
    /// The `client-id` of its `PENDING`: the only producer that may close it.
    pub owner: Option<PlatformId>,
    /// The `buyer` of its `PENDING`, whose tickets it counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<BuyerId>,
}

/// One ticket line of a sales message, ready for the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerOp {
    pub action: Action,
    pub ticket_type: TicketType,
    pub quantity: Quantity,
    /// `None` for messages without our `hold-id` header.
    pub hold: Option<HoldId>,
    /// The message's `client-id` header.
    pub producer: Option<PlatformId>,
    /// The message's `buyer` header (a signed hold's `PENDING` only).
    pub buyer: Option<BuyerId>,
    /// Set on a line re-published to its home partition: where it came from.
    pub rehomed_from: Option<LineOrigin>,
}

/// Where a ticket line was first published: its message's position and its
/// index among the message's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineOrigin {
    pub partition: i32,
    pub offset: i64,
    pub line: u16,
}

impl LineOrigin {
    /// `"{partition}:{offset}:{line}"`.
    pub fn parse(text: &str) -> Result<Self, crate::ids::InvalidValue> {
        let bad = || crate::ids::InvalidValue(format!("rehomed-from must be partition:offset:line, got {text:?}"));
        let mut parts = text.split(':');
        let (Some(p), Some(o), Some(l), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let origin = Self {
            partition: p.parse().map_err(|_| bad())?,
            offset: o.parse().map_err(|_| bad())?,
            line: l.parse().map_err(|_| bad())?,
        };
        if origin.partition < 0 || origin.offset < 0 {
            return Err(bad());
        }
        Ok(origin)
    }
}

impl std::fmt::Display for LineOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.partition, self.offset, self.line)
    }
}

/// A message's place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogPosition {
    pub partition: i32,
    pub offset: i64,
}

/// Something the rule could not apply as expected. The message still counts
/// as applied; operators see anomalies in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anomaly {
    /// The ticket type is not on the master list.
    UnknownTicketType,
    /// Counts from other platforms pushed `sold + held` past `capacity`.
    Oversold,
    /// A release of more anonymous tickets than the pool held (the rest is
    /// kept as a credit).
    ClampedRelease,
    /// `RESERVED`/`CANCELLED` for a hold this ledger never saw.
    UnknownHold,
    /// A message for a hold that does not fit its state or ticket type.
    HoldMismatch,
    /// `RESERVED`/`CANCELLED` for a hold from a producer that is not its owner.
    NotOwner,
}

/// What applying one op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect")]
pub enum Outcome {
    /// The position was applied before: nothing changed.
    Redelivered,
    /// A new hold was decided.
    Decided { decision: Decision },
    /// A message about a hold that had already reached this state.
    Duplicate,
    /// A granted hold became sold.
    Confirmed,
    /// A granted hold went back on sale.
    Released,
    /// A confirmed hold was refunded: its tickets went back on sale.
    Refunded,
    /// An anonymous message was applied by counts.
    Counted,
    /// The message changed nothing because it did not fit.
    Anomalous { anomaly: Anomaly },
    /// Applied, but it revealed an anomaly (e.g. others oversold).
    CountedWithAnomaly { anomaly: Anomaly },
}

impl Outcome {
    pub fn anomaly(&self) -> Option<Anomaly> {
        match self {
            Outcome::Anomalous { anomaly } | Outcome::CountedWithAnomaly { anomaly } => Some(*anomaly),
            _ => None,
        }
    }
}

/// The ledger, or the part of it a batch needs: counters per ticket type,
/// the holds the batch mentions, and the last applied offset per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    types: BTreeMap<TicketType, TicketCounts>,
    holds: HashMap<HoldId, Hold>,
    /// Each buyer's granted and confirmed tickets per match (the loaded
    /// ones and this batch's changes).
    buyers: HashMap<(MatchNumber, BuyerId), u32>,
    applied: BTreeMap<i32, i64>,
    /// Origins of re-homed lines applied (the loaded ones and this batch's).
    origins: std::collections::BTreeSet<LineOrigin>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Load counters read from storage.
    pub fn insert_counts(&mut self, ticket_type: TicketType, counts: TicketCounts) {
        self.types.insert(ticket_type, counts);
    }

    /// Load a hold read from storage.
    pub fn insert_hold(&mut self, id: HoldId, hold: Hold) {
        self.holds.insert(id, hold);
    }

    /// Load a buyer's granted and confirmed tickets of a match.
    pub fn insert_buyer_tickets(&mut self, match_number: MatchNumber, buyer: BuyerId, tickets: u32) {
        self.buyers.insert((match_number, buyer), tickets);
    }

    /// Count every buyer's tickets again from the holds (a ledger that
    /// holds every hold, as analytics' does, after loading them).
    pub fn recount_buyers(&mut self) {
        self.buyers.clear();
        for hold in self.holds.values() {
            if let (Some(buyer), HoldStatus::Granted | HoldStatus::Confirmed) = (hold.buyer, hold.status) {
                *self.buyers.entry((hold.ticket_type.match_number, buyer)).or_default() +=
                    u32::from(hold.quantity.get());
            }
        }
    }

    /// A buyer's granted and confirmed tickets of a match.
    pub fn buyer_tickets(&self, match_number: MatchNumber, buyer: BuyerId) -> u32 {
        self.buyers.get(&(match_number, buyer)).copied().unwrap_or(0)
    }

    /// Load the origin of a re-homed line applied before.
    pub fn insert_origin(&mut self, origin: LineOrigin) {
        self.origins.insert(origin);
    }

    /// Whether the re-homed line of `origin` was applied (loaded or new).
    pub fn has_origin(&self, origin: &LineOrigin) -> bool {
        self.origins.contains(origin)
    }

    /// Origins of re-homed lines applied, loaded or new.
    pub fn origins(&self) -> impl Iterator<Item = &LineOrigin> {
        self.origins.iter()
    }

    /// Load the last applied offset of a partition read from storage.
    pub fn insert_applied(&mut self, partition: i32, offset: i64) {
        self.applied.insert(partition, offset);
    }

    /// A master-list message: set capacity, keep every count.
    pub fn set_capacity(&mut self, ticket_type: TicketType, capacity: u32) {
        self.types.entry(ticket_type).or_default().capacity = capacity;
    }

    pub fn counts(&self, ticket_type: TicketType) -> Option<&TicketCounts> {
        self.types.get(&ticket_type)
    }

    pub fn hold(&self, id: HoldId) -> Option<&Hold> {
        self.holds.get(&id)
    }

    pub fn types(&self) -> impl Iterator<Item = (&TicketType, &TicketCounts)> {
        self.types.iter()
    }

    pub fn holds(&self) -> impl Iterator<Item = (&HoldId, &Hold)> {
        self.holds.iter()
    }

    pub fn applied(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.applied.iter().map(|(p, o)| (*p, *o))
    }

    /// Whether `position` was applied already.
    pub fn is_applied(&self, position: LogPosition) -> bool {
        self.applied.get(&position.partition).is_some_and(|last| position.offset <= *last)
    }

    /// Apply the message at `position`. `ops` are its ticket lines; an
    /// invalid message is applied with no ops, which only moves the offset.
    pub fn apply(&mut self, position: LogPosition, ops: &[LedgerOp]) -> Vec<Outcome> {
        if self.is_applied(position) {
            return vec![Outcome::Redelivered; ops.len().max(1)];
        }
        self.applied.insert(position.partition, position.offset);
        ops.iter().map(|op| self.apply_op(op)).collect()
    }

    fn apply_op(&mut self, op: &LedgerOp) -> Outcome {
        let Some(counts) = self.types.get_mut(&op.ticket_type) else {
            return Outcome::Anomalous { anomaly: Anomaly::UnknownTicketType };
        };
        if let Some(origin) = op.rehomed_from {
            if !self.origins.insert(origin) {
                // Another platform's copy of a line already applied.
                return Outcome::Duplicate;
            }
        }
        let outcome = match op.hold {
            Some(id) => apply_hold(counts, &mut self.holds, &mut self.buyers, id, op),
            None => apply_anonymous(counts, op),
        };
        if outcome.anomaly().is_some() {
            counts.anomalies = add(counts.anomalies, 1);
        }
        outcome
    }
}

/// `a + b`, saturating at [`TicketCounts::MAX`].
fn add(a: u32, b: u32) -> u32 {
    a.saturating_add(b).min(TicketCounts::MAX)
}

/// A buyer's tickets of a match, moved by `delta`.
fn count_buyer(buyers: &mut HashMap<(MatchNumber, BuyerId), u32>, hold: &Hold, delta: i64) {
    if let Some(buyer) = hold.buyer {
        let n = buyers.entry((hold.ticket_type.match_number, buyer)).or_default();
        *n = (i64::from(*n) + delta).clamp(0, i64::from(TicketCounts::MAX)) as u32;
    }
}

fn apply_hold(
    counts: &mut TicketCounts,
    holds: &mut HashMap<HoldId, Hold>,
    buyers: &mut HashMap<(MatchNumber, BuyerId), u32>,
    id: HoldId,
    op: &LedgerOp,
) -> Outcome {
    let q = u32::from(op.quantity.get());
    match (op.action, holds.get_mut(&id)) {
        (Action::TicketPending, None) => {
            let within_cap = op.buyer.is_none_or(|b| {
                let match_number = op.ticket_type.match_number;
                buyers.get(&(match_number, b)).copied().unwrap_or(0).saturating_add(q) <= TICKETS_PER_BUYER
            });
            let granted = q <= counts.sellable() && within_cap;
            let status = if granted {
                counts.held = add(counts.held, q);
                HoldStatus::Granted
            } else {
                HoldStatus::Rejected
            };
            let hold = Hold {
                ticket_type: op.ticket_type,
                quantity: op.quantity,
                status,
                owner: op.producer.clone(),
                buyer: op.buyer,
            };
            if granted {
                count_buyer(buyers, &hold, i64::from(q));
            }
            holds.insert(id, hold);
            let decision = if granted { Decision::Granted } else { Decision::Rejected };
            Outcome::Decided { decision }
        }
        (Action::TicketPending, Some(_)) => Outcome::Duplicate,
        (Action::TicketCancelled, None) => {
            let tombstone = Hold {
                ticket_type: op.ticket_type,
                quantity: op.quantity,
                status: HoldStatus::Rejected,
                owner: op.producer.clone(),
                buyer: None,
            };
            holds.insert(id, tombstone);
            Outcome::Anomalous { anomaly: Anomaly::UnknownHold }
        }
        (_, None) => Outcome::Anomalous { anomaly: Anomaly::UnknownHold },
        (_, Some(hold)) if hold.owner != op.producer => Outcome::Anomalous { anomaly: Anomaly::NotOwner },
        (_, Some(hold)) if hold.ticket_type != op.ticket_type => Outcome::Anomalous { anomaly: Anomaly::HoldMismatch },
        (Action::TicketReserved, Some(hold)) => match hold.status {
            HoldStatus::Granted => {
                let q = u32::from(hold.quantity.get());
                counts.held = counts.held.saturating_sub(q);
                counts.sold = add(counts.sold, q);
                hold.status = HoldStatus::Confirmed;
                Outcome::Confirmed
            }
            HoldStatus::Confirmed => Outcome::Duplicate,
            HoldStatus::Rejected | HoldStatus::Released | HoldStatus::Refunded => {
                Outcome::Anomalous { anomaly: Anomaly::HoldMismatch }
            }
        },
        (Action::TicketCancelled, Some(hold)) => match hold.status {
            HoldStatus::Granted => {
                counts.held = counts.held.saturating_sub(u32::from(hold.quantity.get()));
                hold.status = HoldStatus::Released;
                count_buyer(buyers, hold, -i64::from(hold.quantity.get()));
                Outcome::Released
            }
            HoldStatus::Confirmed => {
                counts.sold = counts.sold.saturating_sub(u32::from(hold.quantity.get()));
                hold.status = HoldStatus::Refunded;
                count_buyer(buyers, hold, -i64::from(hold.quantity.get()));
                Outcome::Refunded
            }
            HoldStatus::Released | HoldStatus::Rejected | HoldStatus::Refunded => Outcome::Duplicate,
        },
    }
}

fn apply_anonymous(counts: &mut TicketCounts, op: &LedgerOp) -> Outcome {
    let q = u32::from(op.quantity.get());
    let mut anomaly = None;
    match op.action {
        Action::TicketPending => {
            let credited = q.min(counts.anonymous_credit);
            counts.anonymous_credit -= credited;
            counts.held = add(counts.held, q - credited);
            counts.anonymous_held = add(counts.anonymous_held, q - credited);
        }
        Action::TicketReserved => {
            let take = q.min(counts.anonymous_held);
            counts.anonymous_held -= take;
            counts.held = counts.held.saturating_sub(take);
            counts.sold = add(counts.sold, q);
        }
        Action::TicketCancelled => {
            let take = q.min(counts.anonymous_held);
            counts.anonymous_held -= take;
            counts.held = counts.held.saturating_sub(take);
            if take < q {
                counts.anonymous_credit = add(counts.anonymous_credit, q - take);
                anomaly = Some(Anomaly::ClampedRelease);
            }
        }
    }
    if counts.sold.saturating_add(counts.held) > counts.capacity {
        anomaly = Some(Anomaly::Oversold);
    }
    match anomaly {
        Some(anomaly) => Outcome::CountedWithAnomaly { anomaly },
        None => Outcome::Counted,
    }
}

#[cfg(test)]
mod tests;
