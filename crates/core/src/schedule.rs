//! The sale schedule: when each ticket type is on sale, set by the
//! organisers on the shared topic `{prefix}-sale-schedule-{env}` beside the
//! master list, and followed by every platform.
//!
//! - One message per scope (the whole tournament, a match, or one ticket
//!   type), key = [`Scope::key`]; a later message for a scope replaces it
//!   (by the organisers' `issued-at`, as for the master list).
//! - A message is the scope's steps: from each step's time on, its phase
//!   holds — `closed` (no holds), `draw` (no holds: applications for a
//!   draw are taken, `crate::draw`), `queue` (an on-sale with a waiting
//!   room) or `open` (today's behaviour). Before the first step, and where no
//!   scope has a message, a ticket type is `open`.
//! - The most specific scope with a message decides a ticket type: the
//!   type's own, else its match's, else the tournament's.
//! - Only messages the organisers signed count; a market without an
//!   organisers' key has no schedule (every ticket type stays open), since
//!   anyone could otherwise close every platform's sales.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{MatchNumber, TicketType};

/// Most steps one scope's schedule may have.
pub const MAX_STEPS: usize = 16;
/// Highest market admission rate a schedule may set, buyers per minute.
pub const MAX_ADMIT_PER_MINUTE: u32 = 1_000_000;
/// Largest schedule message a platform reads, in bytes.
pub const MAX_SCHEDULE_BYTES: usize = 4096;

/// Whether and how a ticket type is on sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Not on sale: every hold is refused.
    Closed,
    /// Applications for a random selection draw are taken (`crate::draw`);
    /// holds are refused.
    Draw,
    /// On sale through a waiting room.
    Queue,
    /// On sale to whoever asks first (where no schedule says otherwise).
    #[default]
    Open,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Draw => "draw",
            Phase::Queue => "queue",
            Phase::Open => "open",
        }
    }

    /// Whether holds may be placed in this phase at all.
    pub fn sells(self) -> bool {
        matches!(self, Phase::Queue | Phase::Open)
    }
}

/// What a schedule message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// `None`: the whole tournament.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_number: Option<MatchNumber>,
    /// With a match: one of its categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<crate::ids::Category>,
}

impl Scope {
    pub const TOURNAMENT: Scope = Scope { match_number: None, category: None };

    /// The Kafka key: `"all"`, `"{match}"` or `"{match}-{category}"`.
    pub fn key(&self) -> String {
        match (self.match_number, self.category) {
            (None, _) => "all".into(),
            (Some(m), None) => m.to_string(),
            (Some(m), Some(c)) => format!("{m}-{c}"),
        }
    }

    /// How specific it is: 0 tournament, 1 match, 2 ticket type.
    fn rank(&self) -> u8 {
        u8::from(self.match_number.is_some()) + u8::from(self.category.is_some())
    }

    fn covers(&self, tt: TicketType) -> bool {
        self.match_number.is_none_or(|m| m == tt.match_number) && self.category.is_none_or(|c| c == tt.category)
    }
}

/// From `from` on, `phase` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    pub from: DateTime<Utc>,
    pub phase: Phase,
}

/// One message of the schedule topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleMessage {
    pub scope: Scope,
    /// In time order, at most [`MAX_STEPS`].
    pub steps: Vec<Step>,
    /// The market's admission rate of this scope's waiting rooms, buyers
    /// per minute over every platform (shared between them in proportion
    /// to their queues, `crate::queue`); `None`: each platform admits at
    /// its own pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admit_per_minute: Option<u32>,
}

impl ScheduleMessage {
    /// Read a body, refusing what the organisers would not write: oversized,
    /// malformed, a category without a match, steps out of order, too many,
    /// or outside 2000–2100.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        if body.len() > MAX_SCHEDULE_BYTES {
            return Err(format!("body of {} bytes is over {MAX_SCHEDULE_BYTES}", body.len()));
        }
        let m: ScheduleMessage = serde_json::from_slice(body).map_err(|e| format!("not a schedule message: {e}"))?;
        m.check()?;
        Ok(m)
    }

    /// Why the message is not a schedule, if it is not.
    pub fn check(&self) -> Result<(), String> {
        if self.scope.category.is_some() && self.scope.match_number.is_none() {
            return Err("a category needs its match".into());
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(format!("1 to {MAX_STEPS} steps, not {}", self.steps.len()));
        }
        if self.steps.iter().any(|s| !(2000..=2100).contains(&s.from.year())) {
            return Err("a step outside the years 2000–2100".into());
        }
        if self.steps.windows(2).any(|w| w[0].from >= w[1].from) {
            return Err("steps must be in time order".into());
        }
        if self.admit_per_minute.is_some_and(|r| !(1..=MAX_ADMIT_PER_MINUTE).contains(&r)) {
            return Err(format!("admitPerMinute must be 1 to {MAX_ADMIT_PER_MINUTE}"));
        }
        Ok(())
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a schedule serialises")
    }
}

