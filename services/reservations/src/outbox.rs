//! Publishing the outbox: every sales message is first written to the
//! `outbox` table in the same transaction as the reservation change it
//! announces, then
//!
//! 1. published at once by the request that committed it (`Outbox::publish`,
//!    no wait for a poller: this is on the buyer's critical path);
//! 2. marked sent, in batches, after the broker's delivery report (`marker`);
//! 3. published again by the `relay` if it is still unsent after `GRACE` and
//!    not in flight here — after a crash between commit and delivery, a
//!    failed send or a broker outage — with back-off, so a row is never
//!    dropped.
//!
//! A message can therefore reach the log twice (crash after delivery, before
//! marking); the ledger's hold-id rule makes the duplicate harmless. Order:
//! a hold's later messages (cancel, confirm, expiry) are only written once
//! the log decided its TICKET_PENDING, so they always follow it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use sqlx::{PgPool, Row};
use ticktak_core::headers::{SaleHeaders, PRODUCED_AT};
use ticktak_kit::kafka::trust::Trust;
use ticktak_kit::kafka::{self, Record};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How old an unsent row must be before the relay publishes it.
const GRACE: Duration = Duration::from_millis(1000);
/// How often the relay looks for such rows.
const RELAY_INTERVAL: Duration = Duration::from_millis(500);
const RELAY_BATCH: i64 = 500;
const MARK_BATCH: usize = 2000;
/// How long the marker gathers delivery reports into one UPDATE: marking is
/// off every critical path, and one statement per report would cost the
/// database a commit per message.
const MARK_LINGER: Duration = Duration::from_millis(20);

/// One committed outbox row, ready to publish.
#[derive(Debug, Clone)]
pub struct Queued {
    pub seq: i64,
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    /// Headers without `produced-at`, which is stamped when sent.
    pub headers: Vec<(String, String)>,
}

/// Hands committed rows to the producer and their sequence numbers, once
/// delivered, to the marker.
#[derive(Clone)]
pub struct Outbox {
    producer: FutureProducer,
    /// The sales topic, whose messages this platform signs, and its key.
    signer: Arc<(String, Trust)>,
    /// Rows being published or delivered but not yet marked: the relay
    /// leaves them alone.
    in_flight: Arc<Mutex<HashSet<i64>>>,
    delivered: mpsc::UnboundedSender<i64>,
}

impl Outbox {
    /// The outbox and the receiving end its `marker` drains.
    pub fn new(producer: FutureProducer, sales_topic: String, trust: Trust) -> (Self, mpsc::UnboundedReceiver<i64>) {
        let (delivered, rx) = mpsc::unbounded_channel();
        let signer = Arc::new((sales_topic, trust));
        (Self { producer, signer, in_flight: Default::default(), delivered }, rx)
    }

