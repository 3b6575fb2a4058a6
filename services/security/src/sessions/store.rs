//! Refresh-token families. A token is 256 random bits, handed out once and
//! stored as its SHA-256; using it marks it used and issues the next of its
//! family.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// A new opaque refresh token and the hash stored for it (`ticktak_kit::link_token`).
pub use ticktak_kit::link_token::{hash, new as new_token};

/// Start a family for `account` with its first token.
pub async fn start_family(
    pool: &PgPool,
    account: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let family = Uuid::now_v7();
    sqlx::query("INSERT INTO refresh_families (id, account_id) VALUES ($1, $2)")
        .bind(family)
        .bind(account)
        .execute(&mut *tx)
        .await?;
    add_token(&mut tx, family, token_hash, expires_at).await?;
    tx.commit().await
}

async fn add_token(
    tx: &mut Transaction<'_, Postgres>,
    family: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(family)
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is used now and `next` replaces it.
    Rotated { account: Uuid },
    /// Unknown, expired, or its family was revoked.
    Invalid,
    /// Already used: a copy is in someone else's hands, so the whole
    /// family is revoked.
    Reused,
}

/// A presented token's row and its family's.
#[derive(sqlx::FromRow)]
struct Presented {
    family_id: Uuid,
    account_id: Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Use `token_hash` and, when it was current, store `next_hash` in its
/// family — one transaction, the token row locked, so two uses of one
/// token cannot both succeed.
pub async fn rotate(
    pool: &PgPool,
    token_hash: &[u8],
    next_hash: &[u8],
    next_expires_at: DateTime<Utc>,
) -> sqlx::Result<Rotation> {
    let mut tx = pool.begin().await?;
    let row: Option<Presented> = sqlx::query_as(
        "SELECT t.family_id, f.account_id, t.expires_at, t.used_at, f.revoked_at
         FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
         WHERE t.token_hash = $1 FOR UPDATE OF t, f",
    )
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Presented { family_id: family, account_id: account, expires_at, used_at, revoked_at }) = row else {
        return Ok(Rotation::Invalid);
    };
    if revoked_at.is_some() || expires_at <= Utc::now() {
        return Ok(Rotation::Invalid);
    }
    if used_at.is_some() {
        revoke(&mut tx, family, "reuse").await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
    add_token(&mut tx, family, next_hash, next_expires_at).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { account })
}

/// Revoke the family of `token_hash` (sign-out). Unknown tokens are ignored.
pub async fn revoke_family_of(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = 'logout'
         WHERE revoked_at IS NULL AND id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
    )
    .bind(token_hash)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revoke every family of `account`: all its sessions are signed out.
pub async fn revoke_all(tx: &mut Transaction<'_, Postgres>, account: Uuid, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = $2 \
         WHERE account_id = $1 AND revoked_at IS NULL",
    )
    .bind(account)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn revoke(tx: &mut Transaction<'_, Postgres>, family: Uuid, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Delete tokens that expired more than a day ago, and families left empty.
pub async fn delete_expired(pool: &PgPool) -> sqlx::Result<u64> {
    let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await?
        .rows_affected();
    sqlx::query(
        "DELETE FROM refresh_families f WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)",
    )
    .execute(pool)
    .await?;
    Ok(tokens)
}
