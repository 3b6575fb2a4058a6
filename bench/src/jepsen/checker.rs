//! The history checker: from a run's history, the ticket-sales log as the
//! broker holds it and what every platform ended with, prove the market's
//! guarantees — or print the first operations that break them.
//!
//! The log is applied serially, partition by partition, by the same decode
//! (`ticktak_kit::kafka::decode::sales`, signatures checked) and the same
//! rule (`ticktak_core::ledger`) a platform applies; that serial ledger is
//! the model. The properties:
//!
//! - **serial**: every platform's ledger equals the serial application of
//!   the log, hold by hold and count by count;
//! - **capacity**: walking the log in order with each platform's own
//!   decisions, no ticket type has more tickets granted or sold than exist
//!   at any position (independent of the rule: it holds a platform that
//!   shares a broken rule with the model to the stock);
//! - **acknowledged**: a hold answered 201 was granted by the log, one
//!   answered 409 with an id was rejected by it;
//! - **released once**: a cancel answered 200 released its hold in the log,
//!   and no hold released or refunded its tickets twice;
//! - **own view**: each platform's reservations agree with the log's
//!   decision on them, and none is left undecided;
//! - and the buyer's life after the hold — **paid**, **refunded**,
//!   **admitted once**, **expiry** — in `life`.
//!
//! An operation without an answer (a killed or paused process) is held to
//! nothing: whatever it did, the log and the ledgers must still agree.

use std::collections::{BTreeMap, HashMap};

use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
use ticktak_core::ledger::{HoldStatus, LogPosition, Outcome};
use ticktak_core::{Action, HoldId, Ledger, PlatformId, TicketType};
use ticktak_kit::kafka::decode;
use ticktak_kit::kafka::trust::Trust;
use ticktak_tests::log::Raw;

use super::history::{Answer, Op, Request};

mod life;
pub use life::Timing;

/// The reason reservations gives a request the log did not decide in time
/// (`services/reservations/src/store.rs`, `NOT_DECIDED`): under faults that
/// heal in seconds, a liveness failure.
const NOT_DECIDED: &str = "not decided in time";

/// What one platform ended with.
#[derive(Debug, Clone, Default)]
pub struct PlatformState {
    pub platform: String,
    /// Its shop's ledger: every hold of the market it applied.
    pub holds: HashMap<HoldId, HoldStatus>,
    /// Its shop's counters: (held, sold) per ticket type.
    pub counts: BTreeMap<TicketType, (u32, u32)>,
    /// Its own reservations: status (`HELD`, `EXPIRED`, …) and reason.
    pub reservations: HashMap<HoldId, (String, Option<String>)>,
}

