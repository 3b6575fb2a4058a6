//! The waiting room's SQL (tables: `migrations/reservations/0010_waiting_room.sql`).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use ticktak_contracts::catalogue::WaitingRoom;
use uuid::Uuid;

/// One buyer's place, with its room.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub room: String,
    pub account: String,
    pub opens_at: DateTime<Utc>,
    pub opened: bool,
    /// `None` while pre-queued.
    pub place: Option<i64>,
    pub admitted_through: i64,
    /// The room's share of the platform's pace, buyers per minute.
    pub rate_per_min: f64,
    pub admission_nonce: Option<Uuid>,
    pub admission_expires_at: Option<DateTime<Utc>>,
    pub used_by: Option<Uuid>,
}

impl Place {
    /// Whether the buyer's turn has come.
    pub fn admitted(&self) -> bool {
        self.place.is_some_and(|p| p <= self.admitted_through)
    }

    /// Buyers before this one still waiting.
    pub fn ahead(&self) -> Option<i64> {
        self.place.map(|p| (p - self.admitted_through - 1).max(0))
    }
}

const PLACE: &str = "SELECT e.room, e.account, r.opens_at, r.opened, e.place, r.admitted_through, r.rate_per_min, \
     e.admission_nonce, e.admission_expires_at, e.used_by \
     FROM queue_entries e JOIN queue_rooms r USING (room) WHERE e.room = $1 AND e.account = $2";

fn place_of(row: &sqlx::postgres::PgRow) -> Place {
    Place {
        room: row.get("room"),
        account: row.get("account"),
        opens_at: row.get("opens_at"),
        opened: row.get("opened"),
        place: row.get("place"),
        admitted_through: row.get("admitted_through"),
        rate_per_min: row.get("rate_per_min"),
        admission_nonce: row.get("admission_nonce"),
        admission_expires_at: row.get("admission_expires_at"),
        used_by: row.get("used_by"),
    }
}

/// The account's place in the room, if it joined.
pub async fn place(pool: &PgPool, room: &str, account: &str) -> sqlx::Result<Option<Place>> {
    Ok(sqlx::query(PLACE).bind(room).bind(account).fetch_optional(pool).await?.as_ref().map(place_of))
}

/// Join the room (made on first use), or find the place taken before: one
/// per account. Before the room opens the place is in the pre-queue; from
/// then on it is the next in arrival order. A join at or after T opens the
/// room first, so nobody who came later is drawn among the early ones.
pub async fn join(pool: &PgPool, room: &WaitingRoom, account: &str) -> sqlx::Result<Place> {
    let rate = room.admit_per_minute.map(|r| r as i32);
    // The room, made on first use (an existing row is not locked, so joins
    // do not queue behind each other here).
    let known: Option<(bool, bool, Option<i32>)> =
        sqlx::query_as("SELECT opened, opens_at <= now(), admit_per_minute FROM queue_rooms WHERE room = $1")
            .bind(&room.id)
            .fetch_optional(pool)
            .await?;
    let (opened, due) = match known {
        Some((opened, due, known_rate)) => {
            if known_rate != rate {
                sqlx::query("UPDATE queue_rooms SET admit_per_minute = $2 WHERE room = $1")
                    .bind(&room.id)
                    .bind(rate)
                    .execute(pool)
                    .await?;
            }
            (opened, due)
        }
        None => {
            sqlx::query(
                "INSERT INTO queue_rooms (room, opens_at, admit_per_minute) VALUES ($1, $2, $3) \
                 ON CONFLICT (room) DO NOTHING",
            )
            .bind(&room.id)
            .bind(room.opens_at)
            .bind(rate)
            .execute(pool)
            .await?;
            (false, room.opens_at <= Utc::now())
        }
    };
    if let Some(found) = place(pool, &room.id, account).await? {
        return Ok(found);
    }
    // Before T, joins share the room's row (many at once); the opening
    // and numbered joins take it alone, so no join slips between the draw
    // and the numbering.
    if !opened && !due {
        let mut tx = pool.begin().await?;
        let still_early: bool =
            sqlx::query_scalar("SELECT NOT opened AND opens_at > now() FROM queue_rooms WHERE room = $1 FOR SHARE")
                .bind(&room.id)
                .fetch_one(&mut *tx)
                .await?;
        if still_early {
            enter(&mut tx, &room.id, account, None).await?;
            let joined = sqlx::query(PLACE).bind(&room.id).bind(account).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            return Ok(place_of(&joined));
        }
        // T came meanwhile: join as a later arrival.
        tx.rollback().await?;
    }
    let mut tx = pool.begin().await?;
    let (opened, due): (bool, bool) =
        sqlx::query_as("SELECT opened, opens_at <= now() FROM queue_rooms WHERE room = $1 FOR UPDATE")
            .bind(&room.id)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(found) = sqlx::query(PLACE).bind(&room.id).bind(account).fetch_optional(&mut *tx).await? {
        tx.commit().await?;
        return Ok(place_of(&found));
    }
    if !opened && due {
        open(&mut tx, &room.id).await?;
    }
    let next: Option<i64> = match opened || due {
        true => Some(
            sqlx::query_scalar(
                "UPDATE queue_rooms SET next_place = next_place + 1 WHERE room = $1 RETURNING next_place - 1",
            )
            .bind(&room.id)
            .fetch_one(&mut *tx)
            .await?,
        ),
        false => None,
    };
    enter(&mut tx, &room.id, account, next).await?;
    let joined = sqlx::query(PLACE).bind(&room.id).bind(account).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(place_of(&joined))
}

