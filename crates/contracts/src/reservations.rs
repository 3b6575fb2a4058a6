//! The reservations service's answers, defined once for both ends.
//!
//! Its public API, as the web site and every API client reads it:
//! - `POST /api/reservations` ([`CreateReservation`]), `GET`/`DELETE
//!   /api/reservations/{id}` →
//!   [`ReservationView`]; `GET /api/reservations` → [`ReservationList`].
//! - `POST /api/orders` ([`CreateOrder`]), `GET`/`DELETE /api/orders/{id}` →
//!   [`OrderView`].
//!
//! payments → reservations: what a payment needs to know about the
//! reservation it pays, and the two transitions money causes.
//!
//! - `GET  /internal/reservations/{id}` → [`ReservationRecord`] (404: none).
//! - `POST /internal/reservations/{id}/confirm` → [`ReservationRecord`]:
//!   paid → CONFIRMED, tickets issued and mailed, TICKET_RESERVED published;
//!   again → the same answer. 409 when the hold expired or was cancelled.
//! - `POST /internal/reservations/{id}/refund` → [`ReservationRecord`]:
//!   CONFIRMED → REFUNDED, tickets revoked, TICKET_CANCELLED published (the
//!   tickets go back on sale everywhere); again → the same answer. 409 when
//!   not paid, or past the refund cut-off before kick-off.
//!
//! Tickets, their transfers and the gate's check-in: [`crate::tickets`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// Published, waiting for the log's decision.
    Requested,
    /// Granted by the log: pay before `expiresAt`.
    Held,
    /// Paid: its tickets are issued.
    Confirmed,
    /// Refused by the log (sold out) or not decided in time.
    Rejected,
    /// Not paid in time: the tickets went back on sale.
    Expired,
    /// Given back by its buyer.
    Cancelled,
    /// Confirmed, then refunded: its tickets are revoked and back on sale.
    Refunded,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Requested => "REQUESTED",
            ReservationStatus::Held => "HELD",
            ReservationStatus::Confirmed => "CONFIRMED",
            ReservationStatus::Rejected => "REJECTED",
            ReservationStatus::Expired => "EXPIRED",
            ReservationStatus::Cancelled => "CANCELLED",
            ReservationStatus::Refunded => "REFUNDED",
        }
    }

    /// The status a stored name stands for (REQUESTED for any other).
    pub fn parse(s: &str) -> Self {
        match s {
            "HELD" => ReservationStatus::Held,
            "CONFIRMED" => ReservationStatus::Confirmed,
            "REJECTED" => ReservationStatus::Rejected,
            "EXPIRED" => ReservationStatus::Expired,
            "CANCELLED" => ReservationStatus::Cancelled,
            "REFUNDED" => ReservationStatus::Refunded,
            _ => ReservationStatus::Requested,
        }
    }
}

/// Body of `POST /api/reservations`. The price comes from the master list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateReservation {
    pub match_number: i64,
    pub category: i64,
    pub quantity: i64,
    /// While the ticket type sells through a waiting room: the admission
    /// the buyer's turn gave (`GET /api/queue/{ticket}`); one hold spends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<String>,
}

/// Body of `POST /api/orders`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrder {
    /// 1 to 6 lines, one per ticket type; 8 tickets at most in all.
    pub lines: Vec<OrderLineRequest>,
}

/// One line of an order: a ticket type and how many tickets of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLineRequest {
    pub match_number: i64,
    pub category: i64,
    /// 1 to 8, within the cap of tickets per match per account.
    pub quantity: i64,
}

/// A reservation as its buyer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationView {
    /// `null` when refused before anything was published.
    pub id: Option<Uuid>,
    /// REQUESTED, HELD, CONFIRMED, REJECTED, EXPIRED, CANCELLED or REFUNDED.
    #[schema(value_type = String)]
    pub status: ReservationStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
    pub unit_price: u32,
    pub total: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// The order (cart) it is a line of, if any: it is paid with the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
}

/// `GET /api/reservations`: the caller's reservations, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReservationList {
    pub reservations: Vec<ReservationView>,
}

/// An order (cart) as its buyer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: Uuid,
    /// REQUESTED while any line is being decided; then HELD while any line
    /// is held (pay for the held lines before `expiresAt`); then CONFIRMED,
    /// REFUNDED, EXPIRED, CANCELLED, or REJECTED when the log granted none.
    #[schema(value_type = String)]
    pub status: ReservationStatus,
    /// When the first held line's hold ends.
    pub expires_at: Option<DateTime<Utc>>,
    /// What the held and paid lines cost, in whole currency units.
    pub total: u32,
    /// The order's reservations, in the order placed; a line of more than
    /// two tickets is several of them.
    pub reservations: Vec<ReservationView>,
    pub created_at: DateTime<Utc>,
}

pub fn reservation_path(id: &str) -> String {
    format!("/internal/reservations/{id}")
}

pub fn confirm_path(id: &str) -> String {
    format!("/internal/reservations/{id}/confirm")
}

pub fn refund_path(id: &str) -> String {
    format!("/internal/reservations/{id}/refund")
}

/// The money went back without the buyer's refund (a refund from the
/// provider's dashboard, a dispute): REFUNDED whatever the cut-off or the
/// gate.
pub fn revoke_path(id: &str) -> String {
    format!("/internal/reservations/{id}/revoke")
}

/// A reservation as payments sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationRecord {
    pub id: String,
    /// The buyer's account id (the token's `sub`).
    pub buyer_id: String,
    pub status: ReservationStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
    /// Master-list price of one ticket, whole currency units.
    pub unit_price: u32,
    /// What the reservation costs, in minor units (cents).
    pub amount: i64,
    /// The order (cart) it is a line of; `None` for a hold of its own.
    #[serde(default)]
    pub order_id: Option<String>,
}

/// `GET /internal/orders/{id}` → [`OrderRecord`] (404: none): an order of
/// several lines, which payments charges once for its held lines.
pub fn order_path(id: &str) -> String {
    format!("/internal/orders/{id}")
}

/// An order (cart) as payments sees it: its lines, each a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRecord {
    pub id: String,
    /// The buyer's account id (the token's `sub`).
    pub buyer_id: String,
    pub reservations: Vec<ReservationRecord>,
}
