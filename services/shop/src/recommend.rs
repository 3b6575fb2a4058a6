//! `GET /api/recommendations?limit=`: matches a buyer is likely to want,
//! with availability, prices and a reason.
//!
//! The buyer's country is the token's `country` claim, or for an anonymous
//! caller the country of the client's address (`geoip`); the ranking is the
//! analytics service's current model (`contracts::analytics::Model::rank`),
//! fetched every `MODEL_REFRESH_SECS` and kept when analytics is away. With
//! no model yet, matches rank by tickets sold on the shop's own ledger.
//! Sold-out matches are never recommended.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use ticktak_contracts::analytics::{Basis, Model, MODEL};
use ticktak_contracts::catalogue::MatchView;
use ticktak_core::{CategoryStatus, Country};
use ticktak_kit::auth::MaybeCaller;
use ticktak_kit::http::{Json, Query};
use ticktak_kit::screen::Screened;
use ticktak_kit::{ApiError, ApiResult};
use tokio_util::sync::CancellationToken;

use crate::geoip::GeoIp;
use crate::matches::store::{self, Filter};
use crate::AppState;

pub use ticktak_contracts::catalogue::{Recommendation, Recommendations};

/// The model the shop serves and where countries come from.
#[derive(Clone, Default)]
pub struct Recommender {
    model: Arc<RwLock<Option<Arc<Model>>>>,
    pub geo: Arc<GeoIp>,
}

impl Recommender {
    pub fn new(geo: GeoIp) -> Self {
        Self { model: Default::default(), geo: Arc::new(geo) }
    }

    pub fn model(&self) -> Option<Arc<Model>> {
        self.model.read().expect("not poisoned").clone()
    }

    /// Fetch the current model every `every` until `shutdown`; keep the last
    /// good one while analytics does not answer.
    pub fn spawn_refresh(
        &self,
        analytics: ticktak_kit::internal::Client,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let slot = self.model.clone();
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                match analytics.get::<Model>(MODEL).await {
                    Ok(Some(m)) => {
                        let newer =
                            slot.read().expect("not poisoned").as_ref().is_none_or(|old| old.version != m.version);
                        if newer {
                            tracing::info!(version = m.version, "recommendation model loaded");
                            metrics::gauge!("shop_recommendation_model_version").set(m.version as f64);
                            *slot.write().expect("not poisoned") = Some(Arc::new(m));
                        }
                        failing = false;
                    }
                    Ok(None) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "recommendation model not refreshed; serving the last one");
                    }
                    Err(_) => {}
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        });
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/recommendations", get(recommendations))
}

#[derive(Debug, Deserialize)]
pub struct RecommendationsQuery {
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/recommendations", tag = "matches",
    params(("limit" = Option<usize>, Query, description = "1..=20, default 5")),
    responses((status = 200, description = "best first; sold-out matches left out", body = Recommendations),
        (status = 400, description = "limit out of range"), (status = 401, description = "a token that is not valid")))]
pub async fn recommendations(
    State(s): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    screened: Option<Extension<Screened>>,
    Query(q): Query<RecommendationsQuery>,
) -> ApiResult<Json<Recommendations>> {
    let limit = q.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 20".into()));
    }
    let from_token = caller.as_ref().and_then(|c| Country::new(&c.country).ok());
    let from_ip = || screened.as_ref().and_then(|Extension(x)| s.recommender.geo.country(x.ip()));
    let (country, country_from) = match (from_token, from_token.is_none().then(from_ip).flatten()) {
        (Some(c), _) => (Some(c), "token"),
        (None, Some(c)) => (Some(c), "ip"),
        (None, None) => (None, "none"),
    };
    let (all, _) = store::list(&s.pool, &Filter { limit: 64, ..Filter::default() }).await?;
    let model = s.recommender.model();
    let (ranking, basis) = match &model {
        Some(m) => m.rank(country),
        None => (by_sales(&all), Basis::Popularity),
    };
    let mut by_number: std::collections::HashMap<u8, MatchView> =
        all.into_iter().map(|m| (m.match_number, m)).collect();
    let recommendations = ranking
        .into_iter()
        .filter_map(|n| by_number.remove(&n))
        .filter(|m| !m.categories.iter().all(|c| c.status == CategoryStatus::SoldOut))
        .take(limit)
        .map(|m| Recommendation { match_view: m, reason: basis.reason() })
        .collect();
    Ok(Json(Recommendations {
        country: country.map(|c| c.to_string()),
        country_from: country_from.to_string(),
        model_version: model.map(|m| m.version),
        recommendations,
    }))
}

/// Match numbers by tickets sold here, most first.
fn by_sales(all: &[MatchView]) -> Vec<u8> {
    // Summed as u64: each category's count may be as high as `i32::MAX`.
    let mut v: Vec<(u8, u64)> =
        all.iter().map(|m| (m.match_number, m.categories.iter().map(|c| u64::from(c.sold)).sum())).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(n, _)| n).collect()
}
