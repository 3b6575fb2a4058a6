use proptest::prelude::*;

use super::*;
use crate::ids::{Category, MatchNumber};

/// Ticket type `i`: match 1's categories 1 and 2, then match 2's category 1.
fn ticket_type(i: u8) -> TicketType {
    TicketType::new(MatchNumber::new(1 + i64::from(i / 2)).unwrap(), Category::new(1 + i64::from(i % 2)).unwrap())
}

fn producer(i: u8) -> PlatformId {
    PlatformId::new(format!("p{i}")).unwrap()
}

/// A producer that owns no hold.
fn forger() -> PlatformId {
    PlatformId::new("mallory").unwrap()
}

fn q(n: u8) -> Quantity {
    Quantity::new(i64::from(n)).unwrap()
}

const TYPES: u8 = 3;
/// The matches of the ticket types, each on its own partition (its home).
const MATCHES: usize = 2;
/// Few buyers, so that caps are reached.
const BUYERS: u8 = 3;

fn buyer_id(i: u8) -> BuyerId {
    BuyerId::from_bytes([i; 16])
}

/// What a platform (or another team) does, before it is put in the log.
#[derive(Debug, Clone)]
enum Intent {
    Pending {
        ty: u8,
        qty: u8,
        anonymous: bool,
        /// One of a few buyers, or none (a platform that names none).
        buyer: Option<u8>,
    },
    Reserve {
        of: usize,
    },
    Cancel {
        of: usize,
    },
    /// The outbox published an earlier message again (at a new offset).
    Republish {
        of: usize,
    },
    /// Another producer tries to close someone else's hold.
    Forge {
        of: usize,
        reserve: bool,
    },
}

fn intent() -> impl Strategy<Value = Intent> {
    prop_oneof![
        4 => (0..TYPES, 1..=2u8, prop::bool::weighted(0.2), prop::option::of(0..BUYERS))
            .prop_map(|(ty, qty, anonymous, buyer)| Intent::Pending { ty, qty, anonymous, buyer }),
        2 => any::<usize>().prop_map(|of| Intent::Reserve { of }),
        2 => any::<usize>().prop_map(|of| Intent::Cancel { of }),
        1 => any::<usize>().prop_map(|of| Intent::Republish { of }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(of, reserve)| Intent::Forge { of, reserve }),
    ]
}

/// Turn intents into a log of (position, op); match `m` lives on partition
/// `m - 1`, as the key partitioner guarantees.
fn build_log(intents: &[Intent]) -> Vec<(LogPosition, LedgerOp)> {
    let mut pendings: Vec<LedgerOp> = Vec::new();
    let mut log: Vec<(LogPosition, LedgerOp)> = Vec::new();
    let mut next_offset = [0i64; MATCHES];
    for intent in intents {
        let op = match *intent {
            Intent::Pending { ty, qty, anonymous, buyer } => {
                let op = LedgerOp {
                    action: Action::TicketPending,
                    ticket_type: ticket_type(ty),
                    quantity: q(qty),
                    hold: (!anonymous).then(HoldId::new),
                    producer: Some(producer(ty)),
                    rehomed_from: None,
                    buyer: (!anonymous).then_some(buyer).flatten().map(buyer_id),
                };
                pendings.push(op.clone());
                op
            }
            Intent::Reserve { of } | Intent::Cancel { of } if !pendings.is_empty() => {
                let p = pendings[of % pendings.len()].clone();
                let action = if matches!(intent, Intent::Reserve { .. }) {
                    Action::TicketReserved
                } else {
                    Action::TicketCancelled
                };
                LedgerOp { action, ..p }
            }
            Intent::Republish { of } if !log.is_empty() => log[of % log.len()].1.clone(),
            Intent::Forge { of, reserve } if pendings.iter().any(|p| p.hold.is_some()) => {
                let held: Vec<&LedgerOp> = pendings.iter().filter(|p| p.hold.is_some()).collect();
                let action = if reserve { Action::TicketReserved } else { Action::TicketCancelled };
                LedgerOp { action, producer: Some(forger()), ..held[of % held.len()].clone() }
            }
            _ => continue,
        };
        let partition = op.ticket_type.match_number.get() as usize - 1;
        let offset = next_offset[partition];
        next_offset[partition] += 1;
        log.push((LogPosition { partition: partition as i32, offset }, op));
    }
    log
}

