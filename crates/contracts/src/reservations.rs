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

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    /// REQUESTED, HELD, CONFIRMED, REJECTED, EXPIRED, CANCELLED or REFUNDED.
    pub status: String,
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
