//! What holders of valid tickets are told before their match: a reminder
//! the day before kick-off ([`REMIND_BEFORE`]), and a notice when the
//! organisers move the match (a new kick-off or venue in the master list),
//! saying what changed. Every `NOTICES_EVERY_MS` the matches with valid
//! tickets here are compared with the shop's master list and with what
//! holders were last told (`match_notices_seen`); each reminder goes once
//! per kick-off, each move notice once per move (mail dedupe keys name
//! them), one mail per order.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use ticktak_contracts::catalogue::MatchView;
use ticktak_core::MatchNumber;
use ticktak_kit::mail::{self, Mail};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::AppState;

/// Holders are reminded this long before kick-off.
pub const REMIND_BEFORE: chrono::Duration = chrono::Duration::hours(24);

/// What holders last heard of a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub kick_off: DateTime<Utc>,
    pub location: String,
    pub moves: i32,
    pub reminded_kick_off: Option<DateTime<Utc>>,
}

/// What to tell holders now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tell {
    /// The match moved: from (kick-off, venue), the move's number.
    pub moved: Option<(DateTime<Utc>, String, i32)>,
    /// The day-before reminder is due.
    pub remind: bool,
}

/// The rule: a match never seen is noted, not announced; one whose kick-off
/// or venue differs from what holders heard moved; a kick-off within
/// [`REMIND_BEFORE`] and still ahead gets its reminder once.
pub fn decide(seen: Option<&Seen>, now: DateTime<Utc>, m: &MatchView) -> Tell {
    let moved = seen
        .filter(|s| s.kick_off != m.date_utc || s.location != m.location)
        .map(|s| (s.kick_off, s.location.clone(), s.moves + 1));
    let reminded = seen.and_then(|s| s.reminded_kick_off) == Some(m.date_utc);
    let remind = m.date_utc > now && m.date_utc - now <= REMIND_BEFORE && !reminded;
    Tell { moved, remind }
}

/// Look every `every` until `shutdown`.
pub async fn follow(s: AppState, every: Duration, shutdown: CancellationToken) {
    loop {
        if let Err(e) = tick(&s).await {
            tracing::warn!(error = %e, "match notices: will try again");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn tick(s: &AppState) -> anyhow::Result<()> {
    let matches: Vec<i16> =
        sqlx::query_scalar("SELECT DISTINCT match_number FROM tickets WHERE status = 'VALID' ORDER BY 1")
            .fetch_all(&s.pool)
            .await?;
    let now = Utc::now();
    for number in matches {
        // One match the shop cannot answer for does not hold up the others.
        let Ok(n) = MatchNumber::new(i64::from(number)) else { continue };
        let m = match s.shop.match_view(n).await {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(error = %e, number, "match notices: no match details");
                continue;
            }
        };
        let seen = seen(&s.pool, number).await?;
        let tell = decide(seen.as_ref(), now, &m);
        if seen.is_some() && tell == Tell::default() {
            continue;
        }
        tell_holders(&s.pool, number, seen.as_ref(), &tell, &m).await?;
    }
    Ok(())
}

async fn seen(pool: &PgPool, number: i16) -> sqlx::Result<Option<Seen>> {
    let row = sqlx::query(
        "SELECT kick_off, location, moves, reminded_kick_off FROM match_notices_seen WHERE match_number = $1",
    )
    .bind(number)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Seen {
        kick_off: r.get("kick_off"),
        location: r.get("location"),
        moves: r.get("moves"),
        reminded_kick_off: r.get("reminded_kick_off"),
    }))
}

