//! The market's protocol, model-checked with stateright: every reachable
//! state of two platforms selling one ticket type over a sales topic of two
//! partitions, for small bounds, against the properties the history checker
//! (`bench/src/jepsen/checker.rs`) proves of real runs.
//!
//! The model: platforms `a` and `b` request a hold each of the one ticket
//! on sale; each owner may then
//! cancel (or let expire: the same `CANCELLED`), or confirm and later
//! refund, its granted holds; `b` also publishes a forged `CANCELLED` of
//! `a`'s first hold; an owner's outbox may send a hold's `PENDING` a second
//! time, at any point after the first (even after its cancel); a course
//! peer publishes one anonymous `PENDING` on the
//! wrong partition, which every platform's consumer re-homes (each its own
//! copy, with the line's origin). Each platform reads the two partitions in
//! any interleaving, a message at a time, and a consumer may be handed a
//! message it already applied again (a crash between the shop's commit and
//! the consumer's offset commit). Each platform applies what it reads with
//! the real rule, `ticktak_core::ledger::Ledger`.
//!
//! Properties, checked in every state:
//! - **capacity**: no ledger has more tickets granted to holds or sold than
//!   exist;
//! - **serial**: every ledger equals the serial application, partition by
//!   partition, of the prefixes it has read, whatever the interleaving;
//! - **agreement**: two platforms that have read the same prefixes have the
//!   same ledger;
//! - **own view**: what a platform told its buyer (held or rejected) is
//!   what its ledger decided;
//! - **released once**: no hold's tickets go back on sale twice, and only a
//!   granted hold is confirmed, released or refunded;
//! - **anonymous once**: the course peer's line is counted once, however
//!   many platforms re-home it and however often it is redelivered.
//!
//! Mutants (the tests at the end) show the checker is not blind: a rule
//! without the capacity check, platforms that apply every re-homed copy,
//! and a consumer that takes a redelivery for a new message each break a
//! property, and the checker names it with the steps that lead there.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use stateright::{Checker, Model, Property};
use ticktak_core::ledger::{Decision, HoldStatus, LedgerOp, LineOrigin, LogPosition, Outcome};
use ticktak_core::{Action, Category, HoldId, Ledger, MatchNumber, PlatformId, Quantity, TicketType};

/// The ticket type on sale; its home is partition 0.
fn ticket_type() -> TicketType {
    TicketType::new(MatchNumber::new(1).unwrap(), Category::new(1).unwrap())
}
const HOME: usize = 0;
const PARTITIONS: usize = 2;
const PLATFORMS: [&str; 2] = ["a", "b"];
/// Each hold's owner (an index into `PLATFORMS`): one hold each.
const OWNERS: [usize; 2] = [0, 1];

fn hold_id(h: usize) -> HoldId {
    HoldId(uuid::Uuid::from_u128(h as u128 + 1))
}

fn platform_id(p: usize) -> PlatformId {
    PlatformId::new(PLATFORMS[p]).unwrap()
}

/// A message of the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Msg {
    action: Action,
    /// `None`: an anonymous (course) line.
    hold: Option<usize>,
    /// The `client-id` it carries (its signature verified, as a platform's
    /// consumer checks it).
    producer: Option<usize>,
    /// A re-homed copy: where the line was first published.
    rehomed_from: Option<(usize, usize)>,
}

/// What a platform told its buyer about one of its holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum View {
    Unrequested,
    Requested,
    Held,
    Rejected,
    Cancelled,
    Confirmed,
    Refunded,
}

#[derive(Debug, Clone, PartialEq)]
struct Platform {
    ledger: Ledger,
    /// The next offset to read, per partition.
    next: [usize; PARTITIONS],
    /// Off-home lines this platform has re-published.
    rehomed: Vec<(usize, usize)>,
    /// How often each hold's tickets went back on sale in this ledger.
    returned: [u8; OWNERS.len()],
    /// The decision this ledger made on each hold's `PENDING`.
    decided: [Option<Decision>; OWNERS.len()],
}

#[derive(Debug, Clone, PartialEq)]
struct State {
    log: [Vec<Msg>; PARTITIONS],
    platforms: [Platform; 2],
    views: [View; OWNERS.len()],
    forged: bool,
    peer_published: bool,
    /// Holds whose `PENDING` the owner's outbox sent a second time.
    resent: [bool; OWNERS.len()],
}

