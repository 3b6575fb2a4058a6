//! The operators' order desk, defined once for its three ends: reservations
//! answers admins about orders (`/api/admin/orders…`), asks payments about
//! an order's payment over the internal listener, and the web site's desk
//! pages read the answers.
//!
//! - `GET /internal/payments/of-reservation/{id}` → [`PaymentSummary`]
//!   (404: the order has no payment).
//! - `GET /internal/payments/find/{ref}` → [`PaymentSummary`] of a payment
//!   id or the provider's intent id (`pi_…`) (404: none).
//!
//! Every admin action is recorded in the acting service's audit trail
//! ([`AuditEntry`], `GET /api/admin/audit` on each service).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ledger::HoldView;

pub fn payment_of_order_path(order: &Uuid) -> String {
    format!("/internal/payments/of-reservation/{order}")
}

pub fn find_payment_path(reference: &str) -> String {
    format!("/internal/payments/find/{reference}")
}

/// One order (a reservation) in a search's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    pub order_id: Uuid,
    pub buyer_id: String,
    /// Gone once the buyer deleted their account.
    pub buyer_email: Option<String>,
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
    /// What the order costs, in minor units (cents).
    pub amount: i64,
    /// REQUESTED, HELD, CONFIRMED, REJECTED, EXPIRED, CANCELLED or REFUNDED.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The answer of `GET /api/admin/orders`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OrderList {
    pub orders: Vec<OrderSummary>,
}

/// An order's whole story, for the desk.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderStory {
    pub order: OrderSummary,
    /// When an unpaid hold ends.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why the log or the platform refused or ended it, if it did.
    pub reason: Option<String>,
    /// The hold as this platform's copy of the market's ledger has it, with
    /// its place in the ticket-sales log; `None` while undecided (or when the
    /// shop does not answer).
    #[schema(value_type = Option<Object>)]
    pub hold: Option<HoldView>,
    /// The messages this order published, in order.
    pub messages: Vec<MessageSent>,
    pub payment: Option<PaymentSummary>,
    pub tickets: Vec<TicketStory>,
    pub mails: Vec<MailSent>,
    /// Admin actions on the order and its tickets, newest first.
    pub audit: Vec<AuditEntry>,
}

/// A message of the order on a shared topic (through the outbox).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageSent {
    pub topic: String,
    /// The sale's action or gate event (`TICKET_PENDING`, `REVOKE`, …).
    pub action: String,
    pub created_at: DateTime<Utc>,
    /// When the broker took it; `None` while waiting in the outbox.
    pub sent_at: Option<DateTime<Utc>>,
}

/// A payment as the desk shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSummary {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    /// The provider's payment intent (`pi_…`).
    pub provider_ref: Option<String>,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// OPEN, SUCCEEDED, REFUNDING, REFUNDED or CANCELED.
    pub status: String,
    /// `buyer`, `operator`, `hold_ended`, `provider` or `disputed`.
    pub refund_reason: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A ticket of the order, with its check-in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketStory {
    pub ticket_id: Uuid,
    pub seat: u8,
    /// VALID, USED or REVOKED.
    pub status: String,
    pub holder_name: Option<String>,
    pub holder_email: Option<String>,
    pub used_at: Option<DateTime<Utc>>,
    /// The market's gate log on this ticket: the gate that admitted it, or
    /// the platform that revoked it.
    pub gate: Option<GateRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateRecord {
    /// ADMITTED or REVOKED.
    pub state: String,
    /// The platform whose gate admitted it, or which revoked it.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// An e-mail about the order or its tickets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailSent {
    pub recipient: String,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    /// `None` while the SMTP server has not taken it.
    pub sent_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Body of the desk's actions that need a reason (revoke a ticket, refund
/// an order on the buyer's behalf).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why, for the audit trail (1 to 500 characters).
    pub reason: String,
}

/// One admin action, as recorded by the service that carried it out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The admin's account id and address when they acted.
    pub actor_id: String,
    pub actor_email: String,
    /// What was done, e.g. `order.refund`, `ticket.revoke`, `account.role`.
    pub action: String,
    /// What it was done to: an order, ticket, account or network.
    pub target: String,
    /// The admin's reason and what changed.
    pub detail: String,
}

/// The answer of `GET /api/admin/audit` (every service with admin actions).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AuditTrail {
    pub entries: Vec<AuditEntry>,
}
