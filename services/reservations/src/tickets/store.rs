//! Ticket rows: issued with the confirmation, revoked with the refund,
//! used once at the gate.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use ticktak_core::PlatformId;
use ticktak_kit::kafka::trust::Trust;
use uuid::Uuid;

use super::code::{self, CodeClaims};
use crate::store::Reservation;

pub use ticktak_contracts::tickets::Ticket;

/// A ticket's columns, for queries on `tickets` not aliased.
const COLUMNS: &str =
    "id, reservation_id, seat, code, match_number, category, holder, holder_name, holder_email, status, used_at, \
     replaced_by IS NOT NULL AS passed_on, \
     (SELECT x.to_email FROM ticket_transfers x WHERE x.ticket_id = tickets.id AND x.status = 'OFFERED' \
        AND x.expires_at > now()) AS offered_to";

fn from_row(r: &PgRow) -> Ticket {
    let code: String = r.get("code");
    Ticket {
        printed_code_admits: code::printed_admits(&code),
        id: r.get("id"),
        reservation_id: r.get("reservation_id"),
        seat: r.get::<i16, _>("seat") as u8,
        code,
        match_number: r.get::<i16, _>("match_number") as u8,
        category: r.get::<i16, _>("category") as u8,
        holder: r.get("holder"),
        holder_name: r.get("holder_name"),
        holder_email: r.get("holder_email"),
        status: r.get("status"),
        used_at: r.get("used_at"),
        passed_on: r.get("passed_on"),
        offered_to: r.get("offered_to"),
    }
}

/// How this platform signs the tickets it issues.
pub struct Issuer<'a> {
    pub trust: &'a Trust,
    pub platform: &'a PlatformId,
    /// Whether printed codes admit by themselves.
    pub printed_admits: bool,
}

impl<'a> Issuer<'a> {
    /// This platform's, as its settings say.
    pub fn of(s: &'a crate::AppState) -> Self {
        Self {
            trust: &s.settings.trust,
            platform: &s.settings.platform_id,
            printed_admits: s.config.emailed_code_admits,
        }
    }
}

/// Issue `old` anew to whoever holds it (`owner`; none: the order's
/// buyer): a new id and code for the same seat and holder, the old one
/// revoked here. For a ticket revoked in the gate log by a refund or an
/// acceptance that did not go through.
pub async fn issue_anew(
    tx: &mut Transaction<'_, Postgres>,
    issuer: &Issuer<'_>,
    old: &Ticket,
    owner: Option<&str>,
) -> sqlx::Result<Ticket> {
    let claims = CodeClaims { ticket_id: Uuid::new_v4(), match_number: old.match_number, category: old.category };
    reissue(tx, issuer, old, &claims, owner, &old.holder).await
}

/// Issue one ticket per seat of `r` with its printed code; issuing again
/// returns the tickets issued before.
pub async fn issue(
    tx: &mut Transaction<'_, Postgres>,
    issuer: &Issuer<'_>,
    r: &Reservation,
) -> sqlx::Result<Vec<Ticket>> {
    let holder = r.buyer_email.clone().unwrap_or_else(|| r.buyer_id.clone());
    for seat in 1..=r.quantity.get() {
        let claims = CodeClaims {
            ticket_id: Uuid::new_v4(),
            match_number: r.ticket_type.match_number.get(),
            category: r.ticket_type.category.get(),
        };
        sqlx::query(
            "INSERT INTO tickets (id, reservation_id, seat, match_number, category, holder, code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reservation_id, seat) WHERE replaced_by IS NULL DO NOTHING",
        )
        .bind(claims.ticket_id)
        .bind(r.id)
        .bind(i16::from(seat))
        .bind(i16::from(claims.match_number))
        .bind(i16::from(claims.category))
        .bind(&holder)
        .bind(
            code::printed(issuer.trust, issuer.platform, &claims, issuer.printed_admits)
                .ok_or_else(|| sqlx::Error::Protocol("no platform key to sign tickets with".into()))?,
        )
        .execute(&mut **tx)
        .await?;
    }
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE reservation_id = $1 AND replaced_by IS NULL ORDER BY seat"
    ))
    .bind(r.id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Revoke the tickets of a refunded reservation (used ones stay used);
/// what was revoked, for the gate log.
pub async fn revoke(tx: &mut Transaction<'_, Postgres>, reservation: Uuid) -> sqlx::Result<Vec<CodeClaims>> {
    let rows = sqlx::query(
        "UPDATE tickets SET status = 'REVOKED' WHERE reservation_id = $1 AND status = 'VALID' \
         RETURNING id, match_number, category",
    )
    .bind(reservation)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .iter()
        .map(|r| CodeClaims {
            ticket_id: r.get("id"),
            match_number: r.get::<i16, _>("match_number") as u8,
            category: r.get::<i16, _>("category") as u8,
        })
        .collect())
}

