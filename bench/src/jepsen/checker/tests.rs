//! The checker against planted bugs: each test builds the log and the
//! platforms' state a broken platform would leave, and the checker must
//! name the broken property and the operations behind it.

use ticktak_core::headers::SaleHeaders;
use ticktak_core::ledger::LedgerOp;
use ticktak_core::partition::home_partition;
use ticktak_core::{Category, MatchNumber, Price, Quantity, SaleMessage};

use super::*;
use crate::jepsen::history::{Answer, Op, Request};

const PARTITIONS: i32 = 3;

fn tt() -> TicketType {
    TicketType::new(MatchNumber::new(1).unwrap(), Category::new(1).unwrap())
}

fn capacities(n: u32) -> BTreeMap<TicketType, u32> {
    BTreeMap::from([(tt(), n)])
}

/// A hold's message as platform `platform` signs and publishes it.
fn message(offset: i64, action: Action, platform: &str, hold: HoldId) -> (Raw, LedgerOp) {
    let sale = SaleMessage::single(action, tt(), Quantity::new(1).unwrap(), Price::new(75).unwrap());
    let body = sale.to_json();
    let producer = PlatformId::new(platform).unwrap();
    let headers = ticktak_tests::signed(&SaleHeaders::for_hold(&producer, hold), &body).to_pairs();
    let raw = Raw {
        partition: home_partition(tt().match_number, PARTITIONS),
        offset,
        key: Some(sale.kafka_key()),
        headers: headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        payload: body,
        timestamp_ms: None,
    };
    let op = LedgerOp {
        action,
        ticket_type: tt(),
        quantity: Quantity::new(1).unwrap(),
        hold: Some(hold),
        producer: Some(producer),
        buyer: None,
        rehomed_from: None,
    };
    (raw, op)
}

/// What a platform applying `log` with `capacity` per ticket type ends with
/// (`skip` leaves one message out, as a consumer that lost it would); its
/// reservations say what its ledger decided on its own holds.
fn platform(name: &str, log: &[(Raw, LedgerOp)], capacity: u32, skip: Option<usize>) -> PlatformState {
    let mut ledger = Ledger::new();
    ledger.set_capacity(tt(), capacity);
    for (i, (raw, op)) in log.iter().enumerate() {
        if Some(i) != skip {
            ledger.apply(LogPosition { partition: raw.partition, offset: raw.offset }, std::slice::from_ref(op));
        }
    }
    let reservations = ledger
        .holds()
        .filter(|(_, h)| h.owner.as_ref().is_some_and(|o| o.as_str() == name))
        .map(|(id, h)| {
            let status = match h.status {
                HoldStatus::Granted => "HELD",
                HoldStatus::Rejected => "REJECTED",
                HoldStatus::Confirmed => "CONFIRMED",
                HoldStatus::Released => "CANCELLED",
                HoldStatus::Refunded => "REFUNDED",
            };
            (*id, (status.to_string(), None))
        })
        .collect();
    PlatformState {
        platform: name.into(),
        holds: ledger.holds().map(|(id, h)| (*id, h.status)).collect(),
        counts: ledger.types().map(|(t, c)| (*t, (c.held, c.sold))).collect(),
        reservations,
    }
}

fn op(index: usize, platform: &str, request: Request, answer: Answer) -> Op {
    Op {
        index,
        client: index,
        platform: platform.into(),
        buyer: format!("buyer-{index}"),
        request,
        invoked_ms: index as u64 * 10,
        completed_ms: Some(index as u64 * 10 + 5),
        answer: Some(answer),
    }
}

fn hold_request() -> Request {
    Request::Hold { ticket_type: tt(), quantity: 1 }
}

/// Two tickets; three holds (a's first two granted, b's third rejected);
/// a's first cancelled; then b's fourth takes the released ticket.
struct Run {
    holds: [HoldId; 4],
    log: Vec<(Raw, LedgerOp)>,
    history: Vec<Op>,
}