/// The account's entry (a second one of the same account, joining at the
/// same moment, finds the first).
async fn enter(tx: &mut Transaction<'_, Postgres>, room: &str, account: &str, place: Option<i64>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO queue_entries (room, account, draw_key, place) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (room, account) DO NOTHING",
    )
    .bind(room)
    .bind(account)
    .bind(draw_key())
    .bind(place)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A uniformly random 63-bit number from the operating system's generator:
/// the pre-queue's order, unknown to buyers until the room opens.
fn draw_key() -> i64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("system randomness");
    (u64::from_be_bytes(bytes) >> 1) as i64
}

/// Open a room (its row locked by the caller): number the pre-queue in
/// draw order, then go on from there in arrival order.
async fn open(tx: &mut Transaction<'_, Postgres>, room: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE queue_entries e SET place = d.n \
         FROM (SELECT account, row_number() OVER (ORDER BY draw_key, account) AS n \
               FROM queue_entries WHERE room = $1 AND place IS NULL) d \
         WHERE e.room = $1 AND e.account = d.account",
    )
    .bind(room)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE queue_rooms SET opened = true, ticked_at = now(), \
         next_place = (SELECT coalesce(max(place), 0) + 1 FROM queue_entries WHERE room = $1) WHERE room = $1",
    )
    .bind(room)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Give an admitted place its admission (once; a second call returns the
/// first one's nonce and expiry).
pub async fn issue_admission(pool: &PgPool, room: &str, account: &str, ttl: chrono::Duration) -> sqlx::Result<Place> {
    sqlx::query(
        "UPDATE queue_entries SET admission_nonce = $3, admission_expires_at = now() + $4 \
         WHERE room = $1 AND account = $2 AND admission_nonce IS NULL",
    )
    .bind(room)
    .bind(account)
    .bind(Uuid::new_v4())
    .bind(ttl)
    .execute(pool)
    .await?;
    sqlx::query(PLACE).bind(room).bind(account).fetch_one(pool).await.map(|r| place_of(&r))
}

/// Spend an admission on a reservation: false when it was spent before,
/// has expired, or is not the one issued.
pub async fn spend(pool: &PgPool, room: &str, account: &str, nonce: Uuid, reservation: Uuid) -> sqlx::Result<bool> {
    let spent = sqlx::query(
        "UPDATE queue_entries SET used_by = $4 \
         WHERE room = $1 AND account = $2 AND admission_nonce = $3 AND used_by IS NULL \
           AND admission_expires_at > now()",
    )
    .bind(room)
    .bind(account)
    .bind(nonce)
    .bind(reservation)
    .execute(pool)
    .await?;
    Ok(spent.rows_affected() == 1)
}

/// Give back the admission a reservation spent, when the hold did not
/// happen (refused by a cap, rejected by the log): the buyer's turn stands
/// until it expires.
pub async fn give_back(pool: &PgPool, reservation: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE queue_entries SET used_by = NULL WHERE used_by = $1").bind(reservation).execute(pool).await?;
    Ok(())
}

/// One room as the admitter and operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomState {
    pub room: String,
    pub opens_at: DateTime<Utc>,
    pub opened: bool,
    /// Buyers in it (pre-queued, waiting or admitted).
    pub joined: i64,
    pub admitted_through: i64,
    /// Buyers still waiting for their turn (the pre-queue included).
    pub waiting: i64,
    pub rate_per_min: f64,
    /// The market's rate, when the organisers set one.
    pub admit_per_minute: Option<i32>,
}