    /// Publish rows that were just committed, without waiting for the
    /// broker. A failure is left to the relay.
    pub fn publish(&self, rows: Vec<Queued>) {
        let rows = self.claim(rows);
        for row in rows {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.send(&row).await {
                    tracing::warn!(error = %format!("{e:#}"), seq = row.seq, "publish failed; the relay retries");
                    metrics::counter!("outbox_errors_total").increment(1);
                    this.in_flight.lock().expect("in-flight lock").remove(&row.seq);
                }
            });
        }
    }

    /// Publish rows and wait for every delivery; the first error is returned
    /// (rows not delivered stay unsent for the next try).
    async fn publish_and_wait(&self, rows: Vec<Queued>) -> anyhow::Result<usize> {
        let rows = self.claim(rows);
        let results = futures::future::join_all(rows.iter().map(|row| self.send(row))).await;
        let mut first_error = None;
        for (row, result) in rows.iter().zip(results) {
            if let Err(e) = result {
                self.in_flight.lock().expect("in-flight lock").remove(&row.seq);
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(rows.len()),
        }
    }

    /// Mark `rows` in flight; those already in flight are dropped.
    fn claim(&self, rows: Vec<Queued>) -> Vec<Queued> {
        let mut in_flight = self.in_flight.lock().expect("in-flight lock");
        rows.into_iter().filter(|r| in_flight.insert(r.seq)).collect()
    }

    async fn send(&self, row: &Queued) -> anyhow::Result<()> {
        let headers = self.stamped(row)?;
        let record = Record { topic: &row.topic, key: &row.key, payload: &row.payload, headers: &headers };
        kafka::send(&self.producer, &record).await?;
        metrics::counter!("outbox_published_total").increment(1);
        let _ = self.delivered.send(row.seq);
        Ok(())
    }

    /// The row's headers with `produced-at` stamped now; a sales message
    /// signed too (`ticktak_kit::kafka::trust`), over the stamp.
    fn stamped<'r>(&self, row: &'r Queued) -> anyhow::Result<Vec<(&'r str, String)>> {
        let now = chrono::Utc::now();
        let (sales_topic, trust) = &*self.signer;
        if row.topic != *sales_topic {
            let mut headers: Vec<(&str, String)> = row.headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            headers.push((PRODUCED_AT, now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
            return Ok(headers);
        }
        let mut headers = SaleHeaders::from_pairs(row.headers.iter().map(|(k, v)| (k.as_str(), Some(v.as_bytes()))))
            .map_err(|e| anyhow::anyhow!("outbox row {} has bad headers: {e}", row.seq))?;
        headers.produced_at = Some(now);
        trust.sign(&mut headers, &row.payload);
        Ok(headers.to_pairs())
    }

    fn in_flight_count(&self) -> usize {
        self.in_flight.lock().expect("in-flight lock").len()
    }
}

/// Mark delivered rows sent, in batches (one statement for all that
/// arrived meanwhile), then release them from the in-flight set. Runs until
/// shutdown and what is in flight then has been marked (or 5 s passed).
pub async fn marker(
    pool: PgPool,
    outbox: Outbox,
    mut delivered: mpsc::UnboundedReceiver<i64>,
    shutdown: CancellationToken,
) {
    let mut pending: Vec<i64> = Vec::new();
    let mut stop_by: Option<tokio::time::Instant> = None;
    loop {
        if pending.is_empty() {
            if stop_by.is_some_and(|t| outbox.in_flight_count() == 0 || tokio::time::Instant::now() > t) {
                return;
            }
            tokio::select! {
                seq = delivered.recv() => match seq {
                    Some(seq) => pending.push(seq),
                    None => return,
                },
                _ = shutdown.cancelled(), if stop_by.is_none() => {
                    stop_by = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                }
                _ = tokio::time::sleep(Duration::from_millis(50)), if stop_by.is_some() => {}
            }
        }
        if stop_by.is_none() {
            tokio::time::sleep(MARK_LINGER).await;
        }
        while pending.len() < MARK_BATCH {
            match delivered.try_recv() {
                Ok(seq) => pending.push(seq),
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            continue;
        }
        match sqlx::query("UPDATE outbox SET sent_at = now() WHERE seq = ANY($1)").bind(&pending).execute(&pool).await {
            Ok(_) => {
                let mut in_flight = outbox.in_flight.lock().expect("in-flight lock");
                for seq in pending.drain(..) {
                    in_flight.remove(&seq);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot mark outbox rows sent; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                if stop_by.is_some_and(|t| tokio::time::Instant::now() > t) {
                    return; // unmarked rows are published again at the next start: harmless
                }
            }
        }
    }
}

/// Publish, in order, rows still unsent after `GRACE` that are not in
/// flight here, retrying with back-off while the broker is away. At
/// shutdown, one last pass publishes every unsent row.
pub async fn relay(pool: PgPool, outbox: Outbox, shutdown: CancellationToken) {
    let mut backoff = Duration::ZERO;
    loop {
        let wait = if backoff.is_zero() { RELAY_INTERVAL } else { backoff };
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = relay_pass(&pool, &outbox, Duration::ZERO).await;
                return;
            }
            _ = tokio::time::sleep(wait) => {}
        }
        match relay_pass(&pool, &outbox, GRACE).await {
            Ok(n) if n as i64 == RELAY_BATCH => backoff = Duration::from_millis(1), // more to do
            Ok(_) => backoff = Duration::ZERO,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "outbox relay failed; retrying");
                metrics::counter!("outbox_errors_total").increment(1);
                backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
            }
        }
    }
}

/// One relay pass: returns how many rows it published.
async fn relay_pass(pool: &PgPool, outbox: &Outbox, grace: Duration) -> anyhow::Result<usize> {
    let oldest: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - min(created_at))::float8 FROM outbox WHERE sent_at IS NULL",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("outbox_lag_seconds").set(oldest.unwrap_or(0.0));
    if oldest.is_none_or(|age| age < grace.as_secs_f64()) {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT seq, topic, key, payload, headers FROM outbox \
         WHERE sent_at IS NULL AND created_at <= now() - make_interval(secs => $2) ORDER BY seq LIMIT $1",
    )
    .bind(RELAY_BATCH)
    .bind(grace.as_secs_f64())
    .fetch_all(pool)
    .await?;
    let queued: Vec<Queued> = rows
        .iter()
        .map(|r| Queued {
            seq: r.get("seq"),
            topic: r.get("topic"),
            key: r.get("key"),
            payload: r.get("payload"),
            headers: headers_from_json(&r.get("headers")),
        })
        .collect();
    let n = queued.len();
    outbox.publish_and_wait(queued).await?;
    if n > 0 {
        metrics::counter!("outbox_relayed_total").increment(n as u64);
    }
    Ok(n)
}

/// Headers as the outbox stores them: a JSON object of strings.
pub fn headers_to_json(headers: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(headers.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect())
}

/// Headers back from the outbox's JSON object.
pub fn headers_from_json(headers: &serde_json::Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// Queue a message for a topic other than sales (its headers, signature
/// included, made by the caller) in the caller's transaction; publish the
/// returned row once it committed.
pub async fn enqueue_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    topic: &str,
    key: &str,
    payload: Vec<u8>,
    headers: Vec<(String, String)>,
) -> sqlx::Result<Queued> {
    let seq =
        sqlx::query_scalar("INSERT INTO outbox (topic, key, payload, headers) VALUES ($1, $2, $3, $4) RETURNING seq")
            .bind(topic)
            .bind(key)
            .bind(&payload)
            .bind(headers_to_json(&headers))
            .fetch_one(&mut **tx)
            .await?;
    Ok(Queued { seq, topic: topic.to_string(), key: key.to_string(), payload, headers })
}
