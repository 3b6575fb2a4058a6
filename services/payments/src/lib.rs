//! payments (:3040): payment intents, webhooks and refunds. This build runs the
//! service's plumbing (schema, migrations, broker connection, operational
//! endpoints); its API arrives with its feature.

use ticktak_kit::service::{Base, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/payments");

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let base = Base::connect(settings, &MIGRATOR).await?;
    base.serve(axum::Router::new(), axum::Router::new(), shutdown).await
}