/// Queue the mails and note what holders now know, in one transaction.
async fn tell_holders(
    pool: &PgPool,
    number: i16,
    seen: Option<&Seen>,
    tell: &Tell,
    m: &MatchView,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    // The buyers still holding tickets of an order (one mail per order), and
    // the people named with an address or holding a ticket passed to them
    // (one per ticket).
    let buyers: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT DISTINCT r.id, r.buyer_email FROM reservations r JOIN tickets t ON t.reservation_id = r.id \
         WHERE t.match_number = $1 AND t.status = 'VALID' AND t.owner_account IS NULL \
           AND r.buyer_email IS NOT NULL ORDER BY r.id",
    )
    .bind(number)
    .fetch_all(&mut *tx)
    .await?;
    let holders: Vec<(Uuid, String, i16)> = sqlx::query_as(
        "SELECT id, to_address, seat FROM (SELECT id, seat, coalesce(holder_email, \
             CASE WHEN owner_account IS NOT NULL AND strpos(holder, '@') > 0 THEN holder END) AS to_address \
           FROM tickets WHERE match_number = $1 AND status = 'VALID') held \
         WHERE to_address IS NOT NULL ORDER BY id",
    )
    .bind(number)
    .fetch_all(&mut *tx)
    .await?;
    let orders: Vec<(String, String, String)> = buyers
        .into_iter()
        .map(|(order, to)| (format!("{order}"), to, format!("you hold tickets for it (order {order})")))
        .chain(holders.into_iter().map(|(ticket, to, seat)| {
            (format!("holder-{ticket}"), to, format!("a ticket for it is yours (seat {seat})"))
        }))
        .collect();
    let what = format!("Match {}: {} v {}", m.match_number, m.home_team, m.away_team);
    let when = |t: DateTime<Utc>| t.format("%A %Y-%m-%d %H:%M UTC").to_string();
    for (order, to, holding) in &orders {
        if let Some((was_at, was_where, move_number)) = &tell.moved {
            let mut changes = Vec::new();
            if *was_at != m.date_utc {
                changes.push(format!("Kick-off: {} (was {}).", when(m.date_utc), when(*was_at)));
            }
            if *was_where != m.location {
                changes.push(format!("Venue: {} (was {}).", m.location, was_where));
            }
            let body = format!(
                "Hello,\n\nThe organisers moved {what}: {holding}.\n\n{}\n\n\
                 The tickets stay valid for the match at its new time and place.\n",
                changes.join("\n")
            );
            let mail = Mail {
                dedupe_key: format!("moved:{}:{move_number}:{order}", m.match_number),
                to: to.clone(),
                subject: format!("{what} has moved"),
                body,
                attachments: Vec::new(),
            };
            mail::enqueue(&mut tx, &mail).await?;
        }
        if tell.remind {
            let body = format!(
                "Hello,\n\n{what} kicks off {} at {}: {holding}.\n\n\
                 Bring the tickets (the QR codes mailed to you, or the live code under My tickets) and an identity \
                 document; gates open three hours before kick-off.\n",
                when(m.date_utc),
                m.location
            );
            let mail = Mail {
                dedupe_key: format!("reminder:{}:{}:{order}", m.match_number, m.date_utc.timestamp()),
                to: to.clone(),
                subject: format!("Tomorrow: {what}"),
                body,
                attachments: Vec::new(),
            };
            mail::enqueue(&mut tx, &mail).await?;
        }
    }
    let moves = tell.moved.as_ref().map(|(_, _, n)| *n).or(seen.map(|s| s.moves)).unwrap_or(0);
    let reminded = if tell.remind { Some(m.date_utc) } else { seen.and_then(|s| s.reminded_kick_off) };
    sqlx::query(
        "INSERT INTO match_notices_seen (match_number, kick_off, location, moves, reminded_kick_off) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (match_number) DO UPDATE SET kick_off = EXCLUDED.kick_off, \
           location = EXCLUDED.location, moves = EXCLUDED.moves, reminded_kick_off = EXCLUDED.reminded_kick_off",
    )
    .bind(number)
    .bind(m.date_utc)
    .bind(&m.location)
    .bind(moves)
    .bind(reminded)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(kick_off: DateTime<Utc>, location: &str) -> MatchView {
        MatchView {
            match_number: 7,
            round_number: 1,
            date_utc: kick_off,
            location: location.into(),
            home_team: "Brazil".into(),
            away_team: "Serbia".into(),
            group: Some("G".into()),
            categories: Vec::new(),
        }
    }

    #[test]
    fn a_reminder_once_per_kick_off_a_notice_once_per_move() {
        let now = DateTime::parse_from_rfc3339("2022-11-23T19:00:00Z").unwrap().to_utc();
        let h = chrono::Duration::hours;
        // First seen 30 h ahead: noted, nothing said.
        let far = view(now + h(30), "Lusail Stadium");
        assert_eq!(decide(None, now, &far), Tell::default());
        let seen = Seen { kick_off: now + h(30), location: "Lusail Stadium".into(), moves: 0, reminded_kick_off: None };
        assert_eq!(decide(Some(&seen), now, &far), Tell::default());
        // 12 h ahead: the reminder, once.
        let near = view(now + h(12), "Lusail Stadium");
        let tell = decide(Some(&Seen { kick_off: now + h(12), ..seen.clone() }), now, &near);
        assert_eq!(tell, Tell { moved: None, remind: true });
        let reminded = Seen { kick_off: now + h(12), reminded_kick_off: Some(now + h(12)), ..seen.clone() };
        assert_eq!(decide(Some(&reminded), now, &near), Tell::default());
        // Moved to another venue, 20 h ahead: a notice, and the reminder for the new kick-off.
        let moved = view(now + h(20), "Al Bayt Stadium");
        let tell = decide(Some(&reminded), now, &moved);
        assert_eq!(tell.moved, Some((now + h(12), "Lusail Stadium".to_string(), 1)));
        assert!(tell.remind);
        // Played: nothing more.
        assert!(!decide(None, now, &view(now - h(1), "Lusail Stadium")).remind);
    }
}
