//! The shop's catalogue: matches (`GET /api/matches` → [`MatchPage`], `GET
//! /api/matches/{n}` → [`MatchView`]), the availability of a match (`GET
//! /api/matches/{n}/availability`, as buyers see it and as reservations
//! reads it for its fast "sold out" answer) and recommendations (`GET
//! /api/recommendations` → [`Recommendations`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticktak_core::ledger::CategoryStatus;
use ticktak_core::schedule::Phase;
use ticktak_core::TicketCounts;
use utoipa::ToSchema;

/// The path of a match (`GET /api/matches/{n}`, a [`MatchView`]).
pub fn match_path(match_number: u8) -> String {
    format!("/api/matches/{match_number}")
}

/// The path of a match's availability.
pub fn availability_path(match_number: u8) -> String {
    format!("/api/matches/{match_number}/availability")
}

/// `GET /api/matches/{n}/availability`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub match_number: u8,
    pub categories: Vec<CategoryView>,
}

/// One category of a match as buyers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryView {
    pub category: u8,
    pub price: u32,
    pub capacity: u32,
    /// Market-wide tickets held by open reservations.
    pub held: u32,
    /// Market-wide tickets sold.
    pub sold: u32,
    /// Tickets a new reservation can still take: capacity − sold − held.
    pub sellable: u32,
    /// AVAILABLE, TEMPORARILY_UNAVAILABLE or SOLD_OUT.
    #[schema(value_type = String)]
    pub status: CategoryStatus,
    /// The course's vocabulary: capacity − sold.
    pub available: u32,
    /// The course's vocabulary: same as `sellable`.
    pub pending: u32,
    /// Whether it is on sale now, by the organisers' schedule: `closed`
    /// (holds refused), `queue` (an on-sale with a waiting room) or `open`.
    #[serde(default)]
    #[schema(value_type = String, example = "open")]
    pub phase: Phase,
    /// When the phase ends, if the schedule says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_until: Option<DateTime<Utc>>,
    /// When a closed category goes on sale, if the schedule says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_on_sale_at: Option<DateTime<Utc>>,
    /// The waiting room it is sold through: in a `queue` phase, or while
    /// closed before an on-sale that opens with one (join it early: the
    /// pre-queue is drawn in random order at `opensAt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_room: Option<WaitingRoom>,
}

/// An on-sale with a waiting room (`POST /api/queue` of the reservations
/// service joins it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoom {
    /// The schedule's scope and the on-sale's time, e.g. `"7@1764842400"`;
    /// the categories of one room share its line.
    pub id: String,
    pub opens_at: DateTime<Utc>,
    /// The market's admission rate the organisers set, buyers per minute
    /// over every platform; absent: each platform admits at its own pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admit_per_minute: Option<u32>,
}

impl CategoryView {
    pub fn new(category: u8, price: u32, counts: TicketCounts) -> Self {
        Self {
            category,
            price,
            capacity: counts.capacity,
            held: counts.held,
            sold: counts.sold,
            sellable: counts.sellable(),
            status: counts.status(),
            available: counts.unsold(),
            pending: counts.sellable(),
            phase: Phase::Open,
            phase_until: None,
            next_on_sale_at: None,
            waiting_room: None,
        }
    }

    /// The waiting room a hold at `now` must come through, if any: in a
    /// `queue` phase (also a moment past its end, while a view is reused),
    /// or once the on-sale of a closed category's room has begun.
    pub fn waiting_room_at(&self, now: DateTime<Utc>) -> Option<&WaitingRoom> {
        let room = self.waiting_room.as_ref()?;
        match self.phase {
            Phase::Queue => Some(room),
            Phase::Closed => (room.opens_at <= now).then_some(room),
            Phase::Draw | Phase::Open => None,
        }
    }

    /// Why a hold of this category is refused by its phase at `now`, if it
    /// is: closed, and not yet past the end of that phase (a view kept a
    /// moment longer than the phase lasted lets the hold through to the
    /// next one, which the schedule said sells).
    pub fn closed_at(&self, now: DateTime<Utc>) -> Option<String> {
        if self.phase.sells()
            || self.phase_until.is_some_and(|until| until <= now && self.next_on_sale_at == Some(until))
        {
            return None;
        }
        if self.phase == Phase::Draw {
            return Some(format!(
                "category {} is sold by a random selection draw: apply with POST /api/draws/applications before it closes",
                self.category
            ));
        }
        Some(match self.next_on_sale_at {
            Some(t) => format!("category {} is not on sale yet: on sale from {}", self.category, t.to_rfc3339()),
            None => format!("category {} is not on sale", self.category),
        })
    }
}

/// A match with its three categories.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchView {
    pub match_number: u8,
    pub round_number: u8,
    pub date_utc: DateTime<Utc>,
    pub location: String,
    pub home_team: String,
    pub away_team: String,
    /// `null` for knock-out matches.
    pub group: Option<String>,
    pub categories: Vec<CategoryView>,
}

/// `GET /api/matches`: one page of matches.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchPage {
    pub matches: Vec<MatchView>,
    /// Matches that satisfy the filters, over all pages.
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

/// One match of `GET /api/recommendations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    #[serde(rename = "match")]
    pub match_view: MatchView,
    /// Why it is recommended, e.g. "popular with fans from South America".
    pub reason: String,
}

/// `GET /api/recommendations`: matches for this buyer, best first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendations {
    /// The country the ranking was made for, if known.
    pub country: Option<String>,
    /// `token`, `ip` or `none`: where the country came from.
    pub country_from: String,
    /// The model version, or `null` when ranked by this platform's sales.
    pub model_version: Option<i64>,
    pub recommendations: Vec<Recommendation>,
}
