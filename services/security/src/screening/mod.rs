//! The screening policy's authority (see `ticktak_kit::screen` for the
//! layer every service runs):
//!
//! - `GET /api/admin/blocklist`, `POST /api/admin/blocklist`
//!   `{"cidr","reason","expiresAt"}`, `DELETE /api/admin/blocklist/{id}`
//!   (admins): the networks every service refuses (403) within a second.
//! - `GET /api/admin/security/events?kind=&limit=` (admins): blocks,
//!   throttles, failed sign-ins and challenges, verdicts and blocklist
//!   changes — who, why, when.
//! - `reputation`: suspects are challenged, then blocked.
//! - `BLOCKLIST_FILE`: networks loaded at start (`CIDR reason…` per line).
//! - Internal: the policy replica (`GET /internal/screening/policy`) and the
//!   services' signals (`POST /internal/screening/signals`).

pub mod reputation;
pub mod store;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use ticktak_contracts::screening::{self, Policy, Signals, SignalsTaken};
use ticktak_kit::auth::Admin;
use ticktak_kit::http::{Json, Path, Query};
use ticktak_kit::{ApiError, ApiResult};
use utoipa::ToSchema;

use crate::AppState;

pub use ticktak_contracts::screening::Events;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/blocklist", get(list).post(add))
        .route("/api/admin/blocklist/{id}", delete(remove))
        .route("/api/admin/security/events", get(events))
}

pub fn internal_router() -> Router<AppState> {
    Router::new().route(screening::POLICY, get(policy)).route(screening::SIGNALS, post(signals))
}

#[derive(Serialize, ToSchema)]
pub struct Blocklist {
    pub entries: Vec<store::Entry>,
}

#[utoipa::path(get, path = "/api/admin/blocklist", operation_id = "list_blocklist", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Blocklist), (status = 403, description = "not an admin")))]
pub async fn list(State(s): State<AppState>, Admin(_): Admin) -> ApiResult<Json<Blocklist>> {
    Ok(Json(Blocklist { entries: store::list(&s.pool).await? }))
}

/// Body of `POST /api/admin/blocklist`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBlock {
    /// An address or a network: `203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32`.
    pub cidr: String,
    pub reason: String,
    /// Omitted: until removed.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Parse an address or network; host bits are cleared (`10.1.2.3/8` →
/// `10.0.0.0/8`).
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from)).ok().map(|n| n.trunc())
}

#[utoipa::path(post, path = "/api/admin/blocklist", tag = "admin", security(("bearer" = [])),
    request_body = NewBlock,
    responses((status = 201, description = "every service refuses it within a second", body = store::Entry),
        (status = 400, description = "not a network, no reason, or already expired"), (status = 403, description = "not an admin")))]
pub async fn add(
    State(s): State<AppState>,
    Admin(admin): Admin,
    Json(body): Json<NewBlock>,
) -> ApiResult<(StatusCode, Json<store::Entry>)> {
    let net = parse_network(&body.cidr)
        .ok_or_else(|| ApiError::BadRequest(format!("{:?} is not an IPv4 or IPv6 address or CIDR", body.cidr)))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::BadRequest("reason must be 1 to 200 characters".into()));
    }
    if body.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::BadRequest("expiresAt is in the past".into()));
    }
    if net.prefix_len() == 0 {
        return Err(ApiError::BadRequest("blocking every address is not a blocklist entry".into()));
    }
    let entry = store::block(&s.pool, net, reason, body.expires_at, &admin.sub).await?;
    ticktak_kit::audit::record(&s.pool, &admin, "blocklist.add", &entry.cidr, reason).await?;
    tracing::info!(cidr = %entry.cidr, by = %admin.sub, "network blocked");
    Ok((StatusCode::CREATED, Json(entry)))
}

#[utoipa::path(delete, path = "/api/admin/blocklist/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "removed"), (status = 404, description = "no such entry"),
        (status = 403, description = "not an admin")))]
pub async fn remove(State(s): State<AppState>, Admin(admin): Admin, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let missing = || ApiError::NotFound("no such blocklist entry".into());
    let id = uuid::Uuid::parse_str(&id).map_err(|_| missing())?;
    match store::unblock(&s.pool, id, &admin.sub).await? {
        true => {
            ticktak_kit::audit::record(&s.pool, &admin, "blocklist.remove", &id.to_string(), "").await?;
            Ok(StatusCode::NO_CONTENT)
        }
        false => Err(missing()),
    }
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub kind: Option<String>,
    pub limit: Option<i64>,
}

