//! The gate for the whole market: every platform's gate admits every
//! approved platform's tickets, each exactly once, through the shared gate
//! log (`ticktak_core::gate`).
//!
//! - A scan publishes an `ADMIT` signed by this platform and waits until
//!   [`follow`] has applied it: the first event of the ticket in log order
//!   decides, so two gates of different platforms scanning one ticket in
//!   the same second admit it once, and both learn which one did.
//! - A refund publishes a `REVOKE` per ticket, signed by the issuer, and
//!   waits for the log's decisions ([`Gate::revoke`]) before it gives the
//!   money back: it goes through only if no gate admitted a ticket first.
//!   Other revocations (a ticket passed on, a payment taken back) go
//!   through the outbox in their own transaction ([`queue_revocations`]).
//! - [`follow`] reads every partition from the offsets this platform
//!   applied (kept with the decisions in one transaction, as the shop keeps
//!   the ledger's), records what it cannot apply as invalid and skips it,
//!   and marks this platform's own tickets used when any gate admitted them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use sqlx::{PgPool, Postgres, Row, Transaction};
use ticktak_core::gate::{GateAction, GateEvent};
use ticktak_core::headers::{CLIENT_ID, SIGNATURE};
use ticktak_core::PlatformId;
use ticktak_kit::kafka::follow::OffsetTables;
use ticktak_kit::kafka::trust::Trust;
use ticktak_kit::kafka::{self, Record};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::code::CodeClaims;
use crate::outbox::Queued;

/// Kafka headers as the outbox keeps them.
type Headers = Vec<(String, String)>;

/// How long the broker may hold a fetch of the caught-up gate log: a scan
/// sees its decision within about half of it (BENCHMARKS.md, "The gate
/// log's cost on the hold path").
const FETCH_WAIT: Duration = Duration::from_millis(500);

/// How long a scan waits for the log to decide its admission.
pub const DECISION_WAIT: Duration = Duration::from_secs(10);

/// How long a refund or an acceptance waits for the log to decide its
/// revocations: well within the 10 s payments gives reservations to answer.
pub const REVOKE_WAIT: Duration = Duration::from_secs(5);

/// This platform's end of the gate log.
#[derive(Clone)]
pub struct Gate {
    producer: FutureProducer,
    topic: String,
    trust: Trust,
    platform: PlatformId,
    /// Woken each time [`follow`] applied an event.
    applied: Arc<Notify>,
}

/// How the log decided a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub admitted: bool,
    pub event_id: Uuid,
    /// The platform whose gate admitted it, or the issuer that revoked it.
    pub gate: String,
    pub at: DateTime<Utc>,
}

impl Gate {
    pub fn new(producer: FutureProducer, topic: String, trust: Trust, platform: PlatformId) -> Self {
        Self { producer, topic, trust, platform, applied: Arc::new(Notify::new()) }
    }

    pub fn platform(&self) -> &PlatformId {
        &self.platform
    }

    /// The body and headers of `event`, signed by this platform.
    fn signed(&self, event: &GateEvent) -> anyhow::Result<(Vec<u8>, Headers)> {
        let body = serde_json::to_vec(event)?;
        let signature = self
            .trust
            .sign_bytes(&GateEvent::signed_bytes(&body))
            .ok_or_else(|| anyhow::anyhow!("no platform key to sign gate events with"))?;
        Ok((body, vec![(CLIENT_ID.to_string(), self.platform.to_string()), (SIGNATURE.to_string(), signature)]))
    }

    /// A scan of `claims`, a ticket of `issuer`, at this platform's gate:
    /// publish its `ADMIT` and wait for the log's decision on the ticket.
    /// `Ok(None)`: not decided within [`DECISION_WAIT`].
    pub async fn admit(
        &self,
        pool: &PgPool,
        issuer: &PlatformId,
        claims: &CodeClaims,
    ) -> anyhow::Result<Option<(Uuid, Decided)>> {
        let event = GateEvent {
            action: GateAction::Admit,
            event_id: Uuid::now_v7(),
            ticket_id: claims.ticket_id,
            issuer: issuer.clone(),
            match_number: claims.match_number,
            category: claims.category,
            gate: self.platform.clone(),
            at: Utc::now(),
        };
        self.send(&event).await?;
        Ok(self.wait(pool, &[claims.ticket_id], DECISION_WAIT).await?.map(|mut d| (event.event_id, d.remove(0))))
    }

