//! Internal endpoints (internal credential only):
//! - `GET  /internal/reservations/{id}`: what payments needs to charge it.
//! - `POST /internal/reservations/{id}/confirm`: payment landed → CONFIRMED,
//!   tickets issued and mailed, TICKET_RESERVED published; refused once the
//!   hold expired.
//! - `POST /internal/reservations/{id}/refund`: money going back → REFUNDED,
//!   tickets revoked through the gate log first (refused if a gate let one
//!   in first), TICKET_CANCELLED published; refused past the cut-off.
//! - `POST /internal/reservations/{id}/revoke`: the money went back without
//!   a refund of ours (the provider's dashboard, a dispute) → the same,
//!   whatever the cut-off or the gate.
//! - `POST /internal/decisions`: the log's decisions on this platform's
//!   holds, forwarded by shop-consumer.
//!
//! Bodies and paths: `ticktak_contracts::reservations`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use ticktak_contracts::catalogue::MatchView;
use ticktak_contracts::decisions::{self, Decisions, DecisionsApplied, HoldDecision};
use ticktak_contracts::reservations::ReservationRecord;
use ticktak_core::ledger::HoldStatus;
use ticktak_core::Action;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};

use crate::store::{self, Reservation, ReservationStatus};
use crate::{tickets, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/reservations/{id}", get(record))
        .route("/internal/reservations/{id}/confirm", post(confirm))
        .route("/internal/reservations/{id}/refund", post(refund))
        .route("/internal/reservations/{id}/revoke", post(revoke))
        .route(decisions::DECISIONS, post(intake))
}

fn reservation_id(raw: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("no such reservation".into()))
}

async fn record(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ReservationRecord>> {
    let id = reservation_id(&id)?;
    let r = store::get(&s.pool, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    Ok(Json(r.record()))
}

/// The match of `r` as the shop describes it, for e-mails and the refund
/// cut-off; `None` when the shop does not answer.
async fn match_of(s: &AppState, r: &Reservation) -> Option<MatchView> {
    s.shop
        .match_view(r.ticket_type.match_number)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "match details unavailable"))
        .ok()
        .flatten()
}

