//! The reservations service's tickets, as their holders, the gate and the
//! web site read them:
//! - `GET /api/reservations/{id}/tickets`, `GET /api/tickets/received` →
//!   [`TicketList`]; `POST /api/transfers/accept`, `PUT
//!   /api/tickets/{id}/holder` ([`NameHolder`]) → [`Ticket`].
//! - `GET /api/tickets/{id}/live` → [`LiveCode`].
//! - `POST /api/tickets/{id}/transfer` ([`OfferTicket`]) → [`Offer`];
//!   `POST /api/transfers/accept` takes [`AcceptTicket`].
//! - `POST /api/tickets/check-in` ([`CheckIn`]) → [`CheckInResult`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A ticket as its holder (and the gate) sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: Uuid,
    pub reservation_id: Uuid,
    /// 1.. within its reservation.
    pub seat: u8,
    /// The signed code the QR code holds.
    pub code: String,
    pub match_number: u8,
    pub category: u8,
    /// The buyer's e-mail address (else account id).
    pub holder: String,
    /// Who the seat is for, as the buyer named it (the gate shows it).
    pub holder_name: Option<String>,
    /// Where the named person got the ticket by mail, if anywhere.
    pub holder_email: Option<String>,
    /// VALID, USED or REVOKED.
    pub status: String,
    pub used_at: Option<DateTime<Utc>>,
    /// Whether the printed (e-mailed) code admits, or only the live code
    /// shown in the holder's account (`GET /api/tickets/{id}/live`).
    pub printed_code_admits: bool,
    /// Passed on to someone who accepted it: this ticket is revoked, a new
    /// one is theirs.
    pub passed_on: bool,
    /// The address it is offered to while an offer waits for an answer.
    pub offered_to: Option<String>,
}

impl Ticket {
    /// Whether it still admits its holder (neither used nor revoked).
    pub fn is_valid(&self) -> bool {
        self.status == "VALID"
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketList {
    pub tickets: Vec<Ticket>,
}

/// `GET /api/tickets/{id}/live`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveCode {
    /// What the QR code holds now (`TL2.…`).
    pub code: String,
    /// When a gate stops taking it (a minute of grace after).
    pub valid_until: DateTime<Utc>,
    /// When to ask for the next one.
    pub refresh_in_seconds: i64,
}

/// Body of `PUT /api/tickets/{id}/holder`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameHolder {
    /// Who the seat is for, as on an identity document: 1–100 characters.
    pub name: String,
    /// Where to send that person the ticket (optional).
    pub email: Option<String>,
}

/// Body of `POST /api/tickets/{id}/transfer`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferTicket {
    /// Who gets it: they accept with an account of this address.
    pub email: String,
}

/// An offer as its sender sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub ticket_id: Uuid,
    pub to_email: String,
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /api/transfers/accept`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptTicket {
    /// The token of the mailed link.
    pub token: String,
}

/// Body of `POST /api/tickets/check-in`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckIn {
    /// What the QR code holds (printed or live).
    pub code: String,
    /// The match this gate admits to.
    #[schema(minimum = 1, maximum = 64)]
    pub match_number: u8,
}

/// What the gate shows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckInResult {
    /// ADMITTED; ALREADY_USED, REVOKED, WRONG_MATCH, EXPIRED_CODE or
    /// LIVE_CODE_REQUIRED (409); INVALID (404).
    pub result: String,
    pub message: String,
    /// The platform that sold the ticket, for a code that verified.
    pub issuer: Option<String>,
    pub match_number: Option<u8>,
    pub category: Option<u8>,
    /// For ALREADY_USED: when and at which platform's gate it was admitted.
    pub used_at: Option<DateTime<Utc>>,
    pub used_at_gate: Option<String>,
    /// The ticket, for a ticket this platform sold.
    pub ticket: Option<Ticket>,
}