    /// A refund of `tickets`, this platform's own: publish a `REVOKE` of
    /// each and wait for the log's decision on every one. A refund may give
    /// the money back only for tickets whose first event in the log is a
    /// `REVOKE`: a scan at any gate at the same moment may have come first.
    /// `Ok(None)`: not all decided within [`DECISION_WAIT`].
    pub async fn revoke(&self, pool: &PgPool, tickets: &[CodeClaims]) -> anyhow::Result<Option<Vec<Decided>>> {
        let events: Vec<GateEvent> = tickets.iter().map(|t| self.revocation(t)).collect();
        futures::future::try_join_all(events.iter().map(|e| self.send(e))).await?;
        let ids: Vec<Uuid> = tickets.iter().map(|t| t.ticket_id).collect();
        Ok(self.wait(pool, &ids, REVOKE_WAIT).await?)
    }

    fn revocation(&self, t: &CodeClaims) -> GateEvent {
        GateEvent {
            action: GateAction::Revoke,
            event_id: Uuid::now_v7(),
            ticket_id: t.ticket_id,
            issuer: self.platform.clone(),
            match_number: t.match_number,
            category: t.category,
            gate: self.platform.clone(),
            at: Utc::now(),
        }
    }

    async fn send(&self, event: &GateEvent) -> anyhow::Result<()> {
        let (body, headers) = self.signed(event)?;
        let headers: Vec<(&str, String)> = headers.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let key = event.ticket_id.to_string();
        kafka::send(&self.producer, &Record { topic: &self.topic, key: &key, payload: &body, headers: &headers })
            .await?;
        Ok(())
    }

    /// The log's decision on each of `tickets`, once it has decided them
    /// all; `None` past `limit`.
    async fn wait(&self, pool: &PgPool, tickets: &[Uuid], limit: Duration) -> sqlx::Result<Option<Vec<Decided>>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let woken = self.applied.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let mut all = Vec::with_capacity(tickets.len());
            for t in tickets {
                match decided(pool, *t).await? {
                    Some(d) => all.push(d),
                    None => break,
                }
            }
            if all.len() == tickets.len() {
                return Ok(Some(all));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            // Woken by the follower, or a look every 200 ms all the same.
            let _ = tokio::time::timeout(Duration::from_millis(200), woken).await;
        }
    }
}

/// The log's decision on a ticket, if it has one.
pub async fn decided(pool: &PgPool, ticket: Uuid) -> sqlx::Result<Option<Decided>> {
    let row = sqlx::query("SELECT state, event_id, gate, decided_at FROM gate_tickets WHERE ticket_id = $1")
        .bind(ticket)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| Decided {
        admitted: r.get::<String, _>("state") == "ADMITTED",
        event_id: r.get("event_id"),
        gate: r.get("gate"),
        at: r.get("decided_at"),
    }))
}

/// Outbox rows announcing that this platform revoked `tickets`, written in
/// the caller's transaction (the refund's), published once it committed.
pub async fn queue_revocations(
    tx: &mut Transaction<'_, Postgres>,
    gate: &Gate,
    tickets: &[CodeClaims],
) -> anyhow::Result<Vec<Queued>> {
    let mut queued = Vec::with_capacity(tickets.len());
    for t in tickets {
        let (payload, headers) = gate.signed(&gate.revocation(t))?;
        let key = t.ticket_id.to_string();
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (topic, key, payload, headers) VALUES ($1, $2, $3, $4) RETURNING seq",
        )
        .bind(&gate.topic)
        .bind(&key)
        .bind(&payload)
        .bind(crate::outbox::headers_to_json(&headers))
        .fetch_one(&mut **tx)
        .await?;
        queued.push(Queued { seq, topic: gate.topic.clone(), key, payload, headers });
    }
    Ok(queued)
}

