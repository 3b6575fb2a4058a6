//! The draws' SQL (`migrations/reservations/0018_draws.sql`).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use ticktak_contracts::draws::{ApplicationState, ApplicationView, DrawState, DrawStock, DrawView};
use ticktak_core::draw::{DrawResult, DrawTerms, Entry};
use ticktak_core::{BuyerId, Category, MatchNumber, PlatformId, TicketType};
use uuid::Uuid;

/// A draw's row: its terms and how far it got.
#[derive(Debug, Clone)]
pub struct Draw {
    pub terms: DrawTerms,
    /// The partition of the draw topic its terms came on.
    pub partition: i32,
    pub seed: Option<String>,
    pub drawn_at: Option<DateTime<Utc>>,
    pub digest: Option<String>,
    pub applications: i64,
    pub duplicates: Option<i32>,
    pub winners: Option<i32>,
}

impl Draw {
    pub fn view(&self, now: DateTime<Utc>) -> DrawView {
        let t = &self.terms;
        let state = match (self.drawn_at, now) {
            (Some(_), _) => DrawState::Drawn,
            (None, now) if now < t.opens_at => DrawState::Upcoming,
            (None, now) if now < t.closes_at => DrawState::Open,
            _ => DrawState::Closed,
        };
        DrawView {
            draw: t.draw.clone(),
            state,
            opens_at: t.opens_at,
            closes_at: t.closes_at,
            draws_at: t.draws_at,
            payment_window_minutes: t.payment_window_minutes,
            max_quantity: t.max_quantity,
            stock: t
                .stock
                .iter()
                .map(|s| DrawStock {
                    match_number: s.match_number.get(),
                    category: s.category.get(),
                    tickets: s.tickets,
                })
                .collect(),
            commitment: t.commitment.clone(),
            seed: self.seed.clone(),
            applications: self.applications,
            duplicates: self.duplicates.map(i64::from),
            winners: self.winners.map(i64::from),
            winners_digest: self.digest.clone(),
        }
    }
}

const DRAW_COLUMNS: &str =
    "d.terms, d.log_partition, d.seed, d.drawn_at, d.digest, d.duplicates, d.winners, d.applications";

fn draw_of(r: &sqlx::postgres::PgRow) -> sqlx::Result<Draw> {
    let terms = serde_json::from_value(r.get("terms")).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Draw {
        terms,
        partition: r.get("log_partition"),
        seed: r.get("seed"),
        drawn_at: r.get("drawn_at"),
        digest: r.get("digest"),
        applications: i64::from(r.get::<i32, _>("applications")),
        duplicates: r.get("duplicates"),
        winners: r.get("winners"),
    })
}

/// Every draw, latest first.
pub async fn draws(pool: &PgPool) -> sqlx::Result<Vec<Draw>> {
    let rows = sqlx::query(&format!("SELECT {DRAW_COLUMNS} FROM draws d ORDER BY d.opens_at DESC, d.draw LIMIT 200"))
        .fetch_all(pool)
        .await?;
    rows.iter().map(draw_of).collect()
}

pub async fn draw(pool: &PgPool, draw: &str) -> sqlx::Result<Option<Draw>> {
    let row = sqlx::query(&format!("SELECT {DRAW_COLUMNS} FROM draws d WHERE d.draw = $1"))
        .bind(draw)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(draw_of).transpose()
}

/// The draw taking applications for `tt` at `at`, if one is.
pub async fn open_for(pool: &PgPool, tt: TicketType, at: DateTime<Utc>) -> sqlx::Result<Option<DrawTerms>> {
    let stock = serde_json::json!([{"matchNumber": tt.match_number.get(), "category": tt.category.get()}]);
    let terms: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT terms FROM draws WHERE opens_at <= $1 AND $1 < closes_at AND seed IS NULL \
         AND terms->'stock' @> $2 ORDER BY closes_at, draw LIMIT 1",
    )
    .bind(at)
    .bind(stock)
    .fetch_optional(pool)
    .await?;
    terms.map(|t| serde_json::from_value(t).map_err(|e| sqlx::Error::Decode(Box::new(e)))).transpose()
}

