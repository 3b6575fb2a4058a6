//! Order rows: an order groups the reservations that are its lines.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::store::{self, Reservation};

/// An order's row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Order {
    pub id: Uuid,
    pub buyer_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub async fn insert(tx: &mut Transaction<'_, Postgres>, id: Uuid, buyer: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO orders (id, buyer_id) VALUES ($1, $2)").bind(id).bind(buyer).execute(&mut **tx).await?;
    Ok(())
}

pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Order>> {
    sqlx::query_as("SELECT id, buyer_id, created_at FROM orders WHERE id = $1").bind(id).fetch_optional(pool).await
}

/// The order's lines, in the order they were placed.
pub async fn lines(pool: &PgPool, order: Uuid) -> sqlx::Result<Vec<Reservation>> {
    store::of_order(pool, order).await
}
