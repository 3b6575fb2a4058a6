//! Reservation rows and the outbox rows every transition writes in the same
//! transaction.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use ticktak_core::headers::SaleHeaders;
use ticktak_core::{Action, Category, HoldId, MatchNumber, PlatformId, Price, Quantity, SaleMessage, TicketType};
use uuid::Uuid;

use crate::outbox::Queued;

pub use ticktak_contracts::reservations::ReservationStatus;

#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: Uuid,
    pub buyer_id: String,
    /// Where the tickets are mailed (the token's `email` claim).
    pub buyer_email: Option<String>,
    /// The token's `country` claim, for the booking events.
    pub buyer_country: Option<String>,
    pub ticket_type: TicketType,
    pub quantity: Quantity,
    pub unit_price: Price,
    pub status: ReservationStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Why it was rejected, when not by the log (e.g. not decided in time).
    pub reason: Option<String>,
    /// The order (cart) it is a line of; `None` for a hold of its own.
    pub order_id: Option<Uuid>,
}

impl Reservation {
    /// A new reservation of `buyer`, created now.
    pub fn new(
        buyer: &str,
        ticket_type: TicketType,
        quantity: Quantity,
        unit_price: Price,
        status: ReservationStatus,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            buyer_id: buyer.to_string(),
            buyer_email: None,
            buyer_country: None,
            ticket_type,
            quantity,
            unit_price,
            status,
            expires_at,
            created_at: Utc::now(),
            reason: None,
            order_id: None,
        }
    }

    /// Who the buyer is, from their token's claims.
    pub fn with_buyer(self, email: &str, country: &str) -> Self {
        let country = ticktak_core::Country::new(country).ok().map(|c| c.to_string());
        Self { buyer_email: Some(email.to_string()), buyer_country: country, ..self }
    }

    /// What it costs, in minor units.
    pub fn amount(&self) -> i64 {
        self.unit_price.minor_units() * i64::from(self.quantity.get())
    }

    /// The view payments reads.
    pub fn record(&self) -> ticktak_contracts::reservations::ReservationRecord {
        ticktak_contracts::reservations::ReservationRecord {
            id: self.id.to_string(),
            buyer_id: self.buyer_id.clone(),
            status: self.status,
            expires_at: self.expires_at,
            match_number: self.ticket_type.match_number.get(),
            category: self.ticket_type.category.get(),
            quantity: self.quantity.get(),
            unit_price: self.unit_price.get(),
            amount: self.amount(),
            order_id: self.order_id.map(|o| o.to_string()),
        }
    }
}

const COLUMNS: &str =
    "id, buyer_id, buyer_email, buyer_country, match_number, category, quantity, unit_price, status, expires_at, created_at, reason, \
     order_id";

fn from_row(r: &PgRow) -> Reservation {
    Reservation {
        id: r.get("id"),
        buyer_id: r.get("buyer_id"),
        buyer_email: r.get("buyer_email"),
        buyer_country: r.get("buyer_country"),
        ticket_type: TicketType::new(
            MatchNumber::new(i64::from(r.get::<i16, _>("match_number"))).expect("checked by the schema"),
            Category::new(i64::from(r.get::<i16, _>("category"))).expect("checked by the schema"),
        ),
        quantity: Quantity::new(i64::from(r.get::<i16, _>("quantity"))).expect("checked by the schema"),
        unit_price: Price::new(i64::from(r.get::<i32, _>("unit_price"))).expect("checked by the schema"),
        status: ReservationStatus::parse(r.get("status")),
        expires_at: r.get("expires_at"),
        created_at: r.get("created_at"),
        reason: r.get("reason"),
        order_id: r.get("order_id"),
    }
}

/// Where and how this platform publishes its sales.
#[derive(Debug, Clone)]
pub struct Origin {
    pub topic: String,
    pub platform: PlatformId,
    /// The naive course protocol (benchmark baseline): no `hold-id` header,
    /// so every platform applies the message by counts.
    pub naive: bool,
    /// Names each hold's buyer to the market (`buyer` header of its
    /// `TICKET_PENDING`), for the ledger's cap per buyer.
    pub buyers: ticktak_kit::buyer::BuyerKey,
}

