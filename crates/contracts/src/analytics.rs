//! reservations → analytics: booking events on the platform-internal
//! bookings topic (`Topics::bookings`); analytics → shop: the current
//! recommendation model, and the one ranking rule both use (analytics to
//! evaluate a model, the shop to serve it).
//!
//! - topic `{prefix}-bookings-{PLATFORM_ID}-{env}`: [`BookingMessage`], a
//!   JSON array of the [`BookingEvent`]s of one change to the reservations
//!   table (a decision batch, an expiry sweep, a payment), key = the first
//!   event's reservation id. Never e-mail or name: the buyer is a pseudonym.
//!   A request (`REQUESTED`) is no event: the hold's `TICKET_PENDING` on the
//!   sales log says as much, so a hold costs one broker record on its way.
//! - `GET /internal/model` → [`Model`] (404 before the first training).
//! - And the admins' statistics (web site → analytics): `GET
//!   /api/admin/stats` → [`Stats`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticktak_core::region::Region;
use ticktak_core::Country;
use utoipa::ToSchema;

pub const MODEL: &str = "/internal/model";

/// One change of a reservation, as analytics records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookingEvent {
    /// Unique per event: a redelivered event is recognised by it.
    #[serde(deserialize_with = "ticktak_core::text::label")]
    pub event_id: String,
    #[serde(deserialize_with = "ticktak_core::text::label")]
    pub reservation_id: String,
    /// A pseudonym of the account: the same for all its bookings on this
    /// platform, and not the account id.
    #[serde(deserialize_with = "ticktak_core::text::label")]
    pub buyer: String,
    /// ISO 3166-1 alpha-2 code the buyer gave at sign-up, if any.
    #[serde(default, deserialize_with = "ticktak_core::text::optional_label")]
    pub country: Option<String>,
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
    /// Unit price × quantity, in the master list's currency units.
    pub amount: u32,
    /// HELD, REJECTED, CONFIRMED, EXPIRED, CANCELLED or REFUNDED (REQUESTED
    /// in events written before requests stopped being events).
    #[serde(deserialize_with = "ticktak_core::text::label")]
    pub status: String,
    /// When the reservation was made.
    pub created_at: DateTime<Utc>,
    /// When this change happened.
    pub at: DateTime<Utc>,
}

/// At most this many events travel in one bookings message
/// (`migrations/reservations/0008_booking_events_batched.sql` cuts there).
pub const MAX_BOOKING_EVENTS: usize = 256;

/// One message on the bookings topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BookingMessage {
    /// The events of one statement, at most [`MAX_BOOKING_EVENTS`].
    Batch(Vec<BookingEvent>),
    /// A single event object, as messages were written before batching.
    One(BookingEvent),
}

impl BookingMessage {
    /// Its events, or why the message is refused.
    pub fn events(self) -> Result<Vec<BookingEvent>, String> {
        match self {
            Self::One(e) => Ok(vec![e]),
            Self::Batch(events) if events.len() > MAX_BOOKING_EVENTS => {
                Err(format!("{} events in one message, more than {MAX_BOOKING_EVENTS}", events.len()))
            }
            Self::Batch(events) => Ok(events),
        }
    }
}

/// How a model did on bookings it was not trained on (the latest part of
/// the history), against ranking by popularity on the same split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub train_bookings: u64,
    pub test_bookings: u64,
    pub hit_rate_at_5: f64,
    pub ndcg_at_5: f64,
    pub baseline_hit_rate_at_5: f64,
    pub baseline_ndcg_at_5: f64,
}

/// Scores per match number: higher is more likely to be booked.
pub type Scores = BTreeMap<u8, f64>;

/// A trained recommendation model: a score for every match, per buyer
/// country seen in training, per region, and for anyone (popularity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    pub evaluation: Evaluation,
    #[schema(value_type = Object)]
    pub popularity: Scores,
    /// By confederation code (`CONMEBOL`, …).
    #[schema(value_type = Object)]
    pub regions: BTreeMap<String, Scores>,
    /// By country code.
    #[schema(value_type = Object)]
    pub countries: BTreeMap<String, Scores>,
}

/// What a ranking was made from, for the reason shown to the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Bookings of fans from the buyer's region (and country).
    Region(Region),
    /// Bookings of everyone.
    Popularity,
}

