//! The desk's exports, as CSV (RFC 4180, by the `csv` crate):
//! - `GET /api/admin/orders.csv?from=&to=`: every order created in the
//!   window (at most [`MAX_ROWS`], oldest first, `X-Export-Truncated: true`
//!   when there were more), with its buyer and amount;
//! - `GET /api/admin/sales.csv`: per match and category, the orders and
//!   tickets paid, the tickets refunded and the revenue kept.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::Row;
use ticktak_kit::auth::Admin;
use ticktak_kit::http::Query;
use ticktak_kit::{ApiError, ApiResult};

use super::store::summary_of_row;
use crate::AppState;

/// Most rows of one orders export; narrow the window for more.
pub const MAX_ROWS: i64 = 100_000;

#[derive(Debug, Deserialize)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn csv_response(name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// A text cell a spreadsheet will not run: one that starts like a formula
/// (`=`, `+`, `-`, `@`, tab, carriage return) gets a leading `'` (OWASP's
/// advice against CSV injection). Addresses and account ids come from
/// buyers and from other platforms' tokens.
fn inert(cell: String) -> String {
    match cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{cell}"),
        false => cell,
    }
}

fn write_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("writing the export: {e}"))
}

#[utoipa::path(get, path = "/api/admin/orders.csv", tag = "desk", security(("bearer" = [])),
    params(("from" = Option<DateTime<Utc>>, Query, description = "created at or after (RFC 3339)"),
        ("to" = Option<DateTime<Utc>>, Query, description = "created before (RFC 3339)")),
    responses((status = 200, description = "orderId, createdAt, updatedAt, status, matchNumber, category, quantity, \
        amountCents, buyerId, buyerEmail — oldest first, at most 100,000 rows", content_type = "text/csv", body = String),
        (status = 400, description = "a malformed time, or from after to"), (status = 403, description = "not an admin")))]
pub async fn orders(State(s): State<AppState>, Admin(_): Admin, Query(w): Query<Window>) -> ApiResult<Response> {
    if let (Some(from), Some(to)) = (w.from, w.to) {
        if from > to {
            return Err(ApiError::BadRequest("from is after to".into()));
        }
    }
    let rows = sqlx::query(
        "SELECT r.id, r.buyer_id, r.buyer_email, r.match_number, r.category, r.quantity, r.unit_price, r.status, \
           r.created_at, r.updated_at FROM reservations r \
         WHERE ($1::timestamptz IS NULL OR r.created_at >= $1) AND ($2::timestamptz IS NULL OR r.created_at < $2) \
         ORDER BY r.created_at, r.id LIMIT $3",
    )
    .bind(w.from)
    .bind(w.to)
    .bind(MAX_ROWS)
    .fetch_all(&s.pool)
    .await?;
    let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160));
    out.write_record([
        "orderId",
        "createdAt",
        "updatedAt",
        "status",
        "matchNumber",
        "category",
        "quantity",
        "amountCents",
        "buyerId",
        "buyerEmail",
    ])
    .map_err(write_error)?;
    for row in &rows {
        let o = summary_of_row(row);
        out.write_record([
            o.order_id.to_string(),
            o.created_at.to_rfc3339(),
            o.updated_at.to_rfc3339(),
            o.status,
            o.match_number.to_string(),
            o.category.to_string(),
            o.quantity.to_string(),
            o.amount.to_string(),
            inert(o.buyer_id),
            inert(o.buyer_email.unwrap_or_default()),
        ])
        .map_err(write_error)?;
    }
    let mut response = csv_response("orders.csv", out.into_inner().map_err(write_error)?);
    if rows.len() as i64 == MAX_ROWS {
        // More orders than one export carries: the caller narrows the window.
        response.headers_mut().insert("x-export-truncated", axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/admin/sales.csv", tag = "desk", security(("bearer" = [])),
    responses((status = 200, description = "matchNumber, category, ordersPaid, ticketsSold, ticketsRefunded, revenueCents \
        — this platform's sales, per match and category", content_type = "text/csv", body = String),
        (status = 403, description = "not an admin")))]
pub async fn sales(State(s): State<AppState>, Admin(_): Admin) -> ApiResult<Response> {
    // Prices are whole currency units in the master list; revenue in cents.
    let rows = sqlx::query(
        "SELECT match_number, category, \
           count(*) FILTER (WHERE status = 'CONFIRMED') AS orders_paid, \
           coalesce(sum(quantity) FILTER (WHERE status = 'CONFIRMED'), 0) AS sold, \
           coalesce(sum(quantity) FILTER (WHERE status = 'REFUNDED'), 0) AS refunded, \
           coalesce(sum(quantity::bigint * unit_price * 100) FILTER (WHERE status = 'CONFIRMED'), 0)::bigint AS revenue \
         FROM reservations WHERE status IN ('CONFIRMED', 'REFUNDED') \
         GROUP BY match_number, category ORDER BY match_number, category",
    )
    .fetch_all(&s.pool)
    .await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["matchNumber", "category", "ordersPaid", "ticketsSold", "ticketsRefunded", "revenueCents"])
        .map_err(write_error)?;
    for r in &rows {
        out.write_record([
            r.get::<i16, _>("match_number").to_string(),
            r.get::<i16, _>("category").to_string(),
            r.get::<i64, _>("orders_paid").to_string(),
            r.get::<i64, _>("sold").to_string(),
            r.get::<i64, _>("refunded").to_string(),
            r.get::<i64, _>("revenue").to_string(),
        ])
        .map_err(write_error)?;
    }
    Ok(csv_response("sales.csv", out.into_inner().map_err(write_error)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_starts_like_a_formula_is_kept_as_text() {
        assert_eq!(inert("=HYPERLINK(\"x\")@example.com".into()), "'=HYPERLINK(\"x\")@example.com");
        assert_eq!(inert("+1@example.com".into()), "'+1@example.com");
        assert_eq!(inert("fan@example.com".into()), "fan@example.com");
        assert_eq!(inert(String::new()), "");
    }
}