impl Hash for State {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.log.hash(state);
        self.views.hash(state);
        (self.forged, self.peer_published).hash(state);
        self.resent.hash(state);
        // Everything the ledger holds, so that no two different states are
        // taken for one (a mutant's state differs in what it applied).
        for p in &self.platforms {
            let decided = p.decided.map(|d| d.map(|d| d == Decision::Granted));
            (p.next, &p.rehomed, p.returned, decided).hash(state);
            for (tt, c) in p.ledger.types() {
                (tt, c.capacity, c.held, c.sold, c.anonymous_held, c.anonymous_credit, c.anomalies).hash(state);
            }
            let mut holds: Vec<_> = p
                .ledger
                .holds()
                .map(|(id, h)| (*id, h.ticket_type, h.quantity, h.status, h.owner.clone(), h.buyer))
                .collect();
            holds.sort_by_key(|h| h.0);
            holds.hash(state);
            p.ledger.applied().collect::<Vec<_>>().hash(state);
            p.ledger.origins().collect::<Vec<_>>().hash(state);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    /// The owner publishes the hold's `PENDING`.
    Request(usize),
    /// The owner cancels its held hold (or lets it expire).
    Cancel(usize),
    /// The owner confirms its held hold (payment).
    Confirm(usize),
    /// The owner refunds its confirmed hold.
    Refund(usize),
    /// The owner's outbox sends the hold's `PENDING` again (sent before a
    /// crash, not yet marked sent): a second copy, later in the log.
    Resend(usize),
    /// `b` publishes a `CANCELLED` of `a`'s first hold.
    Forge,
    /// A course peer publishes an anonymous `PENDING` off its home.
    CoursePeer,
    /// Platform `p` reads the next message of partition `k`.
    Consume(usize, usize),
    /// Platform `p` is handed the last message of partition `k` again.
    Redeliver(usize, usize),
}

/// A model of the market, and the ways it can be broken on purpose.
#[derive(Clone)]
struct Market {
    /// How many holds (the first ones) the outbox may send twice: 1 in
    /// `make test` (622,059 states, under a minute), 2 in the long check
    /// (4,552,967 states, about ten minutes).
    resent_holds: usize,
    /// The ledgers' capacity (a mutant grants past the real one).
    ledger_capacity: Option<u32>,
    /// Mutant: platforms apply every re-homed copy, not the first of each origin.
    apply_every_copy: bool,
    /// Mutant: a consumer applies a redelivered message as a new one.
    redelivery_as_new: bool,
}

impl Default for Market {
    fn default() -> Self {
        Self { resent_holds: 1, ledger_capacity: None, apply_every_copy: false, redelivery_as_new: false }
    }
}

/// One ticket: the two holds and the course peer's line compete for it.
const CAPACITY: u32 = 1;

fn op(msg: &Msg) -> LedgerOp {
    LedgerOp {
        action: msg.action,
        ticket_type: ticket_type(),
        quantity: Quantity::new(1).unwrap(),
        hold: msg.hold.map(hold_id),
        producer: msg.producer.map(platform_id),
        buyer: None,
        rehomed_from: msg.rehomed_from.map(|(p, o)| LineOrigin { partition: p as i32, offset: o as i64, line: 0 }),
    }
}

impl Market {
    fn fresh_ledger(&self) -> Ledger {
        let mut ledger = Ledger::new();
        ledger.set_capacity(ticket_type(), self.ledger_capacity.unwrap_or(CAPACITY));
        ledger
    }

    /// What a platform's consumer applies for the message at (`k`, `offset`):
    /// the line at its home, nothing elsewhere (it is re-homed instead).
    fn ops_of(&self, k: usize, msg: &Msg) -> Vec<LedgerOp> {
        if k != HOME {
            return Vec::new();
        }
        let mut op = op(msg);
        if self.apply_every_copy {
            op.rehomed_from = None;
        }
        vec![op]
    }

    /// The serial application, partition by partition, of `next`'s prefixes.
    fn serial(&self, log: &[Vec<Msg>; PARTITIONS], next: [usize; PARTITIONS]) -> Ledger {
        let mut ledger = self.fresh_ledger();
        for (k, msgs) in log.iter().enumerate() {
            for (offset, msg) in msgs[..next[k]].iter().enumerate() {
                ledger.apply(LogPosition { partition: k as i32, offset: offset as i64 }, &self.ops_of(k, msg));
            }
        }
        ledger
    }

    fn publish(state: &mut State, k: usize, msg: Msg) {
        state.log[k].push(msg);
    }
}

/// Holds granted or sold in a ledger, counted from its holds.
fn taken_by_holds(ledger: &Ledger) -> u32 {
    ledger
        .holds()
        .filter(|(_, h)| matches!(h.status, HoldStatus::Granted | HoldStatus::Confirmed))
        .map(|(_, h)| u32::from(h.quantity.get()))
        .sum()
}

impl Model for Market {
    type State = State;
    type Action = Step;

