//! security → reservations, payments: what a service keeps about one
//! account, for its owner's export (GDPR art. 15 and 20) and erasure
//! (art. 17). The account is named by its id (the tokens' `sub`).
//!
//! - `GET  /internal/accounts/{id}/export` → [`AccountData`]: every record
//!   of the service that is about the account.
//! - `POST /internal/accounts/{id}/erase` [`Erase`] → [`Erased`]: the person
//!   is erased from the service's records (the address orders and mail
//!   went to, the names on tickets, the country); what the accounts need
//!   (amounts, dates, the account id) stays. 409 while the account still
//!   has something it would lose: an open hold, or a ticket valid for a
//!   match still to be played. Idempotent.

use serde::{Deserialize, Serialize};

pub fn export_path(account: &str) -> String {
    format!("/internal/accounts/{account}/export")
}

pub fn erase_path(account: &str) -> String {
    format!("/internal/accounts/{account}/erase")
}

/// One service's records about an account, by kind (`orders`, `tickets`,
/// `payments`, …), each a list of JSON objects as the service keeps them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountData {
    pub records: serde_json::Map<String, serde_json::Value>,
}

/// Body of an erasure: the account's address, so mail queued to it goes too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erase {
    pub email: String,
}

/// What an erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erased {
    /// Rows that named the person and no longer do.
    pub rows: u64,
}
