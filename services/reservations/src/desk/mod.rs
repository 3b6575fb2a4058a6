//! The operators' order desk (admins only; bodies in
//! `ticktak_contracts::desk`):
//! - `GET  /api/admin/orders?q=`: orders found by the buyer's (or a named
//!   holder's) e-mail, an order id, a ticket id or code, or a payment id
//!   (ours or the provider's `pi_…`, asked of payments);
//! - `GET  /api/admin/orders/{id}`: the order's whole story — the hold as
//!   the market's ledger has it with its log positions, the messages it
//!   published, its payment, tickets and check-ins, the mail sent, the
//!   admins' actions;
//! - `POST /api/admin/orders/{id}/resend-tickets`: the tickets mailed again;
//! - `POST /api/admin/tickets/{id}/revoke`: one ticket stops admitting at
//!   every gate of the market (a `REVOKE` on the gate log), with a reason;
//! - `GET  /api/admin/orders.csv`, `GET /api/admin/sales.csv`: exports
//!   (`export`).
//!
//! A refund on the buyer's behalf is payments' (`POST
//! /api/admin/payments/{id}/refund`). Every action is recorded in the audit
//! trail (`ticktak_kit::audit`) in its own transaction.

pub mod export;
pub mod store;

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use ticktak_contracts::desk::{self, OrderList, OrderStory, OrderSummary, PaymentSummary, Reason};
use ticktak_core::HoldId;
use ticktak_kit::auth::Admin;
use ticktak_kit::http::{Json, Path, Query};
use ticktak_kit::{audit, ApiError, ApiResult};
use uuid::Uuid;

use crate::{store as reservations, tickets, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/orders", get(search))
        .route("/api/admin/orders.csv", get(export::orders))
        .route("/api/admin/sales.csv", get(export::sales))
        .route("/api/admin/orders/{id}", get(story))
        .route("/api/admin/orders/{id}/resend-tickets", post(resend_tickets))
        .route("/api/admin/tickets/{id}/revoke", post(revoke_ticket))
}

/// Longest search text.
const MAX_QUERY_CHARS: usize = 320;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/admin/orders", tag = "desk", security(("bearer" = [])),
    params(("q" = String, Query, description = "an e-mail address, order id, ticket id or code, or payment id (`pi_…` or ours)"),
        ("limit" = Option<i64>, Query, description = "1..=200, default 50")),
    responses((status = 200, description = "newest first; none found is an empty list", body = OrderList),
        (status = 400, description = "nothing to search by, or not one of the kinds above"),
        (status = 403, description = "not an admin"),
        (status = 503, description = "payments did not answer a payment id's search")))]
pub async fn search(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<OrderList>> {
    let q = query.q.as_deref().unwrap_or_default().trim();
    if q.is_empty() || q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!("q must be 1 to {MAX_QUERY_CHARS} characters")));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 200".into()));
    }
    let orders = if q.contains('@') {
        store::by_email(&s.pool, q, limit).await?
    } else if let Ok(id) = Uuid::parse_str(q) {
        match store::by_id(&s.pool, id).await? {
            Some(order) => vec![order],
            None => of_payment(&s, q).await?.into_iter().collect(),
        }
    } else if q.starts_with("pi_") {
        of_payment(&s, q).await?.into_iter().collect()
    } else if q.starts_with("TT") || q.starts_with("TL") {
        store::by_code(&s.pool, q).await?.into_iter().collect()
    } else {
        return Err(ApiError::BadRequest(
            "search by an e-mail address, an order or ticket id, a ticket code, or a payment id".into(),
        ));
    };
    Ok(Json(OrderList { orders }))
}

/// The order paid by payment `reference`, if payments knows one.
async fn of_payment(s: &AppState, reference: &str) -> ApiResult<Option<OrderSummary>> {
    if !reference.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Ok(None);
    }
    let payment: Option<PaymentSummary> = s
        .payments
        .get(&desk::find_payment_path(reference))
        .await
        .map_err(|e| ApiError::Unavailable(format!("payments unavailable: {e:#}")))?;
    match payment {
        Some(p) => Ok(store::by_id(&s.pool, p.order_id).await?),
        None => Ok(None),
    }
}

fn no_order() -> ApiError {
    ApiError::NotFound("no such order".into())
}

async fn order(s: &AppState, raw: &str) -> ApiResult<OrderSummary> {
    let id = Uuid::parse_str(raw.trim()).map_err(|_| no_order())?;
    store::by_id(&s.pool, id).await?.filter(|o| o.order_id == id).ok_or_else(no_order)
}

#[utoipa::path(get, path = "/api/admin/orders/{id}", tag = "desk", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the order's whole story; the hold or the payment is missing while \
        the shop or payments does not answer", body = OrderStory),
        (status = 403, description = "not an admin"), (status = 404, description = "no such order")))]