fn run() -> Run {
    let holds = [HoldId::new(), HoldId::new(), HoldId::new(), HoldId::new()];
    let log = vec![
        message(0, Action::TicketPending, "a", holds[0]),
        message(1, Action::TicketPending, "a", holds[1]),
        message(2, Action::TicketPending, "b", holds[2]),
        message(3, Action::TicketCancelled, "a", holds[0]),
        message(4, Action::TicketPending, "b", holds[3]),
    ];
    let history = vec![
        op(0, "a", hold_request(), Answer::Held { hold: holds[0] }),
        op(1, "a", hold_request(), Answer::Held { hold: holds[1] }),
        op(2, "b", hold_request(), Answer::RejectedByLog { hold: holds[2] }),
        op(3, "a", Request::Cancel { hold: holds[0] }, Answer::Cancelled),
        op(4, "b", hold_request(), Answer::Held { hold: holds[3] }),
    ];
    Run { holds, log, history }
}

fn raws(log: &[(Raw, LedgerOp)]) -> Vec<Raw> {
    log.iter().map(|(r, _)| r.clone()).collect()
}

fn properties(report: &Report) -> Vec<&'static str> {
    let mut p: Vec<&'static str> = report.violations.iter().map(|v| v.property).collect();
    p.dedup();
    p
}

#[test]
fn a_market_that_keeps_its_guarantees_passes() {
    let r = run();
    let (a, b) = (platform("a", &r.log, 2, None), platform("b", &r.log, 2, None));
    assert_eq!(a.reservations.len() + b.reservations.len(), 4);
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!((report.operations, report.log_messages, report.holds), (5, 5, 4));
}

#[test]
fn a_hold_left_granted_where_nothing_is_paid_for_is_found() {
    let r = run();
    let (a, b) = (platform("a", &r.log, 2, None), platform("b", &r.log, 2, None));
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], true, &Timing::default());
    let open: Vec<&str> = report.violations.iter().map(|v| v.detail.as_str()).collect();
    assert_eq!(properties(&report), ["closed"], "{:#?}", report.violations);
    assert!(open.iter().any(|d| d.contains(&r.holds[1].to_string())) && open.len() == 2, "{open:?}");
}

#[test]
fn a_reservation_never_decided_and_a_hold_without_its_reservation_are_found() {
    let r = run();
    let mut a = platform("a", &r.log, 2, None);
    a.reservations.remove(&r.holds[1]);
    let mut b = platform("b", &r.log, 2, None);
    b.reservations.insert(HoldId::new(), ("REJECTED".into(), Some(NOT_DECIDED.into())));
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    let details: Vec<&str> = report.violations.iter().map(|v| v.detail.as_str()).collect();
    assert_eq!(properties(&report), ["own view"], "{details:?}");
    assert!(details.iter().any(|d| d.contains("not among its reservations")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("never decided")), "{details:?}");
}

