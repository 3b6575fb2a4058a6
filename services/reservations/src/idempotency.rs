//! `Idempotency-Key`: the first response to a (buyer, key) is stored and
//! returned again to every repeat; the same key with a different body is a
//! 422. Concurrent repeats wait for the first to finish.
//!
//! A key never sticks: the reservation a first request creates is recorded
//! on its key in the same statement (a repeat answers from it even if the
//! first request never finished), the handler's work runs to its end even
//! when the client goes away, a key left without a reservation by a crash
//! is taken over after 30 s, and keys are forgotten after 24 hours.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use sqlx::{PgPool, Row};
use ticktak_kit::ApiError;
use uuid::Uuid;

pub const HEADER: &str = "idempotency-key";

/// A key still in progress and without a reservation after this long was
/// abandoned (its process died): a repeat takes it over.
const ABANDONED_AFTER_SECS: f64 = 30.0;

/// The key of a request, if it sent one.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(HEADER) else { return Ok(None) };
    let k = v.to_str().map_err(|_| ApiError::BadRequest("Idempotency-Key must be printable ASCII".into()))?.trim();
    if k.is_empty() || k.len() > 200 {
        return Err(ApiError::BadRequest("Idempotency-Key must be 1-200 characters".into()));
    }
    Ok(Some(k.to_string()))
}

pub enum Begin {
    /// First use of the key: go ahead, then `finish`.
    Started,
    /// The stored first response.
    Replay(StatusCode, serde_json::Value),
    /// The first request created this reservation but has not answered
    /// (yet, or ever): answer with the reservation as it stands.
    Created(Uuid),
}

/// Claim the key, or return the first response to it.
pub async fn begin(pool: &PgPool, buyer: &str, key: &str, request_hash: &str) -> Result<Begin, ApiError> {
    let inserted =
        sqlx::query("INSERT INTO idempotency (buyer_id, key, request_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(buyer)
            .bind(key)
            .bind(request_hash)
            .execute(pool)
            .await?
            .rows_affected();
    if inserted == 1 {
        return Ok(Begin::Started);
    }
    let started = Instant::now();
    loop {
        let row = sqlx::query(
            "SELECT request_hash, status, body, reservation_id, \
                    created_at < now() - make_interval(secs => $3) AS abandoned \
             FROM idempotency WHERE buyer_id = $1 AND key = $2",
        )
        .bind(buyer)
        .bind(key)
        .bind(ABANDONED_AFTER_SECS)
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else {
            // The first request failed and released the key: take it.
            return Box::pin(begin(pool, buyer, key, request_hash)).await;
        };
        if row.get::<String, _>("request_hash") != request_hash {
            return Err(ApiError::Unprocessable("Idempotency-Key was already used with a different request".into()));
        }
        if let (Some(status), Some(body)) =
            (row.get::<Option<i16>, _>("status"), row.get::<Option<serde_json::Value>, _>("body"))
        {
            let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
            return Ok(Begin::Replay(status, body));
        }
        if let Some(id) = row.get::<Option<Uuid>, _>("reservation_id") {
            return Ok(Begin::Created(id));
        }
        if row.get::<bool, _>("abandoned") {
            release(pool, buyer, key).await;
            continue;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(ApiError::Conflict("a request with this Idempotency-Key is still in progress".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Store the response to the first request.
pub async fn finish(
    pool: &PgPool,
    buyer: &str,
    key: &str,
    status: StatusCode,
    body: &serde_json::Value,
) -> Result<(), ApiError> {
    sqlx::query("UPDATE idempotency SET status = $3, body = $4 WHERE buyer_id = $1 AND key = $2")
        .bind(buyer)
        .bind(key)
        .bind(status.as_u16() as i16)
        .bind(body)
        .execute(pool)
        .await?;
    Ok(())
}

/// The first request failed without an answer worth repeating: free the key.
pub async fn release(pool: &PgPool, buyer: &str, key: &str) {
    let _ = sqlx::query(
        "DELETE FROM idempotency WHERE buyer_id = $1 AND key = $2 AND status IS NULL AND reservation_id IS NULL",
    )
    .bind(buyer)
    .bind(key)
    .execute(pool)
    .await;
}

/// Forget keys older than 24 hours.
pub async fn forget_old(pool: &PgPool) -> sqlx::Result<u64> {
    let done =
        sqlx::query("DELETE FROM idempotency WHERE created_at < now() - interval '24 hours'").execute(pool).await?;
    Ok(done.rows_affected())
}
