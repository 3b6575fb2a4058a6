//! The consume → apply → commit loop.
//!
//! 1. At start, read the master-list topic to its end (decisions depend on
//!    capacity, so no sale is applied before the list is known).
//! 2. Then follow both topics with the platform's consumer group: gather a
//!    batch (up to `BATCH_MAX` messages or `LINGER`), hand it to the shop,
//!    retry until the shop acknowledges; only acknowledged offsets are
//!    committed (at most every `COMMIT_EVERY`, and at shutdown).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use shop::ledger::api::{MasterListBatch, SalesBatch};
use sqlx::PgPool;
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

use crate::decode;
use crate::forward::DecisionForwarder;
use crate::gaps::{GapTracker, Verdict};
use crate::shop_client::ShopClient;

const BATCH_MAX: usize = 1000;
const LINGER: Duration = Duration::from_millis(2);
/// How often acknowledged offsets are committed to the consumer group.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// The master list is read to its end, known when nothing arrives for this long.
const MASTERLIST_IDLE: Duration = Duration::from_millis(1500);

pub struct Pump {
    settings: Settings,
    group: String,
    shop: ShopClient,
    forward: Option<DecisionForwarder>,
    pool: PgPool,
    /// `CONSUMER_START=beginning` (default) or `committed`.
    start_from_beginning: bool,
    gaps: std::sync::Mutex<GapTracker>,
    /// Set once the master list is read and the sales topic is followed;
    /// `/ready` answers 503 until then.
    following: Arc<std::sync::atomic::AtomicBool>,
}

/// One gathered batch, owned (no borrowed Kafka messages across awaits).
#[derive(Default)]
struct Batch {
    masterlist: MasterListBatch,
    sales: SalesBatch,
    invalid: Vec<Invalid>,
    /// Next offset to commit per (topic, partition).
    next: HashMap<(String, i32), i64>,
    /// Partitions to rewind once this batch is delivered.
    rewind: std::collections::HashSet<(String, i32)>,
    len: usize,
}

struct Invalid {
    topic: String,
    partition: i32,
    offset: i64,
    reason: String,
    payload: Option<Vec<u8>>,
}

impl Pump {
    pub fn new(
        settings: Settings,
        group: String,
        shop: ShopClient,
        forward: Option<DecisionForwarder>,
        pool: PgPool,
    ) -> Self {
        let start_from_beginning =
            ticktak_kit::config::Env::process().string("CONSUMER_START", "beginning") != "committed";
        Self {
            settings,
            group,
            shop,
            forward,
            pool,
            start_from_beginning,
            gaps: Default::default(),
            following: Default::default(),
        }
    }

