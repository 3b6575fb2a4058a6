//! Orders of several lines (a cart): `POST /api/orders`, `GET /api/orders/{id}`,
//! `DELETE /api/orders/{id}` (cancel every held line), and, for payments,
//! `GET /internal/orders/{id}`.
//!
//! Each line is held through the log exactly as a hold of its own is: a
//! line of four tickets is two reservations of two (the wire's limit per
//! message), each a `TICKET_PENDING` the log grants or rejects on its own.
//! All lines are counted against the buyer's caps in one transaction, so a
//! cart over a cap places nothing; the order counts once against the cap on
//! unpaid holds (and so holds 8 tickets at most). The buyer pays once for the lines the log granted
//! (payments, `POST /api/payments {orderId}`), keeps them and lets a
//! rejected line go, or cancels them all.

mod store;

use std::collections::HashSet;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use ticktak_contracts::reservations::{OrderRecord, OrderView, ReservationView};
use ticktak_core::{Action, Price, Quantity, TicketType};
use ticktak_kit::auth::Caller;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};
use uuid::Uuid;

use crate::idempotency::{self, Begin};
use crate::store::{Reservation, ReservationStatus};
use crate::AppState;

pub use ticktak_contracts::reservations::{CreateOrder, OrderLineRequest};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/orders", axum::routing::post(create)).route("/api/orders/{id}", get(one).delete(cancel))
}

pub fn internal_router() -> Router<AppState> {
    Router::new().route("/internal/orders/{id}", get(record))
}

/// Most lines in one order.
pub const MAX_LINES: usize = 6;
/// Most tickets in one line (the caps per match may allow fewer).
pub const MAX_LINE_QUANTITY: i64 = 8;
/// Most tickets in one order: it counts as one unpaid hold, so this bounds
/// what one unpaid hold can keep from others.
pub const MAX_ORDER_TICKETS: i64 = 8;

/// An order's view as its buyer sees it.
fn order_view(order: &store::Order, lines: &[Reservation]) -> OrderView {
    let counted = |r: &&Reservation| matches!(r.status, ReservationStatus::Held | ReservationStatus::Confirmed);
    OrderView {
        id: order.id,
        status: status_of(lines),
        expires_at: lines.iter().filter(|r| r.status == ReservationStatus::Held).filter_map(|r| r.expires_at).min(),
        total: lines.iter().filter(counted).map(|r| r.unit_price.get() * u32::from(r.quantity.get())).sum(),
        reservations: lines.iter().map(ReservationView::from).collect(),
        created_at: order.created_at,
    }
}

/// An order's status from its lines': the first of these any line has.
fn status_of(lines: &[Reservation]) -> ReservationStatus {
    use ReservationStatus::*;
    [Requested, Held, Confirmed, Refunded, Expired, Cancelled]
        .into_iter()
        .find(|s| lines.iter().any(|r| r.status == *s))
        .unwrap_or(Rejected)
}

fn no_order() -> ApiError {
    ApiError::NotFound("no such order".into())
}

