//! Training the recommendation model from the lake's bookings: on demand
//! (`POST /api/admin/model/train`) and every `TRAIN_EVERY_SECS`.

use std::time::Duration;

use ticktak_contracts::analytics::Model;
use ticktak_core::Country;
use ticktak_kit::{ApiError, ApiResult};
use tokio_util::sync::CancellationToken;

use crate::model::{self, Interest};
use crate::{store, AppState};

/// Train, store and serve a new model version from every booking in the
/// lake (each reservation once, as first booked).
pub async fn train_now(s: &AppState) -> ApiResult<Model> {
    let _one_at_a_time =
        s.training.try_lock().map_err(|_| ApiError::Conflict("a training is running already".into()))?;
    let files: Vec<String> = store::lake_files(&s.pool)
        .await?
        .into_iter()
        .filter(|(_, dataset, _)| dataset == "bookings")
        .map(|(path, _, _)| path)
        .collect();
    let mut events = s.lake.read_bookings(&files).await.map_err(ApiError::Internal)?;
    events.sort_by_key(|e| e.at);
    let mut first = std::collections::HashSet::new();
    let interests: Vec<Interest> = events
        .into_iter()
        .filter(|e| first.insert(e.reservation_id.clone()))
        .map(|e| Interest {
            country: e.country.as_deref().and_then(|c| Country::new(c).ok()),
            match_number: e.match_number,
            at: e.created_at,
        })
        .collect();
    if interests.is_empty() {
        return Err(ApiError::Conflict("no bookings in the lake yet".into()));
    }
    let features = model::features(&s.market.read().expect("not poisoned").matches);
    if features.is_empty() {
        return Err(ApiError::Conflict("the master list has not been read yet".into()));
    }
    let version = store::next_version(&s.pool).await?;
    let trained = tokio::task::spawn_blocking(move || model::train(interests, &features, version))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    store::save_model(&s.pool, &trained).await.map_err(ApiError::Internal)?;
    let e = &trained.evaluation;
    metrics::gauge!("analytics_model_version").set(trained.version as f64);
    metrics::gauge!("analytics_model_hit_rate_at_5").set(e.hit_rate_at_5);
    metrics::gauge!("analytics_model_baseline_hit_rate_at_5").set(e.baseline_hit_rate_at_5);
    tracing::info!(
        version = trained.version,
        train = e.train_bookings,
        test = e.test_bookings,
        hit_rate_at_5 = e.hit_rate_at_5,
        baseline = e.baseline_hit_rate_at_5,
        "recommendation model trained"
    );
    Ok(trained)
}

/// Train every `every` until `shutdown` (nothing to learn from yet is no
/// error).
pub async fn schedule(s: AppState, every: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match train_now(&s).await {
            Ok(_) | Err(ApiError::Conflict(_)) => {}
            Err(e) => tracing::warn!(error = %e, "scheduled training failed"),
        }
    }
}