/// A property broken, with what shows it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub property: &'static str,
    pub detail: String,
    /// The operations and log messages of the hold concerned.
    pub context: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "[{}] {}", self.property, self.detail)?;
        for c in &self.context {
            writeln!(f, "    {c}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub operations: usize,
    /// How the operations completed, by answer (`Held`, `Refused 429`, …).
    pub answers: BTreeMap<String, usize>,
    pub indeterminate: usize,
    pub log_messages: usize,
    pub holds: usize,
    /// What the rule met applying the log that it could not apply as
    /// expected, by kind (`ledger::Anomaly`).
    pub anomalies: BTreeMap<String, usize>,
    /// Holds released early because a database's clock was stepped while
    /// they were held (not violations: see `life`).
    pub expiries_moved_by_clock_steps: usize,
    pub violations: Vec<Violation>,
}

/// The serial application of the log, with what happened to each hold.
struct Model {
    ledger: Ledger,
    /// Each hold's messages: position and action, in log order.
    messages: HashMap<HoldId, Vec<(LogPosition, Action)>>,
    /// Every hold line of the log, in log order, with what the rule did.
    lines: Vec<(LogPosition, HoldId, Outcome)>,
    /// Anomalies the rule met, by kind.
    anomalies: BTreeMap<String, usize>,
    /// How often each hold's tickets went back on sale.
    returned: HashMap<HoldId, u32>,
    /// The timestamp of the message that first released each hold.
    released_at: HashMap<HoldId, Option<i64>>,
}

/// Check a run. `capacities` is the master list the platforms sold from;
/// `partitions` the sales topic's.
/// `every_hold_closed`: once the market has settled, every hold must be
/// rejected, released or paid for (none left granted).
pub fn check(
    history: &[Op],
    log: &[Raw],
    partitions: i32,
    capacities: &BTreeMap<TicketType, u32>,
    platforms: &[PlatformState],
    every_hold_closed: bool,
    timing: &Timing,
) -> Report {
    let model = replay(log, partitions, capacities);
    let mut report = Report {
        operations: history.len(),
        answers: answers(history),
        indeterminate: history.iter().filter(|o| matches!(o.answer, None | Some(Answer::Indeterminate { .. }))).count(),
        log_messages: log.len(),
        holds: model.ledger.holds().count(),
        anomalies: model.anomalies.clone(),
        expiries_moved_by_clock_steps: 0,
        violations: Vec::new(),
    };
    let context = |hold: HoldId| -> Vec<String> {
        let mut c: Vec<String> = history.iter().filter(|o| o.hold() == Some(hold)).map(ToString::to_string).collect();
        for (pos, action) in model.messages.get(&hold).into_iter().flatten() {
            c.push(format!("log {}:{} {}", pos.partition, pos.offset, action.as_str()));
        }
        if c.is_empty() {
            c.push(format!("hold {hold}: in no operation and no log message"));
        }
        c
    };
    let mut violate = |property: &'static str, detail: String, hold: Option<HoldId>| {
        report.violations.push(Violation { property, detail, context: hold.map(context).unwrap_or_default() });
    };

    // serial: every ledger is the model's.
    for p in platforms {
        for (id, hold) in model.ledger.holds() {
            match p.holds.get(id) {
                Some(status) if *status == hold.status => {}
                Some(status) => violate(
                    "serial",
                    format!(
                        "{}'s ledger has hold {id} {status:?}, the log's serial application {:?}",
                        p.platform, hold.status
                    ),
                    Some(*id),
                ),
                None => violate(
                    "serial",
                    format!(
                        "{}'s ledger lacks hold {id} ({:?} in the log's serial application)",
                        p.platform, hold.status
                    ),
                    Some(*id),
                ),
            }
        }
        for id in p.holds.keys().filter(|id| model.ledger.hold(**id).is_none()) {
            violate(
                "serial",
                format!("{}'s ledger has hold {id}, which no message of the log decides", p.platform),
                Some(*id),
            );
        }
        for (tt, counts) in model.ledger.types() {
            let theirs = p.counts.get(tt).copied().unwrap_or_default();
            if theirs != (counts.held, counts.sold) {
                violate(
                    "serial",
                    format!(
                        "{}'s counts of match {} cat {}: held {} sold {}, the log's serial application held {} sold {}",
                        p.platform, tt.match_number, tt.category, theirs.0, theirs.1, counts.held, counts.sold
                    ),
                    None,
                );
            }
        }
    }

    // capacity: each platform's decisions, walked in log order.
    for p in platforms {
        if let Some((pos, tt, taken, capacity, hold)) = first_over_capacity(capacities, &model, p) {
            violate(
                "capacity",
                format!(
                    "by {}'s decisions, {taken} tickets of match {} cat {} are granted or sold at log {}:{}, of {capacity}",
                    p.platform, tt.match_number, tt.category, pos.partition, pos.offset
                ),
                Some(hold),
            );
        }
    }

    // acknowledged and released once, from the history.
    for op in history {
        let decided = |h: HoldId| model.ledger.hold(h).map(|h| h.status);
        match (&op.request, &op.answer) {
            (Request::Hold { .. }, Some(Answer::Held { hold })) => match decided(*hold) {
                None => {
                    violate("acknowledged", format!("hold {hold} was answered 201 but is not in the log"), Some(*hold))
                }
                Some(HoldStatus::Rejected) => violate(
                    "acknowledged",
                    format!("hold {hold} was answered 201 but the log rejected it"),
                    Some(*hold),
                ),
                Some(_) => {}
            },
            (Request::Hold { .. }, Some(Answer::RejectedByLog { hold }))
                if decided(*hold).is_some_and(|s| s != HoldStatus::Rejected) =>
            {
                violate("acknowledged", format!("hold {hold} was answered 409 but the log granted it"), Some(*hold));
            }
            (Request::Cancel { hold }, Some(Answer::Cancelled)) if decided(*hold) != Some(HoldStatus::Released) => {
                violate(
                    "released once",
                    format!("hold {hold} was answered cancelled but the log has it {:?}", decided(*hold)),
                    Some(*hold),
                );
            }
            _ => {}
        }
    }
    for (hold, n) in &model.returned {
        if *n > 1 {
            violate("released once", format!("hold {hold}'s tickets went back on sale {n} times"), Some(*hold));
        }
    }

    // the buyer's life after the hold.
    let (found, stepped) = life::check(history, &model, timing);
    for f in found {
        violate(f.property, f.detail, f.hold);
    }

    // closed: a hold is paid for or let go; none may stay granted.
    if every_hold_closed {
        let mut open: Vec<HoldId> =
            model.ledger.holds().filter(|(_, h)| h.status == HoldStatus::Granted).map(|(id, _)| *id).collect();
        open.sort();
        for id in open {
            violate("closed", format!("hold {id} is still granted once the market settled"), Some(id));
        }
    }
    report.expiries_moved_by_clock_steps = stepped;
    // anomalies no platform's honest log produces: a sale past the stock by
    // counts, a hold closed by another than its owner or of another type.
    for kind in ["Oversold", "NotOwner", "HoldMismatch"] {
        if let Some(n) = model.anomalies.get(kind) {
            violate("anomalies", format!("the rule met {n} {kind} anomalies applying the log"), None);
        }
    }

    // own view: each platform's reservations against the log's decisions,
    // and every hold of the log has its reservation on the platform that
    // published it.
    for p in platforms {
        let mut missing: Vec<HoldId> = model
            .ledger
            .holds()
            .filter(|(id, h)| {
                h.owner.as_ref().is_some_and(|o| o.as_str() == p.platform) && !p.reservations.contains_key(id)
            })
            .map(|(id, _)| *id)
            .collect();
        missing.sort();
        for id in missing {
            violate(
                "own view",
                format!("{}'s hold {id} is in the log but not among its reservations", p.platform),
                Some(id),
            );
        }
        let mut own: Vec<(&HoldId, &(String, Option<String>))> = p.reservations.iter().collect();
        own.sort();
        for (id, (status, reason)) in own {
            if reason.as_deref() == Some(NOT_DECIDED) {
                violate(
                    "own view",
                    format!("{}'s reservation {id} was never decided: timed out ({status})", p.platform),
                    Some(*id),
                );
                continue;
            }
            let decided = model.ledger.hold(*id).map(|h| h.status);
            let agrees = match (status.as_str(), decided) {
                ("HELD", Some(HoldStatus::Granted)) => true,
                ("CONFIRMED", Some(HoldStatus::Confirmed)) => true,
                ("REFUNDED", Some(HoldStatus::Refunded)) => true,
                ("CANCELLED" | "EXPIRED", Some(HoldStatus::Released)) => true,
                // Rejected by the log, or refused before it (caps, screening).
                ("REJECTED", None | Some(HoldStatus::Rejected)) => true,
                _ => false,
            };
            if !agrees {
                violate(
                    "own view",
                    format!("{}'s reservation {id} is {status}, the log's decision {decided:?}", p.platform),
                    Some(*id),
                );
            }
        }
    }
    report
}

