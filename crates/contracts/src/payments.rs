//! The payments service's public API, as the web site and every API client
//! reads it:
//! - `POST /api/payments` ([`CreatePayment`]), `GET /api/payments/{id}`,
//!   `POST /api/payments/{id}/confirm` ([`ConfirmPayment`]), `…/sync`,
//!   `…/refund` → [`PaymentView`].
//! - `POST /api/payments/orders` ([`CreateOrderPayment`]), `GET
//!   /api/payments/orders/{id}`, `…/refund` → [`OrderPayment`].
//! - `GET /api/admin/payments` → [`PaymentList`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Waiting for the buyer's card (or a webhook).
    Open,
    /// Paid; the reservation is confirmed.
    Succeeded,
    /// Money is going back; the reconciler finishes it if a call failed.
    Refunding,
    Refunded,
    /// Never paid: the intent was cancelled (the hold ended first).
    Canceled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Open => "OPEN",
            PaymentStatus::Succeeded => "SUCCEEDED",
            PaymentStatus::Refunding => "REFUNDING",
            PaymentStatus::Refunded => "REFUNDED",
            PaymentStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OPEN" => PaymentStatus::Open,
            "SUCCEEDED" => PaymentStatus::Succeeded,
            "REFUNDING" => PaymentStatus::Refunding,
            "REFUNDED" => PaymentStatus::Refunded,
            "CANCELED" => PaymentStatus::Canceled,
            _ => return None,
        })
    }
}

/// Body of `POST /api/payments`. The amount comes from the reservation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePayment {
    pub reservation_id: String,
}

/// Body of `POST /api/payments/orders`. The amount is what the order's held
/// lines cost.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrderPayment {
    pub order_id: String,
}

/// Body of `POST /api/payments/{id}/confirm`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmPayment {
    /// What Stripe.js made of the buyer's card: `pm_…`, or a card token's `card_…`.
    pub payment_method: String,
}

/// A payment as its buyer (or an admin) sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub payment_id: Uuid,
    pub reservation_id: Uuid,
    /// The order whose lines this payment's intent pays together.
    pub order_id: Option<Uuid>,
    /// For Stripe.js to confirm the payment in the browser
    /// (`stripe.confirmCardPayment(clientSecret, {payment_method: {card}})`).
    pub client_secret: Option<String>,
    /// What the buyer must do before the payment can go on, in answers that
    /// asked the provider (`confirm`, `sync`): `authenticate` when the card
    /// asks for 3-D Secure — run `stripe.confirmCardPayment(clientSecret)`
    /// in the buyer's browser, then `POST /api/payments/{id}/sync`.
    pub next_action: Option<NextAction>,
    /// Minor units (cents).
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
    pub status: PaymentStatus,
    /// Why the last attempt failed (e.g. `card_declined`).
    pub last_error: Option<String>,
    /// `buyer`, `hold_ended`, `provider` (the provider's dashboard) or
    /// `disputed`, once refunded.
    pub refund_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the buyer must do next, see [`PaymentView::next_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    Authenticate,
}

/// An order's payment: one intent for its held lines, a payment per line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPayment {
    pub order_id: Uuid,
    /// For Stripe.js, while the payment is open: one confirmation pays
    /// every line. Then `POST /api/payments/{paymentId}/sync` with any
    /// line's payment.
    pub client_secret: Option<String>,
    /// Minor units (cents): what the lines cost together.
    pub amount: i64,
    pub currency: String,
    /// OPEN until paid, then SUCCEEDED; a line's own status is in `payments`
    /// (a line whose hold ended before the money came is REFUNDED).
    pub status: PaymentStatus,
    pub payments: Vec<PaymentView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentList {
    pub payments: Vec<PaymentView>,
}
