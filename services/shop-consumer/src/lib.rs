//! shop-consumer (:3010): reads the master-list and ticket-sales topics with
//! this platform's own consumer group, decodes and validates every message,
//! and hands them in log order and in batches to the shop's internal API.
//! It commits offsets to Kafka only after the shop has acknowledged a batch;
//! the shop's own offset tracking makes a batch delivered again harmless.
//!
//! - `commits`: acknowledged offsets → the consumer group, in the background.
//! - `decode` (from the kit, shared with analytics): Kafka message → shop batch entry (invalid ones recorded).
//! - `invalid`: messages skipped (failed validation, or refused by the shop's
//!   database for their data), recorded and listed for operators.
//! - `pump`: the consume → apply → commit loop.
//! - `ledger_client`: the shop's internal ledger API (`LedgerClient`).

pub mod commits;
pub use ticktak_kit::kafka::decode;
pub mod forward;
pub mod invalid;
pub mod ledger_client;
pub mod pump;

use std::time::Duration;

use ticktak_kit::service::{Base, Running};
use ticktak_kit::{Service, Settings};
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/shop_consumer");

/// The platform's consumer group: `CONSUMER_GROUP`, else
/// `ticktak-{PLATFORM_ID}-shop-consumer.{sales topic}`. Every platform needs
/// its own group so that every platform sees every message.
pub fn consumer_group(settings: &Settings) -> String {
    ticktak_kit::config::Env::process()
        .get("CONSUMER_GROUP")
        .unwrap_or_else(|| format!("ticktak-{}-shop-consumer.{}", settings.platform_id, settings.topics.sales))
}

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let env = ticktak_kit::config::Env::process();
    let shop = settings.peer_url(Service::Shop, &env)?;
    let reservations = settings.peer_url(Service::Reservations, &env)?;
    start_with(settings, shop, Some(reservations), shutdown).await
}

/// Start with explicit peer URLs (tests run services on port 0). Without a
/// reservations URL no decisions are forwarded.
pub async fn start_with(
    settings: Settings,
    shop_url: String,
    reservations_url: Option<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let start = pump::Start::from_env(&ticktak_kit::config::Env::process())?;
    let base = Base::connect(settings, &MIGRATOR).await?;
    let shop = ledger_client::LedgerClient::new(shop_url, base.settings.internal_token())?;
    let forward = reservations_url
        .map(|url| {
            forward::DecisionForwarder::new(&url, base.settings.internal_token(), base.settings.platform_id.as_str())
        })
        .transpose()?;
    ticktak_kit::telemetry::zero_counters(&[
        ("consumer_lines_rehomed_total", &[]),
        ("consumer_decisions_forward_errors_total", &[]),
        ("consumer_messages_invalid_total", &[("topic", "masterlist")]),
        ("consumer_messages_invalid_total", &[("topic", "sales")]),
    ]);
    let group = consumer_group(&base.settings);
    let pump =
        pump::Pump::new(base.settings.clone(), group, shop, forward, base.pool.clone(), start, base.producer.clone());
    let following = pump.following();
    let base = base.with_ready_check(
        "consumer",
        std::sync::Arc::new(move || {
            let following = following.load(std::sync::atomic::Ordering::Acquire);
            Box::pin(async move {
                if following {
                    Ok(())
                } else {
                    Err("still reading the master list".to_string())
                }
            })
        }),
    );
    let internal = invalid::router().with_state(base.pool.clone());
    let server = base.serve(axum::Router::new(), internal, shutdown).await?;
    Ok(server.then(|server| async move {
        let token = server.shutdown.clone();
        let pumped = pump.run(token.clone()).await;
        if pumped.is_err() {
            // Without its pump the service is useless: stop serving too.
            token.cancel();
        }
        let served = tokio::time::timeout(Duration::from_secs(10), server.wait()).await;
        pumped?;
        served.map_err(|_| anyhow::anyhow!("server did not stop in time"))??;
        Ok(())
    }))
}
