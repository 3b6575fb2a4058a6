//! The public catalogue: `GET /api/matches` (filters, text search, paging),
//! `GET /api/matches/{matchNumber}` and `.../availability`.

pub mod cache;
pub mod store;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use ticktak_kit::http::{Json, Path, Query};
use ticktak_kit::{ApiError, ApiResult};
use utoipa::IntoParams;

use crate::AppState;
pub use store::MatchView;
pub use ticktak_contracts::catalogue::{Availability, CategoryView, MatchPage};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/matches", get(list))
        .route("/api/matches/{match_number}", get(one))
        .route("/api/matches/{match_number}/availability", get(availability))
}

/// Filters of `GET /api/matches`; all optional and combined with AND.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Home or away team, exact name, any case.
    pub team: Option<String>,
    /// Group letter (A–H); knock-out matches have none.
    pub group: Option<String>,
    /// Round number (1–3 group stage, 4 round of 16 … 7 final).
    pub round: Option<u8>,
    /// Venue, exact name, any case.
    pub venue: Option<String>,
    /// Kick-off at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Kick-off before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Text search in team and venue names: case- and accent-insensitive,
    /// fans' own names (Brasil, Deutschland, Maroc, "South Korea") and
    /// typos (one edit; two in words of six letters or more) forgiven.
    pub q: Option<String>,
    /// Page size, 1–100 (default 100: the whole tournament fits one page).
    pub limit: Option<u32>,
    /// Matches to skip, 0–10000.
    #[param(maximum = 10000)]
    pub offset: Option<u32>,
}

#[utoipa::path(get, path = "/api/matches", params(ListQuery), tag = "matches",
    responses((status = 200, body = MatchPage), (status = 400, description = "bad query parameter")))]
pub async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> ApiResult<Json<MatchPage>> {
    let filter = store::Filter::try_from(query)?;
    let (mut matches, total) = store::list(&state.pool, &filter).await?;
    let now = chrono::Utc::now();
    for m in &mut matches {
        state.schedule.stamp(m.match_number, &mut m.categories, now);
    }
    Ok(Json(MatchPage { matches, total, limit: filter.limit, offset: filter.offset }))
}

#[utoipa::path(get, path = "/api/matches/{matchNumber}", tag = "matches",
    params(("matchNumber" = u8, Path, description = "1–64")),
    responses((status = 200, body = MatchView), (status = 404, description = "unknown match")))]
pub async fn one(State(state): State<AppState>, Path(n): Path<String>) -> ApiResult<Json<MatchView>> {
    let n = match_number(&n)?;
    let mut m = store::one(&state.pool, n).await?.ok_or_else(|| unknown(n))?;
    state.schedule.stamp(n, &mut m.categories, chrono::Utc::now());
    Ok(Json(m))
}

#[utoipa::path(get, path = "/api/matches/{matchNumber}/availability", tag = "matches",
    params(("matchNumber" = u8, Path, description = "1–64")),
    responses((status = 200, body = Availability), (status = 404, description = "unknown match")))]
pub async fn availability(State(state): State<AppState>, Path(n): Path<String>) -> ApiResult<Json<Availability>> {
    let n = match_number(&n)?;
    let mut categories = state.availability.get(&state.pool, n).await?;
    if categories.is_empty() {
        return Err(unknown(n));
    }
    state.schedule.stamp(n, &mut categories, chrono::Utc::now());
    Ok(Json(Availability { match_number: n, categories }))
}

fn match_number(raw: &str) -> ApiResult<u8> {
    match raw.parse::<i64>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n as u8),
        Ok(n) => Err(unknown_number(n)),
        Err(_) => Err(ApiError::BadRequest(format!("matchNumber must be a number, got {raw:?}"))),
    }
}

fn unknown(n: u8) -> ApiError {
    unknown_number(i64::from(n))
}

fn unknown_number(n: i64) -> ApiError {
    ApiError::NotFound(format!("no match {n}"))
}