/// This platform's tickets still valid here whose first event in the gate
/// log is this platform's own `REVOKE`, applied here more than `after` ago
/// (the database's clock): revoked by a refund, or an acceptance of a
/// ticket passed on, that died (or was refused at its second look) before
/// it committed; with the account holding each (none: the order's buyer).
pub async fn orphaned_revocations(
    pool: &PgPool,
    issuer: &PlatformId,
    after: Duration,
) -> sqlx::Result<Vec<(Uuid, Option<String>)>> {
    sqlx::query_as(
        "SELECT t.id, t.owner_account FROM tickets t JOIN gate_tickets g ON g.ticket_id = t.id \
         WHERE t.status = 'VALID' AND g.state = 'REVOKED' AND g.issuer = $1 AND g.gate = $1 \
           AND g.applied_at < now() - make_interval(secs => $2) \
         ORDER BY t.id LIMIT 100",
    )
    .bind(issuer.as_str())
    .bind(after.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// [`Gate::revoke`] for a request: the log out of reach or too slow to
/// decide is a 503 (ask again: what was revoked stays revoked).
pub async fn revoke_or_unavailable(
    gate: &Gate,
    pool: &PgPool,
    tickets: &[CodeClaims],
) -> ticktak_kit::ApiResult<Vec<Decided>> {
    match gate.revoke(pool, tickets).await {
        Ok(Some(decided)) => Ok(decided),
        Ok(None) => Err(ticktak_kit::ApiError::Unavailable("the gate log did not decide in time: ask again".into())),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot revoke through the gate log");
            Err(ticktak_kit::ApiError::Unavailable("the gate log is out of reach: ask again".into()))
        }
    }
}

/// Why an event of the gate log is not applied, or the event.
fn vet(
    gate: &Gate,
    body: Option<&[u8]>,
    client_id: Option<&str>,
    signature: Option<&str>,
) -> Result<GateEvent, String> {
    let event = GateEvent::decode(body.unwrap_or_default())?;
    if client_id != Some(event.signer().as_str()) {
        return Err(format!("client-id {client_id:?} is not the event's signer {}", event.signer()));
    }
    let signature = signature.ok_or("no signature")?;
    if !gate.trust.verify_bytes(event.signer(), &GateEvent::signed_bytes(body.unwrap_or_default()), signature) {
        return Err(format!("the signature is not {}'s", event.signer()));
    }
    Ok(event)
}

/// Where the gate log's offsets and refusals are kept.
const TABLES: OffsetTables = OffsetTables { applied: "gate_applied", invalid: "gate_invalid" };

/// Apply the event at `partition:offset` once, in one transaction with the
/// offset.
async fn apply(
    pool: &PgPool,
    gate: &Gate,
    partition: i32,
    offset: i64,
    vetted: Result<GateEvent, String>,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    if TABLES.seen(&mut tx, partition, offset).await? {
        return Ok(());
    }
    match vetted {
        Err(reason) => {
            metrics::counter!("gate_events_invalid_total").increment(1);
            tracing::warn!(partition, offset, %reason, "gate event not applied");
            TABLES.refuse(&mut tx, partition, offset, &reason).await?;
        }
        Ok(event) => {
            let state = match event.action {
                GateAction::Admit => "ADMITTED",
                GateAction::Revoke => "REVOKED",
            };
            let first = sqlx::query(
                "INSERT INTO gate_tickets (ticket_id, issuer, state, event_id, gate, match_number, category, \
                   decided_at, log_partition, log_offset) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (ticket_id) DO NOTHING",
            )
            .bind(event.ticket_id)
            .bind(event.issuer.as_str())
            .bind(state)
            .bind(event.event_id)
            .bind(event.gate.as_str())
            .bind(i16::from(event.match_number))
            .bind(i16::from(event.category))
            .bind(event.at)
            .bind(partition)
            .bind(offset)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let outcome = match (first, event.action) {
                (true, GateAction::Admit) => "admitted",
                (true, GateAction::Revoke) => "revoked",
                (false, GateAction::Admit) => "scanned_again",
                (false, GateAction::Revoke) => "revoked_too_late",
            };
            metrics::counter!("gate_events_applied_total", "outcome" => outcome).increment(1);
            if first && event.action == GateAction::Admit && event.issuer == gate.platform {
                super::store::mark_used(&mut tx, event.ticket_id, event.at).await?;
            }
        }
    }
    TABLES.applied(&mut tx, partition, offset).await?;
    tx.commit().await
}

/// Apply the gate log until shutdown (`ticktak_kit::kafka::follow`): what
/// no platform could apply is recorded invalid and skipped.
pub async fn follow(pool: PgPool, gate: Gate, settings: Arc<ticktak_kit::Settings>, shutdown: CancellationToken) {
    let client_id = format!("ticktak-{}-gate", gate.platform);
    let applied = || async {
        Ok(sqlx::query_as::<_, (i32, i64)>("SELECT log_partition, log_offset FROM gate_applied")
            .fetch_all(&pool)
            .await?)
    };
    let apply = |message: OwnedMessage| {
        let vetted = vet(
            &gate,
            message.payload(),
            kafka::follow::header(&message, CLIENT_ID),
            kafka::follow::header(&message, SIGNATURE),
        );
        let (pool, gate) = (&pool, &gate);
        async move {
            apply(pool, gate, message.partition(), message.offset(), vetted).await?;
            gate.applied.notify_waiters();
            Ok(())
        }
    };
    kafka::follow::follow(&settings.kafka, &client_id, &gate.topic, FETCH_WAIT, applied, apply, shutdown).await;
}