/// One of this platform's applications.
#[derive(Debug, Clone)]
pub struct Own {
    pub id: Uuid,
    pub draw: String,
    pub account: String,
    pub email: String,
    pub country: String,
    /// The pseudonym every version of it carries.
    pub buyer: String,
    pub ticket_type: TicketType,
    pub quantity: u8,
    pub version: i32,
    pub reservation_id: Option<Uuid>,
    pub told_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const OWN_COLUMNS: &str =
    "a.id, a.draw, a.account, a.email, a.country, a.buyer, a.match_number, a.category, a.quantity, a.version, \
     a.reservation_id, a.told_at, a.updated_at";

fn own_of(r: &sqlx::postgres::PgRow) -> Own {
    let m = MatchNumber::new(i64::from(r.get::<i16, _>("match_number"))).expect("a stored match");
    let c = Category::new(i64::from(r.get::<i16, _>("category"))).expect("a stored category");
    Own {
        id: r.get("id"),
        draw: r.get("draw"),
        account: r.get("account"),
        email: r.get("email"),
        country: r.get("country"),
        buyer: r.get("buyer"),
        ticket_type: TicketType::new(m, c),
        quantity: r.get::<i16, _>("quantity") as u8,
        version: r.get("version"),
        reservation_id: r.get("reservation_id"),
        told_at: r.get("told_at"),
        updated_at: r.get("updated_at"),
    }
}

/// A new application of `account` (known to the market as `buyer`), or its
/// withdrawn one applied again (a new version, under its first pseudonym);
/// `None` when it has one in the draw already.
pub async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    draw: &str,
    claims: &ticktak_kit::auth::Claims,
    buyer: BuyerId,
    tt: TicketType,
    quantity: u8,
) -> sqlx::Result<Option<Own>> {
    let row = sqlx::query(&format!(
        "INSERT INTO draw_applications AS a (id, draw, account, email, country, match_number, category, quantity, buyer) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (draw, account, match_number, category) DO UPDATE \
           SET quantity = EXCLUDED.quantity, version = a.version + 1, email = EXCLUDED.email, updated_at = now() \
           WHERE a.quantity = 0 \
         RETURNING {OWN_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(draw)
    .bind(&claims.sub)
    .bind(&claims.email)
    .bind(&claims.country)
    .bind(i16::from(tt.match_number.get()))
    .bind(i16::from(tt.category.get()))
    .bind(i16::from(quantity))
    .bind(buyer.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.as_ref().map(own_of))
}

/// Set the quantity of `account`'s application `id` (0 withdraws it), as a
/// new version; `None` when it is not theirs.
pub async fn change(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    account: &str,
    quantity: u8,
) -> sqlx::Result<Option<Own>> {
    let row = sqlx::query(&format!(
        "UPDATE draw_applications a SET quantity = $3, version = version + 1, updated_at = now() \
         WHERE id = $1 AND account = $2 RETURNING {OWN_COLUMNS}"
    ))
    .bind(id)
    .bind(account)
    .bind(i16::from(quantity))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.as_ref().map(own_of))
}

pub async fn own(pool: &PgPool, id: Uuid, account: &str) -> sqlx::Result<Option<Own>> {
    let row = sqlx::query(&format!("SELECT {OWN_COLUMNS} FROM draw_applications a WHERE id = $1 AND account = $2"))
        .bind(id)
        .bind(account)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(own_of))
}

/// `account`'s applications with where each stands, latest first.
pub async fn mine(
    pool: &PgPool,
    me: &PlatformId,
    account: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<ApplicationView>> {
    let rows = sqlx::query(&format!(
        "SELECT {OWN_COLUMNS}, d.closes_at, d.terms->>'drawsAt' AS draws_at, d.drawn_at, e.position, e.offered, \
           (SELECT count(*) FROM draw_entries w WHERE w.draw = e.draw AND w.match_number = e.match_number \
              AND w.category = e.category AND w.position < e.position AND NOT w.offered) AS ahead \
         FROM draw_applications a JOIN draws d ON d.draw = a.draw \
         LEFT JOIN draw_entries e ON e.draw = a.draw AND e.platform = $2 AND e.application = a.id \
         WHERE a.account = $1 ORDER BY a.created_at DESC LIMIT 200"
    ))
    .bind(account)
    .bind(me.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let own = own_of(r);
            let closes_at: DateTime<Utc> = r.get("closes_at");
            let drawn = r.get::<Option<DateTime<Utc>>, _>("drawn_at").is_some();
            let position: Option<i32> = r.get("position");
            let offered: Option<bool> = r.get("offered");
            let state = match (own.quantity, drawn, position, offered) {
                (0, _, _, _) => ApplicationState::Withdrawn,
                (_, false, _, _) if now < closes_at => ApplicationState::Open,
                (_, false, _, _) => ApplicationState::Closed,
                (_, true, None, _) => ApplicationState::Duplicate,
                (_, true, Some(_), Some(true)) => ApplicationState::Won,
                _ => ApplicationState::Waitlisted,
            };
            let draws_at: Option<String> = r.get("draws_at");
            ApplicationView {
                id: own.id,
                draw: own.draw,
                match_number: own.ticket_type.match_number.get(),
                category: own.ticket_type.category.get(),
                quantity: own.quantity,
                state,
                closes_at,
                draws_at: draws_at
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map_or(closes_at, |t| t.with_timezone(&Utc)),
                reservation_id: own.reservation_id.filter(|_| state == ApplicationState::Won),
                place: (state == ApplicationState::Waitlisted).then(|| r.get::<i64, _>("ahead") + 1),
                updated_at: own.updated_at,
            }
        })
        .collect())
}