/// The valid tickets of `reservation` its buyer holds (none passed on), as
/// the gate log names them, in id order.
pub async fn valid_of(pool: &PgPool, reservation: Uuid) -> sqlx::Result<Vec<CodeClaims>> {
    let rows = sqlx::query(VALID_OF).bind(reservation).fetch_all(pool).await?;
    Ok(rows.iter().map(claims_of).collect())
}

/// [`valid_of`], in `tx`.
pub async fn valid_of_in(tx: &mut Transaction<'_, Postgres>, reservation: Uuid) -> sqlx::Result<Vec<CodeClaims>> {
    let rows = sqlx::query(VALID_OF).bind(reservation).fetch_all(&mut **tx).await?;
    Ok(rows.iter().map(claims_of).collect())
}

const VALID_OF: &str = "SELECT id, match_number, category FROM tickets \
     WHERE reservation_id = $1 AND status = 'VALID' AND owner_account IS NULL AND replaced_by IS NULL ORDER BY id";

fn claims_of(r: &PgRow) -> CodeClaims {
    CodeClaims {
        ticket_id: r.get("id"),
        match_number: r.get::<i16, _>("match_number") as u8,
        category: r.get::<i16, _>("category") as u8,
    }
}

/// Revoke one valid ticket (an admin's decision at the order desk); what
/// was revoked, for the gate log, or `None` when it was not valid.
pub async fn revoke_one(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<CodeClaims>> {
    let row = sqlx::query(
        "UPDATE tickets SET status = 'REVOKED' WHERE id = $1 AND status = 'VALID' RETURNING id, match_number, category",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| CodeClaims {
        ticket_id: r.get("id"),
        match_number: r.get::<i16, _>("match_number") as u8,
        category: r.get::<i16, _>("category") as u8,
    }))
}

/// A ticket of this platform's that a gate (any platform's) admitted:
/// used from then on.
pub async fn mark_used(tx: &mut Transaction<'_, Postgres>, id: Uuid, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("UPDATE tickets SET status = 'USED', used_at = $2 WHERE id = $1 AND status = 'VALID'")
        .bind(id)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// How many tickets of `reservation` were used, its tickets locked until
/// the transaction ends (a check-in at the same moment waits for it).
pub async fn used_of(tx: &mut Transaction<'_, Postgres>, reservation: Uuid) -> sqlx::Result<usize> {
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM tickets WHERE reservation_id = $1 ORDER BY id FOR UPDATE")
            .bind(reservation)
            .fetch_all(&mut **tx)
            .await?;
    Ok(statuses.iter().filter(|s| *s == "USED").count())
}

/// The tickets of `reservation` its buyer holds or passed on (not those
/// issued to the people who accepted them).
pub async fn of_reservation(pool: &PgPool, reservation: Uuid) -> sqlx::Result<Vec<Ticket>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE reservation_id = $1 AND owner_account IS NULL ORDER BY seat, created_at"
    ))
    .bind(reservation)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// A ticket with the account id of who holds it: the buyer, or the person
