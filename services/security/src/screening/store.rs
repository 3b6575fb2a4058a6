//! Blocklist and security event rows.

use chrono::{DateTime, Utc};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use ticktak_contracts::screening::{BlockedNetwork, Signal, SignalKind};
use utoipa::ToSchema;
use uuid::Uuid;

pub use ticktak_contracts::screening::SecurityEvent as Event;

/// A blocklist entry as admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: Uuid,
    pub cidr: String,
    pub reason: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// The admin's account id, or `file`.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

fn entry(r: &PgRow) -> Entry {
    Entry {
        id: r.get("id"),
        cidr: r.get("cidr"),
        reason: r.get("reason"),
        expires_at: r.get("expires_at"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
    }
}

const COLUMNS: &str = "id, cidr::text AS cidr, reason, expires_at, created_by, created_at";

/// Every entry, live ones first.
pub async fn list(pool: &PgPool) -> sqlx::Result<Vec<Entry>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM blocklist ORDER BY (expires_at IS NOT NULL AND expires_at <= now()), created_at DESC"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(entry).collect())
}

/// The entries in force now, as every service screens with them.
pub async fn in_force(pool: &PgPool) -> sqlx::Result<Vec<BlockedNetwork>> {
    let rows = sqlx::query(
        "SELECT cidr::text AS cidr, reason, expires_at FROM blocklist WHERE expires_at IS NULL OR expires_at > now()",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| BlockedNetwork { cidr: r.get("cidr"), reason: r.get("reason"), expires_at: r.get("expires_at") })
        .collect())
}

/// Block `net` (replacing an entry for the same network) and record it.
pub async fn block(
    pool: &PgPool,
    net: IpNet,
    reason: &str,
    expires_at: Option<DateTime<Utc>>,
    by: &str,
) -> sqlx::Result<Entry> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(&format!(
        "INSERT INTO blocklist (id, cidr, reason, expires_at, created_by) VALUES ($1, $2::cidr, $3, $4, $5) \
         ON CONFLICT (cidr) DO UPDATE SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at, \
           created_by = EXCLUDED.created_by, created_at = now() RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(net.to_string())
    .bind(reason)
    .bind(expires_at)
    .bind(by)
    .fetch_one(&mut *tx)
    .await?;
    let e = entry(&row);
    event(&mut tx, "blocklist_added", None, Some(by), None, &format!("{} ({})", e.cidr, e.reason)).await?;
    tx.commit().await?;
    Ok(e)
}

/// Remove an entry; false when there was none.
pub async fn unblock(pool: &PgPool, id: Uuid, by: &str) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let removed: Option<String> = sqlx::query_scalar("DELETE FROM blocklist WHERE id = $1 RETURNING cidr::text")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(cidr) = &removed {
        event(&mut tx, "blocklist_removed", None, Some(by), None, cidr).await?;
    }
    tx.commit().await?;
    Ok(removed.is_some())
}

async fn event(
    conn: &mut sqlx::PgConnection,
    kind: &str,
    ip: Option<&str>,
    account: Option<&str>,
    route_class: Option<&str>,
    detail: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO security_events (kind, ip, account, route_class, detail) VALUES ($1, $2::inet, $3, $4, $5)",
    )
    .bind(kind)
    .bind(ip)
    .bind(account)
    .bind(route_class)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Record one event about `ip`.
pub async fn note(pool: &PgPool, kind: &str, ip: Option<IpAddr>, detail: &str) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    event(&mut conn, kind, ip.map(|i| i.to_string()).as_deref(), None, None, detail).await
}

/// Record one event about `account`.
pub async fn note_account(pool: &PgPool, kind: &str, account: &str, detail: &str) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    event(&mut conn, kind, None, Some(account), Some("holds"), detail).await
}

/// A failed sign-in from `ip` for `email` (credential stuffing shows as
/// many addresses from one client).
pub async fn login_failed(pool: &PgPool, ip: IpAddr, email: &str) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    event(&mut conn, "login_failed", Some(&ip.to_string()), Some(email), Some("auth"), "").await
}

/// Record a service's batch of signals as events.
pub async fn record_signals(pool: &PgPool, service: &str, signals: &[Signal]) -> sqlx::Result<usize> {
    let kinds: Vec<&str> = signals
        .iter()
        .map(|s| match s.kind {
            SignalKind::Blocked => "blocked",
            SignalKind::Throttled => "throttled",
            SignalKind::ChallengeFailed => "challenge_failed",
            SignalKind::HoldExpired => "hold_expired",
        })
        .collect();
    let ips: Vec<Option<String>> =
        signals.iter().map(|s| s.ip.as_deref()?.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())).collect();
    let accounts: Vec<Option<String>> = signals.iter().map(|s| s.account.clone()).collect();
    let classes: Vec<&str> = signals.iter().map(|s| s.route_class.as_str()).collect();
    let counts: Vec<i64> = signals.iter().map(|s| s.count.min(i64::MAX as u64) as i64).collect();
    let ats: Vec<DateTime<Utc>> = signals.iter().map(|s| s.first_at).collect();
    let done = sqlx::query(
        "INSERT INTO security_events (kind, ip, account, route_class, service, count, at) \
         SELECT k, i::inet, a, c, $7, n, t FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
           $6::timestamptz[]) AS u(k, i, a, c, n, t)",
    )
    .bind(&kinds)
    .bind(&ips)
    .bind(&accounts)
    .bind(&classes)
    .bind(&counts)
    .bind(&ats)
    .bind(service)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() as usize)
}

/// The newest events, of `kind` if given.
pub async fn events(pool: &PgPool, kind: Option<&str>, limit: i64) -> sqlx::Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, at, kind, host(ip) AS ip, account, route_class, service, count, detail FROM security_events \
         WHERE $1::text IS NULL OR kind = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(kind)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Event {
            id: r.get("id"),
            at: r.get("at"),
            kind: r.get("kind"),
            ip: r.get("ip"),
            account: r.get("account"),
            route_class: r.get("route_class"),
            service: r.get("service"),
            count: r.get("count"),
            detail: r.get("detail"),
        })
        .collect())
}

/// Forget events older than 30 days.
pub async fn forget_old(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM security_events WHERE at < now() - interval '30 days'").execute(pool).await?;
    Ok(())
}
