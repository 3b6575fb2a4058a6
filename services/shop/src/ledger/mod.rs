//! The internal API through which shop-consumer hands over the logs, in
//! order and in batches, with their (partition, offset):
//!
//! - `POST /internal/masterlist`: master-list messages; a later message for a
//!   match replaces its capacity and prices and keeps the counts.
//! - `POST /internal/sales`: ticket-sales messages, applied with the ledger
//!   rule; the last applied offset per partition is stored in the same
//!   transaction, so a batch delivered again changes nothing and is answered
//!   with the stored decisions.
//! - Either batch, when the database refuses it for its data, is applied in
//!   halves down to the messages it refuses; those are applied as invalid
//!   and named in the answer (`isolate`).
//! - `POST /internal/holds`: the log's decisions on the holds asked for (the
//!   reservations service's poller, one request for every waiting hold);
//!   `GET /internal/holds/{holdId}` for one.
//! - `GET /internal/ledger`: every ticket type's counters and a digest of the
//!   whole ledger, to compare platforms.
//! - `GET /internal/offsets`: the last applied offset of every partition,
//!   where shop-consumer resumes after a restart.
//!
//! Bodies and paths: `ticktak_contracts::ledger`.

mod isolate;
pub mod store;

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use ticktak_core::HoldId;
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};

use ticktak_contracts::ledger::{
    self as api, AppliedOffset, HoldView, HoldsFound, HoldsQuery, LedgerSnapshot, MasterListBatch, SalesBatch,
    SalesBatchResult,
};

use crate::AppState;

/// Most holds one `POST /internal/holds` may ask about.
const MAX_HOLDS_PER_QUERY: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(api::MASTERLIST, post(apply_masterlist))
        .route(api::SALES, post(apply_sales))
        .route(api::HOLDS, post(holds))
        .route("/internal/holds/{hold_id}", get(hold))
        .route(api::LEDGER, get(snapshot))
        .route(api::OFFSETS, get(offsets))
}

async fn apply_masterlist(
    State(state): State<AppState>,
    Json(batch): Json<MasterListBatch>,
) -> ApiResult<Json<api::MasterListResult>> {
    let result = isolate::apply_masterlist(&state.pool, &state.settings.topics.masterlist, &batch).await?;
    state
        .availability
        .invalidate(batch.messages.iter().filter_map(|m| m.content.as_ref()).map(|m| m.match_number.get()));
    Ok(Json(result))
}

async fn apply_sales(
    State(state): State<AppState>,
    Json(batch): Json<SalesBatch>,
) -> ApiResult<Json<SalesBatchResult>> {
    let started = std::time::Instant::now();
    let (result, counts) = isolate::apply_sales(&state.pool, &state.settings.topics.sales, &batch).await?;
    state.availability.update(counts);
    metrics::histogram!("ledger_apply_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("ledger_batch_size").record(batch.messages.len() as f64);
    metrics::counter!("ledger_messages_applied_total").increment(result.applied);
    metrics::counter!("ledger_messages_redelivered_total").increment(result.redelivered);
    metrics::counter!("ledger_anomalies_total").increment(result.anomalies);
    metrics::counter!("ledger_price_mismatches_total").increment(result.price_mismatches);
    metrics::counter!("ledger_holds_granted_total").increment(result.granted);
    metrics::counter!("ledger_holds_rejected_total").increment(result.rejected);
    Ok(Json(result))
}

async fn hold(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<HoldView>> {
    let id = HoldId::parse(&id).map_err(|e| ApiError::BadRequest(e.0))?;
    store::hold(&state.pool, id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no hold {id}")))
}

async fn holds(State(state): State<AppState>, Json(query): Json<HoldsQuery>) -> ApiResult<Json<HoldsFound>> {
    if query.hold_ids.len() > MAX_HOLDS_PER_QUERY {
        return Err(ApiError::Unprocessable(format!("at most {MAX_HOLDS_PER_QUERY} holds per query")));
    }
    Ok(Json(HoldsFound { holds: store::holds(&state.pool, &query.hold_ids).await? }))
}

async fn snapshot(State(state): State<AppState>) -> ApiResult<Json<LedgerSnapshot>> {
    Ok(Json(store::snapshot(&state.pool).await?))
}

async fn offsets(State(state): State<AppState>) -> ApiResult<Json<Vec<AppliedOffset>>> {
    Ok(Json(store::applied_offsets(&state.pool).await?))
}