    /// True once the pump follows the sales topic (the master list is read).
    pub fn following(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.following.clone()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        if !self.catch_up_masterlist(&shutdown).await? {
            return Ok(());
        }
        let consumer = Arc::new(ticktak_kit::kafka::consumer(&self.settings.kafka, &self.group)?);
        self.assign_all(&consumer).await?;
        let lag = tokio::spawn(report_lag(consumer.clone(), shutdown.clone()));
        tracing::info!(group = %self.group, from_beginning = self.start_from_beginning, "following the master-list and ticket-sales topics");
        self.following.store(true, std::sync::atomic::Ordering::Release);

        // Next offset per partition the shop acknowledged, and what was last
        // committed to the group.
        let mut acknowledged: HashMap<(String, i32), i64> = HashMap::new();
        let mut committed = acknowledged.clone();
        let mut last_commit = Instant::now();
        loop {
            let mut batch = Batch::default();
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = consumer.recv() => m,
            };
            match first {
                Ok(m) => self.add(&mut batch, &m),
                Err(e) => {
                    tracing::warn!(error = %e, "consume error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            let deadline = tokio::time::Instant::now() + LINGER;
            while batch.len < BATCH_MAX {
                match tokio::time::timeout_at(deadline, consumer.recv()).await {
                    Ok(Ok(m)) => self.add(&mut batch, &m),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "consume error");
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !self.deliver(&batch, &shutdown).await {
                break; // shutdown before the shop acknowledged: do not commit
            }
            Self::rewind(&consumer, &batch.rewind).await;
            for ((topic, partition), next) in &batch.next {
                acknowledged.insert((topic.clone(), *partition), *next);
            }
            // Offsets go to the group at most every COMMIT_EVERY: a commit is
            // a write on the broker, and the shop's own offsets already make
            // a replay from older ones harmless.
            if acknowledged != committed && last_commit.elapsed() >= COMMIT_EVERY {
                let mut tpl = TopicPartitionList::new();
                for ((topic, partition), next) in &acknowledged {
                    tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
                }
                if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
                    tracing::warn!(error = %e, "offset commit failed; the shop's offsets keep the apply exactly-once");
                }
                committed = acknowledged.clone();
                last_commit = Instant::now();
            }
        }
        lag.abort();
        if acknowledged != committed {
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), next) in &acknowledged {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
            }
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "final offset commit failed");
            }
        }
        Ok(())
    }

    /// Assign every partition of both topics to this consumer, from the
    /// beginning (default) or from the group's committed offsets.
    ///
    /// Why assign instead of subscribing: a platform runs one consumer, so a
    /// group rebalance buys nothing, and the tansu broker can stall a
    /// rejoining member after its predecessor was killed. Why from the
    /// beginning: tansu returns nothing for a fetch that starts in the middle
    /// of a record batch and moves on to the next batch, so resuming at a
    /// committed offset inside a producer's batch would silently skip the
    /// rest of it. Reading from the beginning costs a replay (cheap: offsets
    /// the shop already applied only take a lock) and loses nothing. With
    /// Apache Kafka, `CONSUMER_START=committed` resumes where the group was.
    async fn assign_all(&self, consumer: &Arc<StreamConsumer>) -> anyhow::Result<()> {
        let c = consumer.clone();
        let topics = vec![self.settings.topics.masterlist.clone(), self.settings.topics.sales.clone()];
        // Offset 0, not `Beginning`: tansu answers offset look-ups wrongly
        // (it reported a high watermark of 1 after 200 messages), so the
        // start is named, and the gap tracker expects it.
        let start = if self.start_from_beginning { Offset::Offset(0) } else { Offset::Stored };
        let assigned = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, i32)>> {
            let mut tpl = TopicPartitionList::new();
            let mut assigned = Vec::new();
            for topic in &topics {
                let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
                for t in md.topics() {
                    for p in t.partitions() {
                        tpl.add_partition_offset(topic, p.id(), start)?;
                        assigned.push((topic.clone(), p.id()));
                    }
                }
            }
            c.assign(&tpl).context("cannot assign partitions")?;
            Ok(assigned)
        })
        .await??;
        if self.start_from_beginning {
            let mut gaps = self.gaps.lock().expect("gap tracker");
            for (topic, partition) in assigned {
                gaps.expect_from(&topic, partition, 0);
            }
        }
        Ok(())
    }

    fn add(&self, batch: &mut Batch, m: &BorrowedMessage<'_>) {
        let topic = m.topic().to_string();
        batch.len += 1;
        match self.gaps.lock().expect("gap tracker").check(&topic, m.partition(), m.offset()) {
            Verdict::Take => {}
            Verdict::Skip => return,
            Verdict::Rewind => {
                batch.rewind.insert((topic, m.partition()));
                return;
            }
        }
        let reason = if topic == self.settings.topics.masterlist {
            let (entry, reason) = decode::masterlist(m);
            batch.masterlist.messages.push(entry);
            reason
        } else if topic == self.settings.topics.sales {
            let (entry, reason) = decode::sales(m);
            if let Some(at) = entry.produced_at {
                // How long after it was produced (on any platform) a sale reached us.
                let delay = (chrono::Utc::now() - at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
                metrics::histogram!("consumer_receive_delay_seconds").record(delay);
            }
            batch.sales.messages.push(entry);
            reason
        } else {
            None
        };
        if let Some(reason) = reason {
            batch.invalid.push(Invalid {
                topic: topic.clone(),
                partition: m.partition(),
                offset: m.offset(),
                reason,
                payload: m.payload().map(|p| p[..p.len().min(4096)].to_vec()),
            });
        }
        metrics::counter!("consumer_messages_total", "topic" => topic_label(&self.settings, &topic)).increment(1);
        batch.next.insert((topic, m.partition()), m.offset() + 1);
    }

    /// Seek the partitions where the broker skipped records back to their
    /// beginning (see `gaps`).
    async fn rewind(consumer: &Arc<StreamConsumer>, partitions: &std::collections::HashSet<(String, i32)>) {
        for (topic, partition) in partitions {
            let (c, t, p) = (consumer.clone(), topic.clone(), *partition);
            let sought =
                tokio::task::spawn_blocking(move || c.seek(&t, p, Offset::Offset(0), Duration::from_secs(5))).await;
            if !matches!(sought, Ok(Ok(()))) {
                tracing::warn!(topic, partition, "rewind failed; the gap will be seen again");
            }
        }
    }

    /// Hand the batch to the shop, retrying until it acknowledges. Returns
    /// false when shutdown came first.
    async fn deliver(&self, batch: &Batch, shutdown: &CancellationToken) -> bool {
        for invalid in &batch.invalid {
            tracing::warn!(topic = %invalid.topic, partition = invalid.partition, offset = invalid.offset, reason = %invalid.reason, "skipping invalid message");
            metrics::counter!("consumer_messages_invalid_total", "topic" => topic_label(&self.settings, &invalid.topic)).increment(1);
        }
        if !batch.masterlist.messages.is_empty() {
            let ok = retry(shutdown, "master list", || async {
                self.shop.apply_masterlist(&batch.masterlist).await.map(|_| ())
            })
            .await;
            if !ok {
                return false;
            }
        }
        if !batch.sales.messages.is_empty() {
            let started = Instant::now();
            let ok = retry(shutdown, "sales", || async {
                let result = self.shop.apply_sales(&batch.sales).await?;
                metrics::counter!("consumer_sales_applied_total").increment(result.applied);
                metrics::counter!("consumer_sales_redelivered_total").increment(result.redelivered);
                if let Some(forward) = self.forward.clone() {
                    tokio::spawn(async move { forward.forward(&result.holds).await });
                }
                Ok(())
            })
            .await;
            if !ok {
                return false;
            }
            metrics::histogram!("consumer_apply_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("consumer_batch_size").record(batch.sales.messages.len() as f64);
        }
        self.record_invalid(&batch.invalid).await;
        true
    }

    async fn record_invalid(&self, invalid: &[Invalid]) {
        for i in invalid {
            let result = sqlx::query(
                "INSERT INTO invalid_messages (topic, partition, \"offset\", reason, payload) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(&i.topic)
            .bind(i.partition)
            .bind(i.offset)
            .bind(&i.reason)
            .bind(&i.payload)
            .execute(&self.pool)
            .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot record invalid message");
            }
        }
    }

    /// Read the master-list topic from the beginning up to the end it had at
    /// start. Returns false when shutdown came first.
    async fn catch_up_masterlist(&self, shutdown: &CancellationToken) -> anyhow::Result<bool> {
        let topic = self.settings.topics.masterlist.clone();
        let consumer = Arc::new(ticktak_kit::kafka::consumer(&self.settings.kafka, &self.group)?);
        let partitions = {
            let consumer = consumer.clone();
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<i32>> {
                let md = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
                Ok(md.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect())
            })
            .await??
        };
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(&topic, *p, Offset::Offset(0))?;
        }
        consumer.assign(&tpl)?;
        // The end of the topic is where nothing more arrives for a while:
        // tansu's high watermarks cannot be trusted (see `assign_all`).
        let mut total = 0usize;
        loop {
            let mut batch = Batch::default();
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(false),
                m = tokio::time::timeout(MASTERLIST_IDLE, consumer.recv()) => m,
            };
            match first {
                Err(_) => break,
                Ok(Ok(m)) => self.add(&mut batch, &m),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "consume error");
                    continue;
                }
            }
            while batch.len < BATCH_MAX {
                match tokio::time::timeout(LINGER, consumer.recv()).await {
                    Ok(Ok(m)) => self.add(&mut batch, &m),
                    _ => break,
                }
            }
            total += batch.len;
            if !self.deliver(&batch, shutdown).await {
                return Ok(false);
            }
            Self::rewind(&consumer, &batch.rewind).await;
        }
        tracing::info!(messages = total, "master list read");
        Ok(true)
    }
}

fn topic_label(settings: &Settings, topic: &str) -> &'static str {
    if topic == settings.topics.masterlist {
        "masterlist"
    } else {
        "sales"
    }
}

async fn retry<F, Fut>(shutdown: &CancellationToken, what: &str, mut call: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut backoff = Duration::from_millis(50);
    loop {
        match call().await {
            Ok(_) => return true,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), batch = what, "shop did not take the batch; retrying");
                metrics::counter!("consumer_shop_errors_total").increment(1);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Every few seconds, publish how far behind the log end the group is.
async fn report_lag(consumer: Arc<StreamConsumer>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        let c = consumer.clone();
        let lags = tokio::task::spawn_blocking(move || -> Vec<(String, i32, i64)> {
            let Ok(position) = c.position() else { return Vec::new() };
            position
                .elements()
                .iter()
                .filter_map(|e| {
                    let Offset::Offset(at) = e.offset() else { return None };
                    let (_, high) = c.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2)).ok()?;
                    Some((e.topic().to_string(), e.partition(), (high - at).max(0)))
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        for (topic, partition, lag) in lags {
            metrics::gauge!("consumer_lag_messages", "topic" => topic, "partition" => partition.to_string())
                .set(lag as f64);
        }
    }
}