/// The lines of a request, checked: ticket types known to the schema, one
/// line per ticket type, quantities in range; each split into reservations
/// of at most two tickets.
fn parse(req: &CreateOrder) -> ApiResult<Vec<(TicketType, Vec<Quantity>)>> {
    if req.lines.is_empty() || req.lines.len() > MAX_LINES {
        return Err(ApiError::Unprocessable(format!("an order has 1 to {MAX_LINES} lines")));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(req.lines.len());
    for line in &req.lines {
        let tt = crate::input::ticket_type(line.match_number, line.category)?;
        if !seen.insert(tt) {
            return Err(ApiError::Unprocessable(format!(
                "match {} category {} is on two lines: one line per ticket type",
                tt.match_number, tt.category
            )));
        }
        if !(1..=MAX_LINE_QUANTITY).contains(&line.quantity) {
            return Err(ApiError::Unprocessable(format!("a line has 1 to {MAX_LINE_QUANTITY} tickets")));
        }
        let max = i64::from(Quantity::MAX);
        let parts = (0..line.quantity)
            .step_by(Quantity::MAX.into())
            .map(|done| Quantity::new((line.quantity - done).min(max)).expect("1 to MAX"))
            .collect();
        lines.push((tt, parts));
    }
    if req.lines.iter().map(|l| l.quantity).sum::<i64>() > MAX_ORDER_TICKETS {
        return Err(ApiError::Unprocessable(format!("an order has at most {MAX_ORDER_TICKETS} tickets")));
    }
    Ok(lines)
}

#[utoipa::path(post, path = "/api/orders", operation_id = "create_order", tag = "orders", request_body = CreateOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe key; the same order is returned again")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "decided: at least one line held (pay for the held lines before expiresAt); rejected lines are shown", body = OrderView),
        (status = 202, description = "some lines still being decided; poll GET /api/orders/{id}", body = OrderView),
        (status = 409, description = "every line rejected (an order view), over a purchase cap (error `purchase_limit`: nothing was placed), a line not on sale (error `sale_closed`), or a line that sells through a waiting room (hold it on its own)"),
        (status = 401, description = "no or bad token"),
        (status = 403, description = "the account's address is not confirmed (error `email_unverified`)"),
        (status = 404, description = "unknown match"),
        (status = 422, description = "invalid body: no lines or too many, a ticket type twice, a quantity out of range, more than 8 tickets")))]
pub async fn create(
    State(s): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    Json(req): Json<CreateOrder>,
) -> ApiResult<Response> {
    caller.require_verified_email()?;
    s.erased.check(&caller.sub)?;
    let lines = parse(&req)?;
    if s.config.naive {
        return Err(ApiError::Conflict("orders of several lines need the log's decisions".into()));
    }
    let key = idempotency::key(&headers)?;
    if let Some(key) = &key {
        let hash = format!(
            "POST /api/orders {}",
            lines
                .iter()
                .map(|(tt, q)| format!("{}-{}x{}", tt.match_number, tt.category, q.iter().map(|q| q.get()).sum::<u8>()))
                .collect::<Vec<_>>()
                .join(",")
        );
        match idempotency::begin(&s.pool, &caller.sub, key, &hash).await? {
            Begin::Started => {}
            Begin::Replay(status, body) => return Ok(crate::api::respond_at(status, body, "/api/orders")),
            Begin::Created(first_line) => {
                let order =
                    crate::store::get(&s.pool, first_line).await?.and_then(|r| r.order_id).ok_or_else(no_order)?;
                let (status, body) = answer(&s, order).await?;
                return Ok(crate::api::respond_at(status, body, "/api/orders"));
            }
        }
    }
    // As a single hold: the work runs to its end even when the client goes
    // away, so its key is finished or released on every path.
    let work = tokio::spawn(async move {
        let answer = place(&s, &caller, &lines, key.as_deref()).await;
        if let Some(key) = &key {
            match &answer {
                Ok((status, body)) => idempotency::finish(&s.pool, &caller.sub, key, *status, body).await?,
                Err(_) => idempotency::release(&s.pool, &caller.sub, key).await,
            }
        }
        answer
    });
    let (status, body) = work.await.map_err(|e| ApiError::Internal(anyhow::anyhow!("order task failed: {e}")))??;
    Ok(crate::api::respond_at(status, body, "/api/orders"))
}

