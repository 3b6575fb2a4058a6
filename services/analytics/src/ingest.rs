//! Reading the logs into the market and the lake.
//!
//! At start: the last checkpoint is loaded, lake files it does not list are
//! deleted, and the master list is read from its beginning to its end
//! (capacities before any sale). Then the sales topic (every platform's)
//! and this platform's bookings topic are read from the checkpoint's
//! positions, and the master list on from its end (corrections).
//!
//! Every `FLUSH_EVERY_MS`: the new events go to the lake as Parquet files,
//! then one transaction lists the files, marks the booking events seen and
//! saves the market with the positions it reflects (`store::checkpoint`).
//! A crash anywhere loses nothing (the logs are read again from the last
//! checkpoint) and doubles nothing (the market, the positions and the
//! manifest move together; unlisted files are removed at start).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use ticktak_contracts::analytics::BookingMessage;
use ticktak_kit::kafka::decode;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::lake::{BookingRow, SaleRow};
use crate::{store, AppState};

/// Events read since the last checkpoint.
#[derive(Default)]
struct Pending {
    sales: Vec<SaleRow>,
    bookings: Vec<BookingRow>,
    bookings_next: BTreeMap<i32, i64>,
    /// Whether anything moved since the last checkpoint.
    dirty: bool,
}

struct Topics {
    masterlist: String,
    sales: String,
    bookings: String,
}

/// Run until `shutdown`, checkpointing once more on the way out.
pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (market, bookings_next) = store::load(&state.pool).await?;
    *state.market.write().expect("not poisoned") = market;
    let listed: HashSet<String> = store::lake_files(&state.pool).await?.into_iter().map(|(p, _, _)| p).collect();
    state.lake.remove_orphans(&listed).await.context("cannot tidy the lake")?;
    let settings = &state.settings;
    let topics = Topics {
        masterlist: settings.topics.masterlist.clone(),
        sales: settings.topics.sales.clone(),
        bookings: settings.topics.bookings(settings.platform_id.as_str()),
    };
    let group = format!("ticktak-{}-analytics", settings.platform_id);
    let consumer = Arc::new(ticktak_kit::kafka::consumer(&settings.kafka, &group)?);

    let masterlist_end = read_masterlist(&state, &consumer, &topics.masterlist, &shutdown).await?;
    let applied = state.market.read().expect("not poisoned").applied();
    let sales_partitions = assign(&consumer, &topics, &masterlist_end, &applied, &bookings_next).await?;
    tracing::info!("analytics reading the sales and bookings logs");

    let mut pending = Pending { bookings_next, ..Pending::default() };
    let every = state.config.flush_every;
    let mut next_flush = Instant::now() + every;
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = tokio::time::timeout_at(next_flush, consumer.recv()) => m,
        };
        match received {
            Ok(Ok(m)) => handle(&state, &topics, sales_partitions, &m, &mut pending),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "consume error");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(_) => {}
        }
        if Instant::now() >= next_flush {
            flush(&state, &mut pending).await;
            next_flush = Instant::now() + every;
        }
    }
    flush(&state, &mut pending).await;
    Ok(())
}

fn handle(state: &AppState, topics: &Topics, sales_partitions: i32, m: &BorrowedMessage<'_>, p: &mut Pending) {
    let topic = m.topic();
    if topic == topics.sales {
        let decoded = decode::sales(m, sales_partitions, &state.settings.trust);
        if let Some(why) = &decoded.invalid {
            metrics::counter!("analytics_invalid_messages_total", "topic" => "sales").increment(1);
            tracing::debug!(offset = m.offset(), reason = %why, "invalid sales message");
        }
        let entry = decoded.entry;
        let broker_at = m.timestamp().to_millis().and_then(DateTime::from_timestamp_millis);
        let at = crate::market::sale_time(&entry, broker_at.unwrap_or_else(Utc::now));
        let mut market = state.market.write().expect("not poisoned");
        let position = ticktak_core::LogPosition { partition: entry.partition, offset: entry.offset };
        if market.ledger.is_applied(position) {
            return;
        }
        // A re-homed line is in the log once per platform that re-homed
        // it: the lake keeps the copy the ledger applies, the first.
        let copy = entry.rehomed_from.is_some_and(|o| market.ledger.has_origin(&o));
        market.apply_sale(&entry, at);
        p.dirty = true;
        if copy {
            return;
        }
        let platform = crate::market::platform_of(&entry);
        for (i, line) in entry.lines.iter().enumerate() {
            p.sales.push(SaleRow {
                partition: entry.partition,
                offset: entry.offset,
                line: i as i32,
                produced_at: at,
                platform_id: platform.clone(),
                action: line.action.as_str().to_string(),
                match_number: i32::from(line.match_number),
                category: i32::from(line.category),
                quantity: i32::from(line.quantity),
                price: line.price.min(i32::MAX as u32) as i32,
                hold_id: entry.hold_id.map(|h| h.to_string()),
            });
        }
    } else if topic == topics.bookings {
        p.bookings_next.insert(m.partition(), m.offset() + 1);
        p.dirty = true;
        let events = m
            .payload()
            .ok_or_else(|| "no body".to_string())
            .and_then(|b| serde_json::from_slice::<BookingMessage>(b).map_err(|e| e.to_string()))
            .and_then(BookingMessage::events);
        match events {
            Ok(events) => p.bookings.extend(events.into_iter().map(|event| BookingRow {
                partition: m.partition(),
                offset: m.offset(),
                event,
            })),
            Err(why) => {
                metrics::counter!("analytics_invalid_messages_total", "topic" => "bookings").increment(1);
                tracing::debug!(offset = m.offset(), reason = %why, "invalid bookings message");
            }
        }
    } else if topic == topics.masterlist {
        if let (entry, None) = decode::masterlist(m, &state.settings.trust) {
            if let Some(matched) = entry.content {
                state.market.write().expect("not poisoned").apply_match(&matched, entry.issued_at);
                p.dirty = true;
            }
        }
    }
}

