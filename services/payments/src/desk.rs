//! The order desk's part in payments (`ticktak_contracts::desk`):
//! `GET /internal/payments/of-reservation/{id}` and
//! `GET /internal/payments/find/{ref}`: an order's payment, for the desk in
//! reservations. The admins' refund on a buyer's behalf is in `api`.

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use ticktak_contracts::desk::PaymentSummary;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use uuid::Uuid;

use crate::store::{self, Payment};
use crate::AppState;

pub fn internal_router() -> Router<AppState> {
    Router::new()
        .route("/internal/payments/of-reservation/{id}", get(of_order))
        .route("/internal/payments/find/{reference}", get(find))
}

fn summary(p: &Payment) -> PaymentSummary {
    PaymentSummary {
        payment_id: p.id,
        order_id: p.reservation_id,
        provider_ref: Some(p.intent_id.clone()).filter(|i| !i.is_empty()),
        amount: p.amount,
        currency: p.currency.clone(),
        status: p.status.as_str().to_string(),
        refund_reason: p.refund_reason.clone(),
        last_error: p.last_error.clone(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn no_payment() -> ApiError {
    ApiError::NotFound("no such payment".into())
}

async fn of_order(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<PaymentSummary>> {
    let id = Uuid::parse_str(&id).map_err(|_| no_payment())?;
    store::of_reservation(&s.pool, id).await?.map(|p| Json(summary(&p))).ok_or_else(no_payment)
}

/// A payment by its id or the provider's intent id.
async fn find(State(s): State<AppState>, Path(reference): Path<String>) -> ApiResult<Json<PaymentSummary>> {
    let found = match Uuid::parse_str(reference.trim()) {
        Ok(id) => store::get(&s.pool, id).await?,
        Err(_) => store::of_intent(&s.pool, reference.trim()).await?.into_iter().next(),
    };
    found.map(|p| Json(summary(&p))).ok_or_else(no_payment)
}
