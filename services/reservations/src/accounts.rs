//! What reservations keeps about an account, for its owner's export, and
//! the person's erasure (`ticktak_contracts::accounts`). An erased
//! account's orders stay under its id for the accounts; the address its
//! mail went to, its country, and the names and addresses on its tickets
//! go. Its tokens still unexpired can no longer hold or queue
//! ([`Erased`]).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use ticktak_contracts::accounts::{AccountData, Erase, Erased as ErasedRows};
use ticktak_kit::http::{Json, Path};
use ticktak_kit::{ApiError, ApiResult};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/accounts/{id}/export", get(export))
        .route("/internal/accounts/{id}/erase", post(erase))
}

/// The accounts erased here: a hold or a join with one of their tokens
/// (valid for its last minutes) is refused. Loaded at start; kept in the
/// `erased_accounts` table.
#[derive(Clone, Default)]
pub struct Erased(Arc<RwLock<HashSet<String>>>);

impl Erased {
    pub async fn load(pool: &PgPool) -> sqlx::Result<Self> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT account FROM erased_accounts").fetch_all(pool).await?;
        Ok(Self(Arc::new(RwLock::new(ids.into_iter().collect()))))
    }

    /// 403 for an erased account's token.
    pub fn check(&self, account: &str) -> ApiResult<()> {
        match self.0.read().expect("not poisoned").contains(account) {
            true => Err(ApiError::Forbidden("this account was deleted".into())),
            false => Ok(()),
        }
    }

    fn insert(&self, account: &str) {
        self.0.write().expect("not poisoned").insert(account.to_string());
    }
}

/// One query's rows as a JSON list (`[]` for none).
async fn rows(pool: &PgPool, sql: &str, account: &str) -> sqlx::Result<serde_json::Value> {
    sqlx::query_scalar(sql).bind(account).fetch_one(pool).await
}

async fn export(State(s): State<AppState>, Path(account): Path<String>) -> ApiResult<Json<AccountData>> {
    let mut data = AccountData::default();
    let queries = [
        ("orders", "SELECT coalesce(json_agg(r ORDER BY r.created_at), '[]') FROM reservations r WHERE buyer_id = $1"),
        (
            "tickets",
            "SELECT coalesce(json_agg(t ORDER BY t.created_at, t.seat), '[]') FROM tickets t \
             JOIN reservations r ON r.id = t.reservation_id \
             WHERE (r.buyer_id = $1 AND t.owner_account IS NULL) OR t.owner_account = $1",
        ),
        (
            "ticketsPassedOn",
            "SELECT coalesce(json_agg(json_build_object('ticketId', ticket_id, 'from', from_account, 'to', to_email, \
               'status', status, 'offeredAt', created_at, 'decidedAt', decided_at, 'newTicket', new_ticket) \
               ORDER BY created_at), '[]') FROM ticket_transfers WHERE from_account = $1 OR accepted_by = $1",
        ),
        (
            "waitingRoomPlaces",
            "SELECT coalesce(json_agg(json_build_object('room', room, 'joinedAt', joined_at, 'place', place, \
               'usedBy', used_by) ORDER BY joined_at), '[]') FROM queue_entries WHERE account = $1",
        ),
        (
            "ticketsPerMatch",
            "SELECT coalesce(json_agg(b ORDER BY b.match_number), '[]') FROM buyer_match_tickets b WHERE buyer_id = $1",
        ),
    ];
    for (kind, sql) in queries {
        data.records.insert(kind.to_string(), rows(&s.pool, sql, &account).await?);
    }
    Ok(Json(data))
}

async fn erase(
    State(s): State<AppState>,
    Path(account): Path<String>,
    Json(req): Json<Erase>,
) -> ApiResult<Json<ErasedRows>> {
    let mut tx = s.pool.begin().await?;
    // The row the hold path locks, made if missing: a hold waits for the
    // erasure (one already past the check of erased accounts when the
    // erasure commits can still land: a few milliseconds).
    sqlx::query(
        "INSERT INTO buyer_open_holds (buyer_id, open_holds) VALUES ($1, 0) \
         ON CONFLICT (buyer_id) DO UPDATE SET open_holds = buyer_open_holds.open_holds",
    )
    .bind(&account)
    .execute(&mut *tx)
    .await?;
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservations WHERE buyer_id = $1 AND status IN ('REQUESTED', 'HELD')")
            .bind(&account)
            .fetch_one(&mut *tx)
            .await?;
    if open > 0 {
        return Err(ApiError::Conflict("an order is still open: pay for it or cancel it first".into()));
    }
    let valid: Vec<i16> = sqlx::query_scalar(
        "SELECT DISTINCT t.match_number FROM tickets t JOIN reservations r ON r.id = t.reservation_id \
         WHERE ((r.buyer_id = $1 AND t.owner_account IS NULL) OR t.owner_account = $1) AND t.status = 'VALID'",
    )
    .bind(&account)
    .fetch_all(&mut *tx)
    .await?;
    for number in valid {
        let n = ticktak_core::MatchNumber::new(i64::from(number)).map_err(|e| ApiError::Unprocessable(e.0))?;
        let kick_off = s
            .shop
            .match_view(n)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| ApiError::Unavailable("a match's kick-off is unknown right now; try again".into()))?
            .date_utc;
        if kick_off > chrono::Utc::now() {
            return Err(ApiError::Conflict(format!(
                "a ticket for match {number} is still valid: refund it or wait until the match is played"
            )));
        }
    }
    let mut rows = 0;
    rows += sqlx::query("UPDATE draw_applications SET email = 'erased', country = '' WHERE account = $1")
        .bind(&account)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    rows += sqlx::query(
        "UPDATE reservations SET buyer_email = NULL, buyer_country = NULL \
         WHERE buyer_id = $1 AND (buyer_email IS NOT NULL OR buyer_country IS NOT NULL)",
    )
    .bind(&account)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    rows += sqlx::query(
        "UPDATE tickets t SET holder = 'erased', holder_name = NULL, holder_email = NULL FROM reservations r \
         WHERE r.id = t.reservation_id AND ((r.buyer_id = $1 AND t.owner_account IS NULL) OR t.owner_account = $1) \
           AND t.holder <> 'erased'",
    )
    .bind(&account)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Offers made to the person's address (the trail keeps that there was one).
    rows += sqlx::query("UPDATE ticket_transfers SET to_email = 'erased' WHERE lower(to_email) = lower($1)")
        .bind(&req.email)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    rows += ticktak_kit::mail::forget_recipient(&mut tx, &req.email).await?;
    // Tickets mailed to the people the account named: unsent ones carry
    // their names and codes.
    rows += sqlx::query(
        "DELETE FROM mail_outbox m USING tickets t JOIN reservations r ON r.id = t.reservation_id \
         WHERE ((r.buyer_id = $1 AND t.owner_account IS NULL) OR t.owner_account = $1) \
           AND m.sent_at IS NULL AND m.dedupe_key LIKE 'holder:' || t.id || ':%'",
    )
    .bind(&account)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("INSERT INTO erased_accounts (account) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(&account)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    s.erased.insert(&account);
    tracing::info!(rows, "an account's person erased");
    Ok(Json(ErasedRows { rows }))
}
