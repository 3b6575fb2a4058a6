//! security ↔ every service: the screening policy each service keeps a
//! replica of, and the signals each reports back.
//!
//! - `GET  /internal/screening/policy` → [`Policy`], polled every 500 ms.
//! - `POST /internal/screening/signals` [`Signals`] → [`SignalsTaken`],
//!   batched every second.
//! - And the admins' view of what screening did (web site → security):
//!   `GET /api/admin/security/events` → [`Events`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const POLICY: &str = "/internal/screening/policy";
pub const SIGNALS: &str = "/internal/screening/signals";

/// A blocked network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockedNetwork {
    /// IPv4 or IPv6 CIDR, e.g. `203.0.113.0/24` or `2001:db8::/32`.
    pub cidr: String,
    pub reason: String,
    /// `null`: until removed.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A network whose requests need a solved proof-of-work puzzle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengedNetwork {
    pub cidr: String,
    pub reason: String,
    /// `maxnumber` of its puzzles: the work rises with suspicion.
    pub difficulty: u64,
    pub expires_at: DateTime<Utc>,
}

/// An account that must solve a puzzle for each new hold, or may place
/// none, until `expiresAt` (it let holds expire unpaid again and again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountVerdict {
    pub account: String,
    pub reason: String,
    /// Puzzle size for a challenged account; 0 for a blocked one.
    pub difficulty: u64,
    pub expires_at: DateTime<Utc>,
}

/// What every service screens with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub blocked: Vec<BlockedNetwork>,
    #[serde(default)]
    pub challenged: Vec<ChallengedNetwork>,
    /// Accounts whose holds need a solved puzzle.
    #[serde(default)]
    pub challenged_accounts: Vec<AccountVerdict>,
    /// Accounts that may place no holds for now.
    #[serde(default)]
    pub blocked_accounts: Vec<AccountVerdict>,
}

/// What a service saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A request from a blocked network was refused (403).
    Blocked,
    /// A client went past a rate limit (429).
    Throttled,
    /// A challenged client came without a valid puzzle solution (428).
    ChallengeFailed,
    /// A hold of the account ended unpaid (reported by reservations; no
    /// client address).
    HoldExpired,
}

/// Requests of one client of one kind in one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signal {
    pub kind: SignalKind,
    /// The client's address; `None` for what happened without a request
    /// (a hold expiring).
    pub ip: Option<String>,
    /// The account, when the limit was the account's.
    pub account: Option<String>,
    /// `reads`, `auth`, `holds`, `payments` or `writes`.
    pub route_class: String,
    pub count: u64,
    pub first_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// The reporting service.
    pub service: String,
    pub signals: Vec<Signal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalsTaken {
    pub taken: usize,
}

/// A security event as admins see it (`Event` in the API description).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Event)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// blocked, throttled, blocklist_added or blocklist_removed.
    pub kind: String,
    /// The client's address.
    pub ip: Option<String>,
    /// The account concerned (for blocklist changes: the admin).
    pub account: Option<String>,
    pub route_class: Option<String>,
    /// The service that saw it.
    pub service: Option<String>,
    /// Requests counted in this event.
    pub count: i64,
    pub detail: String,
}

/// `GET /api/admin/security/events`: the newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Events {
    pub events: Vec<SecurityEvent>,
}
