//! `Idempotency-Key`: the first response to a (buyer, key) is stored and
//! returned again to every repeat; the same key with a different body is a
//! 422. Concurrent repeats wait for the first to finish.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use sqlx::{PgPool, Row};
use ticktak_kit::ApiError;

pub const HEADER: &str = "idempotency-key";

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
        let row = sqlx::query("SELECT request_hash, status, body FROM idempotency WHERE buyer_id = $1 AND key = $2")
            .bind(buyer)
            .bind(key)
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
    let _ = sqlx::query("DELETE FROM idempotency WHERE buyer_id = $1 AND key = $2 AND status IS NULL")
        .bind(buyer)
        .bind(key)
        .execute(pool)
        .await;
}