/// The outbox row of the sales message of `action` on `r`, not yet numbered
/// (`produced-at` is stamped when it is published).
fn outgoing(origin: &Origin, r: &Reservation, action: Action) -> Queued {
    let sale = SaleMessage::single(action, r.ticket_type, r.quantity, r.unit_price);
    let mut headers = SaleHeaders::for_hold(&origin.platform, HoldId(r.id));
    headers.produced_at = None;
    if origin.naive {
        headers.hold_id = None;
    } else if action == Action::TicketPending {
        headers.buyer = r.buyer_email.as_deref().filter(|e| !e.trim().is_empty()).map(|e| origin.buyers.buyer_of(e));
    }
    Queued {
        seq: 0,
        topic: origin.topic.clone(),
        key: sale.kafka_key(),
        payload: sale.to_json(),
        headers: headers.to_pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

/// Queue the sales message of `action` on `r`; publish the returned row
/// once the transaction committed.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    origin: &Origin,
    r: &Reservation,
    action: Action,
) -> sqlx::Result<Queued> {
    let mut row = outgoing(origin, r, action);
    row.seq =
        sqlx::query_scalar("INSERT INTO outbox (topic, key, payload, headers) VALUES ($1, $2, $3, $4) RETURNING seq")
            .bind(&row.topic)
            .bind(&row.key)
            .bind(&row.payload)
            .bind(crate::outbox::headers_to_json(&row.headers))
            .fetch_one(&mut **tx)
            .await?;
    Ok(row)
}

/// Purchase caps per buyer; 0 means no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub tickets_per_match: u32,
    pub open_holds: u32,
}

/// Why a reservation was not placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverCap {
    /// The buyer's tickets for the match would pass the cap.
    TicketsPerMatch,
    /// The buyer's unpaid holds would pass the cap.
    OpenHolds,
}

/// A new reservation (REQUESTED, or HELD until `r.expires_at` under the
/// naive protocol), counted against its buyer's purchase caps, with its
/// TICKET_PENDING in the outbox and (with an `Idempotency-Key`) the key's
/// note of it — one statement, so all of it or none. Returns the outbox row
/// to publish, or which cap refused it.
///
/// In SQL, because they must be atomic with the row they count: the caps
/// are counted by `take_purchase_caps` (`migrations/reservations/0005_purchase_caps.sql`,
/// an order's lines in `0016_orders.sql`) and given back by its trigger on
/// every status change; each statement's
/// status changes become one booking-events message by the trigger of
/// `migrations/reservations/0008_booking_events_batched.sql`.
pub async fn insert_new<'e>(
    db: impl sqlx::PgExecutor<'e>,
    origin: &Origin,
    r: &Reservation,
    idempotency_key: Option<&str>,
    caps: Caps,
) -> sqlx::Result<Result<Queued, OverCap>> {
    insert_line(db, origin, r, idempotency_key, caps, true).await
}

