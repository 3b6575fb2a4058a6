//! The public API: `POST /api/payments`, `GET /api/payments/{id}`,
//! `POST /api/payments/{id}/confirm` (pay with a payment method made by
//! Stripe.js, confirmed here), `POST /api/payments/{id}/sync` (after the
//! browser confirmed with Stripe.js, 3-D Secure included: ask the provider now),
//! `POST /api/payments/{id}/refund` (the buyer's own), and
//! an order's lines paid once (`POST /api/payments/orders`,
//! `GET /api/payments/orders/{order}`, `POST /api/payments/orders/{order}/refund`;
//! one line's refund is its payment's), and
//! `GET /api/admin/payments?status=` and `POST /api/admin/payments/{id}/refund`
//! (admins: a refund on the buyer's behalf, by the buyer's own rules, with
//! the admin's reason in the audit trail, `GET /api/admin/audit`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use serde::Deserialize;
use ticktak_contracts::desk::Reason;
use ticktak_contracts::payments::{
    ConfirmPayment, CreateOrderPayment, CreatePayment, NextAction, OrderPayment, PaymentList, PaymentStatus,
    PaymentView,
};
use ticktak_contracts::reservations::{self as contract, ReservationRecord, ReservationStatus};
use ticktak_kit::auth::{Admin, BearerAuth, Caller};
use ticktak_kit::http::{Json, Path, Query};
use ticktak_kit::openapi::StandardResponses;
use ticktak_kit::{ApiError, ApiResult};
use uuid::Uuid;

use crate::provider::{Intent, IntentStatus, ProviderError};
use crate::store::{self, Payment};
use crate::{settle, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments", post(create))
        .route("/api/payments/{id}", get(one))
        .route("/api/payments/{id}/confirm", post(confirm))
        .route("/api/payments/{id}/sync", post(sync))
        .route("/api/payments/orders", post(create_for_order))
        .route("/api/payments/orders/{order}", get(of_order))
        .route("/api/payments/orders/{order}/refund", post(refund_order))
        .route("/api/payments/{id}/refund", post(refund))
        .route("/api/admin/payments", get(admin_list))
        .route("/api/admin/payments/{id}/refund", post(refund_for_buyer))
        .route("/api/openapi.json", get(|| async { axum::Json(<ApiDoc as utoipa::OpenApi>::openapi()) }))
}

/// The OpenAPI description served at `GET /api/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "ticktak payments", description = "Pay for a held reservation with Stripe; refunds."),
    paths(create, one, confirm, sync, refund, create_for_order, of_order, refund_order, admin_list, refund_for_buyer, ticktak_kit::audit::audit, crate::webhook::receive),
    components(schemas(CreatePayment, CreateOrderPayment, OrderPayment, ConfirmPayment, PaymentView, NextAction, PaymentList, PaymentStatus,
        ticktak_contracts::desk::Reason, ticktak_contracts::desk::AuditTrail, ticktak_contracts::desk::AuditEntry)),
    modifiers(&BearerAuth, &StandardResponses)
)]
pub struct ApiDoc;

/// A payment's view as its buyer (or an admin) sees it.
pub(crate) fn view(p: &Payment) -> PaymentView {
    PaymentView {
        payment_id: p.id,
        reservation_id: p.reservation_id,
        order_id: p.order_id,
        client_secret: (p.status == PaymentStatus::Open).then(|| p.client_secret.clone()).flatten(),
        next_action: None,
        amount: p.amount,
        currency: p.currency.clone(),
        status: p.status,
        last_error: p.last_error.clone(),
        refund_reason: p.refund_reason.clone(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// The view of `p` as it stands after the provider said `intent`.
fn view_after(p: &Payment, intent: &Intent) -> PaymentView {
    let mut view = view(p);
    if p.status == PaymentStatus::Open && intent.status == IntentStatus::NeedsAuthentication {
        view.next_action = Some(NextAction::Authenticate);
    }
    view
}

/// A failed intent creation: unreachable is worth a retry; a refusal is ours to fix.
fn intent_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Unreachable(e) => ApiError::Unavailable(format!("the payment provider is unreachable: {e}")),
        ProviderError::Refused(e) => ApiError::Internal(anyhow::anyhow!("the payment provider refused: {e}")),
    }
}

fn provider_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Unreachable(e) => ApiError::Unavailable(format!("the payment provider is unreachable: {e}")),
        ProviderError::Refused(e) => ApiError::Unprocessable(format!("the payment provider refused: {e}")),
    }
}

