//! The draw topic, applied in log order with its offsets: the organisers'
//! terms and seeds, every platform's applications. A message counts when
//! its signer is who it must be ([`vet`]) and the rule admits it
//! (`ticktak_core::draw::admit_*`, the same functions `draw verify` replays
//! with); anything else is recorded in `draw_invalid` with its reason and
//! skipped, so no message can stop a platform or change another's
//! applications.

use std::time::Duration;

use sqlx::{PgPool, Row};
use ticktak_core::draw::{self, Application, DrawMessage, DrawTerms, Known};
use ticktak_core::headers::{CLIENT_ID, SIGNATURE};
use ticktak_core::{BuyerId, Category, MatchNumber, TicketType};
use ticktak_kit::kafka::follow::{self, Message, OffsetTables, OwnedMessage};
use ticktak_kit::kafka::trust::{Trust, ISSUED_AT};
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// How long the broker may hold a fetch of the caught-up draw topic: an
/// application is counted here within about half of it, and the topic,
/// quiet outside a draw's window, costs the broker one ask a second.
const FETCH_WAIT: Duration = Duration::from_millis(1000);

/// Why a message does not count, or what it says: terms and seeds must be
/// the organisers' (`issued-at` and `signature` over the body), an
/// application its platform's (`client-id` naming it, `signature` over
/// [`Application::signed_bytes`]).
pub fn vet(
    trust: &Trust,
    body: &[u8],
    client_id: Option<&str>,
    issued_at: Option<&str>,
    signature: Option<&str>,
) -> Result<DrawMessage, String> {
    let message = DrawMessage::decode(body)?;
    match &message {
        DrawMessage::Terms(_) | DrawMessage::Seed(_) => {
            let label = match message {
                DrawMessage::Terms(_) => draw::TERMS_LABEL,
                _ => draw::SEED_LABEL,
            };
            if !trust.has_organisers_key() {
                return Err("this market has no organisers' key (ORGANISERS_KEY=none): no draw is followed".into());
            }
            trust.issued_by_organisers_as(label, body, issued_at, signature).ok_or("not signed by the organisers")?;
        }
        DrawMessage::Application(a) => {
            if client_id != Some(a.platform.as_str()) {
                return Err(format!("client-id {client_id:?} is not the application's platform {}", a.platform));
            }
            let signature = signature.ok_or("no signature")?;
            if !trust.verify_bytes(&a.platform, &Application::signed_bytes(body), signature) {
                return Err(format!("the signature is not {}'s", a.platform));
            }
        }
    }
    Ok(message)
}

/// What the database holds of a message's draw.
struct Held {
    terms: DrawTerms,
    partition: i32,
    seeded: bool,
}

async fn held(tx: &mut sqlx::PgConnection, draw: &str) -> sqlx::Result<Option<Held>> {
    let row =
        sqlx::query("SELECT terms, log_partition, seed IS NOT NULL AS seeded FROM draws WHERE draw = $1 FOR UPDATE")
            .bind(draw)
            .fetch_optional(tx)
            .await?;
    row.map(|r| {
        let terms = serde_json::from_value(r.get("terms")).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(Held { terms, partition: r.get("log_partition"), seeded: r.get("seeded") })
    })
    .transpose()
}

