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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use ticktak_core::draw;
use ticktak_core::{HoldId, HoldStatus, PlatformId, Price, Quantity, TicketType};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::store::{self, Settled};
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
        settle(s, &draw, unsettled).await?;
    }
    tell(s).await
}

/// Run a draw and record its result.
async fn draw_now(s: &AppState, terms: &draw::DrawTerms, seed: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let entries = store::entries(&s.background_pool, &terms.draw).await?;
    let counted = entries.len();
    let result = draw::run(terms, seed, entries);
    let offered: Vec<Vec<bool>> =
        result.order.iter().map(|(tt, order)| draw::drawn_offers(order, terms.stock_of(*tt).unwrap_or(0))).collect();
    if store::record_result(&s.background_pool, &terms.draw, &result, &offered).await? {
        metrics::histogram!("draw_run_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(
            draw = %terms.draw, applications = counted, duplicates = result.duplicates, winners = result.winners,
            digest = %result.digest, seconds = started.elapsed().as_secs_f64(), "draw run"
        );
    }
    Ok(())
}

/// How the log settled the holds of `allocations` (those it settled).
async fn look_up(
    s: &AppState,
    seed: &str,
    draw: &str,
    allocations: &[(PlatformId, Uuid)],
) -> anyhow::Result<Vec<(PlatformId, Uuid, Settled)>> {
    let ids: HashMap<HoldId, &(PlatformId, Uuid)> =
        allocations.iter().map(|a| (HoldId(draw::hold_id(seed, draw, &a.0, a.1)), a)).collect();
    let all: Vec<HoldId> = ids.keys().copied().collect();
    let mut settled = Vec::new();
    for chunk in all.chunks(HOLDS_PER_QUERY) {
        for hold in s.shop.holds(chunk).await? {
            let Some((platform, application)) = ids.get(&hold.hold_id) else { continue };
            // Only the applicant's own platform can hold its allocation; a
            // hold of that id by anyone else settles nothing.
            if hold.origin.as_deref() != Some(platform.as_str()) {
                metrics::counter!("draw_holds_foreign_total").increment(1);
                continue;
            }
            let fate = match (hold.status, hold.position) {
                (HoldStatus::Confirmed | HoldStatus::Refunded, _) => Settled::Kept,
                (HoldStatus::Released | HoldStatus::Rejected, Some(at)) => Settled::Lapsed(at.last_offset),
                _ => continue,
            };
            settled.push((platform.clone(), *application, fate));
        }
    }
    Ok(settled)
}

/// Look up the unsettled allocations' holds; where one lapsed, pass its
/// tickets down the order — lapse by lapse in the sales log's order, the
/// same on every platform (`ticktak_core::draw::offers_after`). An
/// application offered on the way may be held, even lapsed, already (its
/// platform was quicker): its hold is looked up before going on, and its
/// lapse, later in the log than the one that offered it, is replayed in
/// its place. What changed is recorded in one transaction.
async fn settle(s: &AppState, draw: &str, unsettled: Vec<(PlatformId, Uuid)>) -> anyhow::Result<()> {
    let Some(d) = store::draw(&s.background_pool, draw).await? else { return Ok(()) };
    let Some(seed) = d.seed.clone() else { return Ok(()) };
    let mut found = look_up(s, &seed, draw, &unsettled).await?;
    if found.is_empty() {
        return Ok(());
    }
    let mut by_type: BTreeMap<TicketType, Vec<store::Ranked>> = BTreeMap::new();
    for r in store::order(&s.background_pool, draw).await? {
        by_type.entry(r.entry.ticket_type).or_default().push(r);
    }
    let mut settled: HashMap<(PlatformId, Uuid), Settled> = by_type
        .values()
        .flatten()
        .filter_map(|r| Some(((r.entry.platform.clone(), r.entry.application), r.settled?)))
        .collect();
    let mut offered: HashSet<(PlatformId, Uuid)> = by_type
        .values()
        .flatten()
        .filter(|r| r.offered)
        .map(|r| (r.entry.platform.clone(), r.entry.application))
        .collect();
    let (mut recorded, mut passed_on) = (Vec::new(), Vec::new());
    while !found.is_empty() {
        for (platform, application, fate) in found.drain(..) {
            settled.insert((platform.clone(), application), fate);
            recorded.push((platform, application, fate));
        }
        let mut newly = Vec::new();
        for (tt, ranked) in &by_type {
            let order: Vec<draw::Entry> = ranked.iter().map(|r| r.entry.clone()).collect();
            let mut lapses: Vec<(i64, usize)> = order
                .iter()
                .enumerate()
                .filter_map(|(i, e)| match settled.get(&(e.platform.clone(), e.application)) {
                    Some(Settled::Lapsed(offset)) => Some((*offset, i)),
                    _ => None,
                })
                .collect();
            lapses.sort();
            let lapses: Vec<usize> = lapses.into_iter().map(|(_, i)| i).collect();
            let offers = draw::offers_after(&order, d.terms.stock_of(*tt).unwrap_or(0), &lapses);
            for (e, now) in order.iter().zip(offers) {
                if now && offered.insert((e.platform.clone(), e.application)) {
                    newly.push((e.platform.clone(), e.application));
                }
            }
        }
        if !newly.is_empty() {
            found = look_up(s, &seed, draw, &newly).await?;
            passed_on.extend(newly);
        }
    }
    if !passed_on.is_empty() {
        tracing::info!(draw, passed_on = passed_on.len(), "tickets of lapsed allocations passed on");
        metrics::counter!("draw_second_chances_total").increment(passed_on.len() as u64);
    }
    store::pass_on(&s.background_pool, draw, &recorded, &passed_on).await?;
    Ok(())
}

