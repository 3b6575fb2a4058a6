//! The admins' audit trail: every action an admin takes through a
//! service's admin API (a refund on a buyer's behalf, a revoked ticket, a
//! role changed, a network blocked) is recorded by that service — who,
//! when, what, on what, why — in the same transaction as the action where
//! it has one, and read back at `GET /api/admin/audit` (admins only). The
//! web site's audit page merges every service's trail.
//!
//! The table (each service with admin actions creates it in its own
//! migrations):
//! ```sql
//! CREATE TABLE admin_audit (
//!     id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
//!     actor_id text NOT NULL, actor_email text NOT NULL, action text NOT NULL,
//!     target text NOT NULL, detail text NOT NULL DEFAULT '');
//! ```

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sqlx::{PgExecutor, PgPool, Row};
use ticktak_contracts::desk::{AuditEntry, AuditTrail};

use crate::auth::{Admin, Claims, Verifier};
use crate::http::{Json, Query};
use crate::{ApiError, ApiResult};

/// Longest reason or detail kept, in characters.
pub const MAX_DETAIL_CHARS: usize = 500;

/// Record that `admin` did `action` to `target`.
pub async fn record<'e>(
    db: impl PgExecutor<'e>,
    admin: &Claims,
    action: &str,
    target: &str,
    detail: &str,
) -> sqlx::Result<()> {
    let detail: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    sqlx::query("INSERT INTO admin_audit (actor_id, actor_email, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(&admin.sub)
        .bind(&admin.email)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(db)
        .await?;
    Ok(())
}

/// An admin's reason for an action: 1 to [`MAX_DETAIL_CHARS`] characters,
/// no control characters.
pub fn reason(raw: &str) -> ApiResult<String> {
    let reason = raw.trim();
    match ticktak_core::text::line_problem(reason, MAX_DETAIL_CHARS) {
        None => Ok(reason.to_string()),
        Some(why) => Err(ApiError::Unprocessable(format!(
            "reason {why}: it must be 1 to {MAX_DETAIL_CHARS} characters without control characters"
        ))),
    }
}

/// The newest entries first, optionally only those about one of `targets`.
pub async fn list(pool: &PgPool, targets: Option<&[String]>, limit: i64) -> sqlx::Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT at, actor_id, actor_email, action, target, detail FROM admin_audit \
         WHERE $1::text[] IS NULL OR target = ANY($1) ORDER BY id DESC LIMIT $2",
    )
    .bind(targets)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            at: r.get("at"),
            actor_id: r.get("actor_id"),
            actor_email: r.get("actor_email"),
            action: r.get("action"),
            target: r.get("target"),
            detail: r.get("detail"),
        })
        .collect())
}

#[derive(Clone)]
pub struct AuditState {
    pool: PgPool,
    verifier: Arc<Verifier>,
}

crate::verifier_from_state!(AuditState);

/// `GET /api/admin/audit`, to merge into a service's public router.
pub fn router(pool: PgPool, verifier: Arc<Verifier>) -> Router {
    Router::new().route("/api/admin/audit", get(audit)).with_state(AuditState { pool, verifier })
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    pub target: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", security(("bearer" = [])),
    params(("target" = Option<String>, Query, description = "only actions on this order, ticket, account or network"),
        ("limit" = Option<i64>, Query, description = "1..=500, default 100")),
    responses((status = 200, description = "this service's admin actions, newest first", body = AuditTrail),
        (status = 400, description = "limit out of range"), (status = 403, description = "not an admin")))]
pub async fn audit(
    State(s): State<AuditState>,
    Admin(_): Admin,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditTrail>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 500".into()));
    }
    let target: Option<Vec<String>> =
        q.target.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(|t| vec![t.to_string()]);
    Ok(Json(AuditTrail { entries: list(&s.pool, target.as_deref(), limit).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_short_plain_text() {
        assert_eq!(reason("  lost phone ").unwrap(), "lost phone");
        assert!(reason("   ").is_err());
        assert!(reason("line\u{0}break").is_err());
        assert!(reason(&"x".repeat(MAX_DETAIL_CHARS + 1)).is_err());
    }
}
