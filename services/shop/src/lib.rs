//! shop (:3000): the public catalogue (matches, search, availability and
//! prices) and the owner of this platform's copy of the shared ledger.
//!
//! - `matches`: the public read API.
//! - `ledger`: the internal API through which shop-consumer hands over the
//!   master-list and ticket-sales logs, applied with the rule of
//!   `ticktak_core::ledger` and offset-tracked in the same transaction.
//! - `openapi`: the OpenAPI description served at `/api/openapi.json`.

pub mod ledger;
pub mod matches;
pub mod openapi;
pub mod search;

use ticktak_kit::service::{Base, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/shop");

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub settings: std::sync::Arc<Settings>,
    pub availability: matches::cache::AvailabilityCache,
}

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let base = Base::connect(settings, &MIGRATOR).await?;
    ticktak_kit::telemetry::zero_counters(&[
        ("ledger_holds_granted_total", &[]),
        ("ledger_holds_rejected_total", &[]),
        ("ledger_anomalies_total", &[]),
        ("ledger_price_mismatches_total", &[]),
    ]);
    let state = AppState {
        pool: base.pool.clone(),
        settings: std::sync::Arc::new(base.settings.clone()),
        availability: Default::default(),
    };
    let public = axum::Router::new().merge(matches::router()).merge(openapi::router()).with_state(state.clone());
    base.serve(public, ledger::router().with_state(state), shutdown).await
}