/// it was passed to.
pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<(Ticket, String)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, coalesce(owner_account, \
           (SELECT buyer_id FROM reservations r WHERE r.id = tickets.reservation_id)) AS owner \
         FROM tickets WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (from_row(&r), r.get("owner"))))
}

/// The tickets passed to `account` by others, newest first.
pub async fn received(pool: &PgPool, account: &str) -> sqlx::Result<Vec<Ticket>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tickets WHERE owner_account = $1 AND replaced_by IS NULL ORDER BY created_at DESC"
    ))
    .bind(account)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The valid tickets of `reservation` held by people it was passed to, with
/// their accounts.
pub async fn passed_on_of(
    tx: &mut Transaction<'_, Postgres>,
    reservation: Uuid,
) -> sqlx::Result<Vec<(Ticket, Option<String>)>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, owner_account FROM tickets WHERE reservation_id = $1 AND owner_account IS NOT NULL \
           AND replaced_by IS NULL AND status = 'VALID'"
    ))
    .bind(reservation)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.iter().map(|r| (from_row(r), r.get("owner_account"))).collect())
}

/// How many tickets of `reservation` were passed on and are held by others
/// (a refund would take them from people who did not pay).
pub async fn held_by_others(tx: &mut Transaction<'_, Postgres>, reservation: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE reservation_id = $1 AND owner_account IS NOT NULL \
           AND replaced_by IS NULL AND status = 'VALID'",
    )
    .bind(reservation)
    .fetch_one(&mut **tx)
    .await
}

/// Name who a valid ticket is for, in `tx`; `None` when it is no longer
/// valid (used or revoked tickets keep their holder).
pub async fn name_holder(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    name: &str,
    email: Option<&str>,
) -> sqlx::Result<Option<Ticket>> {
    let row = sqlx::query(&format!(
        "UPDATE tickets SET holder_name = $2, holder_email = $3 WHERE id = $1 AND status = 'VALID' RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(name)
    .bind(email)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.as_ref().map(from_row))
}

/// One ticket, read in `tx`.
pub async fn find_in(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<Ticket>> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE id = $1")).bind(id).fetch_optional(&mut **tx).await?;
    Ok(row.as_ref().map(from_row))
}

/// Pass `old` on to `owner` (`email`; `None`: back to the order's buyer):
/// it is revoked and replaced by a new ticket of the same seat with
/// `claims`' id and a new signed code, theirs; returns the new ticket. In the caller's transaction, with the
/// gate log's `REVOKE` of the old one.
pub async fn reissue(
    tx: &mut Transaction<'_, Postgres>,
    issuer: &Issuer<'_>,
    old: &Ticket,
    claims: &CodeClaims,
    owner: Option<&str>,
    email: &str,
) -> sqlx::Result<Ticket> {
    let replaced =
        sqlx::query("UPDATE tickets SET status = 'REVOKED', replaced_by = $2 WHERE id = $1 AND status = 'VALID'")
            .bind(old.id)
            .bind(claims.ticket_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    // Never two tickets for one seat: only a valid ticket is replaced.
    if replaced != 1 {
        return Err(sqlx::Error::RowNotFound);
    }
    let code = code::printed(issuer.trust, issuer.platform, claims, issuer.printed_admits)
        .ok_or_else(|| sqlx::Error::Protocol("no platform key to sign tickets with".into()))?;
    let row = sqlx::query(&format!(
        "INSERT INTO tickets (id, reservation_id, seat, match_number, category, holder, code, owner_account) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(claims.ticket_id)
    .bind(old.reservation_id)
    .bind(i16::from(old.seat))
    .bind(i16::from(claims.match_number))
    .bind(i16::from(claims.category))
    .bind(email)
    .bind(code)
    .bind(owner)
    .fetch_one(&mut **tx)
    .await?;
    Ok(from_row(&row))
}

/// One ticket of this platform's.
pub async fn find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Ticket>> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE id = $1")).bind(id).fetch_optional(pool).await?;
    Ok(row.as_ref().map(from_row))
}
