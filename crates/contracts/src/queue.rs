//! The waiting rooms of an on-sale (reservations), as buyers, the web site
//! and operators read them:
//! - `POST /api/queue` ([`JoinQueue`]), `GET /api/queue/{ticket}` →
//!   [`QueueStatus`].
//! - `GET /api/admin/queues` → [`QueueBoard`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /api/queue`: the ticket type the buyer wants.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinQueue {
    pub match_number: i64,
    pub category: i64,
}

/// Where a buyer's turn stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    /// Joined before the on-sale: a random place is drawn when it opens.
    Prequeue,
    /// In line.
    Waiting,
    /// Their turn: hold with `admission` before `admissionExpiresAt`.
    Admitted,
    /// The admission was spent on a hold.
    Used,
    /// The admission expired unused.
    Expired,
}

/// A buyer's place in a waiting room.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// The buyer's handle on this place: `GET /api/queue/{queueTicket}`.
    pub queue_ticket: String,
    /// The on-sale: the schedule's scope and the time it opens.
    pub room: String,
    pub opens_at: DateTime<Utc>,
    pub state: QueueState,
    /// 1 is first; `null` until the pre-queue is drawn.
    pub place: Option<i64>,
    /// Buyers before this one still waiting.
    pub ahead: Option<i64>,
    /// At the room's pace now; `null` when unknown.
    pub estimated_wait_seconds: Option<i64>,
    /// Spend it on one hold: `POST /api/reservations` with `admission`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_expires_at: Option<DateTime<Utc>>,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Prequeue => "prequeue",
            QueueState::Waiting => "waiting",
            QueueState::Admitted => "admitted",
            QueueState::Used => "used",
            QueueState::Expired => "expired",
        }
    }
}

impl QueueStatus {
    /// When to ask again, in seconds, while there is something to wait for.
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<i64> {
        match self.state {
            QueueState::Prequeue => Some((self.opens_at - now).num_seconds().clamp(1, 30)),
            QueueState::Waiting => Some(self.estimated_wait_seconds.map_or(2, |w| w / 4).clamp(1, 15)),
            _ => None,
        }
    }
}

/// The waiting rooms as operators see them (`GET /api/admin/queues`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueBoard {
    /// This platform's pace now, buyers per minute, shared by its rooms
    /// with buyers waiting.
    pub pace_per_minute: f64,
    pub rooms: Vec<RoomBoard>,
}

/// One room: this platform's line and every platform's reported one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomBoard {
    pub room: String,
    pub opens_at: DateTime<Utc>,
    pub opened: bool,
    /// The market's rate the organisers set, if any.
    pub market_rate_per_minute: Option<i32>,
    /// What this platform admits in it now, buyers per minute.
    pub rate_per_minute: f64,
    /// How long the last in this platform's line still waits, at that rate.
    pub expected_wait_seconds: Option<i64>,
    pub platforms: Vec<PlatformQueue>,
}

/// One platform's line in a room.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformQueue {
    pub platform: String,
    /// This platform: counted here; the others: their last report.
    pub this_platform: bool,
    pub joined: Option<i64>,
    pub waiting: i64,
    pub admitted: i64,
}
