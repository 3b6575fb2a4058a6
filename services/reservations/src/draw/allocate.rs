//! From the seed to paid tickets, every second:
//! 1. a draw whose seed came in is drawn (`ticktak_core::draw::run`) from
//!    the applications the topic held before the seed, and its result
//!    recorded: each application's place, which were offered tickets, the
//!    winners' digest;
//! 2. the allocations' holds are looked up in the ledger (their ids are
//!    the same on every platform, `ticktak_core::draw::hold_id`): paid
//!    ones are kept, released or refused ones lapse, and their tickets go
//!    down the order to the next applications they cover
//!    (`ticktak_core::draw::offered`) — the same on every platform, since
//!    each reads the same log;
//! 3. this platform's applications offered tickets get their hold (a
//!    reservation through the ticket-sales log, with the draw's payment
//!    window, under the buyer's account) and an e-mail; the others are
//!    told their place on the list.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use ticktak_core::draw::{self, Fate};
use ticktak_core::{HoldId, HoldStatus, Price, Quantity, TicketType};
use tokio_util::sync::CancellationToken;

use super::store;
use crate::store::{Caps, Reservation, ReservationStatus};
use crate::AppState;

/// Most holds asked of the shop at once (its limit per query).
const HOLDS_PER_QUERY: usize = 1000;

/// Draw, settle and offer until shutdown.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Err(e) = tick(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "draw allocation failed; trying again");
        }
    }
}

async fn tick(s: &AppState) -> anyhow::Result<()> {
    for (terms, seed) in store::due(&s.background_pool).await? {
        draw_now(s, &terms, &seed).await?;
    }
    for (draw, unsettled) in store::unsettled(&s.background_pool).await? {
        settle(s, &draw, &unsettled).await?;
    }
    tell(s).await
}

/// Run a draw and record its result.
async fn draw_now(s: &AppState, terms: &draw::DrawTerms, seed: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let entries = store::entries(&s.background_pool, &terms.draw).await?;
    let counted = entries.len();
    let result = draw::run(terms, seed, entries);
    let offered: Vec<Vec<bool>> = result
        .order
        .iter()
        .map(|(tt, order)| draw::offered(order, terms.stock_of(*tt).unwrap_or(0), |_| Fate::Pending))
        .collect();
    if store::record_result(&s.background_pool, &terms.draw, &result, &offered).await? {
        metrics::histogram!("draw_run_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(
            draw = %terms.draw, applications = counted, duplicates = result.duplicates, winners = result.winners,
            digest = %result.digest, seconds = started.elapsed().as_secs_f64(), "draw run"
        );
    }
    Ok(())
}

/// Look up the unsettled allocations' holds; record what the log settled
/// and, where one lapsed, pass its tickets on.
async fn settle(s: &AppState, draw: &str, unsettled: &[(ticktak_core::PlatformId, uuid::Uuid)]) -> anyhow::Result<()> {
    let ids: Vec<(HoldId, usize)> = unsettled
        .iter()
        .enumerate()
        .map(|(i, (platform, application))| (HoldId(draw::hold_id(draw, platform, *application)), i))
        .collect();
    let index: HashMap<HoldId, usize> = ids.iter().copied().collect();
    let mut settled = Vec::new();
    for chunk in ids.chunks(HOLDS_PER_QUERY) {
        let holds: Vec<HoldId> = chunk.iter().map(|(h, _)| *h).collect();
        for hold in s.shop.holds(&holds).await? {
            let Some(&i) = index.get(&hold.hold_id) else { continue };
            let (platform, application) = &unsettled[i];
            // Only the applicant's own platform can hold its allocation; a
            // hold of that id by anyone else settles nothing.
            if hold.origin.as_deref() != Some(platform.as_str()) {
                metrics::counter!("draw_holds_foreign_total").increment(1);
                continue;
            }
            let fate = match hold.status {
                HoldStatus::Confirmed | HoldStatus::Refunded => Fate::Kept,
                HoldStatus::Released | HoldStatus::Rejected => Fate::Lapsed,
                HoldStatus::Granted => continue,
            };
            settled.push((platform.clone(), *application, fate));
        }
    }
    if settled.is_empty() {
        return Ok(());
    }
    store::settle(&s.background_pool, draw, &settled).await?;
    if settled.iter().any(|(_, _, f)| *f == Fate::Lapsed) {
        pass_on(s, draw).await?;
    }
    Ok(())
}