fn answers(history: &[Op]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for op in history {
        let name = match &op.answer {
            None => "no completion".to_string(),
            Some(Answer::Held { .. }) => "held (201)".into(),
            Some(Answer::RejectedByLog { .. }) => "rejected by the log (409)".into(),
            Some(Answer::Requested { .. }) => "undecided at the answer (202)".into(),
            Some(Answer::Refused { status }) => format!("refused before the log ({status})"),
            Some(Answer::Cancelled) => "cancelled (200)".into(),
            Some(Answer::Paid) => "paid (200)".into(),
            Some(Answer::Refunded) => "refunded (200)".into(),
            Some(Answer::Admitted) => "admitted (200)".into(),
            Some(Answer::NotAdmitted { status, result }) => format!("not admitted: {result} ({status})"),
            Some(Answer::Other { status }) => {
                let what = match op.request {
                    Request::Hold { .. } => "hold",
                    Request::Cancel { .. } => "cancel",
                    Request::Pay { .. } => "payment",
                    Request::Refund { .. } => "refund",
                    Request::CheckIn { .. } => "check-in",
                };
                format!("{what} answered {status}")
            }
            Some(Answer::Indeterminate { .. }) => "no answer".into(),
        };
        *out.entry(name).or_default() += 1;
    }
    out
}

