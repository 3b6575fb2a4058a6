//! The buyer's life after the hold, against the log's serial application:
//!
//! - **paid**: a payment answered 200 confirmed its hold in the log; one
//!   refused (409) did not;
//! - **refunded**: a refund answered 200 refunded its hold in the log, and
//!   no order was both refunded and let in (a refund needs no ticket used,
//!   an admission a ticket not revoked: in any order, not both);
//! - **admitted once**: no ticket is admitted twice, at one gate or two,
//!   and none of a hold the log never confirmed;
//! - **expiry**: a hold nobody cancelled is not released before its time
//!   (`HOLD_TTL`) has passed since it was asked for, by the log's
//!   timestamps — unless a database's clock was stepped meanwhile (a skew
//!   set or taken back moves the expiries it decides, by design: counted
//!   apart).

use std::collections::HashMap;

use ticktak_core::ledger::HoldStatus;
use ticktak_core::HoldId;

use super::Model;
use crate::jepsen::history::{Answer, Op, Request};

/// A log timestamp may be this much before the history's clock reading of
/// the same moment (both the machine's clock; ms rounding).
const SLACK_MS: i64 = 100;

/// When holds may expire: the run's start on the machine's clock, the
/// holds' time, and the moments a database's clock was stepped.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub start_unix_ms: i64,
    pub hold_ttl_ms: i64,
    pub clock_steps_unix_ms: Vec<i64>,
}

/// A property broken, and the hold concerned.
pub(super) struct Found {
    pub property: &'static str,
    pub detail: String,
    pub hold: Option<HoldId>,
}

/// What the buyer's life broke, and how many expiries a clock step moved.
pub(super) fn check(history: &[Op], model: &Model, timing: &Timing) -> (Vec<Found>, usize) {
    let mut found = Vec::new();
    let mut put = |property, detail, hold| found.push(Found { property, detail, hold: Some(hold) });
    let status = |h: HoldId| model.ledger.hold(h).map(|h| h.status);
    let paid = |h: HoldId| matches!(status(h), Some(HoldStatus::Confirmed | HoldStatus::Refunded));
    let refunds: HashMap<HoldId, Vec<&Op>> = group(history, |o| match (&o.request, &o.answer) {
        (Request::Refund { hold }, Some(Answer::Refunded)) => Some(*hold),
        _ => None,
    });
    let admissions: Vec<(&Op, HoldId, uuid::Uuid)> = history
        .iter()
        .filter_map(|o| match (&o.request, &o.answer) {
            (Request::CheckIn { hold, ticket, .. }, Some(Answer::Admitted)) => Some((o, *hold, *ticket)),
            _ => None,
        })
        .collect();

    for op in history {
        match (&op.request, &op.answer) {
            (Request::Pay { hold }, Some(Answer::Paid)) if !paid(*hold) => {
                put("paid", format!("hold {hold} was answered paid but the log has it {:?}", status(*hold)), *hold)
            }
            (Request::Pay { hold }, Some(Answer::Other { status: 409 })) if paid(*hold) => {
                put("paid", format!("the payment for hold {hold} was refused (409) but the log confirmed it"), *hold)
            }
            (Request::Refund { hold }, Some(Answer::Refunded)) if status(*hold) != Some(HoldStatus::Refunded) => put(
                "refunded",
                format!("hold {hold} was answered refunded but the log has it {:?}", status(*hold)),
                *hold,
            ),
            _ => {}
        }
    }
    for (op, hold, ticket) in &admissions {
        if !paid(*hold) {
            put(
                "admitted once",
                format!("ticket {ticket} was admitted, but the log never confirmed hold {hold}"),
                *hold,
            );
        }
        // A refund needs no ticket used, an admission a ticket not revoked:
        // in whatever order they came, both cannot have succeeded.
        if let Some(refund) = refunds.get(hold).and_then(|r| r.first()) {
            put(
                "refunded",
                format!(
                    "order {hold} was refunded (#{}) and its ticket {ticket} admitted (#{})",
                    refund.index, op.index
                ),
                *hold,
            );
        }
    }
    let mut by_ticket: HashMap<uuid::Uuid, Vec<&Op>> = HashMap::new();
    for (op, _, ticket) in &admissions {
        by_ticket.entry(*ticket).or_default().push(op);
    }
    let mut twice: Vec<(&uuid::Uuid, &Vec<&Op>)> = by_ticket.iter().filter(|(_, ops)| ops.len() > 1).collect();
    twice.sort_by_key(|(t, _)| **t);
    for (ticket, ops) in twice {
        let Some(hold) = ops[0].hold() else { continue };
        let at: Vec<String> = ops.iter().map(|o| format!("#{} at {}", o.index, o.platform)).collect();
        put("admitted once", format!("ticket {ticket} was admitted {} times: {}", ops.len(), at.join(", ")), hold);
    }

    let cancelled: std::collections::HashSet<HoldId> = history
        .iter()
        .filter_map(|o| match o.request {
            Request::Cancel { hold } => Some(hold),
            _ => None,
        })
        .collect();
    let mut stepped = 0;
    for op in history {
        let (Request::Hold { .. }, Some(Answer::Held { hold })) = (&op.request, &op.answer) else { continue };
        let Some(Some(released)) = model.released_at.get(hold).copied() else { continue };
        if cancelled.contains(hold) {
            continue;
        }
        let asked = timing.start_unix_ms + op.invoked_ms as i64;
        if released + SLACK_MS >= asked + timing.hold_ttl_ms {
            continue;
        }
        if timing.clock_steps_unix_ms.iter().any(|s| (asked..=released).contains(s)) {
            stepped += 1;
            continue;
        }
        put(
            "expiry",
            format!(
                "hold {hold} was released {} ms after it was asked for, before its {} ms were up, and nobody cancelled it",
                released - asked,
                timing.hold_ttl_ms
            ),
            *hold,
        );
    }
    (found, stepped)
}

fn group(history: &[Op], key: impl Fn(&Op) -> Option<HoldId>) -> HashMap<HoldId, Vec<&Op>> {
    let mut out: HashMap<HoldId, Vec<&Op>> = HashMap::new();
    for op in history {
        if let Some(k) = key(op) {
            out.entry(k).or_default().push(op);
        }
    }
    out
}
