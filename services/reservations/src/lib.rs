//! reservations (:3020): buyers' holds, the outbox to the ticket-sales topic
//! and hold expiry. This build runs the service's plumbing (schema,
//! migrations, broker connection, operational endpoints); the reservation
//! API arrives with its feature.

use ticktak_kit::service::{Base, Running};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/reservations");

pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let base = Base::connect(settings, &MIGRATOR).await?;
    base.serve(axum::Router::new(), shutdown).await
}
