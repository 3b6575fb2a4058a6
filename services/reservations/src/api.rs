//! The public API: `POST /api/reservations`, `GET /api/reservations`,
//! `GET /api/reservations/{id}`, `DELETE /api/reservations/{id}`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use serde::Serialize;
use ticktak_contracts::reservations::{CreateReservation, ReservationList, ReservationView};
use ticktak_core::{Action, Price, Quantity, TicketType};
use ticktak_kit::auth::Caller;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::idempotency::{self, Begin};
use crate::store::{self, Reservation, ReservationStatus};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/reservations", get(list).post(create))
        .route("/api/reservations/{id}", get(one).delete(cancel))
}

impl From<&Reservation> for ReservationView {
    fn from(r: &Reservation) -> Self {
        Self {
            id: Some(r.id),
            status: r.status,
            expires_at: r
                .expires_at
                .filter(|_| matches!(r.status, ReservationStatus::Held | ReservationStatus::Expired)),
            match_number: r.ticket_type.match_number.get(),
            category: r.ticket_type.category.get(),
            quantity: r.quantity.get(),
            unit_price: r.unit_price.get(),
            total: r.unit_price.get() * u32::from(r.quantity.get()),
            reason: (r.status == ReservationStatus::Rejected)
                .then(|| r.reason.clone().unwrap_or_else(|| "sold out or temporarily unavailable".into())),
            created_at: Some(r.created_at),
            order_id: r.order_id,
        }
    }
}

/// HTTP status of a reservation answer: 201 held, 202 still requested, 409
/// refused, 200 otherwise.
fn status_code(s: ReservationStatus) -> StatusCode {
    match s {
        ReservationStatus::Held => StatusCode::CREATED,
        ReservationStatus::Requested => StatusCode::ACCEPTED,
        ReservationStatus::Rejected => StatusCode::CONFLICT,
        _ => StatusCode::OK,
    }
}

pub(crate) fn respond(status: StatusCode, body: serde_json::Value) -> Response {
    respond_at(status, body, "/api/reservations")
}

/// The answer, with a 202's `Location` under `collection`.
pub(crate) fn respond_at(status: StatusCode, body: serde_json::Value, collection: &str) -> Response {
    let location =
        (status == StatusCode::ACCEPTED).then(|| body["id"].as_str().map(|id| format!("{collection}/{id}"))).flatten();
    let mut res = (status, axum::Json(body)).into_response();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert("location", l);
    }
    res
}

fn parse(req: &CreateReservation) -> ApiResult<(TicketType, Quantity)> {
    let q = Quantity::new(req.quantity).map_err(|e| ApiError::Unprocessable(format!("{} per reservation", e.0)))?;
    Ok((crate::input::ticket_type(req.match_number, req.category)?, q))
}

/// What a refused hold answers with (409): the reservation, `REJECTED`, or
/// an error (`purchase_limit`, `sale_closed`). Only describes the answer.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Refused {
    /// Sold out or temporarily unavailable.
    Rejected(ReservationView),
    /// Over a purchase cap (error `purchase_limit`), or not on sale
    /// (error `sale_closed`).
    OverCap(ticktak_kit::error::ErrorBody),
}

#[utoipa::path(post, path = "/api/reservations", tag = "reservations", request_body = CreateReservation,
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe key; the first answer is returned again")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "held: pay before expiresAt", body = ReservationView),
        (status = 202, description = "still being decided; poll the Location", body = ReservationView),
        (status = 409, description = "rejected: sold out or temporarily unavailable (a reservation view), over a purchase cap (error `purchase_limit`), or not on sale by the organisers' schedule (error `sale_closed`)", body = Refused),
        (status = 401, description = "no or bad token"),
        (status = 403, description = "the ticket type sells through a waiting room and the hold has no valid, unspent admission of the buyer's (error `admission_required`), or the account's address is not confirmed (error `email_unverified`)"),
        (status = 404, description = "unknown match"),
        (status = 422, description = "invalid body, or Idempotency-Key reused with another body")))]
