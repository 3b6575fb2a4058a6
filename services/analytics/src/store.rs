//! Checkpoints, the lake's manifest and the models, in the analytics schema.

use std::collections::{BTreeMap, HashSet};

use sqlx::PgPool;
use ticktak_contracts::analytics::Model;

use crate::lake::Written;
use ticktak_core::ledger::LineOrigin;

use crate::market::{Market, Rows, Snapshot, Sold, Whole};

/// The market and the bookings topic's next offsets, as last checkpointed:
/// the whole part and every row, read in one snapshot of the database.
pub async fn load(pool: &PgPool) -> anyhow::Result<(Market, BTreeMap<i32, i64>)> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let row: Option<(serde_json::Value, serde_json::Value)> =
        sqlx::query_as("SELECT market, bookings_offsets FROM checkpoint").fetch_optional(&mut *tx).await?;
    let Some((whole, offsets)) = row else { return Ok((Market::default(), BTreeMap::new())) };
    let whole: Whole = serde_json::from_value(whole)?;
    let holds: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT hold_id, hold FROM checkpoint_holds").fetch_all(&mut *tx).await?;
    let origins: Vec<(i32, i64, i32)> =
        sqlx::query_as(r#"SELECT partition, "offset", line FROM checkpoint_origins"#).fetch_all(&mut *tx).await?;
    let minutes: Vec<(i64, i16, String, i64, i64)> =
        sqlx::query_as("SELECT minute, match_number, platform, tickets, revenue FROM checkpoint_minutes")
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let rows = Rows {
        holds: holds
            .into_iter()
            .map(|(id, hold)| {
                Ok((serde_json::from_value(serde_json::Value::String(id))?, serde_json::from_value(hold)?))
            })
            .collect::<anyhow::Result<_>>()?,
        origins: origins
            .into_iter()
            .map(|(partition, offset, line)| LineOrigin { partition, offset, line: line as u16 })
            .collect(),
        minutes: minutes
            .into_iter()
            .map(|(minute, m, platform, tickets, revenue)| ((minute, m as u8, platform), Sold { tickets, revenue }))
            .collect(),
    };
    Ok((Market::restore(Snapshot::from_parts(whole, rows))?, serde_json::from_value(offsets)?))
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
/// events they hold are marked seen, the market's whole part replaces the
/// last one, its changed rows are written, and the positions they reflect
/// are saved with them.
pub async fn checkpoint(
    pool: &PgPool,
    whole: &Whole,
    rows: &Rows,
    bookings_offsets: &BTreeMap<i32, i64>,
    files: &[Written],
    booking_ids: &[String],
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let datasets: Vec<&str> = files.iter().map(|f| f.dataset).collect();
    let counts: Vec<i64> = files.iter().map(|f| f.rows).collect();
    sqlx::query(
        "INSERT INTO lake_files (path, dataset, rows) SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) \
         ON CONFLICT (path) DO UPDATE SET rows = EXCLUDED.rows",
    )
    .bind(&paths)
    .bind(&datasets)
    .bind(&counts)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO booking_events_seen (event_id) SELECT UNNEST($1::text[]) ON CONFLICT DO NOTHING")
        .bind(booking_ids)
        .execute(&mut *tx)
        .await?;
    let ids: Vec<String> = rows.holds.iter().map(|(id, _)| id.to_string()).collect();
    let holds: Vec<serde_json::Value> =
        rows.holds.iter().map(|(_, h)| serde_json::to_value(h)).collect::<Result<_, _>>()?;
    sqlx::query(
        "INSERT INTO checkpoint_holds (hold_id, hold) SELECT * FROM UNNEST($1::text[], $2::jsonb[]) \
         ON CONFLICT (hold_id) DO UPDATE SET hold = EXCLUDED.hold",
    )
    .bind(&ids)
    .bind(&holds)
    .execute(&mut *tx)
    .await?;
    let partitions: Vec<i32> = rows.origins.iter().map(|o| o.partition).collect();
    let offsets: Vec<i64> = rows.origins.iter().map(|o| o.offset).collect();
    let lines: Vec<i32> = rows.origins.iter().map(|o| i32::from(o.line)).collect();
    sqlx::query(
        r#"INSERT INTO checkpoint_origins (partition, "offset", line)
           SELECT * FROM UNNEST($1::integer[], $2::bigint[], $3::integer[]) ON CONFLICT DO NOTHING"#,
    )
    .bind(&partitions)
    .bind(&offsets)
    .bind(&lines)
    .execute(&mut *tx)
    .await?;
    let minutes: Vec<i64> = rows.minutes.iter().map(|((m, _, _), _)| *m).collect();
    let matches: Vec<i16> = rows.minutes.iter().map(|((_, n, _), _)| i16::from(*n)).collect();
    let platforms: Vec<&str> = rows.minutes.iter().map(|((_, _, p), _)| p.as_str()).collect();
    let tickets: Vec<i64> = rows.minutes.iter().map(|(_, s)| s.tickets).collect();
    let revenue: Vec<i64> = rows.minutes.iter().map(|(_, s)| s.revenue).collect();
    sqlx::query(
        "INSERT INTO checkpoint_minutes (minute, match_number, platform, tickets, revenue) \
         SELECT * FROM UNNEST($1::bigint[], $2::smallint[], $3::text[], $4::bigint[], $5::bigint[]) \
         ON CONFLICT (minute, match_number, platform) DO UPDATE SET tickets = EXCLUDED.tickets, revenue = EXCLUDED.revenue",
    )
    .bind(&minutes)
    .bind(&matches)
    .bind(&platforms)
    .bind(&tickets)
    .bind(&revenue)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO checkpoint (market, bookings_offsets) VALUES ($1, $2) \
         ON CONFLICT (only_row) DO UPDATE SET market = EXCLUDED.market, \
           bookings_offsets = EXCLUDED.bookings_offsets, at = now()",
    )
    .bind(serde_json::to_value(whole)?)
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