impl Basis {
    /// "popular with fans from South America".
    pub fn reason(self) -> String {
        match self {
            Basis::Region(r) => format!("popular with fans from {}", r.fans()),
            Basis::Popularity => "popular with fans across the market".to_string(),
        }
    }
}

impl Model {
    /// Every match the model knows, best first, for a buyer from `country`
    /// (unknown: by popularity). Ties go to the lower match number.
    pub fn rank(&self, country: Option<Country>) -> (Vec<u8>, Basis) {
        let by_country = country.and_then(|c| self.countries.get(c.as_str()).map(|s| (s, Region::of(c))));
        let by_region = || {
            let region = Region::of(country?);
            self.regions.get(region.code()).map(|s| (s, region))
        };
        let (scores, basis) = match by_country.or_else(by_region) {
            Some((scores, region)) => (scores, Basis::Region(region)),
            None => (&self.popularity, Basis::Popularity),
        };
        (ranked(scores), basis)
    }
}

/// Match numbers by descending score.
pub fn ranked(scores: &Scores) -> Vec<u8> {
    let mut v: Vec<(u8, f64)> = scores.iter().map(|(m, s)| (*m, *s)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(m, _)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> serde_json::Value {
        serde_json::json!({
            "eventId": format!("e{i}"), "reservationId": format!("r{i}"), "buyer": "b", "country": "AR",
            "matchNumber": 1, "category": 2, "quantity": 1, "amount": 125, "status": "HELD",
            "createdAt": "2026-12-03T10:00:00Z", "at": "2026-12-03T10:00:01Z"
        })
    }

    fn events(body: serde_json::Value) -> Result<Vec<BookingEvent>, String> {
        serde_json::from_value::<BookingMessage>(body).map_err(|e| e.to_string())?.events()
    }

    #[test]
    fn a_batch_and_a_single_event_are_read_and_an_oversized_batch_is_refused() {
        let batch = events(serde_json::json!([event(1), event(2)])).unwrap();
        assert_eq!(batch.iter().map(|e| e.reservation_id.as_str()).collect::<Vec<_>>(), ["r1", "r2"]);
        assert_eq!(events(event(3)).unwrap()[0].country.as_deref(), Some("AR"));
        let full: Vec<_> = (0..MAX_BOOKING_EVENTS).map(event).collect();
        assert_eq!(events(serde_json::json!(full)).unwrap().len(), MAX_BOOKING_EVENTS);
        let over: Vec<_> = (0..=MAX_BOOKING_EVENTS).map(event).collect();
        assert!(events(serde_json::json!(over)).unwrap_err().contains("more than 256"));
        assert!(events(serde_json::json!({"eventId": "x"})).is_err());
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeStats {
    pub match_number: u8,
    pub category: u8,
    pub capacity: u32,
    pub sold: u32,
    pub held: u32,
    pub price: u32,
    /// sold × price, in the master list's currency units.
    pub revenue: i64,
    /// sold / capacity, in percent.
    pub sell_through: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchStats {
    pub match_number: u8,
    pub home_team: String,
    pub away_team: String,
    pub date_utc: DateTime<Utc>,
    /// Summed over the match's categories (each at most `i32::MAX`).
    pub capacity: u64,
    pub sold: u64,
    pub revenue: i64,
    pub sell_through: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformStats {
    /// The `client-id` of the platform's messages (`unknown` for peers that send none).
    pub platform: String,
    pub sold: i64,
    pub revenue: i64,
    /// Share of all tickets sold, in percent.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Minute {
    pub minute: DateTime<Utc>,
    pub tickets: i64,
    pub revenue: i64,
}

/// The sales log position the numbers reflect: the last applied offset per
/// partition.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub capacity: u64,
    pub sold: u64,
    pub held: u64,
    pub revenue: i64,
    pub sell_through: f64,
}

/// `GET /api/admin/stats`: the market's statistics from the sales log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub position: Vec<Position>,
    pub totals: Totals,
    /// Every ticket type (64 × 3), by match and category.
    pub types: Vec<TypeStats>,
    /// The best-selling matches, most tickets first.
    pub top_matches: Vec<MatchStats>,
    pub platforms: Vec<PlatformStats>,
    /// Tickets sold per minute over the last `window` minutes, oldest first
    /// (minutes without sales included).
    pub sales_per_minute: Vec<Minute>,
    /// Anomalies seen in the log, by kind.
    #[schema(value_type = Object)]
    pub anomalies: BTreeMap<String, u64>,
}
