//! Internal endpoints (internal credential only):
//! - `POST /internal/reservations/{id}/confirm`: payment landed → CONFIRMED
//!   and TICKET_RESERVED published; refused once the hold expired.
//! - `POST /internal/decisions`: the log's decisions on this platform's
//!   holds, forwarded by shop-consumer.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use ticktak_contracts::decisions::{self, Decisions, DecisionsApplied, HoldDecision};
use ticktak_core::ledger::HoldStatus;
use ticktak_core::Action;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};

use crate::api::ReservationView;
use crate::store::{self, Status};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/reservations/{id}/confirm", post(confirm)).route(decisions::DECISIONS, post(intake))
}

async fn confirm(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ReservationView>> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("no such reservation".into()))?;
    let mut tx = s.pool.begin().await?;
    let r = store::lock(&mut tx, id).await?.ok_or_else(|| ApiError::NotFound("no such reservation".into()))?;
    match r.status {
        Status::Held if r.expires_at.is_some_and(|t| t > chrono::Utc::now()) => {
            let (confirmed, queued) =
                store::transition(&mut tx, &s.origin, &r, Status::Confirmed, Action::TicketReserved).await?;
            tx.commit().await?;
            s.outbox.publish(vec![queued]);
            metrics::counter!("reservations_confirmed_total").increment(1);
            Ok(Json(ReservationView::of(&confirmed)))
        }
        Status::Held => {
            // Time is up but the sweeper has not run yet: expire it now.
            let (_, queued) =
                store::transition(&mut tx, &s.origin, &r, Status::Expired, Action::TicketCancelled).await?;
            tx.commit().await?;
            s.outbox.publish(vec![queued]);
            Err(ApiError::Conflict("the hold has expired".into()))
        }
        Status::Confirmed => Ok(Json(ReservationView::of(&r))),
        Status::Expired => Err(ApiError::Conflict("the hold has expired".into())),
        other => Err(ApiError::Conflict(format!("the reservation is {}", other.as_str()))),
    }
}

async fn intake(State(s): State<AppState>, Json(body): Json<Decisions>) -> ApiResult<Json<DecisionsApplied>> {
    let updated = apply(&s, &body.decisions).await?;
    Ok(Json(DecisionsApplied { updated }))
}

/// Move requested reservations to HELD/REJECTED and wake their waiters.
pub async fn apply(s: &AppState, decisions: &[HoldDecision]) -> ApiResult<usize> {
    let pairs: Vec<(uuid::Uuid, bool)> =
        decisions.iter().map(|d| (d.hold_id.0, d.status != HoldStatus::Rejected)).collect();
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
