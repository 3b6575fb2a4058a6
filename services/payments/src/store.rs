//! Payment rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Waiting for the buyer's card (or a webhook).
    Open,
    /// Paid; the reservation is confirmed.
    Succeeded,
    /// Money is going back; the reconciler finishes it if a call failed.
    Refunding,
    Refunded,
    /// Never paid: the intent was cancelled (the hold ended first).
    Canceled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Open => "OPEN",
            PaymentStatus::Succeeded => "SUCCEEDED",
            PaymentStatus::Refunding => "REFUNDING",
            PaymentStatus::Refunded => "REFUNDED",
            PaymentStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OPEN" => PaymentStatus::Open,
            "SUCCEEDED" => PaymentStatus::Succeeded,
            "REFUNDING" => PaymentStatus::Refunding,
            "REFUNDED" => PaymentStatus::Refunded,
            "CANCELED" => PaymentStatus::Canceled,
            _ => return None,
        })
    }
}

/// Why money went back.
pub const REFUND_BY_BUYER: &str = "buyer";
/// An admin refunded it on the buyer's behalf (the order desk).
pub const REFUND_BY_OPERATOR: &str = "operator";
pub const REFUND_HOLD_ENDED: &str = "hold_ended";
/// Refunded from the provider's dashboard, not through us.
pub const REFUND_BY_PROVIDER: &str = "provider";
/// The card holder disputed the charge.
pub const REFUND_DISPUTED: &str = "disputed";

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: Uuid,
    pub reservation_id: Uuid,
    /// The order (cart) whose lines share this payment's intent; `None` for
    /// a reservation paid on its own.
    pub order_id: Option<Uuid>,
    pub buyer_id: String,
    pub buyer_email: Option<String>,
    /// The provider's intent id.
    pub intent_id: String,
    pub client_secret: Option<String>,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub last_error: Option<String>,
    pub refund_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, reservation_id, order_id, buyer_id, buyer_email, provider_ref, client_secret, amount, currency, \
                       status, last_error, refund_reason, created_at, updated_at";

fn from_row(r: &PgRow) -> Payment {
    Payment {
        id: r.get("id"),
        reservation_id: r.get("reservation_id"),
        order_id: r.get("order_id"),
        buyer_id: r.get("buyer_id"),
        buyer_email: r.get("buyer_email"),
        intent_id: r.get::<Option<String>, _>("provider_ref").unwrap_or_default(),
        client_secret: r.get("client_secret"),
        amount: i64::from(r.get::<i32, _>("amount")),
        currency: r.get("currency"),
        status: PaymentStatus::parse(r.get("status")).expect("checked by the schema"),
        last_error: r.get("last_error"),
        refund_reason: r.get("refund_reason"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

/// Record a new payment; when the reservation already has one (a race of
/// two requests), that one is returned instead.
pub async fn insert(pool: &PgPool, p: &Payment) -> sqlx::Result<Payment> {
    insert_row(pool, p).await?;
    Ok(of_reservation(pool, p.reservation_id).await?.expect("inserted or already there"))
}

/// Record the payments of an order's lines, one intent for all; lines that
/// have one already (a race of two requests) keep theirs. Returns the
/// order's payments.
pub async fn insert_order(pool: &PgPool, order: Uuid, lines: &[Payment]) -> sqlx::Result<Vec<Payment>> {
    let mut tx = pool.begin().await?;
    for p in lines {
        insert_row(&mut *tx, p).await?;
    }
    tx.commit().await?;
    of_order(pool, order).await
}

async fn insert_row<'e>(db: impl sqlx::PgExecutor<'e>, p: &Payment) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO payments (id, reservation_id, order_id, buyer_id, buyer_email, provider_ref, client_secret, amount, \
           currency, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (reservation_id) DO NOTHING",
    )
    .bind(p.id)
    .bind(p.reservation_id)
    .bind(p.order_id)
    .bind(&p.buyer_id)
    .bind(&p.buyer_email)
    .bind(&p.intent_id)
    .bind(&p.client_secret)
    .bind(p.amount as i32)
    .bind(&p.currency)
    .bind(p.status.as_str())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Payment>> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1")).bind(id).fetch_optional(pool).await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn of_reservation(pool: &PgPool, reservation: Uuid) -> sqlx::Result<Option<Payment>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE reservation_id = $1"))
        .bind(reservation)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// The payments an intent pays for: one, or an order's lines.
pub async fn of_intent(pool: &PgPool, intent: &str) -> sqlx::Result<Vec<Payment>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE provider_ref = $1 ORDER BY id"))
        .bind(intent)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The payments of an order's lines.
pub async fn of_order(pool: &PgPool, order: Uuid) -> sqlx::Result<Vec<Payment>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1 ORDER BY id"))
        .bind(order)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// What the payments sharing `intent` add up to, in minor units: what the
/// intent must be for.
pub async fn intent_total(tx: &mut Transaction<'_, Postgres>, intent: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT coalesce(sum(amount), 0)::bigint FROM payments WHERE provider_ref = $1")
        .bind(intent)
        .fetch_one(&mut **tx)
        .await
}

/// Lock a payment for a transition (the webhook, the reconciler and the
/// buyer may act on it at once).
pub async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<Payment>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.as_ref().map(from_row))
}

/// Move a locked payment to `status`, noting the last error and why it was
/// refunded (each kept when `None`).
pub async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: PaymentStatus,
    last_error: Option<&str>,
    refund_reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payments SET status = $2, last_error = coalesce($3, last_error), \
         refund_reason = coalesce($4, refund_reason), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(last_error)
    .bind(refund_reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_refund_ref(tx: &mut Transaction<'_, Postgres>, id: Uuid, refund: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE payments SET refund_ref = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(refund)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Payments for the admin list, newest first.
pub async fn list(pool: &PgPool, status: Option<PaymentStatus>, limit: i64) -> sqlx::Result<Vec<Payment>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE $1::text IS NULL OR status = $1 ORDER BY created_at DESC LIMIT $2"
    ))
    .bind(status.map(PaymentStatus::as_str))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Open payments and unfinished refunds older than `age`: the reconciler's
/// work.
pub async fn unsettled(pool: &PgPool, age: std::time::Duration, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM payments WHERE status IN ('OPEN', 'REFUNDING') \
         AND updated_at <= now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2",
    )
    .bind(age.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Note a webhook event; false when it was seen before.
pub async fn first_sight_of_event(tx: &mut Transaction<'_, Postgres>, id: &str, kind: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("INSERT INTO webhook_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(id)
        .bind(kind)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