/// Apply a vetted message at (`partition`, `offset`); why it does not
/// count, if it does not.
async fn admit(
    tx: &mut sqlx::PgConnection,
    message: &DrawMessage,
    partition: i32,
    offset: i64,
) -> anyhow::Result<Result<(), String>> {
    let known = held(tx, message.draw()).await?;
    if let Err(why) = draw::admit_partition(known.as_ref().map(|h| h.partition), partition) {
        return Ok(Err(why));
    }
    match message {
        DrawMessage::Terms(t) => {
            if let Err(why) = draw::admit_terms(known.as_ref().map(|h| &h.terms), t) {
                return Ok(Err(why));
            }
            sqlx::query(
                "INSERT INTO draws (draw, terms, opens_at, closes_at, log_partition) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&t.draw)
            .bind(serde_json::to_value(t)?)
            .bind(t.opens_at)
            .bind(t.closes_at)
            .bind(partition)
            .execute(&mut *tx)
            .await?;
            tracing::info!(draw = %t.draw, "draw terms applied");
        }
        DrawMessage::Seed(s) => {
            if let Err(why) =
                draw::admit_seed(known.as_ref().map(|h| &h.terms), known.as_ref().is_some_and(|h| h.seeded), s)
            {
                return Ok(Err(why));
            }
            sqlx::query("UPDATE draws SET seed = $2, seed_offset = $3 WHERE draw = $1")
                .bind(&s.draw)
                .bind(&s.seed)
                .bind(offset)
                .execute(&mut *tx)
                .await?;
            tracing::info!(draw = %s.draw, "draw seed revealed");
        }
        DrawMessage::Application(a) => {
            let before = sqlx::query(
                "SELECT version, buyer, match_number, category FROM draw_entries \
                 WHERE draw = $1 AND platform = $2 AND application = $3",
            )
            .bind(&a.draw)
            .bind(a.platform.as_str())
            .bind(a.application)
            .fetch_optional(&mut *tx)
            .await?
            .and_then(|r| {
                let m = MatchNumber::new(i64::from(r.get::<i16, _>("match_number"))).ok()?;
                let c = Category::new(i64::from(r.get::<i16, _>("category"))).ok()?;
                Some(Known {
                    version: u32::try_from(r.get::<i32, _>("version")).ok()?,
                    buyer: BuyerId::parse(r.get("buyer")).ok()?,
                    ticket_type: TicketType::new(m, c),
                })
            });
            let (terms, seeded) = (known.as_ref().map(|h| &h.terms), known.as_ref().is_some_and(|h| h.seeded));
            if let Err(why) = draw::admit_application(terms, seeded, before.as_ref(), a) {
                return Ok(Err(why));
            }
            let inserted = sqlx::query(
                "INSERT INTO draw_entries (draw, platform, application, buyer, match_number, category, quantity, \
                   version, first_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (draw, platform, application) DO UPDATE \
                   SET quantity = EXCLUDED.quantity, version = EXCLUDED.version \
                 RETURNING (xmax = 0) AS inserted",
            )
            .bind(&a.draw)
            .bind(a.platform.as_str())
            .bind(a.application)
            .bind(a.buyer.to_string())
            .bind(i16::from(a.match_number.get()))
            .bind(i16::from(a.category.get()))
            .bind(i16::from(a.quantity))
            .bind(a.version as i32)
            .bind(offset)
            .fetch_one(&mut *tx)
            .await?;
            if inserted.get::<bool, _>("inserted") {
                sqlx::query("UPDATE draws SET applications = applications + 1 WHERE draw = $1")
                    .bind(&a.draw)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    Ok(Ok(()))
}

/// Where the draw topic's offsets and refusals are kept.
const TABLES: OffsetTables = OffsetTables { applied: "draw_applied", invalid: "draw_invalid" };

/// Apply one message with its offset, in one transaction.
async fn apply(pool: &PgPool, trust: &Trust, message: OwnedMessage) -> anyhow::Result<()> {
    let (partition, offset) = (message.partition(), message.offset());
    let mut tx = pool.begin().await?;
    // A crash may lose the last commits: their offsets go with them and the
    // messages are read again, so nothing is lost or applied twice.
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    if TABLES.seen(&mut tx, partition, offset).await? {
        return Ok(());
    }
    let vetted = vet(
        trust,
        message.payload().unwrap_or_default(),
        follow::header(&message, CLIENT_ID),
        follow::header(&message, ISSUED_AT),
        follow::header(&message, SIGNATURE),
    );
    let refused = match vetted {
        Err(why) => Some(why),
        Ok(m) => admit(&mut tx, &m, partition, offset).await?.err(),
    };
    if let Some(reason) = &refused {
        metrics::counter!("draw_messages_invalid_total").increment(1);
        tracing::warn!(partition, offset, %reason, "draw message not applied");
        TABLES.refuse(&mut tx, partition, offset, reason).await?;
    }
    TABLES.applied(&mut tx, partition, offset).await?;
    tx.commit().await?;
    Ok(())
}

/// Follow the draw topic until shutdown.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let pool = state.background_pool.clone();
    let client_id = format!("ticktak-{}-draws", state.settings.platform_id);
    let applied = || async {
        let rows: Vec<(i32, i64)> =
            sqlx::query_as("SELECT log_partition, log_offset FROM draw_applied").fetch_all(&pool).await?;
        anyhow::Ok(rows)
    };
    let trust = state.settings.trust.clone();
    let apply = |message: OwnedMessage| apply(&pool, &trust, message);
    follow::follow(
        &state.settings.kafka,
        &client_id,
        &state.settings.topics.draws,
        FETCH_WAIT,
        applied,
        apply,
        shutdown,
    )
    .await;
}