pub async fn create(
    State(s): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Json(req): Json<CreateReservation>,
) -> ApiResult<Response> {
    caller.require_verified_email()?;
    s.erased.check(&caller.sub)?;
    let (tt, q) = parse(&req)?;
    let key = idempotency::key(&headers)?;
    if let Some(key) = &key {
        let hash = format!("POST /api/reservations {}-{}x{}", tt.match_number, tt.category, q.get());
        match idempotency::begin(&s.pool, &caller.sub, key, &hash).await? {
            Begin::Started => {}
            Begin::Replay(status, body) => return Ok(respond(status, body)),
            Begin::Created(id) => {
                let r =
                    store::get(&s.pool, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
                return Ok(respond(
                    status_code(r.status),
                    serde_json::to_value(ReservationView::from(&r)).expect("serialises"),
                ));
            }
        }
    }
    // The work runs to its end even when the client goes away mid-request,
    // so its key is finished or released on every path.
    let work = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let admission = req.admission.as_deref().filter(|a| !a.is_empty());
        let answer = reserve(&s, &caller, tt, q, admission, key.as_deref()).await;
        s.queue.clock.record(started.elapsed());
        if let Some(key) = &key {
            match &answer {
                Ok((status, body)) => idempotency::finish(&s.pool, &caller.sub, key, *status, body).await?,
                Err(_) => idempotency::release(&s.pool, &caller.sub, key).await,
            }
        }
        answer
    });
    let (status, body) =
        work.await.map_err(|e| ApiError::Internal(anyhow::anyhow!("reservation task failed: {e}")))??;
    Ok(respond(status, body))
}

/// Fast local check (phase, waiting room, sellable), then REQUESTED +
/// TICKET_PENDING, then wait (bounded) for the log's decision.
async fn reserve(
    s: &AppState,
    buyer: &ticktak_kit::auth::Claims,
    tt: TicketType,
    q: Quantity,
    admission: Option<&str>,
    idempotency_key: Option<&str>,
) -> ApiResult<(StatusCode, serde_json::Value)> {
    let category = s.availability.known(tt).await?;
    let price = Price::new(i64::from(category.price)).map_err(|e| ApiError::Internal(anyhow::anyhow!(e.0)))?;
    let at = Utc::now();
    if let Some(why) = category.closed_at(at) {
        metrics::counter!("reservations_sale_closed_total").increment(1);
        return Err(ApiError::SaleClosed(format!("match {}: {why}", tt.match_number)));
    }
    let admission = match category.waiting_room_at(at) {
        Some(room) => Some(crate::queue::check(s, &buyer.sub, room, tt, admission)?),
        None => None,
    };
    if category.sellable < u32::from(q.get()) {
        metrics::counter!("reservations_fast_rejected_total").increment(1);
        let view = ReservationView {
            id: None,
            status: ReservationStatus::Rejected,
            expires_at: None,
            match_number: tt.match_number.get(),
            category: tt.category.get(),
            quantity: q.get(),
            unit_price: price.get(),
            total: price.get() * u32::from(q.get()),
            reason: Some(
                if category.status == ticktak_core::CategoryStatus::SoldOut {
                    "sold out"
                } else {
                    "temporarily unavailable"
                }
                .into(),
            ),
            created_at: None,
            order_id: None,
        };
        return Ok((StatusCode::CONFLICT, serde_json::to_value(view).expect("serialises")));
    }
    if s.config.naive {
        if let Some(a) = &admission {
            crate::queue::spend(s, a, Uuid::new_v4()).await?;
        }
        return reserve_naive(s, &buyer.sub, tt, q, price, category.sellable, idempotency_key).await;
    }
    let r = Reservation::new(&buyer.sub, tt, q, price, ReservationStatus::Requested, None)
        .with_buyer(&buyer.email, &buyer.country);
    if let Some(a) = &admission {
        crate::queue::spend(s, a, r.id).await?;
    }
    let decided = s.waiters.register(r.id);
    let queued = match store::insert_new(&s.pool, &s.origin, &r, idempotency_key, s.config.caps).await {
        Ok(Ok(queued)) => queued,
        Ok(Err(over)) => {
            s.waiters.remove(r.id);
            give_back(s, admission.is_some(), r.id).await;
            return Err(over_cap(s.config.caps, over));
        }
        Err(e) => {
            s.waiters.remove(r.id);
            give_back(s, admission.is_some(), r.id).await;
            return Err(e.into());
        }
    };
    metrics::counter!("reservations_requested_total").increment(1);
    s.outbox.publish(vec![queued]);
    let now = match tokio::time::timeout(s.config.decision_wait, decided).await {
        Ok(Ok((status, expires_at))) => Reservation { status, expires_at, ..r },
        _ => {
            // No decision in time: answer with whatever is stored now.
            s.waiters.remove(r.id);
            store::get(&s.pool, r.id)
                .await?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("reservation vanished")))?
        }
    };
    if now.status == ReservationStatus::Rejected {
        give_back(s, admission.is_some(), r.id).await;
    }
    let view = ReservationView::from(&now);
    Ok((status_code(now.status), serde_json::to_value(view).expect("serialises")))
}

/// The admission spent on a hold that did not happen counts again (the
/// buyer's turn lasts until it expires).
async fn give_back(s: &AppState, spent: bool, reservation: Uuid) {
    if spent {
        if let Err(e) = crate::queue::store::give_back(&s.pool, reservation).await {
            tracing::warn!(error = %e, "cannot give an admission back");
        }
    }
}