    fn init_states(&self) -> Vec<State> {
        let platform = Platform {
            ledger: self.fresh_ledger(),
            next: [0; PARTITIONS],
            rehomed: Vec::new(),
            returned: [0; OWNERS.len()],
            decided: [None; OWNERS.len()],
        };
        vec![State {
            log: [Vec::new(), Vec::new()],
            platforms: [platform.clone(), platform],
            views: [View::Unrequested; OWNERS.len()],
            forged: false,
            peer_published: false,
            resent: [false; OWNERS.len()],
        }]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Step>) {
        for (h, view) in state.views.iter().enumerate() {
            match view {
                View::Unrequested => actions.push(Step::Request(h)),
                View::Held => {
                    actions.push(Step::Cancel(h));
                    actions.push(Step::Confirm(h));
                }
                View::Confirmed => actions.push(Step::Refund(h)),
                _ => {}
            }
        }
        for (h, view) in state.views.iter().enumerate().take(self.resent_holds) {
            if *view != View::Unrequested && !state.resent[h] {
                actions.push(Step::Resend(h));
            }
        }
        if !state.forged && state.views[0] != View::Unrequested {
            actions.push(Step::Forge);
        }
        if !state.peer_published {
            actions.push(Step::CoursePeer);
        }
        for (p, platform) in state.platforms.iter().enumerate() {
            for k in 0..PARTITIONS {
                if platform.next[k] < state.log[k].len() {
                    actions.push(Step::Consume(p, k));
                }
            }
            if platform.next[HOME] > 0 {
                actions.push(Step::Redeliver(p, HOME));
            }
        }
    }

