//! The order desk's part in payments (`ticktak_contracts::desk`):
//! - `GET /internal/payments/of-reservation/{id}` and
//!   `GET /internal/payments/find/{ref}`: an order's payment, for the
//!   desk in reservations;
//! - `POST /api/admin/payments/{id}/refund` (admins): a refund on the
//!   buyer's behalf, by the buyer's own rules, recorded in the audit trail
//!   with the admin's reason.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use ticktak_contracts::desk::{PaymentSummary, Reason};
use ticktak_kit::auth::Admin;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use uuid::Uuid;

use crate::api::PaymentView;
use crate::store::{self, Payment};
use crate::{settle, AppState};

pub fn internal_router() -> Router<AppState> {
    Router::new()
        .route("/internal/payments/of-reservation/{id}", get(of_order))
        .route("/internal/payments/find/{reference}", get(find))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/payments/{id}/refund", post(refund))
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
        Err(_) => store::of_intent(&s.pool, reference.trim()).await?,
    };
    found.map(|p| Json(summary(&p))).ok_or_else(no_payment)
}

#[utoipa::path(post, path = "/api/admin/payments/{id}/refund", operation_id = "refund_for_buyer", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Reason,
    responses((status = 200, description = "REFUNDED, or REFUNDING while the provider finishes", body = PaymentView),
        (status = 403, description = "not an admin"), (status = 404, description = "no such payment"),
        (status = 409, description = "not paid, a ticket was used, or past the refund cut-off before kick-off"),
        (status = 422, description = "no reason, or one too long")))]
pub async fn refund(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<PaymentView>> {
    let reason = ticktak_kit::audit::reason(&req.reason)?;
    let id = Uuid::parse_str(&id).map_err(|_| no_payment())?;
    store::get(&s.pool, id).await?.ok_or_else(no_payment)?;
    settle::refund_on_request(&s, id, settle::Asker::Operator { admin: &admin, reason: &reason }).await?;
    tracing::info!(payment = %id, by = %admin.sub, "refunded on the buyer's behalf");
    Ok(Json(PaymentView::of(&store::get(&s.pool, id).await?.ok_or_else(no_payment)?)))
}
