//! A forgotten password, and a password changed by its owner.
//!
//! - `POST /api/auth/password-reset {email}`: 202 alike for any address; an
//!   account's address is mailed a link (an hour, once).
//! - `POST /api/auth/password-reset/confirm {token, newPassword}`: sets the
//!   password, signs every session out and confirms the address (the link
//!   proved it). A password the policy refuses leaves the link usable.
//! - `POST /api/me/password {currentPassword, newPassword}`: with the
//!   current password (under the sign-in back-off); every session signed
//!   out, a new token pair for this one, the owner told by mail.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use ticktak_kit::auth::Caller;
use ticktak_kit::http::Json;
use ticktak_kit::{ApiError, ApiResult};
use utoipa::ToSchema;
use uuid::Uuid;

use super::links::{self, Purpose};
use super::{normalize_email, store, CheckYourEmail};
use crate::sessions::{self, TokenPair};
use crate::throttle::{self, Attempt};
use crate::{passwords, AppState};

pub use ticktak_contracts::accounts::{ChangePassword, ResetConfirm, ResetRequest};

const RESET_SENT: CheckYourEmail = CheckYourEmail {
    status: "check_your_email",
    message: "If the address has an account, a link to choose a new password is on its way to it (it works for \
              an hour).",
};

#[utoipa::path(post, path = "/api/auth/password-reset", tag = "identity", request_body = ResetRequest,
    responses((status = 202, description = "a link is mailed if the address has an account; the same answer \
        for any address, at most one mail per address per 10 minutes", body = CheckYourEmail),
        (status = 422, description = "not an e-mail address")))]
pub async fn request(
    State(s): State<AppState>,
    Json(req): Json<ResetRequest>,
) -> ApiResult<(StatusCode, Json<CheckYourEmail>)> {
    let email = normalize_email(&req.email)?;
    // After the answer: the time to answer is the same for any address.
    links::after_answering(&s, email, Purpose::ResetPassword);
    Ok((StatusCode::ACCEPTED, Json(RESET_SENT)))
}

/// A password set.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    /// Always `password_changed`.
    pub status: &'static str,
}

#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "identity", request_body = ResetConfirm,
    responses((status = 200, description = "the new password is set and every session signed out; sign in",
        body = PasswordChanged),
        (status = 400, description = "unknown, used or expired link"),
        (status = 422, description = "a weak password (the link stays usable)")))]
pub async fn confirm(State(s): State<AppState>, Json(req): Json<ResetConfirm>) -> ApiResult<Json<PasswordChanged>> {
    let mut tx = s.pool.begin().await?;
    let invalid = || {
        ApiError::BadRequest(
            "this link is unknown, used or expired: ask for a new one with POST /api/auth/password-reset".into(),
        )
    };
    let account = links::spend(&mut tx, req.token.trim(), Purpose::ResetPassword).await?.ok_or_else(invalid)?;
    let account = store::by_id(&mut *tx, account).await?.ok_or_else(invalid)?;
    if let Some(why) = passwords::policy_violation(&req.new_password, &account.email, &account.name) {
        // Rolled back: the link is not spent.
        return Err(ApiError::Unprocessable(why));
    }
    let hash = s.passwords.hash(req.new_password).await?;
    set(&mut tx, account.id, &account.email, &hash, "password reset").await?;
    // The link proved the address.
    links::confirm_address(&mut tx, account.id).await?;
    tx.commit().await?;
    tracing::info!(account = %account.id, "password reset");
    Ok(Json(PasswordChanged { status: "password_changed" }))
}

#[utoipa::path(post, path = "/api/me/password", tag = "identity", request_body = ChangePassword,
    security(("bearer" = [])),
    responses((status = 200, description = "changed: every other session is signed out; this one goes on with \
        the new pair", body = TokenPair),
        (status = 401, description = "no or bad token, or a wrong current password"),
        (status = 422, description = "a weak new password"),
        (status = 429, description = "too many wrong current passwords; see Retry-After")))]
pub async fn change(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Caller(caller): Caller,
    Json(req): Json<ChangePassword>,
) -> ApiResult<Json<TokenPair>> {
    let id = Uuid::parse_str(&caller.sub).map_err(|_| ApiError::Unauthorized)?;
    let (account, hash) = store::by_id_with_hash(&s.pool, id).await?.ok_or(ApiError::Unauthorized)?;
    // A stolen access token must not become a way to guess the password:
    // the same back-off as sign-in.
    let client = sessions::client_of(&s, peer, &headers);
    let attempt = Attempt::new(client, &account.email.to_lowercase());
    if let Err(wait) = throttle::admit(&s.pool, &attempt).await? {
        return Err(ApiError::TooManyRequests { retry_after_secs: wait });
    }
    if !s.passwords.verify(req.current_password, Some(hash)).await? {
        return Err(ApiError::InvalidCredentials);
    }
    throttle::record_success(&s.pool, &attempt).await?;
    if let Some(why) = passwords::policy_violation(&req.new_password, &account.email, &account.name) {
        return Err(ApiError::Unprocessable(why));
    }
    let hash = s.passwords.hash(req.new_password).await?;
    let mut tx = s.pool.begin().await?;
    set(&mut tx, account.id, &account.email, &hash, "password changed").await?;
    tx.commit().await?;
    tracing::info!(account = %account.id, "password changed");
    Ok(Json(sessions::start(&s, &account).await?))
}

/// Store a new password hash: every session signed out, reset links
/// voided, the owner told.
async fn set(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account: Uuid,
    email: &str,
    hash: &str,
    reason: &str,
) -> sqlx::Result<()> {
    store::set_password(&mut **tx, account, hash).await?;
    sessions::store::revoke_all(tx, account, reason).await?;
    links::drop_unused(tx, account, Purpose::ResetPassword).await?;
    links::mail_password_changed(tx, email).await
}
