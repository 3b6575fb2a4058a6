//! analytics (:3060): market-wide sales aggregation, the data lake, admin
//! statistics and the recommendation model the shop serves.
//!
//! - `ingest`: every platform's sales and this platform's booking events →
//!   the market (`market`) and the lake (`lake`), checkpointed together
//!   (`store`).
//! - `api`: admin statistics, the lake's manifest, models; the current
//!   model for the shop (internal).
//! - `model` and `training`: the recommendation model, its evaluation, when
//!   it is trained.

pub mod api;
pub mod config;
pub mod ingest;
pub mod lake;
pub mod market;
pub mod model;
pub mod store;
pub mod training;

use std::sync::{Arc, RwLock};

use ticktak_kit::auth::Verifier;
use ticktak_kit::service::{Base, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/analytics");

#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub settings: Arc<Settings>,
    pub config: Arc<config::AnalyticsConfig>,
    pub verifier: Arc<Verifier>,
    pub market: Arc<RwLock<market::Market>>,
    pub lake: lake::Lake,
    /// One training at a time.
    pub training: Arc<tokio::sync::Mutex<()>>,
}

ticktak_kit::verifier_from_state!(AppState);

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let config = config::AnalyticsConfig::from_env(&settings)?;
    start_with(settings, config, shutdown).await
}

/// Start with explicit analytics settings (tests give each its own lake).
pub async fn start_with(
    settings: Settings,
    config: config::AnalyticsConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let verifier = Verifier::start(&settings.auth, shutdown.clone()).await;
    let base = Base::connect(settings, &MIGRATOR).await?.with_ready_check("token keys", verifier.ready_check());
    let lake = lake::Lake::open(&config.lake_url)?;
    let state = AppState {
        pool: base.pool.clone(),
        settings: Arc::new(base.settings.clone()),
        config: Arc::new(config.clone()),
        verifier,
        market: Default::default(),
        lake,
        training: Default::default(),
    };
    tokio::spawn(follow(state.clone(), shutdown.clone()));
    if let Some(every) = config.train_every {
        tokio::spawn(training::schedule(state.clone(), every, shutdown.clone()));
    }
    let audit = ticktak_kit::audit::router(state.pool.clone(), state.verifier.clone());
    let public = api::router().with_state(state.clone()).merge(audit);
    base.serve(public, api::internal_router().with_state(state), shutdown).await
}

/// Follow the logs; after a failure (broker or database away), start again
/// from the last checkpoint.
async fn follow(state: AppState, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match ingest::run(state.clone(), shutdown.clone()).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "analytics stopped reading the logs; starting again");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                }
            }
        }
    }
}
