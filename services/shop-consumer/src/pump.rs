//! The consume → apply → commit loop.
//!
//! 1. At start, read the master-list topic to its end (decisions depend on
//!    capacity, so no sale is applied before the list is known).
//! 2. Then follow both topics from where the shop's applied offsets end
//!    (`CONSUMER_START=applied`, the default) or from offset 0
//!    (`beginning`), with the platform's consumer group: gather a
//!    batch (up to `BATCH_MAX` messages or `LINGER`), hand it to the shop,
//!    retry until the shop acknowledges; only acknowledged offsets are
//!    committed (`commits`: at most every `COMMIT_EVERY`, and at shutdown).
//! 3. Ticket lines found off their home partition are published to it
//!    (`decode::Rehome`) before the batch goes to the shop, so a line is
//!    never acknowledged here before its copy is in the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use ticktak_contracts::ledger::{
    MasterListBatch, MasterListEntry, MasterListResult, Refused, SalesBatch, SalesBatchResult, SalesEntry,
};
use ticktak_kit::Settings;
use tokio_util::sync::CancellationToken;

use crate::commits::Committer;
use crate::decode;
use crate::forward::DecisionForwarder;
use crate::invalid::{self, Invalid};
use crate::ledger_client::{LedgerClient, Refusal};

const BATCH_MAX: usize = 1000;
/// A batch stops growing past this many bytes of message bodies, so it stays
/// far below the shop's `MAX_INTERNAL_BODY_BYTES` (16 MiB) whatever peers
/// send (a body is at most `ticktak_core::text::MAX_MESSAGE_BYTES`).
const BATCH_BYTES: usize = 1024 * 1024;
/// What an entry costs in a batch besides its body (position, headers).
const ENTRY_OVERHEAD_BYTES: usize = 256;
const LINGER: Duration = Duration::from_millis(2);
/// How often acknowledged offsets are committed to the consumer group.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// The partitions of the sales topic while only the master list is read
/// (no sales message arrives then).
const MASTERLIST_ONLY: i32 = 1;
/// The master list is read to its end, known when nothing arrives for this long.
const MASTERLIST_IDLE: Duration = Duration::from_millis(1500);

/// Where the pump starts reading the topics at start-up (`CONSUMER_START`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Right after the last offset the shop applied, per partition (the
    /// default). The shop stores its offsets in the same transaction as the
    /// effects, so this is the exact resume point: the group's committed
    /// offsets trail it by up to `COMMIT_EVERY` and are ahead of it when a
    /// platform's database was rebuilt, so they are only reported, not used.
    Applied,
    /// From offset 0 of every partition: a full replay, which the shop's
    /// offsets make harmless (a check of the whole log, or a broker that
    /// cannot resume mid-batch).
    Beginning,
}

impl Start {
    pub fn from_env(env: &ticktak_kit::config::Env<'_>) -> Result<Self, ticktak_kit::config::ConfigError> {
        match env.string("CONSUMER_START", "applied").as_str() {
            "applied" => Ok(Self::Applied),
            "beginning" => Ok(Self::Beginning),
            _ => Err(env.error("CONSUMER_START", "must be applied or beginning")),
        }
    }
}

pub struct Pump {
    settings: Settings,
    group: String,
    shop: LedgerClient,
    forward: Option<DecisionForwarder>,
    pool: PgPool,
    start: Start,
    /// Publishes re-homed ticket lines.
    producer: rdkafka::producer::FutureProducer,
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
    /// Lines to publish to their home partitions before the batch is applied.
    rehome: Vec<decode::Rehome>,
    /// Next offset to commit per (topic, partition).
    next: HashMap<(String, i32), i64>,
    len: usize,
    /// Bytes of message bodies gathered (see `BATCH_BYTES`).
    bytes: usize,
}

impl Batch {
    fn full(&self) -> bool {
        self.len >= BATCH_MAX || self.bytes >= BATCH_BYTES
    }
}