async fn confirm(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ReservationRecord>> {
    let id = reservation_id(&id)?;
    let before = store::get(&s.pool, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    let details = match before.status {
        ReservationStatus::Held => match_of(&s, &before).await,
        _ => None,
    };
    let mut tx = s.pool.begin().await?;
    let (r, time_left) = store::lock_with_time_left(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    match r.status {
        ReservationStatus::Held if time_left => {
            let (confirmed, queued) =
                store::transition(&mut tx, &s.origin, &r, ReservationStatus::Confirmed, Action::TicketReserved).await?;
            let issuer = tickets::store::Issuer::of(&s);
            let issued = tickets::store::issue(&mut tx, &issuer, &confirmed).await?;
            if let Some(mail) = tickets::mail::tickets(&confirmed, details.as_ref(), &issued) {
                ticktak_kit::mail::enqueue(&mut tx, &mail).await?;
            }
            tx.commit().await?;
            s.outbox.publish(vec![queued]);
            metrics::counter!("reservations_confirmed_total").increment(1);
            metrics::counter!("tickets_issued_total").increment(issued.len() as u64);
            Ok(Json(confirmed.record()))
        }
        ReservationStatus::Held => {
            // Time is up but the sweeper has not run yet: expire it now.
            let (_, queued) =
                store::transition(&mut tx, &s.origin, &r, ReservationStatus::Expired, Action::TicketCancelled).await?;
            tx.commit().await?;
            s.outbox.publish(vec![queued]);
            Err(ApiError::Conflict("the hold has expired".into()))
        }
        ReservationStatus::Confirmed => Ok(Json(r.record())),
        ReservationStatus::Expired => Err(ApiError::Conflict("the hold has expired".into())),
        other => Err(ApiError::Conflict(format!("the reservation is {}", other.as_str()))),
    }
}

async fn refund(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ReservationRecord>> {
    let id = reservation_id(&id)?;
    let before = store::get(&s.pool, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    if before.status == ReservationStatus::Refunded {
        return Ok(Json(before.record()));
    }
    if before.status != ReservationStatus::Confirmed {
        return Err(ApiError::Conflict(format!(
            "only a paid reservation is refunded; it is {}",
            before.status.as_str()
        )));
    }
    // The cut-off needs the kick-off: no answer from the shop, no refund yet.
    let details = match_of(&s, &before)
        .await
        .ok_or_else(|| ApiError::Unavailable("the match's kick-off is unknown right now; try again".into()))?;
    if chrono::Utc::now() + s.config.refund_cutoff > details.date_utc {
        return Err(ApiError::Conflict(format!(
            "refunds close {} h before kick-off ({})",
            s.config.refund_cutoff.num_hours(),
            details.date_utc.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    // A ticket that went through a gate was used: its order is not refunded.
    // A ticket passed on is someone else's now: refunding would take it.
    // (Asked first, so that no one else's ticket is revoked below.)
    let mut tx = s.pool.begin().await?;
    refundable(&mut tx, id).await?;
    tx.rollback().await?;
    // The gate log decides between the refund and a scan at any gate at
    // the same moment: each ticket's first event there wins. The money goes
    // back only if every REVOKE came first.
    let tickets = tickets::store::valid_of(&s.pool, id).await?;
    let decided = tickets::gate::revoke_or_unavailable(&s.gate, &s.pool, &tickets).await?;
    let mut tx = s.pool.begin().await?;
    let r = store::lock(&mut tx, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    if decided.iter().any(|d| d.admitted) {
        // A gate let a ticket in first: no refund, and the order's other
        // tickets, revoked in the log by now, are issued anew.
        reissue_revoked(&s, &mut tx, &tickets, &decided).await?;
        tx.commit().await?;
        return Err(ApiError::Conflict("a ticket of this order was already used at the gate: no refund".into()));
    }
    refundable(&mut tx, id).await?;
    // Under the locks: the valid tickets are still those the log revoked (a
    // ticket issued anew meanwhile, by the sweeper, is not revoked there).
    let now: Vec<uuid::Uuid> = tickets::store::valid_of_in(&mut tx, id).await?.iter().map(|t| t.ticket_id).collect();
    if now != tickets.iter().map(|t| t.ticket_id).collect::<Vec<_>>() {
        return Err(ApiError::Unavailable("the order's tickets changed meanwhile: ask again".into()));
    }
    match r.status {
        ReservationStatus::Confirmed => Ok(Json(give_back(&s, tx, &r, Some(&details), Revocations::Decided).await?)),
        ReservationStatus::Refunded => Ok(Json(r.record())),
        other => Err(ApiError::Conflict(format!("only a paid reservation is refunded; it is {}", other.as_str()))),
    }
}

/// Refused when a ticket of the order was used or passed on (its tickets
/// locked until `tx` ends).
async fn refundable(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, id: uuid::Uuid) -> ApiResult<()> {
    if tickets::store::used_of(tx, id).await? > 0 {
        return Err(ApiError::Conflict("a ticket of this order was already used at the gate: no refund".into()));
    }
    if tickets::store::held_by_others(tx, id).await? > 0 {
        return Err(ApiError::Conflict("a ticket of this order was passed to someone else: no refund".into()));
    }
    Ok(())
}

/// The tickets of a refund that did not go through whose `REVOKE` the log
/// applied: each replaced by a new ticket of the same seat and holder.
async fn reissue_revoked(
    s: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    revoked: &[tickets::code::CodeClaims],
    decided: &[tickets::gate::Decided],
) -> ApiResult<()> {
    let issuer = tickets::store::Issuer::of(s);
    for (t, d) in revoked.iter().zip(decided) {
        match tickets::store::find_in(tx, t.ticket_id).await? {
            Some(old) if !d.admitted && old.status == "VALID" => {
                tickets::store::issue_anew(tx, &issuer, &old, None).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a refund's tickets were revoked through the gate log already.
enum Revocations {
    /// Yes: every valid ticket of the order, and the log decided each
    /// ([`tickets::gate::Gate::revoke`]).
    Decided,
    /// No: queue them with the refund.
    Queue,
}

/// The money went back without the buyer asking us (payments saw a refund
/// from the provider's dashboard or a dispute): no cut-off, no gate check,
/// the tickets stop working.
async fn revoke(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ReservationRecord>> {
    let id = reservation_id(&id)?;
    let before = store::get(&s.pool, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    // For the buyer's e-mail only: without it the mail names no match.
    let details = match before.status {
        ReservationStatus::Confirmed => match_of(&s, &before).await,
        _ => None,
    };
    let mut tx = s.pool.begin().await?;
    let r = store::lock(&mut tx, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    match r.status {
        ReservationStatus::Confirmed => {
            tracing::warn!(reservation = %r.id, "the payment was taken back: tickets revoked");
            Ok(Json(give_back(&s, tx, &r, details.as_ref(), Revocations::Queue).await?))
        }
        ReservationStatus::Refunded => Ok(Json(r.record())),
        other => Err(ApiError::Conflict(format!("only a paid reservation is revoked; it is {}", other.as_str()))),
    }
}

/// CONFIRMED → REFUNDED in `tx`: the tickets revoked, the buyer told, the
/// seats back on sale (TICKET_CANCELLED, published once committed).
async fn give_back(
    s: &AppState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    r: &Reservation,
    details: Option<&MatchView>,
    revocations: Revocations,
) -> ApiResult<ReservationRecord> {
    let (refunded, queued) =
        store::transition(&mut tx, &s.origin, r, ReservationStatus::Refunded, Action::TicketCancelled).await?;
    // Tickets passed on (only a payment taken back revokes those; a refund
    // is refused): their holders are told and their caps given back.
    for held in tickets::store::passed_on_of(&mut tx, r.id).await? {
        if let (Some(mail), Some(owner)) = (tickets::mail::taken_back(&held, details), &held.1) {
            ticktak_kit::mail::enqueue(&mut tx, &mail).await?;
            sqlx::query(
                "UPDATE buyer_match_tickets SET tickets = greatest(tickets - 1, 0) \
                 WHERE buyer_id = $1 AND match_number = $2",
            )
            .bind(owner)
            .bind(i16::from(held.0.match_number))
            .execute(&mut *tx)
            .await?;
        }
    }
    let revoked = tickets::store::revoke(&mut tx, r.id).await?;
    let mut queued = vec![queued];
    if let Revocations::Queue = revocations {
        queued.extend(tickets::gate::queue_revocations(&mut tx, &s.gate, &revoked).await?);
    }
    if let Some(mail) = tickets::mail::refunded(&refunded, details) {
        ticktak_kit::mail::enqueue(&mut tx, &mail).await?;
    }
    tx.commit().await?;
    s.outbox.publish(queued);
    metrics::counter!("reservations_refunded_total").increment(1);
    Ok(refunded.record())
}

async fn intake(State(s): State<AppState>, Json(body): Json<Decisions>) -> ApiResult<Json<DecisionsApplied>> {
    let updated = apply(&s, &body.decisions).await?;
    Ok(Json(DecisionsApplied { updated }))
}

/// Whether a requested reservation is held (`Some(true)`), refused
/// (`Some(false)`) or left as it is (`None`) for its hold's state in the
/// log. Only a hold that is granted and open is held: one already released
/// or refunded holds no ticket, so its buyer must not be asked to pay.
fn held_for(status: HoldStatus) -> Option<bool> {
    match status {
        HoldStatus::Granted => Some(true),
        HoldStatus::Rejected | HoldStatus::Released | HoldStatus::Refunded => Some(false),
        // Only this platform confirms its holds, after they are HELD here.
        HoldStatus::Confirmed => None,
    }
}

/// Move requested reservations to HELD/REJECTED and wake their waiters.
pub async fn apply(s: &AppState, decisions: &[HoldDecision]) -> ApiResult<usize> {
    let pairs: Vec<(uuid::Uuid, bool)> =
        decisions.iter().filter_map(|d| Some((d.hold_id.0, held_for(d.status)?))).collect();
    if pairs.is_empty() {
        return Ok(0);
    }
    let changed = store::apply_decisions(&s.background_pool, s.config.hold_ttl, &pairs).await?;
    for (id, status, expires_at) in &changed {
        s.waiters.wake(*id, (*status, *expires_at));
    }
    metrics::counter!("reservations_decided_total").increment(changed.len() as u64);
    Ok(changed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_granted_open_hold_makes_a_requested_reservation_held() {
        assert_eq!(held_for(HoldStatus::Granted), Some(true));
        for closed in [HoldStatus::Rejected, HoldStatus::Released, HoldStatus::Refunded] {
            assert_eq!(held_for(closed), Some(false), "{closed:?}");
        }
        assert_eq!(held_for(HoldStatus::Confirmed), None);
    }
}
