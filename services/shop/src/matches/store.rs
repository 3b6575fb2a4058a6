//! SQL of the catalogue.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, QueryBuilder, Row};
use ticktak_contracts::catalogue::CategoryView;
pub use ticktak_contracts::catalogue::MatchView;
use ticktak_kit::ApiError;

use super::ListQuery;
use crate::search::normalize;

pub const MAX_LIMIT: u32 = 100;
/// Largest `offset` (a tournament has 64 matches).
pub const MAX_OFFSET: u32 = 10_000;

/// Validated filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub team: Option<String>,
    pub group: Option<String>,
    pub round: Option<i16>,
    pub venue: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub q: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

impl TryFrom<ListQuery> for Filter {
    type Error = ApiError;

    fn try_from(q: ListQuery) -> Result<Self, ApiError> {
        let limit = q.limit.unwrap_or(MAX_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
        }
        if let Some(r) = q.round {
            if !(1..=7).contains(&r) {
                return Err(ApiError::BadRequest("round must be between 1 and 7".into()));
            }
        }
        if let (Some(from), Some(to)) = (q.from, q.to) {
            if from > to {
                return Err(ApiError::BadRequest("from must not be after to".into()));
            }
        }
        let text = |s: Option<String>, name: &str| -> Result<Option<String>, ApiError> {
            match s.map(|s| s.trim().to_string()) {
                Some(s) if s.chars().count() > 100 => {
                    Err(ApiError::BadRequest(format!("{name} is longer than 100 characters")))
                }
                Some(s) if s.is_empty() => Ok(None),
                other => Ok(other),
            }
        };
        Ok(Self {
            team: text(q.team, "team")?,
            group: text(q.group, "group")?,
            round: q.round.map(i16::from),
            venue: text(q.venue, "venue")?,
            from: q.from,
            to: q.to,
            q: text(q.q, "q")?.map(|s| normalize(&s)),
            limit,
            offset: match q.offset.unwrap_or(0) {
                o if o <= MAX_OFFSET => o,
                o => return Err(ApiError::BadRequest(format!("offset must be at most {MAX_OFFSET}, got {o}"))),
            },
        })
    }
}

/// Escape `%`, `_` and `\` for LIKE.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub async fn list(pool: &PgPool, f: &Filter) -> sqlx::Result<(Vec<MatchView>, i64)> {
    let mut qb = QueryBuilder::new(
        "SELECT match_number, round_number, date_utc, location, home_team, away_team, group_name, \
         count(*) OVER () AS total FROM matches WHERE true",
    );
    if let Some(team) = &f.team {
        qb.push(" AND (lower(home_team) = lower(").push_bind(team.clone());
        qb.push(") OR lower(away_team) = lower(").push_bind(team.clone()).push("))");
    }
    if let Some(group) = &f.group {
        qb.push(" AND lower(group_name) = lower(").push_bind(group.clone()).push(")");
    }
    if let Some(round) = f.round {
        qb.push(" AND round_number = ").push_bind(round);
    }
    if let Some(venue) = &f.venue {
        qb.push(" AND lower(location) = lower(").push_bind(venue.clone()).push(")");
    }
    if let Some(from) = f.from {
        qb.push(" AND date_utc >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        qb.push(" AND date_utc < ").push_bind(to);
    }
    if let Some(q) = &f.q {
        let catalogue: Vec<String> = sqlx::query_scalar("SELECT search_text FROM matches").fetch_all(pool).await?;
        for meanings in crate::search::meanings(q, &catalogue) {
            qb.push(" AND (false");
            for word in meanings {
                qb.push(" OR (' ' || search_text || ' ') LIKE ").push_bind(format!("%{}%", like_escape(&word)));
            }
            qb.push(")");
        }
    }
    qb.push(" ORDER BY date_utc, match_number LIMIT ").push_bind(i64::from(f.limit));
    qb.push(" OFFSET ").push_bind(i64::from(f.offset));
    let rows = qb.build().fetch_all(pool).await?;
    let total = rows.first().map(|r| r.get::<i64, _>("total")).unwrap_or(0);
    let numbers: Vec<u8> = rows.iter().map(|r| r.get::<i16, _>("match_number") as u8).collect();
    let mut categories = categories(pool, &numbers).await?;
    let matches = rows
        .iter()
        .map(|r| {
            let n = r.get::<i16, _>("match_number") as u8;
            match_from_row(r, categories.iter().filter(|(m, _)| *m == n).map(|(_, c)| c.clone()).collect())
        })
        .collect();
    categories.clear();
    Ok((matches, total))
}

pub async fn one(pool: &PgPool, n: u8) -> sqlx::Result<Option<MatchView>> {
    let row = sqlx::query(
        "SELECT match_number, round_number, date_utc, location, home_team, away_team, group_name \
         FROM matches WHERE match_number = $1",
    )
    .bind(i16::from(n))
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let cats = categories(pool, &[n]).await?.into_iter().map(|(_, c)| c).collect();
    Ok(Some(match_from_row(&r, cats)))
}

fn match_from_row(r: &sqlx::postgres::PgRow, categories: Vec<CategoryView>) -> MatchView {
    MatchView {
        match_number: r.get::<i16, _>("match_number") as u8,
        round_number: r.get::<i16, _>("round_number") as u8,
        date_utc: r.get("date_utc"),
        location: r.get("location"),
        home_team: r.get("home_team"),
        away_team: r.get("away_team"),
        group: r.get("group_name"),
        categories,
    }
}

/// The categories of the given matches, as (match number, view).
pub async fn categories(pool: &PgPool, numbers: &[u8]) -> sqlx::Result<Vec<(u8, CategoryView)>> {
    let numbers: Vec<i16> = numbers.iter().map(|n| i16::from(*n)).collect();
    let rows = sqlx::query(
        "SELECT match_number, category, price, capacity, held, sold, anonymous_held, anonymous_credit, anomalies \
         FROM ticket_types WHERE match_number = ANY($1) ORDER BY match_number, category",
    )
    .bind(&numbers)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let counts = crate::ledger::store::counts_from_row(r);
            (
                r.get::<i16, _>("match_number") as u8,
                CategoryView::new(r.get::<i16, _>("category") as u8, r.get::<i32, _>("price") as u32, counts),
            )
        })
        .collect())
}
