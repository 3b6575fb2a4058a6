//! Following a small shared topic whose messages a service applies to its
//! own database with the offsets (the gate log, the sale schedule), or
//! from now on (`follow_from_now`: queue lengths): every
//! partition is assigned to this process (no consumer group, nothing to
//! rebalance), each read from right after the last offset the service
//! applied, and each message applied before the next; a message the
//! database refuses is tried again, never skipped. What a message cannot
//! be applied as is for the `apply` function to record as invalid.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
pub use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::KafkaSettings;

/// The value of header `name` of `message`, if it is UTF-8.
pub fn header<'m>(message: &'m OwnedMessage, name: &str) -> Option<&'m str> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).and_then(|v| std::str::from_utf8(v).ok())
}

/// Where to start each partition of `topic`: after the offsets in
/// `applied`, from `unapplied` where none was applied.
async fn assignment(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    applied: &[(i32, i64)],
    unapplied: Offset,
) -> anyhow::Result<TopicPartitionList> {
    let partitions = {
        let (consumer, topic) = (consumer.clone(), topic.to_string());
        tokio::task::spawn_blocking(move || {
            let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(5))?;
            anyhow::Ok(metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0))
        })
        .await??
    };
    anyhow::ensure!(partitions > 0, "topic {topic} has no partitions yet");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        let from = match applied.iter().find(|(partition, _)| *partition == p) {
            Some((_, offset)) => Offset::Offset(offset + 1),
            None => unapplied,
        };
        list.add_partition_offset(topic, p, from)?;
    }
    Ok(list)
}

/// Apply every message of `topic` with `apply` until `shutdown`, starting
/// after the offsets `applied` loads (per partition). `client_id` names
/// the consumer to the broker (its ACLs: `ticktak-{platform}-…`).
/// `fetch_wait` is how long the broker may hold a fetch of a caught-up
/// topic: how late a new message may be seen, and how often an idle
/// topic is asked (each ask costs the broker, nisshi a poll of its
/// database), so a quiet topic gets a long one.
pub async fn follow<L, LF, A, AF>(
    settings: &KafkaSettings,
    client_id: &str,
    topic: &str,
    fetch_wait: Duration,
    applied: L,
    apply: A,
    shutdown: CancellationToken,
) where
    L: Fn() -> LF,
    LF: Future<Output = anyhow::Result<Vec<(i32, i64)>>>,
    A: FnMut(OwnedMessage) -> AF,
    AF: Future<Output = anyhow::Result<()>>,
{
    follow_from(settings, client_id, topic, fetch_wait, applied, Offset::Beginning, apply, shutdown).await
}

/// Apply the messages of `topic` published from now on (a topic of
/// fleeting reports, such as queue lengths, where only the latest count).
pub async fn follow_from_now<A, AF>(
    settings: &KafkaSettings,
    client_id: &str,
    topic: &str,
    fetch_wait: Duration,
    apply: A,
    shutdown: CancellationToken,
) where
    A: FnMut(OwnedMessage) -> AF,
    AF: Future<Output = anyhow::Result<()>>,
{
    let nothing = || async { anyhow::Ok(Vec::new()) };
    follow_from(settings, client_id, topic, fetch_wait, nothing, Offset::End, apply, shutdown).await
}

#[allow(clippy::too_many_arguments)]
async fn follow_from<L, LF, A, AF>(
    settings: &KafkaSettings,
    client_id: &str,
    topic: &str,
    fetch_wait: Duration,
    applied: L,
    unapplied: Offset,
    mut apply: A,
    shutdown: CancellationToken,
) where
    L: Fn() -> LF,
    LF: Future<Output = anyhow::Result<Vec<(i32, i64)>>>,
    A: FnMut(OwnedMessage) -> AF,
    AF: Future<Output = anyhow::Result<()>>,
{
    let consumer = loop {
        let started = async {
            let settings =
                KafkaSettings { fetch_wait_ms: fetch_wait.as_millis().clamp(1, 1000) as u32, ..settings.clone() };
            let consumer = Arc::new(super::consumer(&settings, client_id)?);
            let list = assignment(&consumer, topic, &applied().await?, unapplied).await?;
            consumer.assign(&list)?;
            anyhow::Ok(consumer)
        };
        match started.await {
            Ok(consumer) => break consumer,
            Err(e) => {
                tracing::warn!(topic, error = %format!("{e:#}"), "cannot follow the topic yet");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = consumer.recv() => m.map(|m| m.detach()),
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(topic, error = %e, "read failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        loop {
            match apply(message.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(topic, offset = message.offset(), error = %format!("{e:#}"), "cannot apply; trying again");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }
}

/// The two tables of a topic a service applies with its offsets (the gate
/// log, the sale schedule, the draws): `applied` (`log_partition`,
/// `log_offset`: the last offset applied per partition) and `invalid`
/// (`log_partition`, `log_offset`, `reason`: what was refused). Each
/// message is applied in one transaction with its offset, so a message is
/// applied once however often it is read.
#[derive(Debug, Clone, Copy)]
pub struct OffsetTables {
    pub applied: &'static str,
    pub invalid: &'static str,
}

impl OffsetTables {
    /// Whether the message at (`partition`, `offset`) was applied before;
    /// locks its partition's row in `tx` until the transaction ends.
    pub async fn seen(&self, tx: &mut sqlx::PgConnection, partition: i32, offset: i64) -> sqlx::Result<bool> {
        let sql = format!("SELECT log_offset FROM {} WHERE log_partition = $1 FOR UPDATE", self.applied);
        let last: Option<i64> = sqlx::query_scalar(&sql).bind(partition).fetch_optional(tx).await?;
        Ok(last.is_some_and(|last| offset <= last))
    }

    /// Record why the message at (`partition`, `offset`) was not applied
    /// (printable and cut: the reason may quote a peer's bytes).
    pub async fn refuse(
        &self,
        tx: &mut sqlx::PgConnection,
        partition: i32,
        offset: i64,
        reason: &str,
    ) -> sqlx::Result<()> {
        let sql = format!(
            "INSERT INTO {} (log_partition, log_offset, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            self.invalid
        );
        sqlx::query(&sql)
            .bind(partition)
            .bind(offset)
            .bind(ticktak_core::text::printable_reason(reason))
            .execute(tx)
            .await?;
        Ok(())
    }

    /// Note the message at (`partition`, `offset`) applied (or refused).
    pub async fn applied(&self, tx: &mut sqlx::PgConnection, partition: i32, offset: i64) -> sqlx::Result<()> {
        let sql = format!(
            "INSERT INTO {} (log_partition, log_offset) VALUES ($1, $2) \
             ON CONFLICT (log_partition) DO UPDATE SET log_offset = EXCLUDED.log_offset",
            self.applied
        );
        sqlx::query(&sql).bind(partition).bind(offset).execute(tx).await?;
        Ok(())
    }
}