/// Check every line's sale, count all of them against the caps and queue
/// their `TICKET_PENDING`s in one transaction, publish, then wait (bounded)
/// for the log's decisions.
async fn place(
    s: &AppState,
    buyer: &ticktak_kit::auth::Claims,
    lines: &[(TicketType, Vec<Quantity>)],
    idempotency_key: Option<&str>,
) -> ApiResult<(StatusCode, serde_json::Value)> {
    let at = Utc::now();
    let order = Uuid::now_v7();
    let mut reservations = Vec::new();
    for (tt, parts) in lines {
        let category = s.availability.known(*tt).await?;
        if let Some(why) = category.closed_at(at) {
            return Err(ApiError::SaleClosed(format!("match {} category {}: {why}", tt.match_number, tt.category)));
        }
        if category.waiting_room_at(at).is_some() {
            return Err(ApiError::Conflict(format!(
                "match {} category {} sells through a waiting room now: hold it on its own when your turn comes",
                tt.match_number, tt.category
            )));
        }
        let price = Price::new(i64::from(category.price)).map_err(|e| ApiError::Internal(anyhow::anyhow!(e.0)))?;
        for q in parts {
            let mut r = Reservation::new(&buyer.sub, *tt, *q, price, ReservationStatus::Requested, None)
                .with_buyer(&buyer.email, &buyer.country);
            r.order_id = Some(order);
            reservations.push(r);
        }
    }
    let decided: Vec<_> = reservations.iter().map(|r| s.waiters.register(r.id)).collect();
    let forget = || reservations.iter().for_each(|r| s.waiters.remove(r.id));
    let queued = match queue_all(s, order, &buyer.sub, &reservations, idempotency_key).await {
        Ok(Ok(queued)) => queued,
        Ok(Err(over)) => {
            forget();
            return Err(crate::api::over_cap(s.config.caps, over));
        }
        Err(e) => {
            forget();
            return Err(e.into());
        }
    };
    metrics::counter!("reservations_requested_total").increment(queued.len() as u64);
    metrics::counter!("reservations_orders_total").increment(1);
    s.outbox.publish(queued);
    let _ = tokio::time::timeout(s.config.decision_wait, futures::future::join_all(decided)).await;
    forget();
    answer(s, order).await
}

/// The order and its lines, or which cap refused one of them (then nothing
/// was placed).
async fn queue_all(
    s: &AppState,
    order: Uuid,
    buyer: &str,
    reservations: &[Reservation],
    idempotency_key: Option<&str>,
) -> sqlx::Result<Result<Vec<crate::outbox::Queued>, crate::store::OverCap>> {
    let mut tx = s.pool.begin().await?;
    store::insert(&mut tx, order, buyer).await?;
    let mut queued = Vec::with_capacity(reservations.len());
    // The caps' rows are locked as a single hold locks them: each match's
    // (in match order, the same for every order), then the buyer's unpaid
    // holds once, with the last line; no two placements wait on each other
    // in a circle.
    let mut lines: Vec<&Reservation> = reservations.iter().collect();
    lines.sort_by_key(|r| (r.ticket_type.match_number, r.ticket_type.category));
    let last = lines.len() - 1;
    for (i, r) in lines.into_iter().enumerate() {
        let key = idempotency_key.filter(|_| i == 0);
        match crate::store::insert_line(&mut *tx, &s.origin, r, key, s.config.caps, i == last).await? {
            Ok(q) => queued.push(q),
            Err(over) => return Ok(Err(over)),
        }
    }
    tx.commit().await?;
    Ok(Ok(queued))
}

/// The order's answer: 202 while a line is being decided, 409 when the log
/// granted none, 201 otherwise.
async fn answer(s: &AppState, order: Uuid) -> ApiResult<(StatusCode, serde_json::Value)> {
    let view = view(s, order).await?;
    let status = match view.status {
        ReservationStatus::Requested => StatusCode::ACCEPTED,
        ReservationStatus::Rejected => StatusCode::CONFLICT,
        _ => StatusCode::CREATED,
    };
    Ok((status, serde_json::to_value(view).expect("serialises")))
}

async fn view(s: &AppState, id: Uuid) -> ApiResult<OrderView> {
    let order = store::get(&s.pool, id).await?.ok_or_else(no_order)?;
    Ok(order_view(&order, &store::lines(&s.pool, id).await?))
}

