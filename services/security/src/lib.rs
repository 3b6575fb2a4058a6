//! security (:3050): identity — accounts, sign-in, token keys — and, with
//! its feature, request screening and abuse control.
//!
//! - `accounts`: sign-up with a confirmation link by mail, `/api/me`, the
//!   admins' account management.
//! - `sessions`: sign-in, refresh-token rotation, sign-out.
//! - `passwords`: the password policy and argon2id hashing.
//! - `throttle`: back-off after failed sign-ins.
//! - `config`: signing keys, token lifetimes, the site's address and mail.
//! - `cli`: operator commands (`security grant-role EMAIL ROLE`, …).
//! - `openapi`: the description served at `/api/openapi.json`.
//!
//! `GET /.well-known/jwks.json` publishes the public keys every other
//! service verifies access tokens with; only this service holds the
//! private key.

pub mod accounts;
pub mod cli;
pub mod config;
pub mod openapi;
pub mod passwords;
pub mod screening;
pub mod sessions;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use ticktak_kit::auth::{self, AuthSettings, KeySource, Verifier};
use ticktak_kit::service::{Base, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/security");

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub pool: sqlx::PgPool,
    pub settings: Arc<Settings>,
    pub config: Arc<config::SecurityConfig>,
    pub passwords: passwords::Passwords,
    /// Verifies this platform's own access tokens (with its own keys).
    pub verifier: Arc<Verifier>,
    /// The services that keep records about an account (export, erasure).
    pub reservations: ticktak_kit::internal::Client,
    pub payments: ticktak_kit::internal::Client,
}

ticktak_kit::verifier_from_state!(AppState);

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let config = config::SecurityConfig::from_env(&settings)?;
    start_with(settings, config, shutdown).await
}

/// Start with explicit security settings (tests).
pub async fn start_with(
    settings: Settings,
    config: config::SecurityConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let base = Base::connect(settings, &MIGRATOR).await?;
    ticktak_kit::telemetry::zero_counters(&[
        ("logins_total", &[("outcome", "succeeded")]),
        ("logins_total", &[("outcome", "failed")]),
        ("logins_total", &[("outcome", "throttled")]),
        ("refresh_token_reuse_total", &[]),
    ]);
    let own_keys = AuthSettings {
        keys: KeySource::Fixed(auth::jwks(&config.public_keys())),
        trusted: Vec::new(),
        ..base.settings.auth.clone()
    };
    let state = AppState {
        pool: base.pool.clone(),
        settings: Arc::new(base.settings.clone()),
        verifier: Arc::new(Verifier::new(&own_keys)),
        reservations: ticktak_kit::internal::Client::new(
            &config.reservations_url,
            base.settings.internal_token(),
            Duration::from_secs(10),
        )?,
        payments: ticktak_kit::internal::Client::new(
            &config.payments_url,
            base.settings.internal_token(),
            Duration::from_secs(10),
        )?,
        config: Arc::new(config),
        passwords: passwords::Passwords::new(),
    };
    if let Some(path) = &state.config.blocklist_file {
        let n = screening::load_file(&state.pool, path).await?;
        tracing::info!(file = %path.display(), networks = n, "blocklist file loaded");
    }
    tokio::spawn(sweep(state.pool.clone(), shutdown.clone()));
    tokio::spawn(ticktak_kit::mail::deliver(
        state.pool.clone(),
        state.config.mail.clone(),
        Duration::from_millis(500),
        shutdown.clone(),
    ));
    let internal = screening::internal_router().with_state(state.clone());
    base.serve(router(state), internal, shutdown).await
}

/// Every route of the security service except the operational ones.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(screening::router())
        .merge(openapi::router())
        .with_state(state.clone())
        .merge(ticktak_kit::audit::router(state.pool.clone(), state.verifier.clone()))
}

/// The public keys of access tokens: the signing key and the one before it.
async fn jwks(State(s): State<AppState>) -> impl IntoResponse {
    ([("cache-control", "public, max-age=60")], axum::Json(auth::jwks(&s.config.public_keys())))
}

/// Hourly: forget expired refresh tokens, links and old sign-in failures.
async fn sweep(pool: sqlx::PgPool, shutdown: CancellationToken) {
    loop {
        if let Err(e) = sessions::store::delete_expired(&pool).await {
            tracing::warn!(error = %e, "cannot delete expired refresh tokens");
        }
        if let Err(e) = throttle::forget_old(&pool).await {
            tracing::warn!(error = %e, "cannot forget old sign-in failures");
        }
        if let Err(e) = accounts::links::forget_old(&pool).await {
            tracing::warn!(error = %e, "cannot forget expired links");
        }
        if let Err(e) = screening::store::forget_old(&pool).await {
            tracing::warn!(error = %e, "cannot forget old security events");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
