//! The shop's availability of a match (`GET /api/matches/{n}/availability`),
//! as buyers see it and as reservations reads it for its fast "sold out"
//! answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticktak_core::ledger::Status;
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
    pub status: Status,
    /// The course's vocabulary: capacity − sold.
    pub available: u32,
    /// The course's vocabulary: same as `sellable`.
    pub pending: u32,
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
        }
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
