//! Checkpoints, the lake's manifest and the models, in the analytics schema.

use std::collections::{BTreeMap, HashSet};

use sqlx::PgPool;
use ticktak_contracts::analytics::Model;

use crate::lake::Written;
use crate::market::{Market, Snapshot};

/// The market and the bookings topic's next offsets, as last checkpointed.
pub async fn load(pool: &PgPool) -> anyhow::Result<(Market, BTreeMap<i32, i64>)> {
    let row: Option<(serde_json::Value, serde_json::Value)> =
        sqlx::query_as("SELECT market, bookings_offsets FROM checkpoint").fetch_optional(pool).await?;
    match row {
        None => Ok((Market::default(), BTreeMap::new())),
        Some((market, offsets)) => {
            let snapshot: Snapshot = serde_json::from_value(market)?;
            Ok((Market::restore(snapshot)?, serde_json::from_value(offsets)?))
        }
    }
}

/// Of `ids`, those whose events are in the lake already.
pub async fn seen(pool: &PgPool, ids: &[String]) -> sqlx::Result<HashSet<String>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT event_id FROM booking_events_seen WHERE event_id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}

/// One transaction: the files just written join the manifest, the booking
/// events they hold are marked seen, and the market and positions they
/// reflect replace the last checkpoint.
pub async fn checkpoint(
    pool: &PgPool,
    market: &Snapshot,
    bookings_offsets: &BTreeMap<i32, i64>,
    files: &[Written],
    booking_ids: &[String],
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let datasets: Vec<&str> = files.iter().map(|f| f.dataset).collect();
    let rows: Vec<i64> = files.iter().map(|f| f.rows).collect();
    sqlx::query(
        "INSERT INTO lake_files (path, dataset, rows) SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) \
         ON CONFLICT (path) DO UPDATE SET rows = EXCLUDED.rows",
    )
    .bind(&paths)
    .bind(&datasets)
    .bind(&rows)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO booking_events_seen (event_id) SELECT UNNEST($1::text[]) ON CONFLICT DO NOTHING")
        .bind(booking_ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO checkpoint (market, bookings_offsets) VALUES ($1, $2) \
         ON CONFLICT (only_row) DO UPDATE SET market = EXCLUDED.market, \
           bookings_offsets = EXCLUDED.bookings_offsets, at = now()",
    )
    .bind(serde_json::to_value(market)?)
    .bind(serde_json::to_value(bookings_offsets)?)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The lake's files, relative to its root.
pub async fn lake_files(pool: &PgPool) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as("SELECT path, dataset, rows FROM lake_files ORDER BY path").fetch_all(pool).await
}

/// The next model's version.
pub async fn next_version(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT coalesce(max(version), 0) + 1 FROM models").fetch_one(pool).await
}

pub async fn save_model(pool: &PgPool, model: &Model) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO models (version, trained_at, model) VALUES ($1, $2, $3)")
        .bind(model.version)
        .bind(model.trained_at)
        .bind(serde_json::to_value(model)?)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn current_model(pool: &PgPool) -> anyhow::Result<Option<Model>> {
    let row: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT model FROM models ORDER BY version DESC LIMIT 1").fetch_optional(pool).await?;
    Ok(row.map(serde_json::from_value).transpose()?)
}

/// Every model's version, time and evaluation, newest first.
pub async fn models(pool: &PgPool) -> sqlx::Result<Vec<(i64, chrono::DateTime<chrono::Utc>, serde_json::Value)>> {
    sqlx::query_as("SELECT version, trained_at, model->'evaluation' FROM models ORDER BY version DESC LIMIT 100")
        .fetch_all(pool)
        .await
}
