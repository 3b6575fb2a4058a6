//! The random selection draws (reservations), as buyers, the web site and
//! anyone checking a draw read them:
//! - `GET /api/draws` → [`DrawList`], `GET /api/draws/{draw}` → [`DrawView`]
//!   (no account needed: the terms, the commitment, the seed once revealed
//!   and the winners' digest, for `draw verify` to be checked against).
//! - `POST /api/draws/applications` ([`ApplyForDraw`]) →
//!   [`ApplicationView`]; `PUT /api/draws/applications/{id}`
//!   ([`ChangeApplication`]) and `DELETE` (withdraw) until the close;
//!   `GET /api/draws/applications` → [`ApplicationList`].
//!
//! The draw topic's messages (terms, applications, seeds) are
//! `ticktak_core::draw`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /api/draws/applications`: one ticket type of an open draw.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyForDraw {
    pub match_number: i64,
    pub category: i64,
    /// Tickets, 1 to the draw's `maxQuantity`.
    pub quantity: i64,
}

/// Body of `PUT /api/draws/applications/{id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeApplication {
    pub quantity: i64,
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationState {
    /// In the draw; it can still be changed or withdrawn.
    Open,
    /// Withdrawn by the buyer.
    Withdrawn,
    /// The draw closed; its result is to come.
    Closed,
    /// Tickets were allocated: pay the hold (`reservationId`) in time.
    Won,
    /// Not allocated (yet): tickets an allocation leaves unpaid pass down
    /// the list in draw order.
    Waitlisted,
    /// The same person applied for the same ticket type before (here or on
    /// another platform): that application is the one in the draw.
    Duplicate,
}

/// One of the buyer's applications.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationView {
    pub id: Uuid,
    pub draw: String,
    pub match_number: u8,
    pub category: u8,
    /// Tickets asked for (0 once withdrawn).
    pub quantity: u8,
    pub state: ApplicationState,
    pub closes_at: DateTime<Utc>,
    pub draws_at: DateTime<Utc>,
    /// Won: the hold to pay (`GET /api/reservations/{id}`), once placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<Uuid>,
    /// Waitlisted: 1 is next in line for tickets passed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/draws/applications`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationList {
    pub applications: Vec<ApplicationView>,
}

/// Where a draw stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DrawState {
    /// Applications open later.
    Upcoming,
    /// Taking applications.
    Open,
    /// Closed; the seed is not revealed yet.
    Closed,
    /// Drawn: the seed, the result and its digest are known.
    Drawn,
}

/// Tickets of one ticket type in a draw.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrawStock {
    pub match_number: u8,
    pub category: u8,
    pub tickets: u32,
}

/// A draw of the market as this platform holds it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrawView {
    pub draw: String,
    pub state: DrawState,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub draws_at: DateTime<Utc>,
    pub payment_window_minutes: u32,
    pub max_quantity: u8,
    pub stock: Vec<DrawStock>,
    /// SHA-256 (hex) of the seed, published with the terms.
    pub commitment: String,
    /// The seed, once the organisers revealed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Applications of every platform in the draw so far (the latest
    /// version of each; withdrawn ones included).
    pub applications: i64,
    /// Drawn: applications left out as their person's second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<i64>,
    /// Drawn: applications the draw allocated tickets to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winners: Option<i64>,
    /// Drawn: the winners' digest; `draw verify` prints the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winners_digest: Option<String>,
}

/// `GET /api/draws`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrawList {
    pub draws: Vec<DrawView>,
}
