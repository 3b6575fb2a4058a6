//! The identity API of the security service, as the web site and every
//! API client speaks it:
//! - `POST /api/auth/register` ([`Register`]); `POST /api/auth/login`
//!   ([`Login`]), `POST /api/auth/refresh` and `/logout`
//!   ([`RefreshRequest`]) → [`TokenPair`].
//! - `GET`/`PATCH` ([`EditMe`]) `/api/me` → [`AccountView`]; `DELETE
//!   /api/me` ([`DeleteMe`]); `POST /api/me/password` ([`ChangePassword`])
//!   → [`TokenPair`].
//! - `POST /api/auth/verify-email` ([`LinkToken`]), `…/resend`
//!   ([`ResendLink`]); `POST /api/auth/password-reset` ([`ResetRequest`]),
//!   `…/confirm` ([`ResetConfirm`]).
//! - `GET /api/admin/accounts` → [`AccountList`].
//!
//! Request bodies that hold a password have no `Debug`.
//!
//! And security → reservations, payments: what a service keeps about one
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

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Buyer,
    /// Checks tickets in at the gate.
    Staff,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "buyer" => Ok(Role::Buyer),
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            other => Err(format!("role must be buyer, staff or admin, got {other:?}")),
        }
    }
}

/// Body of `POST /api/auth/register`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub email: String,
    pub password: String,
    pub name: String,
    /// ISO 3166-1 alpha-2, e.g. `AR`.
    pub country: String,
}

/// Body of `POST /api/auth/login`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// Body of `POST /api/auth/refresh` and `POST /api/auth/logout`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A signed-in session's tokens.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// `Authorization: Bearer <accessToken>` on every other call.
    pub access_token: String,
    /// Single use: exchange it at `/api/auth/refresh` for the next pair.
    pub refresh_token: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
}

/// An account as its owner and admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub country: String,
    /// buyer, staff or admin.
    #[schema(value_type = String)]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Whether the owner confirmed the address (only then can it sign in).
    pub email_verified: bool,
}

/// `GET /api/admin/accounts`: a page of accounts and how many match.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
    pub total: i64,
}

/// Body of `PATCH /api/me`: what the owner changes (each optional). The
/// address is not changed here: a new one would need confirming first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMe {
    pub name: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `AR`.
    pub country: Option<String>,
}

/// Body of `POST /api/me/password`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Body of `DELETE /api/me`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    /// The account's password, as at sign-in.
    pub password: String,
}

/// Body of `POST /api/auth/verify-email`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkToken {
    /// The `token` of the link in the mail.
    pub token: String,
}

/// Body of `POST /api/auth/verify-email/resend`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendLink {
    pub email: String,
}

/// Body of `POST /api/auth/password-reset`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// Body of `POST /api/auth/password-reset/confirm`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetConfirm {
    /// The `token` of the link in the mail.
    pub token: String,
    pub new_password: String,
}

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
