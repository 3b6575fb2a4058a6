//! What payments keeps about an account, for its owner's export, and the
//! person's erasure (`ticktak_contracts::accounts`): payments stay under
//! the account id with their amounts and dates (the accounts need them);
//! the address receipts went to goes, and so does mail queued to it.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use ticktak_contracts::accounts::{AccountData, Erase, Erased};
use ticktak_kit::http::{Json, Path};
use ticktak_kit::ApiResult;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/accounts/{id}/export", get(export))
        .route("/internal/accounts/{id}/erase", post(erase))
}

async fn export(State(s): State<AppState>, Path(account): Path<String>) -> ApiResult<Json<AccountData>> {
    // The intent's client secret lets a browser confirm it: not exported.
    let payments: serde_json::Value = sqlx::query_scalar(
        "SELECT coalesce(json_agg(json_build_object('id', id, 'reservationId', reservation_id, 'amount', amount, \
           'currency', currency, 'status', status, 'refundReason', refund_reason, 'email', buyer_email, \
           'createdAt', created_at, 'updatedAt', updated_at) ORDER BY created_at), '[]') \
         FROM payments WHERE buyer_id = $1",
    )
    .bind(&account)
    .fetch_one(&s.pool)
    .await?;
    let mut data = AccountData::default();
    data.records.insert("payments".into(), payments);
    Ok(Json(data))
}

async fn erase(
    State(s): State<AppState>,
    Path(account): Path<String>,
    Json(req): Json<Erase>,
) -> ApiResult<Json<Erased>> {
    let mut tx = s.pool.begin().await?;
    let mut rows =
        sqlx::query("UPDATE payments SET buyer_email = NULL WHERE buyer_id = $1 AND buyer_email IS NOT NULL")
            .bind(&account)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    rows += ticktak_kit::mail::forget_recipient(&mut tx, &req.email).await?;
    tx.commit().await?;
    Ok(Json(Erased { rows }))
}