impl Pump {
    pub fn new(
        settings: Settings,
        group: String,
        shop: LedgerClient,
        forward: Option<DecisionForwarder>,
        pool: PgPool,
        start: Start,
        producer: rdkafka::producer::FutureProducer,
    ) -> Self {
        Self { settings, group, shop, forward, pool, start, producer, following: Default::default() }
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
        let Some(resumed) = self.resume_points(&shutdown).await else {
            return Ok(());
        };
        let partitions = self.assign_all(&consumer, &resumed).await?;
        let lag = tokio::spawn(report_lag(consumer.clone(), shutdown.clone()));
        tracing::info!(group = %self.group, start = ?self.start, "following the master-list and ticket-sales topics");
        self.following.store(true, std::sync::atomic::Ordering::Release);

        let committer = Committer::start(consumer.clone(), COMMIT_EVERY);
        loop {
            let mut batch = Batch::default();
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                m = consumer.recv() => m,
            };
            match first {
                Ok(m) => self.add(&mut batch, &m, partitions),
                Err(e) => {
                    tracing::warn!(error = %e, "consume error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            let deadline = tokio::time::Instant::now() + LINGER;
            while !batch.full() {
                match tokio::time::timeout_at(deadline, consumer.recv()).await {
                    Ok(Ok(m)) => self.add(&mut batch, &m, partitions),
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
            for ((topic, partition), next) in &batch.next {
                committer.acknowledge(topic, *partition, *next);
            }
        }
        lag.abort();
        committer.finish().await;
        Ok(())
    }

    /// Where each partition resumes: the offset after the last one the
    /// shop applied (`Start::Applied`), else nothing (every partition from
    /// 0). Asks the shop until it answers; `None` when shutdown came first.
    async fn resume_points(&self, shutdown: &CancellationToken) -> Option<HashMap<(String, i32), i64>> {
        if self.start == Start::Beginning {
            return Some(HashMap::new());
        }
        let applied = retry(shutdown, "applied offsets", || self.shop.applied_offsets()).await?;
        Some(applied.into_iter().map(|o| ((o.topic, o.partition), o.last_offset + 1)).collect())
    }

    /// Assign every partition of both topics to this consumer, each from its
    /// resume point (0 where there is none). Returns the number of
    /// partitions of the sales topic (where ticket types have their homes).
    ///
    /// Why assign instead of subscribing: a platform runs one consumer, so a
    /// group rebalance buys nothing. The group still receives the
    /// acknowledged offsets, so an operator's lag tools see the platform.
    async fn assign_all(
        &self,
        consumer: &Arc<StreamConsumer>,
        resume: &HashMap<(String, i32), i64>,
    ) -> anyhow::Result<i32> {
        let c = consumer.clone();
        let sales = self.settings.topics.sales.clone();
        let topics = vec![self.settings.topics.masterlist.clone(), sales.clone()];
        let resume = resume.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<i32> {
            let mut tpl = TopicPartitionList::new();
            let mut sales_partitions = 0;
            for topic in &topics {
                let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
                for t in md.topics() {
                    for p in t.partitions() {
                        let from = resume.get(&(topic.clone(), p.id())).copied().unwrap_or(0);
                        tpl.add_partition_offset(topic, p.id(), Offset::Offset(from))?;
                        if *topic == sales {
                            sales_partitions += 1;
                        }
                    }
                }
            }
            anyhow::ensure!(sales_partitions > 0, "the topic {sales} has no partitions");
            c.assign(&tpl).context("cannot assign partitions")?;
            Ok(sales_partitions)
        })
        .await?
    }

    fn add(&self, batch: &mut Batch, m: &BorrowedMessage<'_>, sales_partitions: i32) {
        let topic = m.topic().to_string();
        batch.len += 1;
        batch.bytes += m.payload().map_or(0, <[u8]>::len) + ENTRY_OVERHEAD_BYTES;
        let reason = if topic == self.settings.topics.masterlist {
            let (entry, reason) = decode::masterlist(m, &self.settings.trust);
            batch.masterlist.messages.push(entry);
            reason
        } else if topic == self.settings.topics.sales {
            let decode::DecodedSale { entry, invalid: reason, rehome } =
                decode::sales(m, sales_partitions, &self.settings.trust);
            batch.rehome.extend(rehome);
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
            batch.invalid.push(Invalid::new(&topic, m.partition(), m.offset(), reason, m.payload()));
        }
        metrics::counter!("consumer_messages_total", "topic" => topic_label(&self.settings, &topic)).increment(1);
        batch.next.insert((topic, m.partition()), m.offset() + 1);
    }

    /// Hand the batch to the shop, retrying until it acknowledges. Returns
    /// false when shutdown came first.
    async fn deliver(&self, batch: &Batch, shutdown: &CancellationToken) -> bool {
        for invalid in &batch.invalid {
            tracing::warn!(topic = %invalid.topic, partition = invalid.partition, offset = invalid.offset, reason = %invalid.reason, "skipping invalid message");
            metrics::counter!("consumer_messages_invalid_total", "topic" => topic_label(&self.settings, &invalid.topic)).increment(1);
        }
        let mut refused = Vec::new();
        if !batch.masterlist.messages.is_empty() {
            let Some(answers) = self.apply_masterlist(&batch.masterlist, shutdown).await else { return false };
            refused.extend(answers.into_iter().flat_map(|a| a.refused).map(|r| (&self.settings.topics.masterlist, r)));
        }
        if !batch.rehome.is_empty() {
            let ok = retry(shutdown, "re-homed lines", || self.publish_rehomed(&batch.rehome)).await.is_some();
            if !ok {
                return false;
            }
            metrics::counter!("consumer_lines_rehomed_total").increment(batch.rehome.len() as u64);
        }
        if !batch.sales.messages.is_empty() {
            let started = Instant::now();
            let Some(answers) = self.apply_sales(&batch.sales, shutdown).await else { return false };
            for result in answers {
                metrics::counter!("consumer_sales_applied_total").increment(result.applied);
                metrics::counter!("consumer_sales_redelivered_total").increment(result.redelivered);
                refused.extend(result.refused.iter().cloned().map(|r| (&self.settings.topics.sales, r)));
                if let Some(forward) = self.forward.clone() {
                    tokio::spawn(async move { forward.forward(&result.holds).await });
                }
            }
            metrics::histogram!("consumer_apply_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("consumer_batch_size").record(batch.sales.messages.len() as f64);
        }
        let refused = refused.into_iter().map(|(topic, r)| {
            tracing::warn!(%topic, partition = r.partition, offset = r.offset, reason = %r.reason, "the shop refused a message; skipped");
            metrics::counter!("consumer_messages_invalid_total", "topic" => topic_label(&self.settings, topic)).increment(1);
            Invalid::new(topic, r.partition, r.offset, r.reason, None)
        });
        let skipped: Vec<Invalid> = batch.invalid.iter().cloned().chain(refused).collect();
        if !skipped.is_empty() {
            invalid::record(&self.pool, &skipped).await;
        }
        true
    }

    /// The master-list part of a batch; the shop's answers, `None` when
    /// shutdown came first.
    async fn apply_masterlist(
        &self,
        batch: &MasterListBatch,
        shutdown: &CancellationToken,
    ) -> Option<Vec<MasterListResult>> {
        match retry(shutdown, "master list", || self.shop.apply_masterlist(batch)).await? {
            Ok(answer) => Some(vec![answer]),
            Err(refusal) => {
                let (mut answers, refused) = in_parts(
                    shutdown,
                    refusal,
                    batch.messages.clone(),
                    |messages| {
                        let shop = self.shop.clone();
                        async move { shop.apply_masterlist(&MasterListBatch { messages }).await }
                    },
                    |e| {
                        e.content
                            .is_some()
                            .then(|| (MasterListEntry { content: None, ..e.clone() }, (e.partition, e.offset)))
                    },
                )
                .await?;
                answers.push(MasterListResult { refused, ..Default::default() });
                Some(answers)
            }
        }
    }

    /// The sales part of a batch; the shop's answers, `None` when shutdown
    /// came first.
    async fn apply_sales(&self, batch: &SalesBatch, shutdown: &CancellationToken) -> Option<Vec<SalesBatchResult>> {
        match retry(shutdown, "sales", || self.shop.apply_sales(batch)).await? {
            Ok(answer) => Some(vec![answer]),
            Err(refusal) => {
                let (mut answers, refused) = in_parts(
                    shutdown,
                    refusal,
                    batch.messages.clone(),
                    |messages| {
                        let shop = self.shop.clone();
                        async move { shop.apply_sales(&SalesBatch { messages }).await }
                    },
                    |e| {
                        let empty = e.lines.is_empty() && e.hold_id.is_none() && e.rehomed_from.is_none();
                        let emptied = SalesEntry { lines: Vec::new(), hold_id: None, rehomed_from: None, ..e.clone() };
                        (!empty).then_some((emptied, (e.partition, e.offset)))
                    },
                )
                .await?;
                answers.push(SalesBatchResult { refused, ..Default::default() });
                Some(answers)
            }
        }
    }

    /// Publish every re-homed line to its home partition and wait for the
    /// broker's acknowledgements.
    async fn publish_rehomed(&self, lines: &[decode::Rehome]) -> anyhow::Result<()> {
        let topic = &self.settings.topics.sales;
        let sends = lines.iter().map(|r| async move {
            // Signed by this platform as the re-homer: every platform's copy
            // of a line says the same, and only an approved platform's copy
            // may claim an origin.
            let mut headers = r.headers.clone();
            headers.rehomed_by = Some(self.settings.platform_id.clone());
            self.settings.trust.sign(&mut headers, &r.payload);
            let headers = headers.to_pairs();
            let record = ticktak_kit::kafka::Record { topic, key: &r.key, payload: &r.payload, headers: &headers };
            ticktak_kit::kafka::send_to_partition(&self.producer, &record, r.partition).await
        });
        for sent in futures::future::join_all(sends).await {
            sent?;
        }
        Ok(())
    }

    /// Read the master-list topic from the beginning up to the end it had at
    /// start: its high watermarks, or, where the broker cannot tell them,
    /// the point after which nothing arrives for `MASTERLIST_IDLE`. Returns
    /// false when shutdown came first.
    async fn catch_up_masterlist(&self, shutdown: &CancellationToken) -> anyhow::Result<bool> {
        let topic = self.settings.topics.masterlist.clone();
        let consumer = Arc::new(ticktak_kit::kafka::consumer(&self.settings.kafka, &self.group)?);
        // Where a partition's end is unknown, only a quiet spell tells it.
        let mut progress = ticktak_kit::kafka::ToEnd::assign(&consumer, &topic).await?;
        let mut total = 0usize;
        while !progress.done() {
            let mut batch = Batch::default();
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(false),
                m = tokio::time::timeout(MASTERLIST_IDLE, consumer.recv()) => m,
            };
            match first {
                Err(_) => break,
                Ok(Ok(m)) => self.add(&mut batch, &m, MASTERLIST_ONLY),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "consume error");
                    continue;
                }
            }
            while !batch.full() {
                match tokio::time::timeout(LINGER, consumer.recv()).await {
                    Ok(Ok(m)) => self.add(&mut batch, &m, MASTERLIST_ONLY),
                    _ => break,
                }
            }
            total += batch.len;
            if !self.deliver(&batch, shutdown).await {
                return Ok(false);
            }
            for ((_, partition), n) in &batch.next {
                progress.reached(*partition, *n);
            }
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

/// Call until it succeeds; `None` when shutdown came first.
async fn retry<T, F, Fut>(shutdown: &CancellationToken, what: &str, mut call: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut backoff = Duration::from_millis(50);
    loop {
        match call().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), batch = what, "shop did not take the batch; retrying");
                metrics::counter!("consumer_shop_errors_total").increment(1);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// The path of a batch the shop refused for what it holds (too large, or a
/// body it cannot read): it is handed over in halves, and a single message
/// it refuses is handed over as `emptied(message)` — invalid, so only its
/// offset moves — and reported, with why, for the `invalid_messages` table.
/// A message that is refused even emptied is this platform's fault, not the
/// peer's: it is retried (every second) and logged, never skipped.
/// `None` when shutdown came first.
async fn in_parts<E: Clone, R, F: std::future::Future<Output = anyhow::Result<Result<R, Refusal>>>>(
    shutdown: &CancellationToken,
    first: Refusal,
    messages: Vec<E>,
    apply: impl Fn(Vec<E>) -> F,
    emptied: impl Fn(&E) -> Option<(E, (i32, i64))>,
) -> Option<(Vec<R>, Vec<Refused>)> {
    tracing::warn!(status = first.status, message = %first.message, messages = messages.len(), "the shop refused a batch; handing it over in parts");
    metrics::counter!("consumer_batches_split_total").increment(1);
    let (mut answers, mut refused) = (Vec::new(), Vec::new());
    let mut queue = std::collections::VecDeque::new();
    if messages.len() > 1 {
        let (a, b) = messages.split_at(messages.len() / 2);
        queue.extend([a.to_vec(), b.to_vec()]);
    } else {
        queue.push_back(messages);
    }
    // A single message refused whole is emptied without asking again.
    let mut known = (queue.len() == 1).then_some(first);
    while let Some(part) = queue.pop_front() {
        let answer = match known.take() {
            Some(refusal) => Err(refusal),
            None => retry(shutdown, "a part of a refused batch", || apply(part.clone())).await?,
        };
        match answer {
            Ok(answer) => answers.push(answer),
            Err(_) if part.len() > 1 => {
                let (a, b) = part.split_at(part.len() / 2);
                queue.push_front(b.to_vec());
                queue.push_front(a.to_vec());
            }
            Err(refusal) => match part.first().and_then(&emptied) {
                Some((empty, (partition, offset))) => {
                    let reason = format!("the shop refused it: {} {}", refusal.status, refusal.message);
                    refused.push(Refused { partition, offset, reason });
                    queue.push_front(vec![empty]);
                }
                None => {
                    tracing::error!(status = refusal.status, message = %refusal.message, "the shop refuses an empty message; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    queue.push_front(part);
                }
            },
        }
    }
    Some((answers, refused))
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A message of the test: its offset, and whether it was emptied.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Message {
        offset: i64,
        emptied: bool,
    }

    fn refusal(status: u16) -> Refusal {
        Refusal { status, message: "no".into() }
    }

    #[tokio::test]
    async fn a_refused_batch_goes_over_in_parts_and_only_the_refused_message_is_skipped() {
        // A shop that takes at most 4 messages a request (413 beyond) and
        // refuses message 13 unless it is emptied (422).
        let taken = Mutex::new(Vec::new());
        let shop = |part: Vec<Message>| {
            let answer = if part.len() > 4 {
                Err(refusal(413))
            } else if part.iter().any(|m| m.offset == 13 && !m.emptied) {
                Err(refusal(422))
            } else {
                taken.lock().unwrap().extend(part.iter().copied());
                Ok(part.len())
            };
            async move { Ok(answer) }
        };
        let messages: Vec<Message> = (0..20).map(|offset| Message { offset, emptied: false }).collect();
        let emptied = |m: &Message| (!m.emptied).then_some((Message { emptied: true, ..*m }, (0, m.offset)));
        let (answers, refused) =
            in_parts(&CancellationToken::new(), refusal(413), messages, shop, emptied).await.unwrap();

        let taken = taken.into_inner().unwrap();
        assert_eq!(taken.iter().map(|m| m.offset).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>(), "in order, once");
        assert_eq!(taken.iter().filter(|m| m.emptied).map(|m| m.offset).collect::<Vec<_>>(), [13]);
        assert_eq!(answers.iter().sum::<usize>(), 20);
        assert_eq!(refused.len(), 1);
        assert_eq!((refused[0].partition, refused[0].offset), (0, 13));
        assert!(refused[0].reason.contains("422"), "{}", refused[0].reason);
    }
}
