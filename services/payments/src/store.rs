//! Payment rows.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

pub use ticktak_contracts::payments::PaymentStatus;

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

/// A payment as the table holds it. Every statement on `payments` below is
/// checked against the migrations when the crate is built (sqlx's query
/// macros, with the statements' descriptions kept in `.sqlx/` beside this
/// crate's `Cargo.toml`): a renamed column or a changed type fails the
/// build, not a request. `scripts/sqlx-prepare.sh` writes `.sqlx/` again
/// after a change, and `make test` checks it is current.
struct Row {
    id: Uuid,
    reservation_id: Uuid,
    order_id: Option<Uuid>,
    buyer_id: String,
    buyer_email: Option<String>,
    provider_ref: Option<String>,
    client_secret: Option<String>,
    amount: i32,
    currency: String,
    status: String,
    last_error: Option<String>,
    refund_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Payment {
    fn from(r: Row) -> Self {
        Payment {
            id: r.id,
            reservation_id: r.reservation_id,
            order_id: r.order_id,
            buyer_id: r.buyer_id,
            buyer_email: r.buyer_email,
            intent_id: r.provider_ref.unwrap_or_default(),
            client_secret: r.client_secret,
            amount: i64::from(r.amount),
            currency: r.currency,
            status: PaymentStatus::parse(&r.status).expect("checked by the schema"),
            last_error: r.last_error,
            refund_reason: r.refund_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `SELECT` every column of the payments that `$rest` (a string literal:
/// `WHERE …`) picks, as [`Row`]s, with `$rest`'s parameters.
macro_rules! select_payments {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Row,
            "SELECT id, reservation_id, order_id, buyer_id, buyer_email, provider_ref, client_secret, amount, \
               currency, status, last_error, refund_reason, created_at, updated_at FROM payments "
                + $rest
            $(, $arg)*
        )
    };
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
    let amount = i32::try_from(p.amount).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query!(
        "INSERT INTO payments (id, reservation_id, order_id, buyer_id, buyer_email, provider_ref, client_secret, amount, \
           currency, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (reservation_id) DO NOTHING",
        p.id,
        p.reservation_id,
        p.order_id,
        p.buyer_id,
        p.buyer_email,
        p.intent_id,
        p.client_secret,
        amount,
        p.currency,
        p.status.as_str(),
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Payment>> {
    Ok(select_payments!("WHERE id = $1", id).fetch_optional(pool).await?.map(Payment::from))
}

pub async fn of_reservation(pool: &PgPool, reservation: Uuid) -> sqlx::Result<Option<Payment>> {
    Ok(select_payments!("WHERE reservation_id = $1", reservation).fetch_optional(pool).await?.map(Payment::from))
}

/// The payments an intent pays for: one, or an order's lines.
pub async fn of_intent(pool: &PgPool, intent: &str) -> sqlx::Result<Vec<Payment>> {
    let rows = select_payments!("WHERE provider_ref = $1 ORDER BY id", intent).fetch_all(pool).await?;
    Ok(rows.into_iter().map(Payment::from).collect())
}

/// The payments of an order's lines.
pub async fn of_order(pool: &PgPool, order: Uuid) -> sqlx::Result<Vec<Payment>> {
    let rows = select_payments!("WHERE order_id = $1 ORDER BY id", order).fetch_all(pool).await?;
    Ok(rows.into_iter().map(Payment::from).collect())
}

/// What the payments sharing `intent` add up to, in minor units: what the
/// intent must be for.
pub async fn intent_total(tx: &mut Transaction<'_, Postgres>, intent: &str) -> sqlx::Result<i64> {
    let total = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(amount), 0)::bigint AS "total!" FROM payments WHERE provider_ref = $1"#,
        intent
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(total)
}

/// Lock a payment for a transition (the webhook, the reconciler and the
/// buyer may act on it at once).
pub async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<Payment>> {
    Ok(select_payments!("WHERE id = $1 FOR UPDATE", id).fetch_optional(&mut **tx).await?.map(Payment::from))
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
    sqlx::query!(
        "UPDATE payments SET status = $2, last_error = coalesce($3, last_error), \
         refund_reason = coalesce($4, refund_reason), updated_at = now() WHERE id = $1",
        id,
        status.as_str(),
        last_error,
        refund_reason,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_refund_ref(tx: &mut Transaction<'_, Postgres>, id: Uuid, refund: &str) -> sqlx::Result<()> {
    sqlx::query!("UPDATE payments SET refund_ref = $2, updated_at = now() WHERE id = $1", id, refund)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Payments for the admin list, newest first.
pub async fn list(pool: &PgPool, status: Option<PaymentStatus>, limit: i64) -> sqlx::Result<Vec<Payment>> {
    let rows = select_payments!(
        "WHERE $1::text IS NULL OR status = $1 ORDER BY created_at DESC LIMIT $2",
        status.map(PaymentStatus::as_str),
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Payment::from).collect())
}

/// Open payments and unfinished refunds older than `age`: the reconciler's
/// work.
pub async fn unsettled(pool: &PgPool, age: std::time::Duration, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM payments WHERE status IN ('OPEN', 'REFUNDING') \
         AND updated_at <= now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2",
        age.as_secs_f64(),
        limit,
    )
    .fetch_all(pool)
    .await
}

/// Note a webhook event; false when it was seen before.
pub async fn first_sight_of_event(tx: &mut Transaction<'_, Postgres>, id: &str, kind: &str) -> sqlx::Result<bool> {
    let done =
        sqlx::query!("INSERT INTO webhook_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", id, kind)
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected() == 1)
}