/// An on-sale with a waiting room: the `queue` step that starts it and the
/// scope whose schedule set it. Every ticket type that scope decides shares
/// the room (a tournament-wide queue is one room for every match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub scope: Scope,
    pub opens_at: DateTime<Utc>,
    /// The market's admission rate, when the organisers set one.
    pub admit_per_minute: Option<u32>,
}

impl Room {
    /// `"{scope key}@{Unix seconds of T}"`, e.g. `"7-1@1764842400"`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.scope.key(), self.opens_at.timestamp())
    }
}

/// Where a ticket type stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseAt {
    pub phase: Phase,
    /// When the phase ends, if a step follows.
    pub until: Option<DateTime<Utc>>,
    /// The next time the type goes (back) on sale, when it is closed now.
    pub next_on_sale: Option<DateTime<Utc>>,
    /// The waiting room: the one selling now in a `queue` phase, or, while
    /// closed, the one the next sale opens with (its pre-queue).
    pub room: Option<Room>,
}

impl PhaseAt {
    pub const OPEN: PhaseAt = PhaseAt { phase: Phase::Open, until: None, next_on_sale: None, room: None };
}

/// The schedule in force: each scope's steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    scopes: BTreeMap<Scope, ScheduleMessage>,
}

impl Schedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// The message in force for its scope from now on.
    pub fn set(&mut self, message: ScheduleMessage) {
        self.scopes.insert(message.scope, message);
    }

    /// The phase of `tt` at `at`, from the most specific scope with a
    /// schedule.
    pub fn phase_of(&self, tt: TicketType, at: DateTime<Utc>) -> PhaseAt {
        let Some((&scope, message)) = self.scopes.iter().filter(|(s, _)| s.covers(tt)).max_by_key(|(s, _)| s.rank())
        else {
            return PhaseAt::OPEN;
        };
        let (steps, admit_per_minute) = (&message.steps, message.admit_per_minute);
        let now = steps.iter().rposition(|s| s.from <= at);
        let phase = now.map_or(Phase::Open, |i| steps[i].phase);
        let later = &steps[now.map_or(0, |i| i + 1)..];
        let next_sale = later.iter().find(|s| s.phase.sells());
        let room = match (phase, now) {
            // A queue phase's room opened at the first of its queue steps.
            (Phase::Queue, Some(i)) => {
                let first = steps[..=i].iter().rposition(|s| s.phase != Phase::Queue).map_or(0, |j| j + 1);
                Some(Room { scope, opens_at: steps[first].from, admit_per_minute })
            }
            (Phase::Closed, _) => next_sale.filter(|s| s.phase == Phase::Queue).map(|s| Room {
                scope,
                opens_at: s.from,
                admit_per_minute,
            }),
            _ => None,
        };
        PhaseAt {
            phase,
            until: later.first().map(|s| s.from),
            next_on_sale: (!phase.sells()).then(|| next_sale.map(|s| s.from)).flatten(),
            room,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Category;

    fn tt(m: i64, c: i64) -> TicketType {
        TicketType::new(MatchNumber::new(m).unwrap(), Category::new(c).unwrap())
    }

    fn msg(scope: Scope, steps: Vec<Step>) -> ScheduleMessage {
        ScheduleMessage { scope, steps, admit_per_minute: None }
    }

    fn at(h: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 4, h, 0, 0).unwrap()
    }

    #[test]
    fn the_most_specific_scope_decides_and_steps_follow_the_clock() {
        let mut s = Schedule::new();
        assert_eq!(s.phase_of(tt(1, 1), at(9)), PhaseAt::OPEN, "no schedule: open");
        s.set(msg(Scope::TOURNAMENT, vec![Step { from: at(8), phase: Phase::Closed }]));
        s.set(ScheduleMessage {
            admit_per_minute: Some(600),
            ..msg(
                Scope { match_number: Some(MatchNumber::new(1).unwrap()), category: None },
                vec![Step { from: at(8), phase: Phase::Closed }, Step { from: at(10), phase: Phase::Queue }],
            )
        });
        s.set(msg(
            Scope { match_number: Some(MatchNumber::new(1).unwrap()), category: Some(Category::new(3).unwrap()) },
            vec![Step { from: at(11), phase: Phase::Open }],
        ));
        assert_eq!(s.phase_of(tt(2, 1), at(9)).phase, Phase::Closed, "the tournament's");
        let before = s.phase_of(tt(1, 1), at(9));
        let match_1 = Scope { match_number: Some(MatchNumber::new(1).unwrap()), category: None };
        let room = Room { scope: match_1, opens_at: at(10), admit_per_minute: Some(600) };
        assert_eq!(
            before,
            PhaseAt { phase: Phase::Closed, until: Some(at(10)), next_on_sale: Some(at(10)), room: Some(room) },
            "closed, with the pre-queue of the on-sale to come"
        );
        assert_eq!(s.phase_of(tt(1, 1), at(10)).phase, Phase::Queue);
        assert_eq!(s.phase_of(tt(1, 2), at(13)).room, Some(room), "both categories share the match's room");
        assert_eq!(room.id(), format!("1@{}", at(10).timestamp()));
        assert_eq!(s.phase_of(tt(2, 1), at(9)).room, None, "closed with no sale to come: no room");
        // Two queue steps in a row are one on-sale.
        s.set(msg(
            Scope { match_number: Some(MatchNumber::new(4).unwrap()), category: None },
            vec![
                Step { from: at(8), phase: Phase::Queue },
                Step { from: at(9), phase: Phase::Queue },
                Step { from: at(10), phase: Phase::Open },
            ],
        ));
        assert_eq!(s.phase_of(tt(4, 1), at(9)).room.map(|r| r.opens_at), Some(at(8)));
        assert_eq!(s.phase_of(tt(4, 1), at(10)).room, None, "open: no room");
        // Category 3's own schedule: open before its first step too.
        assert_eq!(s.phase_of(tt(1, 3), at(9)).phase, Phase::Open);
        assert_eq!(s.phase_of(tt(1, 3), at(12)).phase, Phase::Open);
        assert_eq!(s.phase_of(tt(2, 1), at(7)).phase, Phase::Open, "before the first step");
    }

    #[test]
    fn messages_round_trip_and_odd_ones_are_refused() {
        let m = ScheduleMessage {
            scope: Scope { match_number: Some(MatchNumber::new(7).unwrap()), category: None },
            steps: vec![Step { from: at(8), phase: Phase::Closed }, Step { from: at(10), phase: Phase::Queue }],
            admit_per_minute: Some(6000),
        };
        assert_eq!(ScheduleMessage::decode(&m.to_json()), Ok(m.clone()));
        assert_eq!(m.scope.key(), "7");
        let text = String::from_utf8(m.to_json()).unwrap();
        let swapped = text.replace("2026-12-04T08", "2026-12-04T99").replace("2026-12-04T10", "2026-12-04T08");
        let too_many = format!(
            "{{\"scope\":{{}},\"steps\":[{}]}}",
            vec!["{\"from\":\"2026-12-04T08:00:00Z\",\"phase\":\"open\"}"; MAX_STEPS + 1].join(",")
        );
        for bad in [
            text.replace("closed", "sold"),
            text.replace("6000", "0"),
            text.replace("6000", "1000001"),
            text.replace("\"matchNumber\":7", "\"category\":1"),
            text.replace("\"steps\":[", "\"steps\":[{\"from\":\"2026-12-04T09:00:00Z\",\"phase\":\"open\"},"),
            swapped,
            text.replace("2026-12-04T08", "1999-12-04T08"),
            too_many,
            "{\"scope\":{},\"steps\":[]}".into(),
            text.replace('}', ",\"extra\":1}"),
        ] {
            assert!(ScheduleMessage::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
