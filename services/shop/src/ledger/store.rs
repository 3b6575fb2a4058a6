//! Applying batches of the logs to Postgres. A sales batch is one
//! transaction: lock the partitions' offsets, load the ticket types and holds
//! the batch touches into a `ticktak_core::Ledger`, apply the rule there,
//! write back the changed rows and the new offsets.

use std::collections::{BTreeSet, HashMap};

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use ticktak_core::ledger::{Hold, HoldStatus, LedgerOp, LineOrigin, LogPosition, Outcome};
use ticktak_core::{
    Action, BuyerId, Category, Decision, HoldId, Ledger, MatchNumber, PlatformId, Quantity, TicketCounts, TicketType,
};
use uuid::Uuid;

use crate::search::normalize;
use ticktak_contracts::ledger::{
    AppliedOffset, HoldPosition, HoldView, LedgerSnapshot, MasterListBatch, MasterListResult, Refused, SalesBatch,
    SalesBatchResult, SalesLine, TypeCounts,
};

pub fn counts_from_row(r: &PgRow) -> TicketCounts {
    TicketCounts {
        capacity: r.get::<i32, _>("capacity") as u32,
        held: r.get::<i32, _>("held") as u32,
        sold: r.get::<i32, _>("sold") as u32,
        anonymous_held: r.get::<i32, _>("anonymous_held") as u32,
        anonymous_credit: r.get::<i32, _>("anonymous_credit") as u32,
        anomalies: r.get::<i32, _>("anomalies") as u32,
    }
}

fn status_text(s: HoldStatus) -> &'static str {
    match s {
        HoldStatus::Granted => "GRANTED",
        HoldStatus::Rejected => "REJECTED",
        HoldStatus::Confirmed => "CONFIRMED",
        HoldStatus::Released => "RELEASED",
        HoldStatus::Refunded => "REFUNDED",
    }
}

fn status_from_text(s: &str) -> HoldStatus {
    match s {
        "GRANTED" => HoldStatus::Granted,
        "CONFIRMED" => HoldStatus::Confirmed,
        "RELEASED" => HoldStatus::Released,
        "REFUNDED" => HoldStatus::Refunded,
        _ => HoldStatus::Rejected,
    }
}

/// Ensure offset rows exist for `partitions` and lock them; returns the
/// last applied offset of each (-1 when nothing was applied yet).
async fn lock_offsets(
    tx: &mut Transaction<'_, Postgres>,
    topic: &str,
    partitions: &[i32],
) -> sqlx::Result<HashMap<i32, i64>> {
    sqlx::query(
        "INSERT INTO applied_offsets (topic, partition, last_offset) \
         SELECT $1, p, -1 FROM UNNEST($2::int[]) AS p ON CONFLICT DO NOTHING",
    )
    .bind(topic)
    .bind(partitions)
    .execute(&mut **tx)
    .await?;
    let rows = sqlx::query(
        "SELECT partition, last_offset FROM applied_offsets \
         WHERE topic = $1 AND partition = ANY($2) ORDER BY partition FOR UPDATE",
    )
    .bind(topic)
    .bind(partitions)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.iter().map(|r| (r.get("partition"), r.get("last_offset"))).collect())
}