/// [`insert_new`] for a line of an order (`r.order_id`): only one line of
/// the order (`new_hold`) counts against the cap on unpaid holds.
pub async fn insert_line<'e>(
    db: impl sqlx::PgExecutor<'e>,
    origin: &Origin,
    r: &Reservation,
    idempotency_key: Option<&str>,
    caps: Caps,
    new_hold: bool,
) -> sqlx::Result<Result<Queued, OverCap>> {
    let mut row = outgoing(origin, r, Action::TicketPending);
    let (verdict, seq): (String, Option<i64>) = sqlx::query_as(
        "WITH caps AS (SELECT take_purchase_caps($2, $3, $5::int, $14, $15, $19) AS verdict), \
         reservation AS ( \
           INSERT INTO reservations (id, buyer_id, match_number, category, quantity, unit_price, status, expires_at, \
             buyer_email, buyer_country, order_id) \
           SELECT $1, $2, $3, $4, $5, $6, $11, $12, $16, $17, $18 FROM caps WHERE verdict = 'ok'), \
         keyed AS (UPDATE idempotency SET reservation_id = $1 WHERE buyer_id = $2 AND key = $13 \
           AND (SELECT verdict FROM caps) = 'ok'), \
         queued AS (INSERT INTO outbox (topic, key, payload, headers) \
           SELECT $7, $8, $9, $10 FROM caps WHERE verdict = 'ok' RETURNING seq) \
         SELECT caps.verdict, queued.seq FROM caps LEFT JOIN queued ON true",
    )
    .bind(r.id)
    .bind(&r.buyer_id)
    .bind(i16::from(r.ticket_type.match_number.get()))
    .bind(i16::from(r.ticket_type.category.get()))
    .bind(i16::from(r.quantity.get()))
    .bind(r.unit_price.get() as i32)
    .bind(&row.topic)
    .bind(&row.key)
    .bind(&row.payload)
    .bind(crate::outbox::headers_to_json(&row.headers))
    .bind(r.status.as_str())
    .bind(r.expires_at)
    .bind(idempotency_key)
    .bind(caps.tickets_per_match as i32)
    .bind(caps.open_holds as i32)
    .bind(&r.buyer_email)
    .bind(&r.buyer_country)
    .bind(r.order_id)
    .bind(new_hold)
    .fetch_one(db)
    .await?;
    Ok(match (verdict.as_str(), seq) {
        ("ok", Some(seq)) => {
            row.seq = seq;
            Ok(row)
        }
        ("holds", _) => Err(OverCap::OpenHolds),
        _ => Err(OverCap::TicketsPerMatch),
    })
}

pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Reservation>> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM reservations WHERE id = $1")).bind(id).fetch_optional(pool).await?;
    Ok(row.as_ref().map(from_row))
}

/// The lines of order `order`, in the order they were placed.
pub async fn of_order(pool: &PgPool, order: Uuid) -> sqlx::Result<Vec<Reservation>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM reservations WHERE order_id = $1 ORDER BY id"))
        .bind(order)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

pub async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<Reservation>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM reservations WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// [`lock`], and whether its hold's time is still running by the database's
/// clock: the clock that set `expires_at` and that the sweeper expires by.
/// (The service's own clock may differ from it: a hold must not end by one
/// clock while the other still runs it.)
pub async fn lock_with_time_left(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> sqlx::Result<Option<(Reservation, bool)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, coalesce(expires_at > now(), false) AS time_left FROM reservations WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.as_ref().map(|row| (from_row(row), row.get("time_left"))))
}

pub async fn list_for(pool: &PgPool, buyer: &str, limit: i64) -> sqlx::Result<Vec<Reservation>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reservations WHERE buyer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(buyer)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Move a locked reservation to `status` and queue the sales message that
/// tells the market (`TICKET_RESERVED` or `TICKET_CANCELLED`); publish the
/// returned row once the transaction committed. The caps are given back and
/// the booking event written by triggers (see [`insert_new`]).
pub async fn transition(
    tx: &mut Transaction<'_, Postgres>,
    origin: &Origin,
    r: &Reservation,
    status: ReservationStatus,
    action: Action,
) -> sqlx::Result<(Reservation, Queued)> {
    sqlx::query("UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1")
        .bind(r.id)
        .bind(status.as_str())
        .execute(&mut **tx)
        .await?;
    let queued = enqueue(tx, origin, r, action).await?;
    Ok((Reservation { status, ..r.clone() }, queued))
}

/// Record the log's decisions on requested reservations; returns those that
/// changed, with their new status and expiry.
pub async fn apply_decisions(
    pool: &PgPool,
    hold_ttl: std::time::Duration,
    decisions: &[(Uuid, bool)],
) -> sqlx::Result<Vec<(Uuid, ReservationStatus, Option<DateTime<Utc>>)>> {
    let (ids, granted): (Vec<Uuid>, Vec<bool>) = decisions.iter().copied().unzip();
    let rows = sqlx::query(
        "UPDATE reservations AS r SET \
           status = CASE WHEN u.granted THEN 'HELD' ELSE 'REJECTED' END, \
           expires_at = CASE WHEN u.granted THEN now() + make_interval(secs => coalesce(r.hold_secs::float8, $3)) END, \
           updated_at = now() \
         FROM UNNEST($1::uuid[], $2::bool[]) AS u(id, granted) \
         WHERE r.id = u.id AND r.status = 'REQUESTED' RETURNING r.id, r.status, r.expires_at",
    )
    .bind(&ids)
    .bind(&granted)
    .bind(hold_ttl.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| (r.get("id"), ReservationStatus::parse(r.get("status")), r.get("expires_at"))).collect())
}

