//! The account's owner takes their data with them, or leaves.
//!
//! - `GET /api/me/export`: everything the platform keeps about the account
//!   — the account, its sessions, and what reservations (orders, tickets,
//!   waiting-room places) and payments keep — as one JSON document.
//! - `DELETE /api/me {password}`: reservations and payments erase the
//!   person first (refused 409 while an order is open or a ticket is valid
//!   for a match still to be played), then the account: the address
//!   becomes a placeholder, name and country go, sign-in is off, every
//!   session signed out, links dropped, mail to the address unsent. Orders
//!   and payments stay under the account's id, without the person. Each
//!   step is idempotent and the account goes last, so a failed step leaves
//!   an account its owner can delete again.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ticktak_contracts::accounts::{self as contract, AccountData, Erase, Erased};
use ticktak_kit::auth::Caller;
use ticktak_kit::http::Json;
use ticktak_kit::{ApiError, ApiResult};
use uuid::Uuid;

use super::{store, AccountView};
use crate::sessions;
use crate::throttle::{self, Attempt};
use crate::AppState;

pub use ticktak_contracts::accounts::DeleteMe;

#[utoipa::path(get, path = "/api/me/export", tag = "identity", security(("bearer" = [])),
    responses((status = 200, description = "everything kept about the account, as a JSON download \
        (`account`, `sessions`, `reservations`, `payments`)"),
        (status = 401, description = "no or bad token"),
        (status = 503, description = "a service that keeps records did not answer; try again")))]
pub async fn export(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Response> {
    let id = Uuid::parse_str(&caller.sub).map_err(|_| ApiError::Unauthorized)?;
    let account = store::by_id(&s.pool, id).await?.ok_or(ApiError::Unauthorized)?;
    let sessions: serde_json::Value = sqlx::query_scalar(
        "SELECT coalesce(json_agg(json_build_object('startedAt', created_at, 'signedOutAt', revoked_at, \
           'why', revoked_reason) ORDER BY created_at), '[]') FROM refresh_families WHERE account_id = $1",
    )
    .bind(id)
    .fetch_one(&s.pool)
    .await?;
    let path = contract::export_path(&caller.sub);
    let unavailable = |e: anyhow::Error| {
        tracing::warn!(error = %e, "an account's records could not be gathered");
        ApiError::Unavailable("a service that keeps your records did not answer; try again in a moment".into())
    };
    let reservations: AccountData = s.reservations.get(&path).await.map_err(unavailable)?.unwrap_or_default();
    let payments: AccountData = s.payments.get(&path).await.map_err(unavailable)?.unwrap_or_default();
    let document = serde_json::json!({
        "exportedAt": chrono::Utc::now(),
        "account": AccountView::from(account),
        "sessions": sessions,
        "reservations": reservations.records,
        "payments": payments.records,
    });
    Ok((
        [
            (header::CONTENT_DISPOSITION, "attachment; filename=\"ticktak-my-data.json\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::Json(document),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/me", tag = "identity", request_body = DeleteMe, security(("bearer" = [])),
    responses((status = 204, description = "deleted: the person is erased everywhere on this platform"),
        (status = 401, description = "no or bad token, or a wrong password"),
        (status = 409, description = "an order is open, or a ticket is valid for a match still to be played"),
        (status = 429, description = "too many wrong passwords; see Retry-After"),
        (status = 503, description = "a service that keeps records did not answer; nothing was deleted")))]
pub async fn delete(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Caller(caller): Caller,
    Json(req): Json<DeleteMe>,
) -> ApiResult<StatusCode> {
    let id = Uuid::parse_str(&caller.sub).map_err(|_| ApiError::Unauthorized)?;
    let (account, hash) = store::by_id_with_hash(&s.pool, id).await?.ok_or(ApiError::Unauthorized)?;
    // The password under the sign-in back-off: a stolen access token alone
    // deletes nothing.
    let attempt = Attempt::new(sessions::client_of(&s, peer, &headers), &account.email.to_lowercase());
    if let Err(wait) = throttle::admit(&s.pool, &attempt).await? {
        return Err(ApiError::TooManyRequests { retry_after_secs: wait });
    }
    if !s.passwords.verify(req.password, Some(hash)).await? {
        return Err(ApiError::InvalidCredentials);
    }
    throttle::record_success(&s.pool, &attempt).await?;
    let erase = Erase { email: account.email.clone() };
    let path = contract::erase_path(&caller.sub);
    // Payments first (it never refuses), then reservations (which may, and
    // from then on refuses the account's holds), then the account itself.
    for service in [&s.payments, &s.reservations] {
        match service.post_or_refusal::<_, Erased>(&path, &erase).await {
            Ok(Ok(_)) => {}
            Ok(Err(refusal)) if refusal.status == 409 => return Err(ApiError::Conflict(refusal.message)),
            Ok(Err(refusal)) => {
                tracing::warn!(status = refusal.status, message = %refusal.message, "an erasure was refused");
                return Err(ApiError::Unavailable("the account cannot be deleted right now; try again".into()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "an erasure did not get through");
                return Err(ApiError::Unavailable(
                    "a service that keeps your records did not answer; the deletion is not finished: try again".into(),
                ));
            }
        }
    }
    let mut tx = s.pool.begin().await?;
    store::erase(&mut *tx, id).await?;
    sessions::store::revoke_all(&mut tx, id, "account deleted").await?;
    sqlx::query("DELETE FROM account_links WHERE account_id = $1").bind(id).execute(&mut *tx).await?;
    ticktak_kit::mail::forget_recipient(&mut tx, &account.email).await?;
    // What screening kept under the address.
    sqlx::query("DELETE FROM login_failures WHERE key = 'account:' || lower($1)")
        .bind(&account.email)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE security_events SET account = NULL WHERE lower(account) = lower($1)")
        .bind(&account.email)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(account = %id, "account deleted by its owner");
    metrics::counter!("accounts_deleted_total").increment(1);
    Ok(StatusCode::NO_CONTENT)
}