/// Hold this platform's newly offered allocations and mail their owners;
/// tell the waitlisted their place. A row that fails is tried again at
/// the next tick and holds up no other.
async fn tell(s: &AppState) -> anyhow::Result<()> {
    let mut draws: HashMap<String, Option<store::Draw>> = HashMap::new();
    for t in store::to_tell(&s.background_pool, &s.settings.platform_id).await? {
        if !draws.contains_key(&t.own.draw) {
            draws.insert(t.own.draw.clone(), store::draw(&s.background_pool, &t.own.draw).await?);
        }
        let Some(Some(d)) = draws.get(&t.own.draw) else { continue };
        let done = match t.place {
            None => hold(s, d, &t).await,
            Some(place) => waitlisted(s, &t, place).await,
        };
        if let Err(e) = done {
            tracing::warn!(application = %t.own.id, error = %format!("{e:#}"), "cannot tell a draw's applicant yet");
        }
    }
    Ok(())
}

async fn waitlisted(s: &AppState, t: &store::ToTell, place: i64) -> anyhow::Result<()> {
    let mut tx = s.background_pool.begin().await?;
    ticktak_kit::mail::enqueue(&mut tx, &super::mail::waitlisted(&t.own, place)).await?;
    store::told(&mut tx, t.own.id, None).await?;
    tx.commit().await?;
    Ok(())
}

/// The hold of an allocation: a reservation of the applicant's, of the
/// quantity the log counted, published as any hold is, whose time to pay
/// is the draw's payment window. Not counted against the platform's own
/// purchase caps (the draw took one application per person and ticket
/// type); the ledger's cap per person still decides it.
async fn hold(s: &AppState, d: &store::Draw, t: &store::ToTell) -> anyhow::Result<()> {
    let (own, terms) = (&t.own, &d.terms);
    let seed = d.seed.as_deref().ok_or_else(|| anyhow::anyhow!("a drawn draw without its seed"))?;
    let me = &s.settings.platform_id;
    let category = s.availability.known(own.ticket_type).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let price = Price::new(i64::from(category.price)).map_err(|e| anyhow::anyhow!(e.0))?;
    let quantity = Quantity::new(i64::from(t.quantity)).map_err(|e| anyhow::anyhow!(e.0))?;
    let id = draw::hold_id(seed, &own.draw, me, own.id);
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
    ticktak_kit::mail::enqueue(&mut tx, &super::mail::won(own, t.quantity, terms, id, t.second_chance)).await?;
    store::told(&mut tx, own.id, Some(id)).await?;
    tx.commit().await?;
    metrics::counter!("draw_allocations_held_total").increment(1);
    if let Some(row) = queued {
        s.outbox.publish(vec![row]);
    }
    Ok(())
}