fn no_reservation() -> ApiError {
    ApiError::NotFound("no such reservation".into())
}

fn no_payment() -> ApiError {
    ApiError::NotFound("no such payment".into())
}

/// Longest `Idempotency-Key` accepted.
const MAX_KEY_LEN: usize = 255;

#[utoipa::path(post, path = "/api/payments", tag = "payments", security(("bearer" = [])),
    request_body = CreatePayment,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries return the same payment")),
    responses((status = 201, description = "created: confirm it with Stripe.js and the clientSecret", body = PaymentView),
        (status = 200, description = "the reservation's payment, created before", body = PaymentView),
        (status = 404, description = "not yours or no such reservation"),
        (status = 409, description = "the reservation is not held (expired, paid, cancelled)"),
        (status = 503, description = "the payment provider is unreachable; try again")))]
pub async fn create(
    State(s): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Json(req): Json<CreatePayment>,
) -> ApiResult<(StatusCode, Json<PaymentView>)> {
    if let Some(key) = headers.get("idempotency-key") {
        // One payment per reservation makes every retry return the same
        // payment; the key only has to be sane.
        if key.to_str().map_or(true, |k| k.is_empty() || k.len() > MAX_KEY_LEN) {
            return Err(ApiError::Unprocessable(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible characters"
            )));
        }
    }
    let reservation_id = Uuid::parse_str(req.reservation_id.trim()).map_err(|_| no_reservation())?;
    if let Some(existing) = store::of_reservation(&s.pool, reservation_id).await? {
        return match existing.buyer_id == caller.sub {
            true => Ok((StatusCode::OK, Json(view(&existing)))),
            false => Err(no_reservation()),
        };
    }
    let reservation: ReservationRecord = s
        .reservations
        .get(&contract::reservation_path(&reservation_id.to_string()))
        .await
        .map_err(|e| ApiError::Unavailable(format!("reservations unavailable: {e:#}")))?
        .filter(|r: &ReservationRecord| r.buyer_id == caller.sub)
        .ok_or_else(no_reservation)?;
    if let Some(order) = &reservation.order_id {
        return Err(ApiError::Conflict(format!(
            "the reservation is a line of order {order}: pay for the order (POST /api/payments/orders)"
        )));
    }
    let held = reservation.status == ReservationStatus::Held;
    let open = held && reservation.expires_at.is_some_and(|t| t > Utc::now());
    if !open {
        let status = if held { "EXPIRED" } else { reservation.status.as_str() };
        return Err(ApiError::Conflict(format!("only a held reservation can be paid; it is {status}")));
    }
    let payment_id = Uuid::now_v7();
    let intent = s
        .provider
        .create_intent(&payment_id.to_string(), &reservation.id, reservation.amount)
        .await
        .map_err(intent_error)?;
    let now = Utc::now();
    let payment = store::insert(
        &s.pool,
        &Payment {
            id: payment_id,
            reservation_id,
            order_id: None,
            buyer_id: caller.sub.clone(),
            buyer_email: Some(caller.email.clone()),
            intent_id: intent.id.clone(),
            client_secret: intent.client_secret.clone(),
            amount: reservation.amount,
            currency: s.provider.currency(),
            status: PaymentStatus::Open,
            last_error: None,
            refund_reason: None,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    metrics::counter!("payments_created_total").increment(1);
    let status = if payment.id == payment_id { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(view(&payment))))
}

/// The caller's own payment `raw`.
async fn own(s: &AppState, sub: &str, raw: &str) -> ApiResult<Payment> {
    let id = Uuid::parse_str(raw).map_err(|_| no_payment())?;
    match store::get(&s.pool, id).await? {
        Some(p) if p.buyer_id == sub => Ok(p),
        _ => Err(no_payment()),
    }
}

