//! The outbox relay: publishes queued sales messages in order, marks them
//! sent only after the broker's delivery report, and keeps retrying (with
//! back-off) through broker outages — a row is never dropped. A crash between
//! publishing and marking publishes again; the ledger's hold-id rule makes
//! that duplicate harmless.

use std::time::Duration;

use rdkafka::producer::FutureProducer;
use sqlx::Row;
use ticktak_kit::kafka::{self, Record};
use tokio_util::sync::CancellationToken;

use crate::AppState;

const BATCH: i64 = 500;

/// One queued row ready to send: topic, key, payload, headers.
type Outgoing = (String, String, Vec<u8>, Vec<(String, String)>);

pub async fn relay(state: AppState, producer: FutureProducer, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match publish_batch(&state, &producer).await {
            Ok(n) if n > 0 => {
                backoff = Duration::from_millis(50);
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            Ok(_) => backoff = Duration::from_millis(50),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "outbox relay failed; retrying");
                metrics::counter!("outbox_errors_total").increment(1);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        let wait = if backoff > Duration::from_millis(50) { backoff } else { Duration::from_millis(200) };
        tokio::select! {
            _ = shutdown.cancelled() => {
                // One last pass so a clean stop leaves nothing queued.
                let _ = publish_batch(&state, &producer).await;
                return;
            }
            _ = state.outbox_ready.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Publish up to `BATCH` unsent rows in order; returns how many were sent.
async fn publish_batch(state: &AppState, producer: &FutureProducer) -> anyhow::Result<usize> {
    let mut tx = state.pool.begin().await?;
    let rows = sqlx::query(
        "SELECT seq, topic, key, payload, headers, extract(epoch FROM now() - created_at)::float8 AS age \
         FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        metrics::gauge!("outbox_lag_seconds").set(0.0);
        return Ok(0);
    }
    metrics::gauge!("outbox_lag_seconds").set(rows[0].get::<f64, _>("age"));
    let produced_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let records: Vec<Outgoing> = rows
        .iter()
        .map(|r| {
            let headers: serde_json::Value = r.get("headers");
            let mut pairs: Vec<(String, String)> = headers
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            pairs.push((ticktak_core::headers::PRODUCED_AT.to_string(), produced_at.clone()));
            (r.get("topic"), r.get("key"), r.get("payload"), pairs)
        })
        .collect();
    // Enqueued in order; the idempotent producer keeps that order per partition.
    let sends = records.iter().map(|(topic, key, payload, pairs)| async move {
        let headers: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        kafka::send(producer, &Record { topic, key, payload, headers: &headers }).await
    });
    let results = futures::future::join_all(sends).await;
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        return Err(e); // nothing marked: everything is retried
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.get("seq")).collect();
    sqlx::query("UPDATE outbox SET sent_at = now() WHERE seq = ANY($1)").bind(&seqs).execute(&mut *tx).await?;
    tx.commit().await?;
    metrics::counter!("outbox_published_total").increment(seqs.len() as u64);
    Ok(seqs.len())
}
