//! Messages this platform could not apply: ones that failed validation at
//! decoding and ones the shop's database refused for their data. Each is
//! skipped (its offset moves, so the partition goes on), counted in
//! `consumer_messages_invalid_total`, logged, and recorded in the
//! `invalid_messages` table, which operators read at
//! `GET /internal/invalid-messages?limit=N` (newest first, on the internal
//! port).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use ticktak_kit::ApiResult;

pub const PATH: &str = "/internal/invalid-messages";

/// Most rows one listing returns.
const MAX_LIMIT: i64 = 1000;

/// A skipped message: where it is, why, and the start of its body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Invalid {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    /// The first 4 KiB of the body, where it was kept, as text (bytes that
    /// are not UTF-8 replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Bytes of a body kept with its record.
pub const PAYLOAD_KEPT: usize = 4096;

impl Invalid {
    pub fn new(topic: &str, partition: i32, offset: i64, reason: String, payload: Option<&[u8]>) -> Self {
        let payload = payload.map(|p| String::from_utf8_lossy(&p[..p.len().min(PAYLOAD_KEPT)]).into_owned());
        Self { topic: topic.to_string(), partition, offset, reason, payload, seen_at: None }
    }
}

/// Record `invalid`. A failure is logged, never retried: the record is for
/// operators, and the partition must not wait for it.
pub async fn record(pool: &PgPool, invalid: &[Invalid]) {
    for i in invalid {
        let result = sqlx::query(
            "INSERT INTO invalid_messages (topic, partition, \"offset\", reason, payload) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&i.topic)
        .bind(i.partition)
        .bind(i.offset)
        .bind(printable(&i.reason))
        .bind(i.payload.as_deref().map(|p| printable(p).into_bytes()))
        .execute(pool)
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot record an invalid message");
        }
    }
}

/// `text` without control characters: a reason or a body may hold a
/// peer's bytes, and PostgreSQL text takes no NUL.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

#[derive(Deserialize)]
struct Listing {
    limit: Option<i64>,
}

pub fn router() -> Router<PgPool> {
    Router::new().route(PATH, get(list))
}

async fn list(State(pool): State<PgPool>, Query(q): Query<Listing>) -> ApiResult<Json<Vec<Invalid>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let rows = sqlx::query(
        "SELECT topic, partition, \"offset\", reason, payload, seen_at FROM invalid_messages \
         ORDER BY seen_at DESC, topic, partition, \"offset\" LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&pool)
    .await?;
    Ok(Json(
        rows.iter()
            .map(|r| Invalid {
                topic: r.get("topic"),
                partition: r.get("partition"),
                offset: r.get("offset"),
                reason: r.get("reason"),
                payload: r.get::<Option<Vec<u8>>, _>("payload").map(|p| String::from_utf8_lossy(&p).into_owned()),
                seen_at: Some(r.get("seen_at")),
            })
            .collect(),
    ))
}