    fn next_state(&self, last: &State, step: Step) -> Option<State> {
        let mut s = last.clone();
        let ours = |action, h: usize| Msg { action, hold: Some(h), producer: Some(OWNERS[h]), rehomed_from: None };
        match step {
            Step::Request(h) => {
                Self::publish(&mut s, HOME, ours(Action::TicketPending, h));
                s.views[h] = View::Requested;
            }
            Step::Cancel(h) => {
                Self::publish(&mut s, HOME, ours(Action::TicketCancelled, h));
                s.views[h] = View::Cancelled;
            }
            Step::Confirm(h) => {
                Self::publish(&mut s, HOME, ours(Action::TicketReserved, h));
                s.views[h] = View::Confirmed;
            }
            Step::Refund(h) => {
                Self::publish(&mut s, HOME, ours(Action::TicketCancelled, h));
                s.views[h] = View::Refunded;
            }
            Step::Resend(h) => {
                Self::publish(&mut s, HOME, ours(Action::TicketPending, h));
                s.resent[h] = true;
            }
            Step::Forge => {
                let forged =
                    Msg { action: Action::TicketCancelled, hold: Some(0), producer: Some(1), rehomed_from: None };
                Self::publish(&mut s, HOME, forged);
                s.forged = true;
            }
            Step::CoursePeer => {
                let line = Msg { action: Action::TicketPending, hold: None, producer: None, rehomed_from: None };
                Self::publish(&mut s, 1, line);
                s.peer_published = true;
            }
            Step::Consume(p, k) => {
                let offset = s.platforms[p].next[k];
                let msg = s.log[k][offset].clone();
                s.platforms[p].next[k] += 1;
                if k != HOME && msg.rehomed_from.is_none() && !s.platforms[p].rehomed.contains(&(k, offset)) {
                    // Re-home the line first, then move past it.
                    s.platforms[p].rehomed.push((k, offset));
                    Self::publish(&mut s, HOME, Msg { rehomed_from: Some((k, offset)), ..msg.clone() });
                }
                self.apply(&mut s, p, k, offset, &msg);
            }
            Step::Redeliver(p, k) => {
                let offset = s.platforms[p].next[k] - 1;
                let msg = s.log[k][offset].clone();
                let at = if self.redelivery_as_new { offset + 100 } else { offset };
                self.apply(&mut s, p, k, at, &msg);
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("capacity", |_, s: &State| {
                s.platforms.iter().all(|p| taken_by_holds(&p.ledger) <= CAPACITY)
            }),
            Property::always("serial", |m: &Market, s: &State| {
                s.platforms.iter().all(|p| {
                    let serial = m.serial(&s.log, p.next);
                    serial.types().eq(p.ledger.types()) && holds_of(&serial) == holds_of(&p.ledger)
                })
            }),
            Property::always("agreement", |_, s: &State| {
                let [a, b] = &s.platforms;
                a.next != b.next
                    || (a.ledger.types().eq(b.ledger.types()) && holds_of(&a.ledger) == holds_of(&b.ledger))
            }),
            Property::always("own view", |_, s: &State| {
                s.views.iter().enumerate().all(|(h, view)| {
                    let owner = &s.platforms[OWNERS[h]].ledger;
                    match (view, owner.hold(hold_id(h)).map(|x| x.status)) {
                        (View::Held, status) => status == Some(HoldStatus::Granted),
                        (View::Rejected, status) => status == Some(HoldStatus::Rejected),
                        _ => true,
                    }
                })
            }),
            Property::always("released once", |_, s: &State| {
                s.platforms.iter().all(|p| {
                    (0..OWNERS.len()).all(|h| {
                        let status = p.ledger.hold(hold_id(h)).map(|x| x.status);
                        let closed =
                            matches!(status, Some(HoldStatus::Confirmed | HoldStatus::Released | HoldStatus::Refunded));
                        p.returned[h] <= 1 && (!closed || p.decided[h] == Some(Decision::Granted))
                    })
                })
            }),
            Property::always("anonymous once", |_, s: &State| {
                s.platforms.iter().all(|p| p.ledger.counts(ticket_type()).is_none_or(|c| c.anonymous_held <= 1))
            }),
            // Not vacuous: the states that matter are reached.
            Property::sometimes("a hold rejected for want of tickets", |_, s: &State| {
                s.views.contains(&View::Rejected)
            }),
            Property::sometimes("a re-homed line counted", |_, s: &State| {
                s.platforms.iter().any(|p| p.ledger.counts(ticket_type()).is_some_and(|c| c.anonymous_held == 1))
            }),
            Property::sometimes("a refund", |_, s: &State| {
                s.platforms
                    .iter()
                    .any(|p| p.returned.contains(&1) && p.ledger.holds().any(|(_, h)| h.status == HoldStatus::Refunded))
            }),
        ]
    }
}

fn holds_of(ledger: &Ledger) -> BTreeMap<HoldId, HoldStatus> {
    ledger.holds().map(|(id, h)| (*id, h.status)).collect()
}

impl Market {
    /// Platform `p` applies `msg`, read at (`k`, `offset`), with the rule.
    fn apply(&self, s: &mut State, p: usize, k: usize, offset: usize, msg: &Msg) {
        let ops = self.ops_of(k, msg);
        let position = LogPosition { partition: k as i32, offset: offset as i64 };
        let outcomes = s.platforms[p].ledger.apply(position, &ops);
        for outcome in outcomes {
            let Some(h) = msg.hold.filter(|_| !ops.is_empty()) else { continue };
            let platform = &mut s.platforms[p];
            match outcome {
                Outcome::Decided { decision } => {
                    platform.decided[h] = Some(decision);
                    // The owner's consumer forwards the decision to its buyer.
                    if OWNERS[h] == p && s.views[h] == View::Requested {
                        s.views[h] = match decision {
                            Decision::Granted => View::Held,
                            Decision::Rejected => View::Rejected,
                        };
                    }
                }
                Outcome::Released | Outcome::Refunded => platform.returned[h] += 1,
                _ => {}
            }
        }
    }
}

fn explore_all(market: Market) -> usize {
    let checker = market.checker().spawn_bfs().join();
    checker.assert_properties();
    println!("{} states explored, every property holds", checker.unique_state_count());
    checker.unique_state_count()
}

#[test]
fn every_reachable_state_of_two_platforms_and_two_partitions_keeps_every_property() {
    let states = explore_all(Market::default());
    assert!(states > 10_000, "explored {states} states");
}

/// Both holds' `PENDING` sent twice: about ten minutes on two cores, so not
/// in `make test`: `cargo test -p ticktak-core --test protocol_model -- --ignored`.
#[test]
#[ignore = "long: about ten minutes"]
fn every_reachable_state_with_every_pending_sent_twice_keeps_every_property() {
    explore_all(Market { resent_holds: 2, ..Market::default() });
}

/// The properties a mutant breaks, each with the shortest steps that lead
/// there (breadth first, to a depth that reaches every mutant's break).
fn broken_by(market: Market) -> Vec<&'static str> {
    let checker = market.checker().target_max_depth(10).spawn_bfs().join();
    let always = ["capacity", "serial", "agreement", "own view", "released once", "anonymous once"];
    let broken: Vec<&'static str> = always.into_iter().filter(|name| checker.discovery(name).is_some()).collect();
    for name in &broken {
        let path = checker.discovery(name).unwrap();
        println!("{name}: {:?}", path.into_actions());
    }
    broken
}

#[test]
fn a_rule_without_the_capacity_check_is_found() {
    assert!(broken_by(Market { ledger_capacity: Some(100), ..Market::default() }).contains(&"capacity"));
}

#[test]
fn platforms_that_apply_every_re_homed_copy_are_found() {
    assert!(broken_by(Market { apply_every_copy: true, ..Market::default() }).contains(&"anonymous once"));
}

#[test]
fn a_consumer_that_takes_a_redelivery_for_a_new_message_is_found() {
    let broken = broken_by(Market { redelivery_as_new: true, ..Market::default() });
    assert!(broken.contains(&"serial"), "{broken:?}");
}