/// Write what is pending to the lake and checkpoint; on failure keep it all
/// for the next try (files already written are rewritten under the same
/// names, or removed as orphans at the next start).
async fn flush(state: &AppState, p: &mut Pending) {
    if !p.dirty {
        return;
    }
    match write(state, p).await {
        Ok(()) => {
            p.sales.clear();
            p.bookings.clear();
            p.dirty = false;
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "analytics checkpoint failed; retrying"),
    }
}

async fn write(state: &AppState, p: &Pending) -> anyhow::Result<()> {
    // The outbox publishes at least once: an event seen before is not
    // written again.
    let ids: Vec<String> = p.bookings.iter().map(|b| b.event.event_id.clone()).collect();
    let mut seen = store::seen(&state.pool, &ids).await?;
    let fresh: Vec<BookingRow> = p.bookings.iter().filter(|b| seen.insert(b.event.event_id.clone())).cloned().collect();
    let mut files = state.lake.write_sales(&p.sales).await?;
    files.extend(state.lake.write_bookings(state.settings.platform_id.as_str(), &fresh).await?);
    // The whole small part, and only the rows that changed since the last
    // checkpoint; a checkpoint that fails gives them back for the next.
    let (whole, changes, rows) = {
        let mut market = state.market.write().expect("not poisoned");
        let changes = market.take_changes();
        let rows = market.rows(&changes);
        (market.whole(), changes, rows)
    };
    let fresh_ids: Vec<String> = fresh.iter().map(|b| b.event.event_id.clone()).collect();
    if let Err(e) = store::checkpoint(&state.pool, &whole, &rows, &p.bookings_next, &files, &fresh_ids).await {
        state.market.write().expect("not poisoned").give_back(changes);
        return Err(e);
    }
    metrics::counter!("analytics_lake_rows_total", "dataset" => "sales").increment(p.sales.len() as u64);
    metrics::counter!("analytics_lake_rows_total", "dataset" => "bookings").increment(fresh.len() as u64);
    Ok(())
}

/// Read the master list from its beginning to its end; returns where each
/// partition ended.
async fn read_masterlist(
    state: &AppState,
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let mut progress = ticktak_kit::kafka::ToEnd::assign(consumer, topic).await?;
    anyhow::ensure!(!progress.some_end_unknown(), "the end of the master list is unknown");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !progress.done() {
        let m = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = tokio::time::timeout_at(deadline, consumer.recv()) => m,
        };
        match m {
            Err(_) => anyhow::bail!("the master list was not read to its end within a minute"),
            Ok(Err(e)) => tracing::warn!(error = %e, "consume error"),
            Ok(Ok(m)) => {
                progress.reached(m.partition(), m.offset() + 1);
                if let (entry, None) = decode::masterlist(&m, &state.settings.trust) {
                    if let Some(matched) = entry.content {
                        state.market.write().expect("not poisoned").apply_match(&matched, entry.issued_at);
                    }
                }
            }
        }
    }
    Ok(progress.resume_at())
}

/// Assign every partition of the three topics at its resume point; returns
/// the sales topic's partition count.
async fn assign(
    consumer: &Arc<StreamConsumer>,
    topics: &Topics,
    masterlist_end: &BTreeMap<i32, i64>,
    sales_applied: &BTreeMap<i32, i64>,
    bookings_next: &BTreeMap<i32, i64>,
) -> anyhow::Result<i32> {
    let c = consumer.clone();
    let (sales, bookings, masterlist) = (topics.sales.clone(), topics.bookings.clone(), topics.masterlist.clone());
    let (masterlist_end, sales_applied, bookings_next) =
        (masterlist_end.clone(), sales_applied.clone(), bookings_next.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<i32> {
        let mut tpl = TopicPartitionList::new();
        for (p, end) in &masterlist_end {
            tpl.add_partition_offset(&masterlist, *p, Offset::Offset(*end))?;
        }
        let mut sales_partitions = 0;
        for (topic, from) in [(&sales, &sales_applied), (&bookings, &bookings_next)] {
            let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
            for p in md.topics().iter().flat_map(|t| t.partitions()) {
                let at = match topic == &sales {
                    true => from.get(&p.id()).map_or(0, |applied| applied + 1),
                    false => from.get(&p.id()).copied().unwrap_or(0),
                };
                tpl.add_partition_offset(topic, p.id(), Offset::Offset(at))?;
                if topic == &sales {
                    sales_partitions += 1;
                }
            }
        }
        anyhow::ensure!(sales_partitions > 0, "the topic {sales} has no partitions");
        c.assign(&tpl).context("cannot assign partitions")?;
        Ok(sales_partitions)
    })
    .await?
}
