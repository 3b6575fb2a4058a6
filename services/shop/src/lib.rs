//! shop (:3000): the public catalogue (matches, search, availability and
//! prices) and the owner of this platform's copy of the shared ledger.
//!
//! - `matches`: the public read API.
//! - `ledger`: the internal API through which shop-consumer hands over the
//!   master-list and ticket-sales logs, applied with the rule of
//!   `ticktak_core::ledger` and offset-tracked in the same transaction.
//! - `schedule`: the organisers' sale schedule, followed from its topic and
//!   stamped on every category served (`phase`).
//! - `recommend`: `GET /api/recommendations`, from analytics' model and the
//!   buyer's country (token claim, else `geoip` of the client's address).
//! - `openapi`: the OpenAPI description served at `/api/openapi.json`.

pub mod geoip;
pub mod ledger;
pub mod matches;
pub mod openapi;
pub mod recommend;
pub mod schedule;
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
    pub availability: matches::cache::LiveAvailability,
    /// Verifies buyers' tokens (recommendations use their country).
    pub verifier: std::sync::Arc<ticktak_kit::auth::Verifier>,
    pub recommender: recommend::Recommender,
    /// The organisers' sale schedule in force.
    pub schedule: schedule::SaleSchedule,
}

impl axum::extract::FromRef<AppState> for std::sync::Arc<ticktak_kit::auth::Verifier> {
    fn from_ref(s: &AppState) -> Self {
        s.verifier.clone()
    }
}

/// Where recommendations come from.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// The analytics service, for the current model (`ANALYTICS_URL`,
    /// default its internal port on this machine).
    pub analytics_url: String,
    /// How often the model is fetched (`MODEL_REFRESH_SECS`, default 30).
    pub model_refresh: std::time::Duration,
    /// Debian's GeoIP country data (`GEOIP_DIR`, default `/usr/share/GeoIP`).
    pub geoip_dir: std::path::PathBuf,
}

impl ShopConfig {
    pub fn from(
        settings: &Settings,
        env: &ticktak_kit::config::Env<'_>,
    ) -> Result<Self, ticktak_kit::config::ConfigError> {
        let refresh: u64 = env.parse_in("MODEL_REFRESH_SECS", 30, 1..=3600)?;
        Ok(Self {
            analytics_url: settings.peer_url(ticktak_kit::Service::Analytics, env)?,
            model_refresh: std::time::Duration::from_secs(refresh),
            geoip_dir: env.string("GEOIP_DIR", geoip::DEFAULT_DIR).into(),
        })
    }
}

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let config = ShopConfig::from(&settings, &ticktak_kit::config::Env::process())?;
    start_with(settings, config, shutdown).await
}

/// Start with explicit shop settings (tests point at their own analytics).
pub async fn start_with(
    settings: Settings,
    config: ShopConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let verifier = ticktak_kit::auth::Verifier::start(&settings.auth, shutdown.clone()).await;
    let base = Base::connect(settings, &MIGRATOR).await?;
    ledger::store::ensure_match_homes(&base.pool, &base.settings.topics.sales).await?;
    let recommender = recommend::Recommender::new(geoip::GeoIp::open(&config.geoip_dir));
    recommender.spawn_refresh(
        ticktak_kit::internal::Client::new(
            &config.analytics_url,
            base.settings.internal_token(),
            std::time::Duration::from_secs(5),
        )?,
        config.model_refresh,
        shutdown.clone(),
    );
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
        verifier,
        recommender,
        schedule: schedule::SaleSchedule::load(&base.pool).await?,
    };
    tokio::spawn(schedule::follow(
        state.pool.clone(),
        state.schedule.clone(),
        state.settings.clone(),
        shutdown.clone(),
    ));
    let public = axum::Router::new()
        .merge(matches::router())
        .merge(recommend::router())
        .merge(openapi::router())
        .with_state(state.clone());
    base.serve(public, ledger::router().with_state(state), shutdown).await
}