/// The draws whose seed is in and that this platform has not drawn.
pub async fn due(pool: &PgPool) -> sqlx::Result<Vec<(DrawTerms, String)>> {
    let rows = sqlx::query("SELECT terms, seed FROM draws WHERE seed IS NOT NULL AND drawn_at IS NULL")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let terms = serde_json::from_value(r.get("terms")).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((terms, r.get("seed")))
        })
        .collect()
}

fn entry_of(r: &sqlx::postgres::PgRow) -> Option<Entry> {
    let m = MatchNumber::new(i64::from(r.get::<i16, _>("match_number"))).ok()?;
    let c = Category::new(i64::from(r.get::<i16, _>("category"))).ok()?;
    Some(Entry {
        platform: PlatformId::new(r.get::<String, _>("platform")).ok()?,
        application: r.get("application"),
        buyer: BuyerId::parse(r.get("buyer")).ok()?,
        ticket_type: TicketType::new(m, c),
        quantity: r.get::<i16, _>("quantity") as u8,
    })
}

/// A draw's applications in the order their first versions came.
pub async fn entries(pool: &PgPool, draw: &str) -> sqlx::Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT platform, application, buyer, match_number, category, quantity FROM draw_entries \
         WHERE draw = $1 ORDER BY first_offset",
    )
    .bind(draw)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().filter_map(entry_of).collect())
}

/// Record a draw's result: each counted application's place in its ticket
/// type's order and whether the draw offered it tickets. `false` when the
/// draw was recorded before (another instance of this service).
pub async fn record_result(
    pool: &PgPool,
    draw: &str,
    result: &DrawResult,
    offered: &[Vec<bool>],
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE draws SET drawn_at = now(), digest = $2, duplicates = $3, winners = $4, \
           entries = (SELECT count(*) FROM draw_entries WHERE draw = $1) \
         WHERE draw = $1 AND drawn_at IS NULL",
    )
    .bind(draw)
    .bind(&result.digest)
    .bind(result.duplicates as i32)
    .bind(result.winners as i32)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(false);
    }
    let (mut platforms, mut applications, mut positions, mut offers, mut places) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (order, offered) in result.order.values().zip(offered) {
        let mut waiting = 0;
        for (i, (e, o)) in order.iter().zip(offered).enumerate() {
            platforms.push(e.platform.to_string());
            applications.push(e.application);
            positions.push(i as i32 + 1);
            offers.push(*o);
            waiting += i32::from(!*o);
            places.push((!*o).then_some(waiting));
        }
    }
    sqlx::query(
        "UPDATE draw_entries e SET position = u.position, offered = u.offered, place = u.place \
         FROM UNNEST($2::text[], $3::uuid[], $4::int[], $5::bool[], $6::int[]) AS u(platform, application, position, offered, place) \
         WHERE e.draw = $1 AND e.platform = u.platform AND e.application = u.application",
    )
    .bind(draw)
    .bind(&platforms)
    .bind(&applications)
    .bind(&positions)
    .bind(&offers)
    .bind(&places)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Where an allocation's hold stands, once the log settled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Paid.
    Kept,
    /// Released or refused, at this offset of the sales log.
    Lapsed(i64),
}

/// A drawn application, with whether it was offered tickets and how its
/// hold settled.
pub struct Ranked {
    pub entry: Entry,
    pub offered: bool,
    pub settled: Option<Settled>,
}

/// Drawn draws with allocations whose holds the log has not settled, and
/// those allocations.
pub async fn unsettled(pool: &PgPool) -> sqlx::Result<Vec<(String, Vec<(PlatformId, Uuid)>)>> {
    let rows = sqlx::query(
        "SELECT draw, platform, application FROM draw_entries WHERE offered AND fate IS NULL ORDER BY draw",
    )
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(String, Vec<(PlatformId, Uuid)>)> = Vec::new();
    for r in rows {
        let draw: String = r.get("draw");
        let Ok(platform) = PlatformId::new(r.get::<String, _>("platform")) else { continue };
        match out.last_mut() {
            Some((d, v)) if *d == draw => v.push((platform, r.get("application"))),
            _ => out.push((draw, vec![(platform, r.get("application"))])),
        }
    }
    Ok(out)
}

