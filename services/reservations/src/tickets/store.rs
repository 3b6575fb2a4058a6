//! Ticket rows: issued with the confirmation, revoked with the refund,
//! used once at the gate.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use ticktak_core::PlatformId;
use ticktak_kit::kafka::trust::Trust;
use utoipa::ToSchema;
use uuid::Uuid;

use super::code::{self, CodeClaims};
use crate::store::Reservation;

/// A ticket as its holder (and the gate) sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: Uuid,
    pub reservation_id: Uuid,
    /// 1.. within its reservation.
    pub seat: u8,
    /// The signed code the QR code holds.
    pub code: String,
    pub match_number: u8,
    pub category: u8,
    /// The buyer's e-mail address (else account id).
    pub holder: String,
    /// Who the seat is for, as the buyer named it (the gate shows it).
    pub holder_name: Option<String>,
    /// Where the named person got the ticket by mail, if anywhere.
    pub holder_email: Option<String>,
    /// VALID, USED or REVOKED.
    pub status: String,
    pub used_at: Option<DateTime<Utc>>,
    /// Whether the printed (e-mailed) code admits, or only the live code
    /// shown in the holder's account (`GET /api/tickets/{id}/live`).
    pub printed_code_admits: bool,
}

const COLUMNS: &str =
    "id, reservation_id, seat, code, match_number, category, holder, holder_name, holder_email, status, used_at";

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
    }
}

/// How this platform signs the tickets it issues.
pub struct Issuer<'a> {
    pub trust: &'a Trust,
    pub platform: &'a PlatformId,
    /// Whether printed codes admit by themselves.
    pub printed_admits: bool,
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
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reservation_id, seat) DO NOTHING",
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
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE reservation_id = $1 ORDER BY seat"))
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

pub async fn of_reservation(pool: &PgPool, reservation: Uuid) -> sqlx::Result<Vec<Ticket>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE reservation_id = $1 ORDER BY seat"))
        .bind(reservation)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// A ticket with the account id of its buyer.
pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<(Ticket, String)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, (SELECT buyer_id FROM reservations r WHERE r.id = t.reservation_id) AS buyer_id \
         FROM tickets t WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (from_row(&r), r.get("buyer_id"))))
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

/// One ticket of this platform's.
pub async fn find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Ticket>> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE id = $1")).bind(id).fetch_optional(pool).await?;
    Ok(row.as_ref().map(from_row))
}