async fn store_offsets(
    tx: &mut Transaction<'_, Postgres>,
    topic: &str,
    offsets: &HashMap<i32, i64>,
) -> sqlx::Result<()> {
    let (partitions, last): (Vec<i32>, Vec<i64>) = offsets.iter().map(|(p, o)| (*p, *o)).unzip();
    sqlx::query(
        "UPDATE applied_offsets AS a SET last_offset = u.o \
         FROM UNNEST($2::int[], $3::bigint[]) AS u(p, o) \
         WHERE a.topic = $1 AND a.partition = u.p AND u.o > a.last_offset",
    )
    .bind(topic)
    .bind(&partitions)
    .bind(&last)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn partitions_of(positions: impl Iterator<Item = i32>) -> Vec<i32> {
    positions.collect::<BTreeSet<_>>().into_iter().collect()
}

pub async fn apply_masterlist(pool: &PgPool, topic: &str, batch: &MasterListBatch) -> sqlx::Result<MasterListResult> {
    let mut tx = pool.begin().await?;
    let mut last = lock_offsets(&mut tx, topic, &partitions_of(batch.messages.iter().map(|m| m.partition))).await?;
    let mut result = MasterListResult::default();
    for entry in &batch.messages {
        let seen = last.get(&entry.partition).copied().unwrap_or(-1);
        if entry.offset <= seen {
            result.unchanged += 1;
            continue;
        }
        last.insert(entry.partition, entry.offset);
        let Some(m) = &entry.content else { continue };
        if let Some((known, known_issued_at)) = stored_match(&mut tx, m.match_number).await? {
            // Only the organisers move, reprice or resize a match, and only
            // with a message newer than the one in force.
            if let Err(reason) = known.replaced_by(known_issued_at, m, entry.issued_at) {
                tracing::warn!(partition = entry.partition, offset = entry.offset, %reason, "master-list message refused");
                metrics::counter!("ledger_masterlist_corrections_refused_total").increment(1);
                result.refused.push(Refused { partition: entry.partition, offset: entry.offset, reason });
                result.unchanged += 1;
                continue;
            }
            if let Some(change) = known.frozen_change(m) {
                tracing::info!(match_number = m.match_number.get(), %change, "the organisers corrected the master list");
                metrics::counter!("ledger_masterlist_corrections_total").increment(1);
            }
        }
        let source = serde_json::to_value(m).expect("a match serialises");
        let changed = sqlx::query(
            "INSERT INTO matches (match_number, round_number, date_utc, location, home_team, away_team, group_name, search_text, source, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (match_number) DO UPDATE SET round_number = EXCLUDED.round_number, date_utc = EXCLUDED.date_utc, \
               location = EXCLUDED.location, home_team = EXCLUDED.home_team, away_team = EXCLUDED.away_team, \
               group_name = EXCLUDED.group_name, search_text = EXCLUDED.search_text, source = EXCLUDED.source, \
               issued_at = coalesce(EXCLUDED.issued_at, matches.issued_at) \
             WHERE (matches.source, matches.issued_at) IS DISTINCT FROM (EXCLUDED.source, coalesce(EXCLUDED.issued_at, matches.issued_at))",
        )
        .bind(i16::from(m.match_number.get()))
        .bind(i16::from(m.round_number))
        .bind(m.date_utc)
        .bind(&m.location)
        .bind(&m.home_team)
        .bind(&m.away_team)
        .bind(&m.group)
        .bind(normalize(&format!("{} {} {}", m.home_team, m.away_team, m.location)))
        .bind(&source)
        .bind(entry.issued_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for (tt, capacity, price) in m.ticket_types() {
            // A correction replaces capacity and price and keeps the counts.
            sqlx::query(
                "INSERT INTO ticket_types (match_number, category, price, capacity) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (match_number, category) DO UPDATE SET price = EXCLUDED.price, capacity = EXCLUDED.capacity \
                 WHERE (ticket_types.price, ticket_types.capacity) IS DISTINCT FROM (EXCLUDED.price, EXCLUDED.capacity)",
            )
            .bind(i16::from(tt.match_number.get()))
            .bind(i16::from(tt.category.get()))
            .bind(price.get() as i32)
            .bind(capacity.min(i32::MAX as u32) as i32)
            .execute(&mut *tx)
            .await?;
        }
        if changed > 0 {
            result.changed += 1;
        } else {
            result.unchanged += 1;
        }
    }
    store_offsets(&mut tx, topic, &last).await?;
    tx.commit().await?;
    Ok(result)
}

/// The master-list message in force for a match, if any, and when the
/// organisers issued it. A stored message is one this code accepted, so it
/// reads back; if it does not, applying more of the list would be a guess.
async fn stored_match(
    tx: &mut Transaction<'_, Postgres>,
    match_number: MatchNumber,
) -> sqlx::Result<Option<(ticktak_core::MasterListMatch, Option<chrono::DateTime<chrono::Utc>>)>> {
    let row: Option<(serde_json::Value, Option<chrono::DateTime<chrono::Utc>>)> =
        sqlx::query_as("SELECT source, issued_at FROM matches WHERE match_number = $1")
            .bind(i16::from(match_number.get()))
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(source, issued_at)| {
        serde_json::from_value(source).map(|m| (m, issued_at)).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    })
    .transpose()
}

/// Apply a batch; returns the answer for shop-consumer and the new counters
/// of the ticket types it touched. One transaction: lock the partitions'
/// offsets, load what the batch touches, apply the rule, write back.
pub async fn apply_sales(
    pool: &PgPool,
    topic: &str,
    batch: &SalesBatch,
) -> sqlx::Result<(SalesBatchResult, Vec<(TicketType, TicketCounts)>)> {
    let ops: Vec<Vec<LedgerOp>> = batch.messages.iter().map(|e| e.ops().unwrap_or_default()).collect();
    let types: BTreeSet<TicketType> = ops.iter().flatten().map(|op| op.ticket_type).collect();
    let hold_ids: Vec<HoldId> =
        batch.messages.iter().filter_map(|e| e.hold_id).collect::<BTreeSet<_>>().into_iter().collect();

    let mut tx = pool.begin().await?;
    let offsets = lock_offsets(&mut tx, topic, &partitions_of(batch.messages.iter().map(|m| m.partition))).await?;
    let mut loaded = Loaded::default();
    for (p, o) in &offsets {
        loaded.ledger.insert_applied(*p, *o);
    }
    load_types(&mut tx, &types, &mut loaded).await?;
    load_holds(&mut tx, &hold_ids, &mut loaded).await?;
    load_buyers(&mut tx, &ops, &mut loaded).await?;
    load_origins(&mut tx, batch, &mut loaded).await?;

    let (mut result, produced_at) = apply_batch(&mut loaded, batch, &ops);

    write_counts(&mut tx, &loaded).await?;
    write_holds(&mut tx, &loaded, &produced_at).await?;
    write_origins(&mut tx, &loaded).await?;
    store_offsets(&mut tx, topic, &loaded.ledger.applied().collect()).await?;
    tx.commit().await?;

    let ledger = &loaded.ledger;
    result.holds = hold_ids.iter().filter_map(|id| ledger.hold(*id).map(|hold| view(*id, hold))).collect();
    let counts = loaded.types.iter().filter_map(|tt| ledger.counts(*tt).map(|c| (*tt, *c))).collect();
    Ok((result, counts))
}

/// The part of the ledger a batch touches, as loaded from storage.
#[derive(Default)]
struct Loaded {
    ledger: Ledger,
    /// The ticket types loaded (locked), in lock order.
    types: Vec<TicketType>,
    /// The master list's unit price of each loaded ticket type.
    prices: HashMap<TicketType, u32>,
    /// Each loaded hold's status before the batch: only changed holds are
    /// written back.
    hold_status_before: HashMap<HoldId, HoldStatus>,
    /// Origins of re-homed lines applied before the batch: only new ones
    /// are written back.
    origins_before: BTreeSet<LineOrigin>,
}

/// Lock and load the counters and prices of `types`.
async fn load_types(
    tx: &mut Transaction<'_, Postgres>,
    types: &BTreeSet<TicketType>,
    loaded: &mut Loaded,
) -> sqlx::Result<()> {
    let (ms, cs): (Vec<i16>, Vec<i16>) =
        types.iter().map(|t| (i16::from(t.match_number.get()), i16::from(t.category.get()))).unzip();
    let rows = sqlx::query(
        "SELECT match_number, category, capacity, price, held, sold, anonymous_held, anonymous_credit, anomalies FROM ticket_types \
         WHERE (match_number, category) IN (SELECT * FROM UNNEST($1::smallint[], $2::smallint[])) \
         ORDER BY match_number, category FOR UPDATE",
    )
    .bind(&ms)
    .bind(&cs)
    .fetch_all(&mut **tx)
    .await?;
    for r in &rows {
        let tt = type_of_row(r);
        loaded.ledger.insert_counts(tt, counts_from_row(r));
        loaded.types.push(tt);
        loaded.prices.insert(tt, r.get::<i32, _>("price") as u32);
    }
    Ok(())
}

/// Load the holds the batch mentions.
async fn load_holds(tx: &mut Transaction<'_, Postgres>, ids: &[HoldId], loaded: &mut Loaded) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = ids.iter().map(|h| h.0).collect();
    let rows = sqlx::query(
        "SELECT hold_id, match_number, category, quantity, status, origin, buyer FROM holds WHERE hold_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    for r in &rows {
        let id = HoldId(r.get("hold_id"));
        let hold = hold_of_row(r);
        loaded.hold_status_before.insert(id, hold.status);
        loaded.ledger.insert_hold(id, hold);
    }
    Ok(())
}

/// Load the granted and confirmed tickets of each buyer a `PENDING` of the
/// batch names, per match over its categories (the market's cap per buyer).
async fn load_buyers(
    tx: &mut Transaction<'_, Postgres>,
    ops: &[Vec<LedgerOp>],
    loaded: &mut Loaded,
) -> sqlx::Result<()> {
    let wanted: BTreeSet<(MatchNumber, BuyerId)> = ops
        .iter()
        .flatten()
        .filter(|op| op.action == Action::TicketPending)
        .filter_map(|op| Some((op.ticket_type.match_number, op.buyer?)))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let (ms, bs): (Vec<i16>, Vec<String>) = wanted.iter().map(|(m, b)| (i16::from(m.get()), b.to_string())).unzip();
    let rows = sqlx::query(
        "SELECT match_number, buyer, sum(quantity)::int AS tickets FROM holds \
         WHERE (buyer, match_number) IN (SELECT b, m FROM UNNEST($1::smallint[], $2::text[]) AS u(m, b)) \
           AND buyer IS NOT NULL AND status IN ('GRANTED', 'CONFIRMED') \
         GROUP BY match_number, buyer",
    )
    .bind(&ms)
    .bind(&bs)
    .fetch_all(&mut **tx)
    .await?;
    for r in &rows {
        if let Ok(buyer) = BuyerId::parse(r.get("buyer")) {
            loaded.ledger.insert_buyer_tickets(match_of_row(r), buyer, r.get::<i32, _>("tickets").max(0) as u32);
        }
    }
    Ok(())
}

/// Load which of the batch's re-homed lines were applied before.
async fn load_origins(tx: &mut Transaction<'_, Postgres>, batch: &SalesBatch, loaded: &mut Loaded) -> sqlx::Result<()> {
    let origins: Vec<LineOrigin> = batch.messages.iter().filter_map(|e| e.rehomed_from).collect();
    if origins.is_empty() {
        return Ok(());
    }
    let partitions: Vec<i32> = origins.iter().map(|o| o.partition).collect();
    let offsets: Vec<i64> = origins.iter().map(|o| o.offset).collect();
    let lines: Vec<i16> = origins.iter().map(|o| o.line as i16).collect();
    let rows = sqlx::query(
        "SELECT r.partition, r.\"offset\", r.line FROM rehomed_lines r \
         JOIN UNNEST($1::int[], $2::bigint[], $3::smallint[]) AS u(p, o, l) \
           ON r.partition = u.p AND r.\"offset\" = u.o AND r.line = u.l",
    )
    .bind(&partitions)
    .bind(&offsets)
    .bind(&lines)
    .fetch_all(&mut **tx)
    .await?;
    for r in &rows {
        let origin =
            LineOrigin { partition: r.get("partition"), offset: r.get("offset"), line: r.get::<i16, _>("line") as u16 };
        loaded.ledger.insert_origin(origin);
        loaded.origins_before.insert(origin);
    }
    Ok(())
}

/// Remember the origins of the re-homed lines this batch applied.
async fn write_origins(tx: &mut Transaction<'_, Postgres>, loaded: &Loaded) -> sqlx::Result<()> {
    let origins: Vec<&LineOrigin> = loaded.ledger.origins().filter(|o| !loaded.origins_before.contains(o)).collect();
    if origins.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rehomed_lines (partition, \"offset\", line) \
         SELECT * FROM UNNEST($1::int[], $2::bigint[], $3::smallint[]) ON CONFLICT DO NOTHING",
    )
    .bind(origins.iter().map(|o| o.partition).collect::<Vec<_>>())
    .bind(origins.iter().map(|o| o.offset).collect::<Vec<_>>())
    .bind(origins.iter().map(|o| o.line as i16).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the batch says of each hold it touched: when its first message in
/// the batch was produced, where that message is, and where its last one is.
#[derive(Debug, Clone, Copy)]
struct Seen {
    produced_at: Option<chrono::DateTime<chrono::Utc>>,
    partition: i32,
    first_offset: i64,
    last_offset: i64,
}

type ProducedAt = HashMap<HoldId, Seen>;

/// Apply every message with the rule, tallying the answer.
fn apply_batch(loaded: &mut Loaded, batch: &SalesBatch, ops: &[Vec<LedgerOp>]) -> (SalesBatchResult, ProducedAt) {
    let mut result = SalesBatchResult::default();
    let mut produced_at = ProducedAt::new();
    for (entry, ops) in batch.messages.iter().zip(ops) {
        let outcomes = loaded.ledger.apply(LogPosition { partition: entry.partition, offset: entry.offset }, ops);
        if outcomes.first() == Some(&Outcome::Redelivered) {
            result.redelivered += 1;
        } else {
            result.applied += 1;
            result.price_mismatches += entry.lines.iter().filter(|l| price_differs(&loaded.prices, l)).count() as u64;
        }
        result.anomalies += outcomes.iter().filter(|o| o.anomaly().is_some()).count() as u64;
        for o in &outcomes {
            match o {
                Outcome::Decided { decision: Decision::Granted } => result.granted += 1,
                Outcome::Decided { decision: Decision::Rejected } => result.rejected += 1,
                _ => {}
            }
        }
        if let Some(h) = entry.hold_id {
            produced_at.entry(h).and_modify(|seen| seen.last_offset = entry.offset).or_insert(Seen {
                produced_at: entry.produced_at,
                partition: entry.partition,
                first_offset: entry.offset,
                last_offset: entry.offset,
            });
        }
    }
    (result, produced_at)
}

/// Whether a line states a price other than the master list's.
fn price_differs(prices: &HashMap<TicketType, u32>, line: &SalesLine) -> bool {
    let (Ok(m), Ok(c)) = (MatchNumber::new(i64::from(line.match_number)), Category::new(i64::from(line.category)))
    else {
        return false;
    };
    prices.get(&TicketType::new(m, c)).is_some_and(|p| *p != line.price)
}

/// Write back the counters of the loaded ticket types that changed.
async fn write_counts(tx: &mut Transaction<'_, Postgres>, loaded: &Loaded) -> sqlx::Result<()> {
    #[derive(Default)]
    struct Columns {
        match_number: Vec<i16>,
        category: Vec<i16>,
        held: Vec<i32>,
        sold: Vec<i32>,
        anonymous_held: Vec<i32>,
        anonymous_credit: Vec<i32>,
        anomalies: Vec<i32>,
    }
    let mut c = Columns::default();
    for tt in &loaded.types {
        let counts = loaded.ledger.counts(*tt).expect("loaded");
        c.match_number.push(i16::from(tt.match_number.get()));
        c.category.push(i16::from(tt.category.get()));
        c.held.push(counts.held as i32);
        c.sold.push(counts.sold as i32);
        c.anonymous_held.push(counts.anonymous_held as i32);
        c.anonymous_credit.push(counts.anonymous_credit as i32);
        c.anomalies.push(counts.anomalies as i32);
    }
    sqlx::query(
        "UPDATE ticket_types AS t SET held = u.held, sold = u.sold, anonymous_held = u.anon, anonymous_credit = u.credit, \
           anomalies = u.anom \
         FROM UNNEST($1::smallint[], $2::smallint[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[]) \
           AS u(m, c, held, sold, anon, credit, anom) \
         WHERE t.match_number = u.m AND t.category = u.c \
           AND (t.held, t.sold, t.anonymous_held, t.anonymous_credit, t.anomalies) \
               IS DISTINCT FROM (u.held, u.sold, u.anon, u.credit, u.anom)",
    )
    .bind(&c.match_number)
    .bind(&c.category)
    .bind(&c.held)
    .bind(&c.sold)
    .bind(&c.anonymous_held)
    .bind(&c.anonymous_credit)
    .bind(&c.anomalies)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Insert new holds and update those whose status changed.
async fn write_holds(
    tx: &mut Transaction<'_, Postgres>,
    loaded: &Loaded,
    produced_at: &ProducedAt,
) -> sqlx::Result<()> {
    #[derive(Default)]
    struct Columns {
        hold_id: Vec<Uuid>,
        match_number: Vec<i16>,
        category: Vec<i16>,
        quantity: Vec<i16>,
        status: Vec<&'static str>,
        origin: Vec<Option<String>>,
        produced_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
        buyer: Vec<Option<String>>,
        partition: Vec<Option<i32>>,
        first_offset: Vec<Option<i64>>,
        last_offset: Vec<Option<i64>>,
    }
    let mut c = Columns::default();
    for (id, hold) in loaded.ledger.holds() {
        if loaded.hold_status_before.get(id) == Some(&hold.status) {
            continue;
        }
        c.hold_id.push(id.0);
        c.match_number.push(i16::from(hold.ticket_type.match_number.get()));
        c.category.push(i16::from(hold.ticket_type.category.get()));
        c.quantity.push(i16::from(hold.quantity.get()));
        c.status.push(status_text(hold.status));
        c.origin.push(hold.owner.as_ref().map(|o| o.as_str().to_string()));
        let seen = produced_at.get(id);
        c.produced_at.push(seen.and_then(|s| s.produced_at));
        c.partition.push(seen.map(|s| s.partition));
        c.first_offset.push(seen.map(|s| s.first_offset));
        c.last_offset.push(seen.map(|s| s.last_offset));
        c.buyer.push(hold.buyer.map(|b| b.to_string()));
    }
    if c.hold_id.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO holds (hold_id, match_number, category, quantity, status, origin, produced_at, buyer, \
           log_partition, decided_offset, last_offset) \
         SELECT * FROM UNNEST($1::uuid[], $2::smallint[], $3::smallint[], $4::smallint[], $5::text[], $6::text[], \
           $7::timestamptz[], $8::text[], $9::int[], $10::bigint[], $11::bigint[]) \
         ON CONFLICT (hold_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now(), \
           last_offset = coalesce(EXCLUDED.last_offset, holds.last_offset)",
    )
    .bind(&c.hold_id)
    .bind(&c.match_number)
    .bind(&c.category)
    .bind(&c.quantity)
    .bind(&c.status)
    .bind(&c.origin)
    .bind(&c.produced_at)
    .bind(&c.buyer)
    .bind(&c.partition)
    .bind(&c.first_offset)
    .bind(&c.last_offset)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn match_of_row(r: &PgRow) -> MatchNumber {
    MatchNumber::new(i64::from(r.get::<i16, _>("match_number"))).expect("checked by the schema")
}

fn type_of_row(r: &PgRow) -> TicketType {
    TicketType::new(
        match_of_row(r),
        Category::new(i64::from(r.get::<i16, _>("category"))).expect("checked by the schema"),
    )
}

fn hold_of_row(r: &PgRow) -> Hold {
    Hold {
        ticket_type: type_of_row(r),
        quantity: Quantity::new(i64::from(r.get::<i16, _>("quantity"))).expect("checked by the schema"),
        status: status_from_text(r.get("status")),
        owner: r.get::<Option<String>, _>("origin").and_then(|o| PlatformId::new(o).ok()),
        // Loaded for the holds a batch closes; the views leave it out.
        buyer: r.try_get::<Option<String>, _>("buyer").ok().flatten().and_then(|b| BuyerId::parse(&b).ok()),
    }
}

fn view(id: HoldId, hold: &Hold) -> HoldView {
    HoldView {
        hold_id: id,
        match_number: hold.ticket_type.match_number.get(),
        category: hold.ticket_type.category.get(),
        quantity: hold.quantity.get(),
        status: hold.status,
        origin: hold.owner.as_ref().map(|o| o.as_str().to_string()),
        position: None,
    }
}

/// A hold's view with where the log decided it (holds applied before the
/// positions were kept have none).
fn view_of_row(id: HoldId, r: &PgRow) -> HoldView {
    let position = match (r.get::<Option<i32>, _>("log_partition"), r.get::<Option<i64>, _>("decided_offset")) {
        (Some(partition), Some(decided_offset)) => Some(HoldPosition {
            partition,
            decided_offset,
            last_offset: r.get::<Option<i64>, _>("last_offset").unwrap_or(decided_offset),
        }),
        _ => None,
    };
    HoldView { position, ..view(id, &hold_of_row(r)) }
}

/// The holds among `ids` the ledger has applied.
pub async fn holds(pool: &PgPool, ids: &[HoldId]) -> sqlx::Result<Vec<HoldView>> {
    let ids: Vec<Uuid> = ids.iter().map(|h| h.0).collect();
    let rows = sqlx::query(
        "SELECT hold_id, match_number, category, quantity, status, origin, log_partition, decided_offset, last_offset \
         FROM holds WHERE hold_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| view_of_row(HoldId(r.get("hold_id")), r)).collect())
}

pub async fn hold(pool: &PgPool, id: HoldId) -> sqlx::Result<Option<HoldView>> {
    let row = sqlx::query(
        "SELECT hold_id, match_number, category, quantity, status, origin, log_partition, decided_offset, last_offset \
         FROM holds WHERE hold_id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| view_of_row(id, &r)))
}

/// The whole ledger, read in one consistent snapshot (counters, holds and
/// offsets all as of the same committed batch).
pub async fn snapshot(pool: &PgPool) -> sqlx::Result<LedgerSnapshot> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let rows = sqlx::query(
        "SELECT match_number, category, capacity, held, sold, anonymous_held, anonymous_credit, anomalies FROM ticket_types ORDER BY match_number, category",
    )
    .fetch_all(&mut *tx)
    .await?;
    let types = rows
        .iter()
        .map(|r| {
            let c = counts_from_row(r);
            TypeCounts {
                match_number: r.get::<i16, _>("match_number") as u8,
                category: r.get::<i16, _>("category") as u8,
                capacity: c.capacity,
                held: c.held,
                sold: c.sold,
                anonymous_held: c.anonymous_held,
                anonymous_credit: c.anonymous_credit,
                anomalies: c.anomalies,
            }
        })
        .collect();
    let row = sqlx::query(
        "SELECT md5( \
           coalesce((SELECT string_agg(format('%s-%s:%s/%s/%s/%s/%s/%s', match_number, category, capacity, held, sold, anonymous_held, anonymous_credit, anomalies), ',' ORDER BY match_number, category) FROM ticket_types), '') \
           || '|' || \
           coalesce((SELECT string_agg(format('%s:%s-%s:%s:%s', hold_id, match_number, category, quantity, status), ',' ORDER BY hold_id) FROM holds), '') \
         ) AS digest, (SELECT count(*) FROM holds) AS holds",
    )
    .fetch_one(&mut *tx)
    .await?;
    let offsets = applied_offsets(&mut *tx).await?;
    tx.commit().await?;
    Ok(LedgerSnapshot { digest: row.get("digest"), holds: row.get("holds"), types, offsets })
}

/// Refuse a ticket-sales topic this ledger applied with one home partition
/// per ticket type (before migration 0008): going on with the match's homes
/// would make this platform decide differently from the others.
pub async fn ensure_match_homes(pool: &PgPool, sales_topic: &str) -> anyhow::Result<()> {
    let applied_before: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM topics_under_ticket_type_homes WHERE topic = $1)")
            .bind(sales_topic)
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(
        !applied_before,
        "this ledger applied the ticket-sales topic {sales_topic} with one home partition per ticket type; \
         a match's categories now share one (the cap per person and match), and going on with this topic would \
         make this platform disagree with the others: start the market afresh, on fresh topics (another TOPIC_ENV) \
         with a fresh database for each platform"
    );
    Ok(())
}

/// The last applied offset of every topic partition: where shop-consumer
/// resumes after a restart.
pub async fn applied_offsets<'e, E: sqlx::PgExecutor<'e>>(db: E) -> sqlx::Result<Vec<AppliedOffset>> {
    Ok(sqlx::query("SELECT topic, partition, last_offset FROM applied_offsets ORDER BY topic, partition")
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| AppliedOffset {
            topic: r.get("topic"),
            partition: r.get("partition"),
            last_offset: r.get("last_offset"),
        })
        .collect())
}