#[utoipa::path(get, path = "/api/payments/{id}", tag = "payments", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PaymentView), (status = 404, description = "not yours or no such payment")))]
pub async fn one(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentView>> {
    Ok(Json(view(&own(&s, &caller.sub, &id).await?)))
}

#[utoipa::path(post, path = "/api/payments/{id}/confirm", tag = "payments", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ConfirmPayment,
    responses((status = 200, description = "paid (SUCCEEDED, the reservation CONFIRMED) or still OPEN (`nextAction`: `authenticate` when the card asks for 3-D Secure)", body = PaymentView),
        (status = 402, description = "the card was declined; the payment stays open for another card"),
        (status = 404, description = "not yours or no such payment"),
        (status = 409, description = "the payment is not open (paid, cancelled, refunded)"),
        (status = 422, description = "not a payment method id"),
        (status = 503, description = "the payment provider is unreachable; try again")))]
pub async fn confirm(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Json(req): Json<ConfirmPayment>,
) -> ApiResult<Json<PaymentView>> {
    let p = own(&s, &caller.sub, &id).await?;
    if p.status != PaymentStatus::Open {
        return Err(ApiError::Conflict(format!("the payment is {}; only an open one can be paid", p.status.as_str())));
    }
    let intent = s.provider.confirm(&p.intent_id, req.payment_method.trim()).await.map_err(provider_error)?;
    settled(&s, &p, &intent).await
}

/// Settle `p` (and the other lines of its order) by what the provider says
/// of its intent now, rather than wait
/// for the webhook (which then finds it done); a declined card is 402.
async fn settled(s: &AppState, p: &Payment, intent: &Intent) -> ApiResult<Json<PaymentView>> {
    // An order's lines share the intent: all of them are settled.
    settle::apply_intent_to_all(s, &store::of_intent(&s.pool, &p.intent_id).await?, intent).await?;
    let now = store::get(&s.pool, p.id).await?.ok_or_else(no_payment)?;
    if now.status == PaymentStatus::Open && intent.status == IntentStatus::Open {
        if let Some(why) = &intent.last_error {
            return Err(ApiError::PaymentDeclined(format!("{}; try another card", decline_reason(why))));
        }
    }
    Ok(Json(view_after(&now, intent)))
}

/// A provider's failure code in words.
fn decline_reason(code: &str) -> String {
    match code {
        "payment_intent_authentication_failure" => "the card's bank could not confirm it was you".into(),
        code => format!("the card was declined ({code})"),
    }
}

/// The buyer's browser confirmed the payment with Stripe.js (3-D Secure
/// included): learn the outcome from the provider now instead of waiting for
/// its webhook. The webhook and the reconciler settle it anyway.
#[utoipa::path(post, path = "/api/payments/{id}/sync", tag = "payments", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "as the provider has it now: SUCCEEDED (the reservation CONFIRMED), or still OPEN (`nextAction` says what is left)", body = PaymentView),
        (status = 402, description = "the last card was declined or not authenticated; the payment stays open for another card"),
        (status = 404, description = "not yours or no such payment"),
        (status = 409, description = "the payment is not open (paid, cancelled, refunded)"),
        (status = 503, description = "the payment provider or reservations is unreachable; try again")))]
pub async fn sync(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentView>> {
    let p = own(&s, &caller.sub, &id).await?;
    if p.status != PaymentStatus::Open {
        return Err(ApiError::Conflict(format!("the payment is {}; only an open one can be paid", p.status.as_str())));
    }
    let intent = s.provider.intent(&p.intent_id).await.map_err(provider_error)?;
    settled(&s, &p, &intent).await
}

#[utoipa::path(post, path = "/api/payments/{id}/refund", tag = "payments", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "REFUNDED, or REFUNDING while the provider finishes", body = PaymentView),
        (status = 404, description = "not yours or no such payment"),
        (status = 409, description = "not paid, or past the refund cut-off before kick-off")))]