/// Offer the tickets of lapsed allocations down the order.
async fn pass_on(s: &AppState, draw: &str) -> anyhow::Result<()> {
    let Some(d) = store::draw(&s.background_pool, draw).await? else { return Ok(()) };
    let mut by_type: BTreeMap<TicketType, Vec<store::Ranked>> = BTreeMap::new();
    for r in store::order(&s.background_pool, draw).await? {
        by_type.entry(r.entry.ticket_type).or_default().push(r);
    }
    let mut newly = Vec::new();
    for (tt, ranked) in &by_type {
        let entries: Vec<draw::Entry> = ranked.iter().map(|r| r.entry.clone()).collect();
        let fates: HashMap<(String, uuid::Uuid), Fate> =
            ranked.iter().map(|r| ((r.entry.platform.to_string(), r.entry.application), r.fate)).collect();
        let fate = |e: &draw::Entry| fates[&(e.platform.to_string(), e.application)];
        let offered = draw::offered(&entries, d.terms.stock_of(*tt).unwrap_or(0), fate);
        for (r, now_offered) in ranked.iter().zip(offered) {
            if now_offered && !r.offered {
                newly.push((r.entry.platform.clone(), r.entry.application));
            }
        }
    }
    if !newly.is_empty() {
        tracing::info!(draw, passed_on = newly.len(), "tickets of lapsed allocations passed on");
        metrics::counter!("draw_second_chances_total").increment(newly.len() as u64);
        store::offer(&s.background_pool, draw, &newly).await?;
    }
    Ok(())
}

/// Hold this platform's newly offered allocations and mail their owners;
/// tell the waitlisted their place.
async fn tell(s: &AppState) -> anyhow::Result<()> {
    let me = &s.settings.platform_id;
    let (won, waiting) = store::to_tell(&s.background_pool, me).await?;
    let mut terms: HashMap<String, Option<draw::DrawTerms>> = HashMap::new();
    for (own, second_chance) in won {
        if !terms.contains_key(&own.draw) {
            let d = store::draw(&s.background_pool, &own.draw).await?;
            terms.insert(own.draw.clone(), d.map(|d| d.terms));
        }
        let Some(Some(t)) = terms.get(&own.draw) else { continue };
        hold(s, &own, t, second_chance).await?;
    }
    for (own, place) in waiting {
        let mut tx = s.background_pool.begin().await?;
        ticktak_kit::mail::enqueue(&mut tx, &super::mail::waitlisted(&own, place)).await?;
        store::told(&mut tx, own.id, None).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The hold of an allocation: a reservation of the applicant's, published
/// as any hold is, whose time to pay is the draw's payment window. Not
/// counted against the platform's own purchase caps (the draw took one
/// application per person and ticket type); the ledger's cap per person
/// still decides it.
async fn hold(s: &AppState, own: &store::Own, terms: &draw::DrawTerms, second_chance: bool) -> anyhow::Result<()> {
    let me = &s.settings.platform_id;
    let category = s.availability.known(own.ticket_type).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let price = Price::new(i64::from(category.price)).map_err(|e| anyhow::anyhow!(e.0))?;
    let quantity = Quantity::new(i64::from(own.quantity)).map_err(|e| anyhow::anyhow!(e.0))?;
    let id = draw::hold_id(&own.draw, me, own.id);
    let r = Reservation {
        id,
        ..Reservation::new(&own.account, own.ticket_type, quantity, price, ReservationStatus::Requested, None)
            .with_buyer(&own.email, &own.country)
    };
    let mut tx = s.background_pool.begin().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reservations WHERE id = $1)")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let mut queued = None;
    if !exists {
        let no_caps = Caps { tickets_per_match: 0, open_holds: 0 };
        match crate::store::insert_new(&mut *tx, &s.origin, &r, None, no_caps).await? {
            Ok(row) => queued = Some(row),
            Err(over) => anyhow::bail!("an allocation's hold refused by caps: {over:?}"),
        }
        sqlx::query("UPDATE reservations SET hold_secs = $2 WHERE id = $1")
            .bind(id)
            .bind(terms.payment_window_minutes as i32 * 60)
            .execute(&mut *tx)
            .await?;
    }
    ticktak_kit::mail::enqueue(&mut tx, &super::mail::won(own, terms, id, second_chance)).await?;
    store::told(&mut tx, own.id, Some(id)).await?;
    tx.commit().await?;
    metrics::counter!("draw_allocations_held_total").increment(1);
    if let Some(row) = queued {
        s.outbox.publish(vec![row]);
    }
    Ok(())
}