/// Apply the log serially, as every platform must have.
fn replay(log: &[Raw], partitions: i32, capacities: &BTreeMap<TicketType, u32>) -> Model {
    let trust = Trust::development(&PlatformId::new("checker").expect("a valid id"));
    let mut ledger = Ledger::new();
    for (tt, capacity) in capacities {
        ledger.set_capacity(*tt, *capacity);
    }
    let mut model = Model {
        ledger,
        messages: HashMap::new(),
        lines: Vec::new(),
        anomalies: BTreeMap::new(),
        returned: HashMap::new(),
        released_at: HashMap::new(),
    };
    for raw in in_log_order(log) {
        let decoded = decode::sales(&owned(raw), partitions, &trust);
        let position = LogPosition { partition: raw.partition, offset: raw.offset };
        let ops = if decoded.invalid.is_some() { None } else { decoded.entry.ops() };
        let ops = ops.unwrap_or_default();
        let outcomes = model.ledger.apply(position, &ops);
        for (op, outcome) in ops.iter().zip(outcomes) {
            if let Some(anomaly) = outcome.anomaly() {
                *model.anomalies.entry(format!("{anomaly:?}")).or_default() += 1;
            }
            let Some(hold) = op.hold else { continue };
            model.messages.entry(hold).or_default().push((position, op.action));
            model.lines.push((position, hold, outcome));
            if matches!(outcome, Outcome::Released | Outcome::Refunded) {
                *model.returned.entry(hold).or_default() += 1;
            }
            if outcome == Outcome::Released {
                model.released_at.entry(hold).or_insert(raw.timestamp_ms);
            }
        }
    }
    model
}

/// The first position where, by `p`'s decisions, a ticket type has more
/// tickets granted or sold than its capacity.
fn first_over_capacity(
    capacities: &BTreeMap<TicketType, u32>,
    model: &Model,
    p: &PlatformState,
) -> Option<(LogPosition, TicketType, u32, u32, HoldId)> {
    let mut taken: BTreeMap<TicketType, u32> = BTreeMap::new();
    for (position, hold, outcome) in &model.lines {
        let Some(h) = model.ledger.hold(*hold) else { continue };
        let q = u32::from(h.quantity.get());
        let t = taken.entry(h.ticket_type).or_default();
        match outcome {
            // The line that decided the hold: counted when this platform
            // granted it (a platform lacking the hold is reported by serial).
            Outcome::Decided { .. } if p.holds.get(hold).is_some_and(|s| *s != HoldStatus::Rejected) => *t += q,
            // A line the rule took as the hold's release or refund; a
            // platform that granted what the log rejected never releases
            // it here, and stays counted.
            Outcome::Released | Outcome::Refunded if p.holds.get(hold).is_some_and(|s| *s != HoldStatus::Rejected) => {
                *t = t.saturating_sub(q)
            }
            _ => {}
        }
        let capacity = capacities.get(&h.ticket_type).copied().unwrap_or(0);
        if *t > capacity {
            return Some((*position, h.ticket_type, *t, capacity, *hold));
        }
    }
    None
}

fn in_log_order(log: &[Raw]) -> Vec<&Raw> {
    let mut sorted: Vec<&Raw> = log.iter().collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    sorted
}

/// A message as read back, as the consumer's decode takes it.
fn owned(raw: &Raw) -> OwnedMessage {
    let mut headers = OwnedHeaders::new();
    for (k, v) in &raw.headers {
        headers = headers.insert(Header { key: k, value: Some(v.as_bytes()) });
    }
    OwnedMessage::new(
        Some(raw.payload.clone()),
        raw.key.as_ref().map(|k| k.as_bytes().to_vec()),
        String::new(),
        Timestamp::NotAvailable,
        raw.partition,
        raw.offset,
        Some(headers),
    )
}

#[cfg(test)]
mod tests;