pub async fn refund(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentView>> {
    let p = own(&s, &caller.sub, &id).await?;
    settle::refund_on_request(&s, p.id, settle::Asker::Buyer).await?;
    Ok(Json(view(&store::get(&s.pool, p.id).await?.ok_or_else(no_payment)?)))
}

/// An order's payment as its buyer sees it.
fn order_payment(order: Uuid, payments: &[Payment]) -> OrderPayment {
    let open = payments.iter().any(|p| p.status == PaymentStatus::Open);
    let succeeded = payments.iter().any(|p| p.status == PaymentStatus::Succeeded);
    let status = if open {
        PaymentStatus::Open
    } else if succeeded {
        PaymentStatus::Succeeded
    } else {
        payments.first().map_or(PaymentStatus::Canceled, |p| p.status)
    };
    OrderPayment {
        order_id: order,
        client_secret: open.then(|| payments.iter().find_map(|p| p.client_secret.clone())).flatten(),
        amount: payments.iter().map(|p| p.amount).sum(),
        currency: payments.first().map_or_else(|| "usd".into(), |p| p.currency.clone()),
        status,
        payments: payments.iter().map(view).collect(),
    }
}

fn no_order() -> ApiError {
    ApiError::NotFound("no such order".into())
}

/// The caller's own order's payments (404 when none or not theirs).
async fn own_order(s: &AppState, sub: &str, raw: &str) -> ApiResult<(Uuid, Vec<Payment>)> {
    let order = Uuid::parse_str(raw.trim()).map_err(|_| no_order())?;
    let payments = store::of_order(&s.pool, order).await?;
    match payments.first() {
        Some(p) if p.buyer_id == sub => Ok((order, payments)),
        _ => Err(no_order()),
    }
}

#[utoipa::path(post, path = "/api/payments/orders", tag = "payments", security(("bearer" = [])),
    request_body = CreateOrderPayment,
    responses((status = 201, description = "created for the order's held lines: confirm it with Stripe.js and the clientSecret", body = OrderPayment),
        (status = 200, description = "the order's payment, created before", body = OrderPayment),
        (status = 404, description = "not yours or no such order"),
        (status = 409, description = "no line of the order is held (still being decided, expired, paid, cancelled or rejected)"),
        (status = 503, description = "the payment provider is unreachable; try again")))]
/// Pay once for every held line of an order (a cart).
pub async fn create_for_order(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Json(req): Json<CreateOrderPayment>,
) -> ApiResult<(StatusCode, Json<OrderPayment>)> {
    let order_id = Uuid::parse_str(req.order_id.trim()).map_err(|_| no_order())?;
    let existing = store::of_order(&s.pool, order_id).await?;
    if let Some(p) = existing.first() {
        return match p.buyer_id == caller.sub {
            true => Ok((StatusCode::OK, Json(order_payment(order_id, &existing)))),
            false => Err(no_order()),
        };
    }
    let order: ticktak_contracts::reservations::OrderRecord = s
        .reservations
        .get(&contract::order_path(&order_id.to_string()))
        .await
        .map_err(|e| ApiError::Unavailable(format!("reservations unavailable: {e:#}")))?
        .filter(|o: &ticktak_contracts::reservations::OrderRecord| o.buyer_id == caller.sub)
        .ok_or_else(no_order)?;
    if order.reservations.iter().any(|r| r.status == ReservationStatus::Requested) {
        return Err(ApiError::Conflict("a line of the order is still being decided; try again in a moment".into()));
    }
    let now = Utc::now();
    let held: Vec<&ReservationRecord> = order
        .reservations
        .iter()
        .filter(|r| r.status == ReservationStatus::Held && r.expires_at.is_some_and(|t| t > now))
        .collect();
    if held.is_empty() {
        return Err(ApiError::Conflict("no line of the order is held: nothing to pay for".into()));
    }
    let amount: i64 = held.iter().map(|r| r.amount).sum();
    let first_payment = Uuid::now_v7();
    let line_ids: Vec<String> = held.iter().map(|r| r.id.clone()).collect();
    let intent = s.provider.create_order_intent(&order.id, &line_ids, amount).await.map_err(intent_error)?;
    let lines: Vec<Payment> = held
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            Some(Payment {
                id: if i == 0 { first_payment } else { Uuid::now_v7() },
                reservation_id: Uuid::parse_str(&r.id).ok()?,
                order_id: Some(order_id),
                buyer_id: caller.sub.clone(),
                buyer_email: Some(caller.email.clone()),
                intent_id: intent.id.clone(),
                client_secret: intent.client_secret.clone(),
                amount: r.amount,
                currency: s.provider.currency(),
                status: PaymentStatus::Open,
                last_error: None,
                refund_reason: None,
                created_at: now,
                updated_at: now,
            })
        })
        .collect();
    let payments = store::insert_order(&s.pool, order_id, &lines).await?;
    metrics::counter!("payments_created_total").increment(1);
    let created = payments.iter().any(|p| p.id == first_payment);
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(order_payment(order_id, &payments))))
}

