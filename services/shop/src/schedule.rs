//! The sale schedule as this platform follows it (`ticktak_core::schedule`):
//! the organisers' messages on the schedule topic, applied with their
//! offsets to `sale_schedule`, kept in memory for every read, and stamped
//! on each category a buyer or the reservations service sees (`phase`,
//! `phaseUntil`, `nextOnSaleAt`).
//!
//! Only messages the organisers signed count (`issued-at` and `signature`,
//! as on the master list), and a scope's message replaces the one in force
//! only when issued after it. A market without an organisers' key has no
//! schedule: every message is recorded invalid, every ticket type is open.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use ticktak_contracts::catalogue::{CategoryView, WaitingRoom};
use ticktak_core::schedule::{Schedule, ScheduleMessage};
use ticktak_core::{Category, MatchNumber, TicketType};
use ticktak_kit::kafka::follow::{self, Message, OffsetTables, OwnedMessage};
use ticktak_kit::kafka::trust::{Trust, ISSUED_AT, SCHEDULE_LABEL};
use tokio_util::sync::CancellationToken;

/// How long the broker may hold a fetch of the caught-up schedule topic: a
/// new schedule is seen within about half of it, and an idle topic costs
/// the broker little.
const FETCH_WAIT: std::time::Duration = std::time::Duration::from_millis(1000);

/// The schedule in force, shared by the handlers and the follower.
#[derive(Clone, Default)]
pub struct SaleSchedule {
    inner: Arc<RwLock<Schedule>>,
}

impl SaleSchedule {
    /// The schedule stored before.
    pub async fn load(pool: &PgPool) -> sqlx::Result<Self> {
        let rows = sqlx::query("SELECT message FROM sale_schedule").fetch_all(pool).await?;
        let mut schedule = Schedule::new();
        for r in rows {
            if let Ok(m) = serde_json::from_value::<ScheduleMessage>(r.get("message")) {
                schedule.set(m);
            }
        }
        Ok(Self { inner: Arc::new(RwLock::new(schedule)) })
    }

    /// Set each category's phase at `now`.
    pub fn stamp(&self, match_number: u8, categories: &mut [CategoryView], now: DateTime<Utc>) {
        let schedule = self.inner.read().expect("schedule lock");
        let Ok(m) = MatchNumber::new(i64::from(match_number)) else { return };
        for view in categories {
            let Ok(c) = Category::new(i64::from(view.category)) else { continue };
            let at = schedule.phase_of(TicketType::new(m, c), now);
            view.phase = at.phase;
            view.phase_until = at.until;
            view.next_on_sale_at = at.next_on_sale;
            view.waiting_room =
                at.room.map(|r| WaitingRoom { id: r.id(), opens_at: r.opens_at, admit_per_minute: r.admit_per_minute });
        }
    }
}

/// Why a message is not applied, or the message and when the organisers
/// issued it.
fn vet(trust: &Trust, message: &OwnedMessage) -> Result<(ScheduleMessage, DateTime<Utc>), String> {
    if !trust.has_organisers_key() {
        return Err("this market has no organisers' key (ORGANISERS_KEY=none): no schedule is followed".into());
    }
    let body = message.payload().unwrap_or_default();
    let issued_at = trust
        .issued_by_organisers_as(
            SCHEDULE_LABEL,
            body,
            follow::header(message, ISSUED_AT),
            follow::header(message, ticktak_core::headers::SIGNATURE),
        )
        .ok_or("not signed by the organisers")?;
    let schedule = ScheduleMessage::decode(body)?;
    Ok((schedule, issued_at))
}

/// Where the schedule topic's offsets and refusals are kept.
const TABLES: OffsetTables = OffsetTables { applied: "schedule_applied", invalid: "schedule_invalid" };

/// Apply one message with its offset, in one transaction.
async fn apply(pool: &PgPool, schedule: &SaleSchedule, trust: &Trust, message: OwnedMessage) -> anyhow::Result<()> {
    let (partition, offset) = (message.partition(), message.offset());
    let mut tx = pool.begin().await?;
    if TABLES.seen(&mut tx, partition, offset).await? {
        return Ok(());
    }
    let mut applied = None;
    let refused = match vet(trust, &message) {
        Err(reason) => Some(reason),
        Ok((m, issued_at)) => {
            let stored = sqlx::query(
                "INSERT INTO sale_schedule (scope, message, issued_at, log_partition, log_offset) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (scope) DO UPDATE SET message = EXCLUDED.message, issued_at = EXCLUDED.issued_at, \
                   log_partition = EXCLUDED.log_partition, log_offset = EXCLUDED.log_offset \
                 WHERE sale_schedule.issued_at < EXCLUDED.issued_at",
            )
            .bind(m.scope.key())
            .bind(serde_json::to_value(&m)?)
            .bind(issued_at)
            .bind(partition)
            .bind(offset)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            match stored {
                1 => {
                    applied = Some(m);
                    None
                }
                _ => Some(format!("issued at {issued_at}, not after the schedule in force for its scope")),
            }
        }
    };
    if let Some(reason) = &refused {
        metrics::counter!("schedule_messages_invalid_total").increment(1);
        tracing::warn!(partition, offset, %reason, "schedule message not applied");
        TABLES.refuse(&mut tx, partition, offset, reason).await?;
    }
    TABLES.applied(&mut tx, partition, offset).await?;
    tx.commit().await?;
    if let Some(m) = applied {
        tracing::info!(scope = %m.scope.key(), steps = m.steps.len(), "sale schedule applied");
        schedule.inner.write().expect("schedule lock").set(m);
    }
    Ok(())
}

/// Follow the schedule topic until shutdown.
pub async fn follow(
    pool: PgPool,
    schedule: SaleSchedule,
    settings: Arc<ticktak_kit::Settings>,
    shutdown: CancellationToken,
) {
    let client_id = format!("ticktak-{}-shop-schedule", settings.platform_id);
    let topic = settings.topics.schedule.clone();
    let trust = settings.trust.clone();
    let applied = || async {
        Ok(sqlx::query_as::<_, (i32, i64)>("SELECT log_partition, log_offset FROM schedule_applied")
            .fetch_all(&pool)
            .await?)
    };
    let apply = |message: OwnedMessage| apply(&pool, &schedule, &trust, message);
    follow::follow(&settings.kafka, &client_id, &topic, FETCH_WAIT, applied, apply, shutdown).await;
}
