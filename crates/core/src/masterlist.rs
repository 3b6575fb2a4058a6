//! The master-list topic: one message per match, key = matchNumber, body
//! exactly as the organisers' fixture publishes it (field names, order and
//! `group: null` for knock-out matches), so other platforms' strict
//! validators accept what we publish.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{Category, MatchNumber, Price, TicketType};

/// The organisers' fixture of the 64 matches, carried with the project.
pub const FIXTURE_JSON: &str = include_str!("../data/master-list.json");

/// One match as it travels on the master-list topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MasterListMatch {
    pub match_number: MatchNumber,
    pub round_number: u8,
    pub date_utc: DateTime<Utc>,
    pub location: String,
    pub availability: Availability,
    pub home_team: String,
    pub away_team: String,
    /// `None` for knock-out matches.
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    pub category1: CategoryAvailability,
    pub category2: CategoryAvailability,
    pub category3: CategoryAvailability,
}

/// `available` is the capacity of the category; `pending` is informational
/// (the ledger, not the publisher, tracks what is held).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryAvailability {
    pub available: u32,
    pub pending: u32,
    pub price: Price,
}

impl Availability {
    pub fn get(&self, category: Category) -> &CategoryAvailability {
        match category.get() {
            1 => &self.category1,
            2 => &self.category2,
            _ => &self.category3,
        }
    }
}

impl MasterListMatch {
    /// The three ticket types of this match with their capacity and price.
    pub fn ticket_types(&self) -> impl Iterator<Item = (TicketType, u32, Price)> + '_ {
        Category::ALL.into_iter().map(move |c| {
            let a = self.availability.get(c);
            (TicketType::new(self.match_number, c), a.available, a.price)
        })
    }

    /// Kafka key of this match on the master-list topic.
    pub fn kafka_key(&self) -> String {
        self.match_number.to_string()
    }

    /// Parse one master-list message body.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a master-list match always serialises")
    }
}

/// Parse a whole master list (a JSON array of matches), refusing duplicates.
pub fn parse_list(json: &str) -> Result<Vec<MasterListMatch>, String> {
    let matches: Vec<MasterListMatch> = serde_json::from_str(json).map_err(|e| format!("invalid master list: {e}"))?;
    let mut seen = std::collections::HashSet::new();
    for m in &matches {
        if !seen.insert(m.match_number) {
            return Err(format!("match {} appears twice in the master list", m.match_number));
        }
    }
    Ok(matches)
}

/// The organisers' 64 matches.
pub fn fixture() -> Vec<MasterListMatch> {
    parse_list(FIXTURE_JSON).expect("the bundled master list is valid")
}

/// `list` with every kick-off moved `years` years on (same day and time;
/// 29 February falls back to the 28th).
pub fn years_later(mut list: Vec<MasterListMatch>, years: u32) -> Vec<MasterListMatch> {
    use chrono::Datelike as _;
    for m in &mut list {
        let year = m.date_utc.year() + years as i32;
        m.date_utc =
            m.date_utc.with_year(year).or_else(|| m.date_utc.with_day(28)?.with_year(year)).unwrap_or(m.date_utc);
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_has_64_distinct_matches_and_knockouts_without_group() {
        let list = fixture();
        assert_eq!(list.len(), 64);
        let knockouts = list.iter().filter(|m| m.group.is_none()).count();
        assert_eq!(knockouts, 16, "rounds 4-7 have no group");
        assert!(list.iter().all(|m| (m.round_number >= 4) == m.group.is_none()));
    }

    #[test]
    fn every_fixture_match_round_trips_to_the_same_json_value() {
        let raw: Vec<serde_json::Value> = serde_json::from_str(FIXTURE_JSON).unwrap();
        for (value, parsed) in raw.iter().zip(fixture()) {
            let ours: serde_json::Value = serde_json::from_slice(&parsed.to_json()).unwrap();
            assert_eq!(&ours, value, "match {}", parsed.match_number);
            // Key order matters to byte-level comparisons by other teams.
            let keys: Vec<_> = ours.as_object().unwrap().keys().cloned().collect();
            let theirs: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys, theirs);
        }
    }

    #[test]
    fn serialised_match_is_compact_course_json() {
        let m = fixture().into_iter().find(|m| m.group.is_none()).unwrap();
        let text = String::from_utf8(m.to_json()).unwrap();
        assert!(text.starts_with("{\"matchNumber\":"), "{text}");
        assert!(text.ends_with(",\"group\":null}"), "{text}");
        assert!(text.contains("\"dateUtc\":\"2022-"), "{text}");
        assert!(text.contains("Z\""), "dates keep the Z suffix: {text}");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let good = String::from_utf8(fixture()[0].to_json()).unwrap();
        let extra = good.replacen('{', "{\"extra\":1,", 1);
        assert!(MasterListMatch::from_json(extra.as_bytes()).is_err());
        let bad_match = good.replacen("\"matchNumber\":1", "\"matchNumber\":99", 1);
        assert!(MasterListMatch::from_json(bad_match.as_bytes()).is_err());
    }

    #[test]
    fn duplicate_matches_are_refused() {
        let one = String::from_utf8(fixture()[0].to_json()).unwrap();
        assert!(parse_list(&format!("[{one},{one}]")).is_err());
    }
}