#[utoipa::path(get, path = "/api/payments/orders/{order}", tag = "payments", security(("bearer" = [])),
    params(("order" = Uuid, Path)),
    responses((status = 200, body = OrderPayment), (status = 404, description = "not yours, no such order, or not paid through payments yet")))]
pub async fn of_order(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(order): Path<String>,
) -> ApiResult<Json<OrderPayment>> {
    let (order, payments) = own_order(&s, &caller.sub, &order).await?;
    Ok(Json(order_payment(order, &payments)))
}

#[utoipa::path(post, path = "/api/payments/orders/{order}/refund", tag = "payments", security(("bearer" = [])),
    params(("order" = Uuid, Path)),
    responses((status = 200, description = "every paid line REFUNDED (or REFUNDING while the provider finishes); one line alone: POST /api/payments/{id}/refund", body = OrderPayment),
        (status = 404, description = "not yours or no such order"),
        (status = 409, description = "not paid, or a line is past the refund cut-off or has a ticket used or passed on: nothing was refunded")))]
/// The buyer asks for the whole order's money back: every paid line is
/// refunded by the rules of one (paid, before the cut-off, no ticket used).
/// A line that cannot be refunded stops the rest; lines refunded before it
/// stay refunded, and the answer says which.
pub async fn refund_order(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(order): Path<String>,
) -> ApiResult<Json<OrderPayment>> {
    let (order, payments) = own_order(&s, &caller.sub, &order).await?;
    let paid: Vec<&Payment> = payments.iter().filter(|p| p.status == PaymentStatus::Succeeded).collect();
    if paid.is_empty()
        && !payments.iter().any(|p| matches!(p.status, PaymentStatus::Refunding | PaymentStatus::Refunded))
    {
        return Err(ApiError::Conflict("the order is not paid".into()));
    }
    for p in paid {
        settle::refund_on_request(&s, p.id, settle::Asker::Buyer).await?;
    }
    Ok(Json(order_payment(order, &store::of_order(&s.pool, order).await?)))
}

#[derive(Debug, Deserialize)]
pub struct AdminQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/admin/payments", tag = "admin", security(("bearer" = [])),
    params(("status" = Option<String>, Query, description = "OPEN, SUCCEEDED, REFUNDING, REFUNDED or CANCELED"),
        ("limit" = Option<i64>, Query, description = "1..=500, default 100")),
    responses((status = 200, description = "newest first", body = PaymentList), (status = 403, description = "not an admin"),
        (status = 400, description = "unknown status")))]
pub async fn admin_list(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<AdminQuery>,
) -> ApiResult<Json<PaymentList>> {
    let status = match q.status.as_deref().map(|t| t.trim().to_ascii_uppercase()) {
        None => None,
        Some(t) if t.is_empty() => None,
        Some(t) => Some(PaymentStatus::parse(&t).ok_or_else(|| {
            ApiError::BadRequest("status must be OPEN, SUCCEEDED, REFUNDING, REFUNDED or CANCELED".into())
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 500".into()));
    }
    let payments = store::list(&s.pool, status, limit).await?;
    Ok(Json(PaymentList { payments: payments.iter().map(view).collect() }))
}

#[utoipa::path(post, path = "/api/admin/payments/{id}/refund", operation_id = "refund_for_buyer", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = Reason,
    responses((status = 200, description = "REFUNDED, or REFUNDING while the provider finishes", body = PaymentView),
        (status = 403, description = "not an admin"), (status = 404, description = "no such payment"),
        (status = 409, description = "not paid, a ticket was used, or past the refund cut-off before kick-off"),
        (status = 422, description = "no reason, or one too long")))]
pub async fn refund_for_buyer(
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
    Ok(Json(view(&store::get(&s.pool, id).await?.ok_or_else(no_payment)?)))
}