fn fresh(capacities: &[u32]) -> Ledger {
    let mut ledger = Ledger::new();
    for (i, c) in capacities.iter().enumerate() {
        ledger.set_capacity(ticket_type(i as u8), *c);
    }
    ledger
}

fn apply_all(ledger: &mut Ledger, log: &[(LogPosition, LedgerOp)]) {
    for (pos, op) in log {
        ledger.apply(*pos, std::slice::from_ref(op));
    }
}

fn scenario() -> impl Strategy<Value = (Vec<u32>, Vec<Intent>)> {
    (prop::collection::vec(0..12u32, TYPES as usize), prop::collection::vec(intent(), 0..120))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn granted_holds_never_push_sold_plus_held_past_capacity((caps, intents) in scenario()) {
        let log = build_log(&intents);
        let mut ledger = fresh(&caps);
        // Ticket types that anonymous lines (which may oversell) ever touched.
        let mut anonymous_ever = [false; TYPES as usize];
        let index = |tt: TicketType| (0..TYPES).position(|i| ticket_type(i) == tt).unwrap();
        for (pos, op) in &log {
            let before = *ledger.counts(op.ticket_type).unwrap();
            let outcome = ledger.apply(*pos, std::slice::from_ref(op))[0];
            let after = *ledger.counts(op.ticket_type).unwrap();
            if op.hold.is_none() {
                anonymous_ever[index(op.ticket_type)] = true;
            }
            if let Outcome::Decided { decision: Decision::Granted } = outcome {
                prop_assert!(u32::from(op.quantity.get()) <= before.sellable());
                prop_assert!(after.sold + after.held <= after.capacity);
            }
            if !anonymous_ever[index(op.ticket_type)] {
                prop_assert!(after.sold + after.held <= after.capacity, "{after:?}");
            }
        }
    }

    #[test]
    fn held_is_always_the_open_holds_plus_the_anonymous_pool((caps, intents) in scenario()) {
        let log = build_log(&intents);
        let mut ledger = fresh(&caps);
        apply_all(&mut ledger, &log);
        for (tt, counts) in ledger.types() {
            let open: u32 = ledger
                .holds()
                .filter(|(_, h)| h.ticket_type == *tt && h.status == HoldStatus::Granted)
                .map(|(_, h)| u32::from(h.quantity.get()))
                .sum();
            let confirmed: u32 = ledger
                .holds()
                .filter(|(_, h)| h.ticket_type == *tt && h.status == HoldStatus::Confirmed)
                .map(|(_, h)| u32::from(h.quantity.get()))
                .sum();
            prop_assert_eq!(counts.held, open + counts.anonymous_held);
            prop_assert!(counts.sold >= confirmed);
        }
    }

    #[test]
    fn sold_is_exactly_the_confirmed_holds_not_refunded((caps, intents) in scenario()) {
        let log = build_log(&intents);
        let mut ledger = fresh(&caps);
        apply_all(&mut ledger, &log);
        let anonymous: std::collections::HashSet<_> =
            log.iter().filter(|(_, op)| op.hold.is_none()).map(|(_, op)| op.ticket_type).collect();
        for (tt, counts) in ledger.types().filter(|(tt, _)| !anonymous.contains(*tt)) {
            let confirmed: u32 = ledger
                .holds()
                .filter(|(_, h)| h.ticket_type == *tt && h.status == HoldStatus::Confirmed)
                .map(|(_, h)| u32::from(h.quantity.get()))
                .sum();
            prop_assert_eq!(counts.sold, confirmed, "{:?}", tt);
        }
    }

    #[test]
    fn closes_forged_by_another_producer_change_no_count_and_no_hold((caps, intents) in scenario()) {
        let log = build_log(&intents);
        let mut with_forgeries = fresh(&caps);
        apply_all(&mut with_forgeries, &log);
        let honest: Vec<_> = log.iter().filter(|(_, op)| op.producer != Some(forger())).cloned().collect();
        let mut without = fresh(&caps);
        apply_all(&mut without, &honest);
        for ((tt, a), (_, b)) in with_forgeries.types().zip(without.types()) {
            prop_assert_eq!((a.held, a.sold, a.anonymous_held), (b.held, b.sold, b.anonymous_held), "{:?}", tt);
        }
        let holds = |l: &Ledger| l.holds().map(|(id, h)| (*id, h.clone())).collect::<HashMap<_, _>>();
        prop_assert_eq!(holds(&with_forgeries), holds(&without));
        // Each forged close is counted as an anomaly.
        let forged = (log.len() - honest.len()) as u32;
        let anomalies = |l: &Ledger| l.types().map(|(_, c)| c.anomalies).sum::<u32>();
        prop_assert_eq!(anomalies(&with_forgeries), anomalies(&without) + forged);
    }

    #[test]
    fn feeding_any_prefix_twice_changes_nothing((caps, intents) in scenario(), cut in any::<prop::sample::Index>()) {
        let log = build_log(&intents);
        let mut once = fresh(&caps);
        apply_all(&mut once, &log);

        let k = if log.is_empty() { 0 } else { cut.index(log.len() + 1) };
        let mut twice = fresh(&caps);
        apply_all(&mut twice, &log[..k]);
        apply_all(&mut twice, &log[..k]);
        apply_all(&mut twice, &log[k..]);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn replicas_reading_partitions_in_any_interleaving_agree(
        (caps, intents) in scenario(),
        picks in prop::collection::vec(any::<bool>(), 0..300),
    ) {
        let log = build_log(&intents);
        let mut a = fresh(&caps);
        apply_all(&mut a, &log);

        // Replica b reads the two partitions interleaved differently.
        let mut parts: Vec<std::collections::VecDeque<_>> = vec![Default::default(); MATCHES];
        for entry in &log {
            parts[entry.0.partition as usize].push_back(entry.clone());
        }
        let mut b = fresh(&caps);
        let mut picks = picks.into_iter();
        while parts.iter().any(|p| !p.is_empty()) {
            let first = picks.next().unwrap_or(false);
            let idx = if (first && !parts[0].is_empty()) || parts[1].is_empty() { 0 } else { 1 };
            let (pos, op) = parts[idx].pop_front().unwrap();
            b.apply(pos, &[op]);
        }
        prop_assert_eq!(a, b);
    }
}

#[test]
fn last_ticket_goes_to_the_first_pending_in_the_log() {
    let mut ledger = fresh(&[1]);
    let (first, second) = (HoldId::new(), HoldId::new());
    let op = |hold| LedgerOp {
        action: Action::TicketPending,
        ticket_type: ticket_type(0),
        quantity: q(1),
        hold: Some(hold),
        producer: Some(producer(0)),
        rehomed_from: None,
        buyer: None,
    };
    let p = |offset| LogPosition { partition: 0, offset };
    assert_eq!(ledger.apply(p(0), &[op(first)])[0], Outcome::Decided { decision: Decision::Granted });
    assert_eq!(ledger.apply(p(1), &[op(second)])[0], Outcome::Decided { decision: Decision::Rejected });
    let counts = ledger.counts(ticket_type(0)).unwrap();
    assert_eq!(counts.status(), CategoryStatus::TemporarilyUnavailable);

    let reserve = LedgerOp { action: Action::TicketReserved, ..op(first) };
    assert_eq!(ledger.apply(p(2), &[reserve])[0], Outcome::Confirmed);
    assert_eq!(ledger.counts(ticket_type(0)).unwrap().status(), CategoryStatus::SoldOut);
    // The rejected hold's cancellation frees nothing.
    let cancel = LedgerOp { action: Action::TicketCancelled, ..op(second) };
    assert_eq!(ledger.apply(p(3), &[cancel])[0], Outcome::Duplicate);
    assert_eq!(ledger.counts(ticket_type(0)).unwrap().sold, 1);
}

#[test]
fn only_the_producer_of_the_pending_closes_a_hold() {
    let mut ledger = fresh(&[1]);
    let id = HoldId::new();
    let op = |action, by: &str| LedgerOp {
        action,
        ticket_type: ticket_type(0),
        quantity: q(1),
        hold: Some(id),
        producer: Some(PlatformId::new(by).unwrap()),
        rehomed_from: None,
        buyer: None,
    };
    let p = |offset| LogPosition { partition: 0, offset };
    assert_eq!(
        ledger.apply(p(0), &[op(Action::TicketPending, "a")])[0],
        Outcome::Decided { decision: Decision::Granted }
    );
    for (offset, action) in [(1, Action::TicketCancelled), (2, Action::TicketReserved)] {
        assert_eq!(
            ledger.apply(p(offset), &[op(action, "mallory")])[0],
            Outcome::Anomalous { anomaly: Anomaly::NotOwner }
        );
    }
    let counts = *ledger.counts(ticket_type(0)).unwrap();
    assert_eq!((counts.held, counts.sold, counts.anomalies), (1, 0, 2));
    assert_eq!(ledger.apply(p(3), &[op(Action::TicketReserved, "a")])[0], Outcome::Confirmed);
    assert_eq!(ledger.counts(ticket_type(0)).unwrap().sold, 1);
}

#[test]
fn a_cancel_that_overtakes_its_pending_leaves_no_ghost_hold() {
    let mut ledger = fresh(&[1]);
    let id = HoldId::new();
    let op = |action| LedgerOp {
        action,
        ticket_type: ticket_type(0),
        quantity: q(1),
        hold: Some(id),
        producer: Some(producer(0)),
        rehomed_from: None,
        buyer: None,
    };
    let p = |offset| LogPosition { partition: 0, offset };
    assert_eq!(
        ledger.apply(p(0), &[op(Action::TicketCancelled)])[0],
        Outcome::Anomalous { anomaly: Anomaly::UnknownHold }
    );
    assert_eq!(ledger.apply(p(1), &[op(Action::TicketPending)])[0], Outcome::Duplicate);
    let counts = ledger.counts(ticket_type(0)).unwrap();
    assert_eq!((counts.held, counts.sellable()), (0, 1), "the late PENDING holds nothing");
    assert_eq!(ledger.hold(id).unwrap().status, HoldStatus::Rejected);
}

#[test]
fn an_anonymous_cancel_ahead_of_its_pending_leaves_nothing_held() {
    let anon = |action, n| LedgerOp {
        action,
        ticket_type: ticket_type(0),
        quantity: q(n),
        hold: None,
        producer: None,
        rehomed_from: None,
        buyer: None,
    };
    let p = |offset| LogPosition { partition: 0, offset };
    let mut in_order = fresh(&[5]);
    in_order.apply(p(0), &[anon(Action::TicketPending, 2)]);
    in_order.apply(p(1), &[anon(Action::TicketCancelled, 2)]);
    let mut overtaken = fresh(&[5]);
    overtaken.apply(p(0), &[anon(Action::TicketCancelled, 2)]);
    overtaken.apply(p(1), &[anon(Action::TicketPending, 2)]);
    for ledger in [&in_order, &overtaken] {
        let c = ledger.counts(ticket_type(0)).unwrap();
        assert_eq!((c.held, c.anonymous_held, c.anonymous_credit, c.sellable()), (0, 0, 0, 5), "{c:?}");
    }
}

#[test]
fn the_first_copy_of_a_rehomed_line_counts_the_others_do_not() {
    let mut ledger = fresh(&[5]);
    let origin = LineOrigin { partition: 2, offset: 17, line: 1 };
    let copy = LedgerOp {
        action: Action::TicketPending,
        ticket_type: ticket_type(0),
        quantity: q(2),
        hold: None,
        producer: None,
        rehomed_from: Some(origin),
        buyer: None,
    };
    let p = |offset| LogPosition { partition: 0, offset };
    assert_eq!(ledger.apply(p(0), std::slice::from_ref(&copy))[0], Outcome::Counted);
    assert_eq!(ledger.apply(p(1), std::slice::from_ref(&copy))[0], Outcome::Duplicate);
    assert_eq!(ledger.counts(ticket_type(0)).unwrap().held, 2);
    assert!(ledger.origins().any(|o| *o == origin));
}

#[test]
fn anonymous_counts_are_clamped_and_oversell_is_recorded_as_an_anomaly() {
    let mut ledger = fresh(&[1]);
    let anon = |action, n| LedgerOp {
        action,
        ticket_type: ticket_type(0),
        quantity: q(n),
        hold: None,
        producer: None,
        rehomed_from: None,
        buyer: None,
    };
    let p = |offset| LogPosition { partition: 0, offset };
    assert_eq!(
        ledger.apply(p(0), &[anon(Action::TicketCancelled, 2)])[0],
        Outcome::CountedWithAnomaly { anomaly: Anomaly::ClampedRelease }
    );
    assert_eq!(ledger.counts(ticket_type(0)).unwrap().held, 0);
    assert_eq!(
        ledger.apply(p(1), &[anon(Action::TicketReserved, 2)])[0],
        Outcome::CountedWithAnomaly { anomaly: Anomaly::Oversold }
    );
    let counts = ledger.counts(ticket_type(0)).unwrap();
    assert_eq!((counts.sold, counts.anomalies), (2, 2));
    assert_eq!(counts.status(), CategoryStatus::SoldOut);
}

#[test]
fn a_flood_of_anonymous_lines_saturates_the_counters_instead_of_overflowing() {
    let mut ledger = fresh(&[10]);
    let near = TicketCounts::MAX - 3;
    let counts = TicketCounts { capacity: 10, held: near, anonymous_held: near, anomalies: near, ..Default::default() };
    ledger.insert_counts(ticket_type(0), counts);
    let pending = LedgerOp {
        action: Action::TicketPending,
        ticket_type: ticket_type(0),
        quantity: q(2),
        hold: None,
        producer: None,
        rehomed_from: None,
        buyer: None,
    };
    for offset in 0..4 {
        ledger.apply(LogPosition { partition: 0, offset }, &[pending.clone(), pending.clone()]);
    }
    let counts = ledger.counts(ticket_type(0)).unwrap();
    assert_eq!(
        (counts.held, counts.anonymous_held, counts.anomalies),
        (TicketCounts::MAX, TicketCounts::MAX, TicketCounts::MAX)
    );
    assert_eq!(counts.status(), CategoryStatus::TemporarilyUnavailable);
    // Every counter still fits what storage holds.
    assert!(i32::try_from(counts.held).is_ok() && i32::try_from(counts.anomalies).is_ok());
}

#[test]
fn a_capacity_correction_keeps_the_counts() {
    let mut ledger = fresh(&[5]);
    let hold = LedgerOp {
        action: Action::TicketPending,
        ticket_type: ticket_type(0),
        quantity: q(2),
        hold: Some(HoldId::new()),
        producer: None,
        rehomed_from: None,
        buyer: None,
    };
    ledger.apply(LogPosition { partition: 0, offset: 0 }, &[hold]);
    ledger.set_capacity(ticket_type(0), 3);
    let counts = ledger.counts(ticket_type(0)).unwrap();
    assert_eq!((counts.capacity, counts.held, counts.sellable()), (3, 2, 1));
}

#[test]
fn unknown_ticket_types_move_the_offset_and_count_nothing() {
    let mut ledger = fresh(&[5]);
    let op = LedgerOp {
        action: Action::TicketPending,
        ticket_type: ticket_type(1),
        quantity: q(1),
        hold: None,
        producer: None,
        rehomed_from: None,
        buyer: None,
    };
    let pos = LogPosition { partition: 1, offset: 7 };
    assert_eq!(
        ledger.apply(pos, std::slice::from_ref(&op))[0],
        Outcome::Anomalous { anomaly: Anomaly::UnknownTicketType }
    );
    assert!(ledger.is_applied(pos));
    assert_eq!(ledger.apply(pos, &[op])[0], Outcome::Redelivered);
}

#[test]
fn cancelling_a_confirmed_hold_refunds_it_and_puts_its_tickets_back_on_sale() {
    let mut ledger = fresh(&[2]);
    let op = |action| LedgerOp {
        action,
        ticket_type: ticket_type(0),
        quantity: q(2),
        hold: Some(HoldId::new()),
        producer: Some(producer(0)),
        rehomed_from: None,
        buyer: None,
    };
    let pending = op(Action::TicketPending);
    let p = |offset| LogPosition { partition: 0, offset };
    ledger.apply(p(0), std::slice::from_ref(&pending));
    ledger.apply(p(1), &[LedgerOp { action: Action::TicketReserved, ..pending.clone() }]);
    assert_eq!(ledger.counts(ticket_type(0)).unwrap().status(), CategoryStatus::SoldOut);

    let cancel = LedgerOp { action: Action::TicketCancelled, ..pending.clone() };
    assert_eq!(ledger.apply(p(2), std::slice::from_ref(&cancel))[0], Outcome::Refunded);
    let counts = ledger.counts(ticket_type(0)).unwrap();
    assert_eq!((counts.sold, counts.held, counts.sellable()), (0, 0, 2));
    // Published again (a relay's retry), it frees nothing more.
    assert_eq!(ledger.apply(p(3), &[cancel])[0], Outcome::Duplicate);
    // A RESERVED for a refunded hold does not sell it again.
    let reserve = LedgerOp { action: Action::TicketReserved, ..pending };
    assert_eq!(ledger.apply(p(4), &[reserve])[0], Outcome::Anomalous { anomaly: Anomaly::HoldMismatch });
    assert_eq!(ledger.counts(ticket_type(0)).unwrap().sold, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_buyer_holds_more_than_the_cap_of_a_match((caps, intents) in scenario()) {
        let log = build_log(&intents);
        let mut ledger = fresh(&caps);
        apply_all(&mut ledger, &log);
        let mut per_buyer: HashMap<(MatchNumber, BuyerId), u32> = HashMap::new();
        for (_, hold) in ledger.holds() {
            if let (Some(b), HoldStatus::Granted | HoldStatus::Confirmed) = (hold.buyer, hold.status) {
                *per_buyer.entry((hold.ticket_type.match_number, b)).or_default() += u32::from(hold.quantity.get());
            }
        }
        for ((m, b), n) in per_buyer {
            prop_assert!(n <= TICKETS_PER_BUYER, "{b} holds {n} of match {m}");
            prop_assert_eq!(ledger.buyer_tickets(m, b), n, "the running count is the holds' sum");
        }
    }
}

#[test]
fn a_buyer_gets_the_cap_of_a_match_over_its_categories_whatever_the_platform_and_a_release_gives_it_back() {
    let (first_category, second_category, other_match) = (ticket_type(0), ticket_type(1), ticket_type(2));
    let m = first_category.match_number;
    let ana = buyer_id(1);
    let mut ledger = fresh(&[100, 100, 100]);
    let offset = std::cell::Cell::new(0);
    let next = || {
        offset.set(offset.get() + 1);
        LogPosition { partition: 0, offset: offset.get() }
    };
    let pending = |ledger: &mut Ledger, platform: u8, tt: TicketType, n: u8, buyer: Option<BuyerId>| {
        let op = LedgerOp {
            action: Action::TicketPending,
            ticket_type: tt,
            quantity: q(n),
            hold: Some(HoldId::new()),
            producer: Some(producer(platform)),
            rehomed_from: None,
            buyer,
        };
        (ledger.apply(next(), std::slice::from_ref(&op))[0], op)
    };
    let granted = Outcome::Decided { decision: Decision::Granted };
    let rejected = Outcome::Decided { decision: Decision::Rejected };
    // Two of category 1 on platform 1, two of category 2 on platform 2: the cap.
    let (first, first_op) = pending(&mut ledger, 1, first_category, 2, Some(ana));
    assert_eq!(first, granted);
    assert_eq!(pending(&mut ledger, 2, second_category, 2, Some(ana)).0, granted);
    // A fifth of the match, in either category, anywhere, is refused; someone
    // else, a hold naming no buyer, or another match is not.
    assert_eq!(pending(&mut ledger, 2, first_category, 1, Some(ana)).0, rejected);
    assert_eq!(pending(&mut ledger, 1, second_category, 1, Some(ana)).0, rejected);
    assert_eq!(pending(&mut ledger, 1, first_category, 1, Some(buyer_id(2))).0, granted);
    assert_eq!(pending(&mut ledger, 1, first_category, 1, None).0, granted);
    assert_eq!(pending(&mut ledger, 2, other_match, 2, Some(ana)).0, granted);
    assert_eq!(ledger.buyer_tickets(m, ana), 4);
    // The first hold released: two more fit, in the other category too.
    let cancel = LedgerOp { action: Action::TicketCancelled, ..first_op };
    assert_eq!(ledger.apply(next(), &[cancel])[0], Outcome::Released);
    assert_eq!(ledger.buyer_tickets(m, ana), 2);
    assert_eq!(pending(&mut ledger, 2, second_category, 2, Some(ana)).0, granted);
    assert_eq!(ledger.buyer_tickets(m, ana), 4);
    // A ledger rebuilt from its holds counts the same.
    let mut rebuilt = ledger.clone();
    rebuilt.recount_buyers();
    assert_eq!(rebuilt, ledger);
}
