//! payments (:3040): a buyer pays a held reservation through Stripe; the
//! payment confirms the reservation (tickets follow), a payment that comes
//! too late is refunded, and a buyer may ask for a refund until the cut-off
//! before kick-off.
//!
//! - `api`: the public API (`/api/payments`, admin list).
//! - `desk`: the order desk's questions about payments (internal).
//! - `webhook`: `POST /webhooks/stripe`, signature-checked, each event once.
//! - `settle`: how a payment moves, whoever notices first.
//! - `reconciler`: polls the provider for what webhooks did not bring.
//! - `provider`: the Stripe calls (`async-stripe`).
//! - `store`: payment rows.

pub mod accounts;
pub mod api;
pub mod config;
pub mod desk;
pub mod provider;
pub mod reconciler;
pub mod settle;
pub mod signature;
pub mod store;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use ticktak_kit::auth::Verifier;
use ticktak_kit::service::{Base, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/payments");

#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub config: Arc<config::PaymentsConfig>,
    pub verifier: Arc<Verifier>,
    pub provider: provider::Provider,
    /// The reservations service's internal API.
    pub reservations: ticktak_kit::internal::Client,
}

ticktak_kit::verifier_from_state!(AppState);

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let config = config::PaymentsConfig::from_env(&settings)?;
    start_with(settings, config, shutdown).await
}

/// Start with explicit payment settings (tests point at their own
/// reservations service).
pub async fn start_with(
    settings: Settings,
    config: config::PaymentsConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let verifier = Verifier::start(&settings.auth, shutdown.clone()).await;
    let base = Base::connect(settings, &MIGRATOR).await?.with_ready_check("token keys", verifier.ready_check());
    tracing::info!(api = %config.stripe_api_base, "payment provider");
    let state = AppState {
        pool: base.pool.clone(),
        provider: provider::Provider::new(&config, base.settings.platform_id.as_str()),
        reservations: ticktak_kit::internal::Client::new(
            &config.reservations_url,
            base.settings.internal_token(),
            Duration::from_secs(10),
        )?,
        config: Arc::new(config),
        verifier,
    };
    ticktak_kit::telemetry::zero_counters(&[
        ("payments_created_total", &[]),
        ("payments_succeeded_total", &[]),
        ("payments_refunded_total", &[]),
        ("payments_amount_mismatch_total", &[]),
        ("payments_refund_refused_total", &[]),
    ]);
    let reconciler = tokio::spawn(reconciler::run(state.clone(), shutdown.clone()));
    let mailer = tokio::spawn(ticktak_kit::mail::deliver(
        state.pool.clone(),
        state.config.mail.clone(),
        Duration::from_millis(500),
        shutdown.clone(),
    ));
    let webhooks = axum::Router::new()
        .route("/webhooks/stripe", post(webhook::receive))
        .layer(axum::extract::DefaultBodyLimit::max(webhook::MAX_BODY_BYTES));
    let audit = ticktak_kit::audit::router(state.pool.clone(), state.verifier.clone());
    let public = api::router().merge(webhooks).with_state(state.clone()).merge(audit);
    let internal = accounts::router().merge(desk::internal_router()).with_state(state);
    let server = base.serve(public, internal, shutdown).await?;
    Ok(server.then(|server| async move {
        let served = server.wait().await;
        for worker in [reconciler, mailer] {
            let _ = worker.await;
        }
        served
    }))
}