/// Queue the sales message of `action` for every reservation row, commit,
/// and return the outbox rows to publish.
async fn enqueue_all_and_commit(
    mut tx: Transaction<'_, Postgres>,
    origin: &Origin,
    rows: &[PgRow],
    action: Action,
) -> sqlx::Result<Vec<Queued>> {
    let mut queued = Vec::with_capacity(rows.len());
    for r in rows.iter().map(from_row) {
        queued.push(enqueue(&mut tx, origin, &r, action).await?);
    }
    tx.commit().await?;
    Ok(queued)
}

/// Holds that ran out unpaid.
pub struct Expired {
    /// The outbox rows to publish, one TICKET_CANCELLED per hold.
    pub queued: Vec<Queued>,
    /// Whose holds they were, one entry per hold.
    pub buyers: Vec<String>,
}

/// Expire held reservations whose time is up, queueing their
/// TICKET_CANCELLED.
pub async fn expire_due(pool: &PgPool, origin: &Origin, limit: i64) -> sqlx::Result<Expired> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(&format!(
        "UPDATE reservations SET status = 'EXPIRED', updated_at = now() WHERE id IN ( \
           SELECT id FROM reservations WHERE status = 'HELD' AND expires_at <= now() \
           ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
    ))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let buyers = rows.iter().map(|r| r.get("buyer_id")).collect();
    let queued = enqueue_all_and_commit(tx, origin, &rows, Action::TicketCancelled).await?;
    Ok(Expired { queued, buyers })
}

/// Requested reservations older than `age` (their decision may have been
/// missed).
pub async fn requested_before(pool: &PgPool, age: std::time::Duration, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM reservations WHERE status = 'REQUESTED' AND created_at < now() - make_interval(secs => $1) \
         ORDER BY created_at LIMIT $2",
    )
    .bind(age.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Why a request the log never decided was rejected.
pub const NOT_DECIDED: &str = "not decided in time";

/// Queue the TICKET_PENDING of the requested reservations `ids` (which the
/// shop has not seen) again, for those waiting `every` since their last
/// publication; returns the outbox rows to publish.
pub async fn republish(
    pool: &PgPool,
    origin: &Origin,
    ids: &[Uuid],
    every: std::time::Duration,
) -> sqlx::Result<Vec<Queued>> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(&format!(
        "UPDATE reservations SET republished_at = now() \
         WHERE id = ANY($1) AND status = 'REQUESTED' \
           AND coalesce(republished_at, created_at) < now() - make_interval(secs => $2) RETURNING {COLUMNS}"
    ))
    .bind(ids)
    .bind(every.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    enqueue_all_and_commit(tx, origin, &rows, Action::TicketPending).await
}

/// Reject requests still undecided after `timeout` and queue their hold's
/// TICKET_CANCELLED: a PENDING the log granted meanwhile is released, one
/// that arrives later holds nothing (the ledger remembers the cancel).
pub async fn time_out(
    pool: &PgPool,
    origin: &Origin,
    timeout: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<Queued>> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(&format!(
        "UPDATE reservations SET status = 'REJECTED', reason = $3, updated_at = now() WHERE id IN ( \
           SELECT id FROM reservations WHERE status = 'REQUESTED' AND created_at < now() - make_interval(secs => $1) \
           ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
    ))
    .bind(timeout.as_secs_f64())
    .bind(limit)
    .bind(NOT_DECIDED)
    .fetch_all(&mut *tx)
    .await?;
    enqueue_all_and_commit(tx, origin, &rows, Action::TicketCancelled).await
}