#[test]
fn a_pending_sent_again_after_its_cancel_holds_nothing_and_is_not_counted_again() {
    let mut r = run();
    // The outbox sends the first hold's PENDING again after its CANCELLED
    // (sent, not yet marked, when reservations was killed): a duplicate.
    r.log.push(message(5, Action::TicketPending, "a", r.holds[0]));
    let (a, b) = (platform("a", &r.log, 2, None), platform("b", &r.log, 2, None));
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

#[test]
fn a_rule_that_skips_the_capacity_check_is_caught_at_the_first_position_over_it() {
    let mut r = run();
    // b's mutated rule grants its third hold: it answers 201.
    r.history[2].answer = Some(Answer::Held { hold: r.holds[2] });
    let a = platform("a", &r.log, 2, None);
    let b = platform("b", &r.log, 1_000, None);
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    let found = properties(&report);
    for p in ["serial", "capacity", "acknowledged"] {
        assert!(found.contains(&p), "{p} not found: {:#?}", report.violations);
    }
    let capacity = report.violations.iter().find(|v| v.property == "capacity").unwrap();
    let third = format!("3 tickets of match 1 cat 1 are granted or sold at log {}:2,", r.log[2].0.partition);
    assert!(capacity.detail.contains(&third), "{capacity}");
    assert!(capacity.context.iter().any(|c| c.starts_with("#2 client 2 on b")), "the operation behind it: {capacity}");
    // a's ledger is right: nothing is said of it.
    assert!(report.violations.iter().all(|v| !v.detail.starts_with("a's")), "{:#?}", report.violations);
}

#[test]
fn a_consumer_that_commits_before_applying_is_caught_by_the_hold_it_lost() {
    let r = run();
    // b's consumer committed past the second PENDING and died before the
    // shop applied it: b never counts it, and grants b's third hold.
    let a = platform("a", &r.log, 2, None);
    let b = platform("b", &r.log, 2, Some(1));
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    let lost = report.violations.iter().find(|v| v.detail.contains(&format!("lacks hold {}", r.holds[1])));
    assert!(lost.is_some(), "{:#?}", report.violations);
    assert!(properties(&report).contains(&"serial"));
    assert!(report.violations.iter().any(|v| v.detail.contains(&format!("hold {} Granted", r.holds[2]))));
}

#[test]
fn an_acknowledged_hold_the_log_never_saw_is_caught() {
    let mut r = run();
    // b answered 201 before its PENDING was in the log, and lost it.
    let lost = HoldId::new();
    r.history.push(op(5, "b", hold_request(), Answer::Held { hold: lost }));
    let (a, b) = (platform("a", &r.log, 2, None), platform("b", &r.log, 2, None));
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    assert_eq!(properties(&report), ["acknowledged"], "{:#?}", report.violations);
    assert!(report.violations[0].context[0].starts_with("#5 client 5 on b"), "{}", report.violations[0]);
}

#[test]
fn a_cancel_answered_but_never_published_and_a_platform_view_that_disagrees_are_caught() {
    let mut r = run();
    // The CANCELLED of the first hold never reached the log, and b's fourth
    // hold was rejected; a still says the first is cancelled.
    r.log.remove(3);
    r.history[4].answer = Some(Answer::RejectedByLog { hold: r.holds[3] });
    let mut a = platform("a", &r.log, 2, None);
    a.reservations.insert(r.holds[0], ("CANCELLED".into(), None));
    let b = platform("b", &r.log, 2, None);
    let report = check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    assert_eq!(properties(&report), ["released once", "own view"], "{:#?}", report.violations);
}

#[test]
fn an_unsigned_message_claiming_a_hold_counts_as_anonymous_as_on_every_platform() {
    let mut r = run();
    // A forged CANCELLED of a's second hold, without a signature: every
    // platform applies it as an anonymous line, so the hold stays granted.
    let (mut forged, _) = message(5, Action::TicketCancelled, "a", r.holds[1]);
    forged.headers.retain(|(k, _)| k != "signature");
    let mut log = raws(&r.log);
    log.push(forged);
    r.log.push((log[5].clone(), LedgerOp { hold: None, producer: None, ..r.log[0].1.clone() }));
    r.log[5].1.action = Action::TicketCancelled;
    let (a, b) = (platform("a", &r.log, 2, None), platform("b", &r.log, 2, None));
    let report = check(&r.history, &log, PARTITIONS, &capacities(2), &[a, b], false, &Timing::default());
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

/// The run, with a's second hold paid for: its CONFIRM in the log.
fn paid_run() -> Run {
    let mut r = run();
    r.log.push(message(5, Action::TicketReserved, "a", r.holds[1]));
    r.history.push(op(5, "a", Request::Pay { hold: r.holds[1] }, Answer::Paid));
    r
}

fn scan(index: usize, gate: &str, hold: HoldId, ticket: uuid::Uuid, answer: Answer) -> Op {
    op(index, gate, Request::CheckIn { hold, ticket, gate: gate.into() }, answer)
}

fn checked(r: &Run, timing: &Timing) -> Report {
    let (a, b) = (platform("a", &r.log, 2, None), platform("b", &r.log, 2, None));
    check(&r.history, &raws(&r.log), PARTITIONS, &capacities(2), &[a, b], false, timing)
}

#[test]
fn a_buyers_life_kept_passes() {
    let mut r = paid_run();
    let ticket = uuid::Uuid::now_v7();
    let already = Answer::NotAdmitted { status: 409, result: "ALREADY_USED".into() };
    r.history.push(scan(6, "a", r.holds[1], ticket, Answer::Admitted));
    r.history.push(scan(7, "b", r.holds[1], ticket, already));
    r.history.push(op(8, "a", Request::Refund { hold: r.holds[1] }, Answer::Other { status: 409 }));
    let report = checked(&r, &Timing::default());
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

#[test]
fn a_payment_answered_but_never_confirmed_in_the_log_is_caught() {
    let mut r = paid_run();
    r.log.pop();
    let report = checked(&r, &Timing::default());
    assert_eq!(properties(&report), ["paid"], "{:#?}", report.violations);
    assert!(
        report.violations[0].context.iter().any(|c| c.starts_with("#5 client 5 on a as buyer-5: pay for")),
        "{}",
        report.violations[0]
    );
}

#[test]
fn a_ticket_admitted_at_two_gates_is_caught() {
    let mut r = paid_run();
    let ticket = uuid::Uuid::now_v7();
    r.history.push(scan(6, "a", r.holds[1], ticket, Answer::Admitted));
    r.history.push(scan(7, "b", r.holds[1], ticket, Answer::Admitted));
    let report = checked(&r, &Timing::default());
    assert_eq!(properties(&report), ["admitted once"], "{:#?}", report.violations);
    assert!(report.violations[0].detail.contains("admitted 2 times: #6 at a, #7 at b"), "{}", report.violations[0]);
}

#[test]
fn a_ticket_of_a_hold_never_paid_for_admitted_is_caught() {
    let mut r = run();
    r.history.push(scan(5, "b", r.holds[1], uuid::Uuid::now_v7(), Answer::Admitted));
    let report = checked(&r, &Timing::default());
    assert_eq!(properties(&report), ["admitted once"], "{:#?}", report.violations);
    assert!(report.violations[0].detail.contains("never confirmed"), "{}", report.violations[0]);
}

#[test]
fn an_order_both_refunded_and_let_in_is_caught_whatever_the_order() {
    let mut r = paid_run();
    // The refund's TICKET_CANCELLED of the paid hold: its tickets go back on sale.
    r.log.push(message(6, Action::TicketCancelled, "a", r.holds[1]));
    let (first, second) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    r.history.push(scan(6, "a", r.holds[1], first, Answer::Admitted));
    r.history.push(op(7, "a", Request::Refund { hold: r.holds[1] }, Answer::Refunded));
    r.history.push(scan(8, "b", r.holds[1], second, Answer::Admitted));
    let report = checked(&r, &Timing::default());
    let details: Vec<&str> = report.violations.iter().map(|v| v.detail.as_str()).collect();
    assert_eq!(properties(&report), ["refunded"], "{details:?}");
    for (ticket, scan) in [(first, 6), (second, 8)] {
        let both = format!("refunded (#7) and its ticket {ticket} admitted (#{scan})");
        assert!(details.iter().any(|d| d.contains(&both)), "{both}: {details:?}");
    }
    // A refund refused because a ticket was used: nothing wrong.
    r.history[7].answer = Some(Answer::Other { status: 409 });
    r.log.pop();
    r.history.pop();
    assert!(checked(&r, &Timing::default()).violations.is_empty());
}

#[test]
fn a_hold_released_before_its_time_is_caught_unless_a_clock_step_moved_it() {
    let mut r = run();
    let start = 1_700_000_000_000;
    // a's second hold, asked for at 10 ms, released by the log 1 s later
    // without a cancel: its 5 s were not up.
    let (mut early, op) = message(5, Action::TicketCancelled, "a", r.holds[1]);
    early.timestamp_ms = Some(start + 1_010);
    r.log.push((early, op));
    let timing = Timing { start_unix_ms: start, hold_ttl_ms: 5_000, clock_steps_unix_ms: Vec::new() };
    let report = checked(&r, &timing);
    assert_eq!(properties(&report), ["expiry"], "{:#?}", report.violations);
    assert!(
        report.violations[0].detail.contains("released 1000 ms after it was asked for"),
        "{}",
        report.violations[0]
    );

    let stepped = Timing { clock_steps_unix_ms: vec![start + 500], ..timing.clone() };
    let report = checked(&r, &stepped);
    assert!(report.violations.is_empty(), "a clock step moved it: {:#?}", report.violations);
    assert_eq!(report.expiries_moved_by_clock_steps, 1);

    r.log[5].0.timestamp_ms = Some(start + 5_010);
    let report = checked(&r, &timing);
    assert!(report.violations.is_empty(), "released when due: {:#?}", report.violations);
    // The first hold was cancelled: released early, and rightly.
    r.log[3].0.timestamp_ms = Some(start + 100);
    assert!(checked(&r, &timing).violations.is_empty());
}
