//! A batch the database refuses for its data.
//!
//! A sales or master-list batch is one transaction. When PostgreSQL refuses
//! it for the data it holds (`ticktak_kit::db::refuses_the_data`: the same
//! batch would be refused on every retry), it is applied again in halves,
//! down to the messages it refuses. Each of those is applied as an invalid
//! message (only its offset moves) and named in the answer's `refused`, so
//! shop-consumer records it and one peer's message never stops a platform.
//! Every other error (a lost connection, a deadlock) goes back to the caller,
//! which answers 500 and is asked again.

use std::collections::{BTreeMap, VecDeque};

use sqlx::PgPool;
use ticktak_contracts::ledger::{
    MasterListBatch, MasterListEntry, MasterListResult, Refused, SalesBatch, SalesBatchResult, SalesEntry,
};
use ticktak_core::{TicketCounts, TicketType};
use ticktak_kit::db::refuses_the_data;

use super::store;

/// `store::apply_sales`, isolating what the database refuses.
pub async fn apply_sales(
    pool: &PgPool,
    topic: &str,
    batch: &SalesBatch,
) -> sqlx::Result<(SalesBatchResult, Vec<(TicketType, TicketCounts)>)> {
    match store::apply_sales(pool, topic, batch).await {
        Err(e) if refuses_the_data(&e) => {}
        done => return done,
    }
    let (parts, refused) = isolate(
        &batch.messages,
        |messages| {
            let (pool, topic) = (pool.clone(), topic.to_string());
            async move { store::apply_sales(&pool, &topic, &SalesBatch { messages }).await }
        },
        |e| (e.partition, e.offset),
        |e| SalesEntry { lines: Vec::new(), hold_id: None, rehomed_from: None, ..e.clone() },
    )
    .await?;
    let mut result = SalesBatchResult { refused, ..Default::default() };
    let mut holds = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for (part, part_counts) in parts {
        result.applied += part.applied;
        result.redelivered += part.redelivered;
        result.anomalies += part.anomalies;
        result.price_mismatches += part.price_mismatches;
        result.granted += part.granted;
        result.rejected += part.rejected;
        // A later part's view of a hold or a ticket type is the newer one.
        holds.extend(part.holds.into_iter().map(|h| (h.hold_id, h)));
        counts.extend(part_counts);
    }
    result.holds = holds.into_values().collect();
    Ok((result, counts.into_iter().collect()))
}

/// `store::apply_masterlist`, isolating what the database refuses.
pub async fn apply_masterlist(pool: &PgPool, topic: &str, batch: &MasterListBatch) -> sqlx::Result<MasterListResult> {
    match store::apply_masterlist(pool, topic, batch).await {
        Err(e) if refuses_the_data(&e) => {}
        done => return done,
    }
    let (parts, refused) = isolate(
        &batch.messages,
        |messages| {
            let (pool, topic) = (pool.clone(), topic.to_string());
            async move { store::apply_masterlist(&pool, &topic, &MasterListBatch { messages }).await }
        },
        |e| (e.partition, e.offset),
        |e| MasterListEntry { content: None, ..e.clone() },
    )
    .await?;
    let mut result = MasterListResult { refused, ..Default::default() };
    for part in parts {
        result.changed += part.changed;
        result.unchanged += part.unchanged;
        result.refused.extend(part.refused);
    }
    Ok(result)
}

/// Apply `entries` in order with `apply`, halving every part the database
/// refuses for its data; a single entry refused so is applied as
/// `invalid(entry)` and reported. Returns every part's answer, in order.
async fn isolate<E: Clone, A, F: std::future::Future<Output = sqlx::Result<A>>>(
    entries: &[E],
    apply: impl Fn(Vec<E>) -> F,
    position: impl Fn(&E) -> (i32, i64),
    invalid: impl Fn(&E) -> E,
) -> sqlx::Result<(Vec<A>, Vec<Refused>)> {
    // The whole batch was just refused: start with its halves.
    let mut queue = match entries.len() {
        0 | 1 => VecDeque::from([entries.to_vec()]),
        n => VecDeque::from([entries[..n / 2].to_vec(), entries[n / 2..].to_vec()]),
    };
    let (mut answers, mut refused) = (Vec::new(), Vec::new());
    while let Some(part) = queue.pop_front() {
        match apply(part.clone()).await {
            Ok(answer) => answers.push(answer),
            Err(e) if !refuses_the_data(&e) => return Err(e),
            Err(_) if part.len() > 1 => {
                let (first, second) = part.split_at(part.len() / 2);
                queue.push_front(second.to_vec());
                queue.push_front(first.to_vec());
            }
            Err(e) => {
                let Some(entry) = part.first() else { continue };
                let (partition, offset) = position(entry);
                let reason = format!("the database refused it: {}", database_message(&e));
                tracing::warn!(partition, offset, %reason, "applying a message as invalid");
                metrics::counter!("ledger_messages_refused_total").increment(1);
                // Applied as an invalid message, it only moves the offset;
                // if even that is refused, the fault is ours: retry.
                answers.push(apply(vec![invalid(entry)]).await?);
                refused.push(Refused { partition, offset, reason });
            }
        }
    }
    Ok((answers, refused))
}

fn database_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => format!("{} ({})", d.message(), d.code().unwrap_or_default()),
        other => other.to_string(),
    }
}