const EVENT_KINDS: [&str; 12] = [
    "signup",
    "hold_expired",
    "account_challenged",
    "account_blocked",
    "blocked",
    "throttled",
    "challenge_failed",
    "login_failed",
    "challenged",
    "auto_blocked",
    "blocklist_added",
    "blocklist_removed",
];

#[utoipa::path(get, path = "/api/admin/security/events", tag = "admin", security(("bearer" = [])),
    params(("kind" = Option<String>, Query, description = "blocked, throttled, challenge_failed, login_failed, signup, challenged, auto_blocked, hold_expired, account_challenged, account_blocked, blocklist_added or blocklist_removed"),
        ("limit" = Option<i64>, Query, description = "1..=1000, default 100")),
    responses((status = 200, description = "newest first", body = Events), (status = 400, description = "unknown kind or limit"),
        (status = 403, description = "not an admin")))]
pub async fn events(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<Events>> {
    let kind = q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty());
    if let Some(k) = kind {
        if !EVENT_KINDS.contains(&k) {
            return Err(ApiError::BadRequest(format!("kind must be one of {}", EVENT_KINDS.join(", "))));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 1000".into()));
    }
    Ok(Json(Events { events: store::events(&s.pool, kind, limit).await? }))
}

async fn policy(State(s): State<AppState>) -> ApiResult<Json<Policy>> {
    let (challenged_accounts, blocked_accounts) = reputation::accounts(&s.pool).await?;
    Ok(Json(Policy {
        blocked: store::in_force(&s.pool).await?,
        challenged: reputation::challenged(&s.pool).await?,
        challenged_accounts,
        blocked_accounts,
    }))
}

async fn signals(State(s): State<AppState>, Json(batch): Json<Signals>) -> ApiResult<Json<SignalsTaken>> {
    let taken = store::record_signals(&s.pool, &batch.service, &batch.signals).await?;
    let mut suspects: Vec<std::net::IpAddr> =
        batch.signals.iter().filter_map(|x| x.ip.as_deref()?.parse().ok()).collect();
    suspects.sort();
    suspects.dedup();
    for ip in suspects {
        review(&s, ip).await?;
    }
    let mut careless: Vec<&str> = batch
        .signals
        .iter()
        .filter(|x| x.kind == screening::SignalKind::HoldExpired)
        .filter_map(|x| x.account.as_deref())
        .collect();
    careless.sort();
    careless.dedup();
    if s.config.reputation {
        for account in careless {
            reputation::review_account(&s.pool, account).await?;
        }
    }
    Ok(Json(SignalsTaken { taken }))
}

/// Judge `ip` again after new events about it, unless `REPUTATION=off`.
pub async fn review(s: &AppState, ip: std::net::IpAddr) -> sqlx::Result<()> {
    if s.config.reputation {
        reputation::review(&s.pool, ip).await?;
    }
    Ok(())
}

/// Load `BLOCKLIST_FILE`: one `CIDR reason…` per line, `#` comments. Its
/// entries replace those an earlier start loaded from a file.
pub async fn load_file(pool: &sqlx::PgPool, path: &std::path::Path) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut nets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (cidr, reason) = line.split_once(char::is_whitespace).unwrap_or((line, "listed in the blocklist file"));
        let net = parse_network(cidr)
            .ok_or_else(|| anyhow::anyhow!("{}:{}: {cidr:?} is not an address or CIDR", path.display(), n + 1))?;
        nets.push((net, reason.trim().to_string()));
    }
    let kept: Vec<String> = nets.iter().map(|(n, _)| n.to_string()).collect();
    sqlx::query("DELETE FROM blocklist WHERE created_by = 'file' AND NOT (cidr::text = ANY($1))")
        .bind(&kept)
        .execute(pool)
        .await?;
    for (net, reason) in &nets {
        store::block(pool, *net, reason, None, "file").await?;
    }
    Ok(nets.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_with_host_bits_cleared() {
        assert_eq!(parse_network("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_network(" 203.0.113.7 ").unwrap().to_string(), "203.0.113.7/32");
        assert_eq!(parse_network("2001:db8::1/32").unwrap().to_string(), "2001:db8::/32");
        for bad in ["", "10.0.0.0/33", "example.com", "1.2.3"] {
            assert!(parse_network(bad).is_none(), "{bad:?}");
        }
    }
}