/// A draw's counted applications, each ticket type's in draw order.
pub async fn order(pool: &PgPool, draw: &str) -> sqlx::Result<Vec<Ranked>> {
    let rows = sqlx::query(
        "SELECT platform, application, buyer, match_number, category, quantity, offered, fate, lapse_offset \
         FROM draw_entries WHERE draw = $1 AND position IS NOT NULL ORDER BY match_number, category, position",
    )
    .bind(draw)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let settled = match (r.get::<Option<String>, _>("fate").as_deref(), r.get::<Option<i64>, _>("lapse_offset"))
            {
                (Some("kept"), _) => Some(Settled::Kept),
                (Some("lapsed"), Some(offset)) => Some(Settled::Lapsed(offset)),
                _ => None,
            };
            Some(Ranked { entry: entry_of(r)?, offered: r.get("offered"), settled })
        })
        .collect())
}

/// Record, in one transaction, the holds the log settled and the
/// applications their lapses passed tickets on to.
pub async fn pass_on(
    pool: &PgPool,
    draw: &str,
    settled: &[(PlatformId, Uuid, Settled)],
    offered: &[(PlatformId, Uuid)],
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let platforms: Vec<String> = settled.iter().map(|(p, _, _)| p.to_string()).collect();
    let applications: Vec<Uuid> = settled.iter().map(|(_, a, _)| *a).collect();
    let fates: Vec<&str> =
        settled.iter().map(|(_, _, f)| if *f == Settled::Kept { "kept" } else { "lapsed" }).collect();
    let offsets: Vec<Option<i64>> = settled
        .iter()
        .map(|(_, _, f)| match f {
            Settled::Lapsed(offset) => Some(*offset),
            Settled::Kept => None,
        })
        .collect();
    sqlx::query(
        "UPDATE draw_entries e SET fate = u.fate, lapse_offset = u.lapse_offset \
         FROM UNNEST($2::text[], $3::uuid[], $4::text[], $5::bigint[]) AS u(platform, application, fate, lapse_offset) \
         WHERE e.draw = $1 AND e.platform = u.platform AND e.application = u.application AND e.fate IS NULL",
    )
    .bind(draw)
    .bind(&platforms)
    .bind(&applications)
    .bind(&fates)
    .bind(&offsets)
    .execute(&mut *tx)
    .await?;
    let platforms: Vec<String> = offered.iter().map(|(p, _)| p.to_string()).collect();
    let applications: Vec<Uuid> = offered.iter().map(|(_, a)| *a).collect();
    sqlx::query(
        "UPDATE draw_entries e SET offered = true FROM UNNEST($2::text[], $3::uuid[]) AS u(platform, application) \
         WHERE e.draw = $1 AND e.platform = u.platform AND e.application = u.application",
    )
    .bind(draw)
    .bind(&platforms)
    .bind(&applications)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// One of this platform's applications the log counted, to tell its owner
/// about: offered tickets and not held yet (`quantity` as the log counted
/// it; `second_chance` when they were told of the list before), or left
/// on the list with its `place`.
pub struct ToTell {
    pub own: Own,
    pub quantity: u8,
    pub second_chance: bool,
    pub place: Option<i64>,
}

/// This platform's applications to hold or tell about, a batch at a time.
pub async fn to_tell(pool: &PgPool, me: &PlatformId) -> sqlx::Result<Vec<ToTell>> {
    let won = sqlx::query(&format!(
        "SELECT {OWN_COLUMNS}, e.quantity AS counted, NULL::int AS place FROM draw_entries e \
         JOIN draw_applications a ON a.id = e.application AND a.draw = e.draw \
         WHERE e.offered AND e.platform = $1 AND a.reservation_id IS NULL LIMIT 500"
    ))
    .bind(me.as_str())
    .fetch_all(pool)
    .await?;
    let waiting = sqlx::query(&format!(
        "SELECT {OWN_COLUMNS}, e.quantity AS counted, e.place FROM draw_applications a \
         JOIN draw_entries e ON e.draw = a.draw AND e.platform = $1 AND e.application = a.id \
         WHERE a.told_at IS NULL AND a.draw IN (SELECT draw FROM draws WHERE drawn_at IS NOT NULL) \
           AND e.position IS NOT NULL AND NOT e.offered LIMIT 500"
    ))
    .bind(me.as_str())
    .fetch_all(pool)
    .await?;
    Ok(won
        .iter()
        .chain(&waiting)
        .map(|r| {
            let own = own_of(r);
            ToTell {
                second_chance: own.told_at.is_some(),
                quantity: r.get::<i16, _>("counted") as u8,
                place: r.get::<Option<i32>, _>("place").map(i64::from),
                own,
            }
        })
        .collect())
}

/// Note that `id`'s owner was told, and of which hold.
pub async fn told(tx: &mut Transaction<'_, Postgres>, id: Uuid, reservation: Option<Uuid>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE draw_applications SET told_at = now(), reservation_id = coalesce($2, reservation_id) WHERE id = $1",
    )
    .bind(id)
    .bind(reservation)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
