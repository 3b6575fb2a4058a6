//! The desk's reads: orders found by what an operator knows of them, and
//! everything this service keeps about one order.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use ticktak_contracts::desk::{GateRecord, MailSent, MessageSent, OrderSummary, TicketStory};
use ticktak_core::Price;
use uuid::Uuid;

const ORDER_COLUMNS: &str =
    "r.id, r.buyer_id, r.buyer_email, r.match_number, r.category, r.quantity, r.unit_price, r.status, r.created_at, r.updated_at";

pub fn summary_of_row(r: &PgRow) -> OrderSummary {
    let quantity = r.get::<i16, _>("quantity");
    let unit = Price::new(i64::from(r.get::<i32, _>("unit_price"))).map(Price::minor_units).unwrap_or(0);
    OrderSummary {
        order_id: r.get("id"),
        buyer_id: r.get("buyer_id"),
        buyer_email: r.get("buyer_email"),
        match_number: r.get::<i16, _>("match_number") as u8,
        category: r.get::<i16, _>("category") as u8,
        quantity: quantity as u8,
        amount: unit * i64::from(quantity),
        status: r.get("status"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

/// Orders of the address `email`: bought with it, or with a ticket named
/// or passed to it. Newest first.
pub async fn by_email(pool: &PgPool, email: &str, limit: i64) -> sqlx::Result<Vec<OrderSummary>> {
    let rows = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM reservations r \
         WHERE lower(r.buyer_email) = lower($1) \
            OR r.id IN (SELECT reservation_id FROM tickets WHERE lower(holder_email) = lower($1) \
                          OR (owner_account IS NOT NULL AND lower(holder) = lower($1))) \
         ORDER BY r.created_at DESC LIMIT $2"
    ))
    .bind(email)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(summary_of_row).collect())
}

/// The order with id `id`, or the order of the ticket with id `id`.
pub async fn by_id(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<OrderSummary>> {
    let row = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM reservations r \
         WHERE r.id = $1 OR r.id = (SELECT reservation_id FROM tickets WHERE id = $1)"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(summary_of_row))
}

/// The order of the ticket whose code is `code`.
pub async fn by_code(pool: &PgPool, code: &str) -> sqlx::Result<Option<OrderSummary>> {
    let row = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM reservations r JOIN tickets t ON t.reservation_id = r.id WHERE t.code = $1"
    ))
    .bind(code)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(summary_of_row))
}

/// The order's tickets with the market's gate log on each.
pub async fn tickets(pool: &PgPool, order: Uuid) -> sqlx::Result<Vec<TicketStory>> {
    let rows = sqlx::query(
        "SELECT t.id, t.seat, t.status, t.holder_name, t.holder_email, t.used_at, g.state, g.gate, g.decided_at \
         FROM tickets t LEFT JOIN gate_tickets g ON g.ticket_id = t.id \
         WHERE t.reservation_id = $1 ORDER BY t.seat",
    )
    .bind(order)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| TicketStory {
            ticket_id: r.get("id"),
            seat: r.get::<i16, _>("seat") as u8,
            status: r.get("status"),
            holder_name: r.get("holder_name"),
            holder_email: r.get("holder_email"),
            used_at: r.get("used_at"),
            gate: r.get::<Option<String>, _>("state").map(|state| GateRecord {
                state,
                by: r.get("gate"),
                at: r.get("decided_at"),
            }),
        })
        .collect())
}

/// The messages the order published (its sales messages, by the hold id
/// they carry, and its tickets' gate events), oldest first.
pub async fn messages(pool: &PgPool, order: Uuid) -> sqlx::Result<Vec<MessageSent>> {
    let rows = sqlx::query(
        "SELECT topic, payload, created_at, sent_at FROM outbox \
         WHERE headers->>'hold-id' = $1::text \
            OR key IN (SELECT id::text FROM tickets WHERE reservation_id = $1) \
         ORDER BY seq",
    )
    .bind(order)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| MessageSent {
            topic: r.get("topic"),
            action: action_of(r.get("payload")),
            created_at: r.get("created_at"),
            sent_at: r.get("sent_at"),
        })
        .collect())
}

/// The action a message we produced names: a sales message's
/// `meta.action`, a gate event's `action`.
fn action_of(payload: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return "?".into();
    };
    value["meta"]["action"].as_str().or_else(|| value["action"].as_str()).unwrap_or("?").to_string()
}

/// The mail about the order and its tickets (the outbox keys name them),
/// oldest first.
pub async fn mails(pool: &PgPool, order: Uuid) -> sqlx::Result<Vec<MailSent>> {
    let rows = sqlx::query(
        "SELECT recipient, subject, created_at, sent_at, attempts, last_error FROM mail_outbox m \
         WHERE strpos(m.dedupe_key, $1::text) > 0 \
            OR EXISTS (SELECT 1 FROM tickets t WHERE t.reservation_id = $1 AND strpos(m.dedupe_key, t.id::text) > 0) \
         ORDER BY id",
    )
    .bind(order)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| MailSent {
            recipient: r.get("recipient"),
            subject: r.get("subject"),
            created_at: r.get("created_at"),
            sent_at: r.get("sent_at"),
            attempts: r.get("attempts"),
            last_error: r.get("last_error"),
        })
        .collect())
}