/// The caller's own order `raw`.
async fn own(s: &AppState, buyer: &str, raw: &str) -> ApiResult<store::Order> {
    let id = Uuid::parse_str(raw).map_err(|_| no_order())?;
    store::get(&s.pool, id).await?.filter(|o| o.buyer_id == buyer).ok_or_else(no_order)
}

#[utoipa::path(get, path = "/api/orders/{id}", operation_id = "order", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderView), (status = 404, description = "not yours or no such order")))]
pub async fn one(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let order = own(&s, &caller.sub, &id).await?;
    Ok(Json(view(&s, order.id).await?))
}

/// Cancel every held line of an order: their tickets go back on sale
/// everywhere. One line alone: `DELETE /api/reservations/{id}`.
#[utoipa::path(delete, path = "/api/orders/{id}", operation_id = "cancel_order", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "every held line cancelled; paid lines stay paid", body = OrderView),
        (status = 404, description = "not yours or no such order"),
        (status = 409, description = "a line is still being decided; try again in a moment")))]
pub async fn cancel(
    State(s): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let order = own(&s, &caller.sub, &id).await?;
    let mut tx = s.pool.begin().await?;
    let mut queued = Vec::new();
    for line in store::lines(&s.pool, order.id).await? {
        let Some(r) = crate::store::lock(&mut tx, line.id).await? else { continue };
        match r.status {
            ReservationStatus::Held => {
                let (_, q) = crate::store::transition(
                    &mut tx,
                    &s.origin,
                    &r,
                    ReservationStatus::Cancelled,
                    Action::TicketCancelled,
                )
                .await?;
                queued.push(q);
            }
            ReservationStatus::Requested => {
                return Err(ApiError::Conflict("a line is still being decided; try again in a moment".into()));
            }
            _ => {}
        }
    }
    tx.commit().await?;
    metrics::counter!("reservations_cancelled_total").increment(queued.len() as u64);
    s.outbox.publish(queued);
    Ok(Json(view(&s, order.id).await?))
}

/// `GET /internal/orders/{id}`: the order's lines, for payments.
async fn record(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<OrderRecord>> {
    let id = Uuid::parse_str(&id).map_err(|_| no_order())?;
    let order = store::get(&s.pool, id).await?.ok_or_else(no_order)?;
    let lines = store::lines(&s.pool, id).await?;
    Ok(Json(OrderRecord {
        id: order.id.to_string(),
        buyer_id: order.buyer_id,
        reservations: lines.iter().map(Reservation::record).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(lines: &[(i64, i64, i64)]) -> CreateOrder {
        CreateOrder {
            lines: lines
                .iter()
                .map(|&(match_number, category, quantity)| OrderLineRequest { match_number, category, quantity })
                .collect(),
        }
    }

    #[test]
    fn a_line_of_more_than_two_tickets_is_several_holds_of_at_most_two() {
        let lines = parse(&order(&[(1, 1, 4), (2, 3, 3), (5, 2, 1)])).expect("valid");
        let sizes: Vec<Vec<u8>> = lines.iter().map(|(_, q)| q.iter().map(|q| q.get()).collect()).collect();
        assert_eq!(sizes, [vec![2, 2], vec![2, 1], vec![1]]);
    }

    #[test]
    fn empty_oversized_repeated_and_out_of_range_orders_are_refused() {
        for bad in [
            order(&[]),
            order(&[(1, 1, 1); 7]),
            order(&[(1, 1, 1), (1, 1, 2)]),
            order(&[(1, 1, 0)]),
            order(&[(1, 1, 9)]),
            order(&[(1, 1, 4), (2, 1, 4), (3, 1, 1)]),
            order(&[(65, 1, 1)]),
            order(&[(1, 4, 1)]),
        ] {
            assert!(matches!(parse(&bad), Err(ApiError::Unprocessable(_))), "{bad:?}");
        }
    }
}