/// One admitter tick, as one transaction (skipped when another instance
/// holds the tick): open the rooms whose time has come, then move each
/// opened room with buyers waiting by the rate `rate_of` gives it (buyers
/// per minute; it is told how many rooms have buyers waiting) for the time
/// since its last tick. Returns every room's state after the tick.
pub async fn tick(pool: &PgPool, rate_of: impl Fn(&RoomState, usize) -> f64) -> sqlx::Result<Vec<RoomState>> {
    let mut tx = pool.begin().await?;
    let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('ticktak-queue-admitter'))")
        .fetch_one(&mut *tx)
        .await?;
    if mine {
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT room FROM queue_rooms WHERE NOT opened AND opens_at <= now() ORDER BY room FOR UPDATE",
        )
        .fetch_all(&mut *tx)
        .await?;
        for room in &due {
            open(&mut tx, room).await?;
        }
        let waiting: Vec<RoomState> =
            rooms(&mut *tx).await?.into_iter().filter(|r| r.opened && r.waiting > 0).collect();
        for r in &waiting {
            // Credit accrues for the seconds since the last tick (at most 2,
            // so neither a stalled admitter nor a line that starts again in
            // a room long idle lets a crowd in at once); what is left over
            // when nobody is waiting any more is dropped.
            sqlx::query(
                "UPDATE queue_rooms r SET \
                   admitted_through = least(r.next_place - 1, r.admitted_through + floor(c.credit)::bigint), \
                   admit_credit = CASE WHEN r.admitted_through + floor(c.credit) >= r.next_place - 1 THEN 0 \
                                       ELSE c.credit - floor(c.credit) END, \
                   rate_per_min = $2, ticked_at = now() \
                 FROM (SELECT room, admit_credit + $2 / 60.0 * \
                         least(2.0, extract(epoch FROM now() - coalesce(ticked_at, now())))::double precision AS credit \
                       FROM queue_rooms WHERE room = $1) c \
                 WHERE r.room = c.room",
            )
            .bind(&r.room)
            .bind(rate_of(r, waiting.len()))
            .execute(&mut *tx)
            .await?;
        }
        // Rooms whose line emptied since the last tick stop accruing (the
        // rest are left alone: no write each second for every past room).
        sqlx::query(
            "UPDATE queue_rooms SET ticked_at = now(), admit_credit = 0, rate_per_min = 0 \
             WHERE opened AND admitted_through >= next_place - 1 AND (rate_per_min <> 0 OR admit_credit <> 0)",
        )
        .execute(&mut *tx)
        .await?;
    }
    let rooms = rooms(&mut *tx).await?;
    tx.commit().await?;
    Ok(rooms)
}

/// Every room still worth showing: not opened yet, or opened in the last day.
pub async fn rooms<'e, E: sqlx::PgExecutor<'e>>(db: E) -> sqlx::Result<Vec<RoomState>> {
    let rows = sqlx::query(
        "SELECT r.room, r.opens_at, r.opened, r.admitted_through, r.rate_per_min, r.admit_per_minute, \
                (SELECT count(*) FROM queue_entries e WHERE e.room = r.room) AS joined, \
                greatest(0, r.next_place - 1 - r.admitted_through) \
                  + (SELECT count(*) FROM queue_entries e WHERE e.room = r.room AND e.place IS NULL) AS waiting \
         FROM queue_rooms r WHERE NOT r.opened OR r.opens_at > now() - interval '1 day' ORDER BY r.opens_at, r.room",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| RoomState {
            room: r.get("room"),
            opens_at: r.get("opens_at"),
            opened: r.get("opened"),
            joined: r.get("joined"),
            admitted_through: r.get("admitted_through"),
            waiting: r.get("waiting"),
            rate_per_min: r.get("rate_per_min"),
            admit_per_minute: r.get("admit_per_minute"),
        })
        .collect())
}

/// The platform's health signals the database holds: requests the log has
/// not decided, and outbox rows not yet published.
pub async fn backlog(pool: &PgPool) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM reservations WHERE status = 'REQUESTED') AS undecided, \
                (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS outbox",
    )
    .fetch_one(pool)
    .await?;
    Ok((row.get("undecided"), row.get("outbox")))
}