pub async fn story(State(s): State<AppState>, Admin(_): Admin, Path(id): Path<String>) -> ApiResult<Json<OrderStory>> {
    let order = order(&s, &id).await?;
    let id = order.order_id;
    let r = reservations::get(&s.pool, id).await?.ok_or_else(no_order)?;
    let tickets = store::tickets(&s.pool, id).await?;
    // What other services know is shown when they answer; the story stands
    // without it.
    let hold = s
        .shop
        .holds(&[HoldId(id)])
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "the shop's ledger did not answer the desk"))
        .ok()
        .and_then(|holds| holds.into_iter().next());
    let payment: Option<PaymentSummary> = s
        .payments
        .get(&desk::payment_of_order_path(&id))
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "payments did not answer the desk"))
        .ok()
        .flatten();
    let mut targets = vec![id.to_string()];
    targets.extend(tickets.iter().map(|t| t.ticket_id.to_string()));
    Ok(Json(OrderStory {
        expires_at: r.expires_at,
        reason: r.reason,
        hold,
        messages: store::messages(&s.pool, id).await?,
        payment,
        mails: store::mails(&s.pool, id).await?,
        audit: audit::list(&s.pool, Some(&targets), 200).await?,
        tickets,
        order,
    }))
}

#[utoipa::path(post, path = "/api/admin/orders/{id}/resend-tickets", tag = "desk", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, description = "the tickets that still admit are mailed again to the buyer"),
        (status = 403, description = "not an admin"), (status = 404, description = "no such order"),
        (status = 409, description = "not paid, no ticket left that admits, or no address to mail")))]
pub async fn resend_tickets(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    let id = order(&s, &id).await?.order_id;
    let r = reservations::get(&s.pool, id).await?.ok_or_else(no_order)?;
    if r.status != reservations::ReservationStatus::Confirmed {
        return Err(ApiError::Conflict(format!("only a paid order has tickets; it is {}", r.status.as_str())));
    }
    let valid: Vec<_> =
        tickets::store::of_reservation(&s.pool, id).await?.into_iter().filter(|t| t.status == "VALID").collect();
    if valid.is_empty() {
        return Err(ApiError::Conflict("no ticket of this order admits any more".into()));
    }
    let details = s.shop.match_view(r.ticket_type.match_number).await.ok().flatten();
    let mut mail = tickets::mail::tickets(&r, details.as_ref(), &valid)
        .ok_or_else(|| ApiError::Conflict("the buyer's address is gone (the account was deleted)".into()))?;
    mail.dedupe_key = format!("{}:resent:{}", mail.dedupe_key, Uuid::now_v7());
    let mut tx = s.pool.begin().await?;
    ticktak_kit::mail::enqueue(&mut tx, &mail).await?;
    // The trail outlives the buyer's account: no address in it.
    let detail = format!("{} ticket(s) to the buyer's address", valid.len());
    audit::record(&mut *tx, &admin, "order.resend_tickets", &id.to_string(), &detail).await?;
    tx.commit().await?;
    Ok(axum::http::StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/admin/tickets/{id}/revoke", tag = "desk", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Reason,
    responses((status = 200, description = "revoked: no gate of the market admits it", body = ticktak_contracts::desk::TicketStory),
        (status = 403, description = "not an admin"), (status = 404, description = "no such ticket"),
        (status = 409, description = "used at a gate already, or revoked"),
        (status = 422, description = "no reason, or one too long")))]
pub async fn revoke_ticket(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<ticktak_contracts::desk::TicketStory>> {
    let reason = audit::reason(&req.reason)?;
    let missing = || ApiError::NotFound("no such ticket".into());
    let id = Uuid::parse_str(id.trim()).map_err(|_| missing())?;
    let mut tx = s.pool.begin().await?;
    let revoked = tickets::store::revoke_one(&mut tx, id).await?;
    let Some(revoked) = revoked else {
        tx.rollback().await?;
        return match tickets::store::find(&s.pool, id).await? {
            None => Err(missing()),
            Some(t) => Err(ApiError::Conflict(format!("the ticket is {}; only a valid ticket is revoked", t.status))),
        };
    };
    let queued = tickets::gate::queue_revocations(&mut tx, &s.gate, std::slice::from_ref(&revoked))
        .await
        .map_err(ApiError::Internal)?;
    audit::record(&mut *tx, &admin, "ticket.revoke", &id.to_string(), &reason).await?;
    tx.commit().await?;
    s.outbox.publish(queued);
    metrics::counter!("tickets_revoked_by_admin_total").increment(1);
    tracing::info!(ticket = %id, by = %admin.sub, "ticket revoked");
    let order = tickets::store::find(&s.pool, id).await?.ok_or_else(missing)?.reservation_id;
    let story = store::tickets(&s.pool, order).await?.into_iter().find(|t| t.ticket_id == id).ok_or_else(missing)?;
    Ok(Json(story))
}