/// The answer to a reservation its buyer's caps refused.
pub(crate) fn over_cap(caps: store::Caps, over: store::OverCap) -> ApiError {
    metrics::counter!("reservations_over_cap_total").increment(1);
    ApiError::PurchaseLimit(match over {
        store::OverCap::TicketsPerMatch => {
            format!(
                "at most {} tickets per match per account, counting open and paid reservations",
                caps.tickets_per_match
            )
        }
        store::OverCap::OpenHolds => {
            format!("at most {} unpaid holds per account: pay for or cancel one first", caps.open_holds)
        }
    })
}

/// The naive course protocol (benchmark baseline): decide on this
/// platform's own copy — its own sales counted at once, other platforms'
/// when they arrive through the log — hold at once, then publish.
async fn reserve_naive(
    s: &AppState,
    buyer: &str,
    tt: TicketType,
    q: Quantity,
    price: Price,
    shop_sellable: u32,
    idempotency_key: Option<&str>,
) -> ApiResult<(StatusCode, serde_json::Value)> {
    let granted = {
        let mut copy = s.naive_copy.lock().expect("naive copy lock");
        let left = copy.entry(tt).or_insert(i64::from(shop_sellable));
        *left = (*left).min(i64::from(shop_sellable));
        if *left >= i64::from(q.get()) {
            *left -= i64::from(q.get());
            true
        } else {
            false
        }
    };
    let status = if granted { ReservationStatus::Held } else { ReservationStatus::Rejected };
    let r = Reservation::new(buyer, tt, q, price, status, granted.then(|| Utc::now() + s.config.hold_ttl));
    if !granted {
        return Ok((
            StatusCode::CONFLICT,
            serde_json::to_value(ReservationView { id: None, ..ReservationView::from(&r) }).expect("serialises"),
        ));
    }
    let queued = store::insert_new(&s.pool, &s.origin, &r, idempotency_key, s.config.caps)
        .await?
        .map_err(|over| over_cap(s.config.caps, over))?;
    s.outbox.publish(vec![queued]);
    Ok((StatusCode::CREATED, serde_json::to_value(ReservationView::from(&r)).expect("serialises")))
}

fn reservation_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("no such reservation".into()))
}

#[utoipa::path(get, path = "/api/reservations/{id}", tag = "reservations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ReservationView), (status = 404, description = "not yours or no such reservation")))]
pub async fn one(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReservationView>> {
    let id = reservation_id(&id)?;
    match store::get(&s.pool, id).await? {
        Some(r) if r.buyer_id == caller.sub => Ok(Json(ReservationView::from(&r))),
        _ => Err(ApiError::NotFound("no such reservation".into())),
    }
}

#[utoipa::path(get, path = "/api/reservations", tag = "reservations", security(("bearer" = [])),
    responses((status = 200, description = "mine, newest first", body = ReservationList)))]
pub async fn list(State(s): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<ReservationList>> {
    let rows = store::list_for(&s.pool, &caller.sub, 100).await?;
    Ok(Json(ReservationList { reservations: rows.iter().map(ReservationView::from).collect() }))
}

/// Cancel a held reservation: its tickets go back on sale everywhere.
#[utoipa::path(delete, path = "/api/reservations/{id}", tag = "reservations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ReservationView), (status = 404, description = "not yours or no such reservation"),
        (status = 409, description = "paid, expired, rejected or still being decided")))]
pub async fn cancel(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReservationView>> {
    let id = reservation_id(&id)?;
    let mut tx = s.pool.begin().await?;
    let r = match store::lock(&mut tx, id).await? {
        Some(r) if r.buyer_id == caller.sub => r,
        _ => return Err(ApiError::NotFound("no such reservation".into())),
    };
    match r.status {
        ReservationStatus::Held => {
            let (cancelled, queued) =
                store::transition(&mut tx, &s.origin, &r, ReservationStatus::Cancelled, Action::TicketCancelled)
                    .await?;
            tx.commit().await?;
            s.outbox.publish(vec![queued]);
            metrics::counter!("reservations_cancelled_total").increment(1);
            Ok(Json(ReservationView::from(&cancelled)))
        }
        ReservationStatus::Cancelled => Ok(Json(ReservationView::from(&r))),
        ReservationStatus::Requested => {
            Err(ApiError::Conflict("the reservation is still being decided; try again in a moment".into()))
        }
        ReservationStatus::Confirmed => Err(ApiError::Conflict(
            "the reservation is paid: ask for a refund of its payment (POST /api/payments/{id}/refund)".into(),
        )),
        ReservationStatus::Rejected | ReservationStatus::Expired | ReservationStatus::Refunded => {
            Err(ApiError::Conflict(format!("the reservation is {}", r.status.as_str())))
        }
    }
}
