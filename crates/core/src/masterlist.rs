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
    /// Between 2000 and 2100: what every platform's storage holds.
    #[serde(deserialize_with = "kick_off")]
    pub date_utc: DateTime<Utc>,
    #[serde(deserialize_with = "crate::text::label")]
    pub location: String,
    pub availability: Availability,
    #[serde(deserialize_with = "crate::text::label")]
    pub home_team: String,
    #[serde(deserialize_with = "crate::text::label")]
    pub away_team: String,
    /// `None` for knock-out matches.
    #[serde(deserialize_with = "crate::text::optional_label")]
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    pub category1: CategoryAvailability,
    pub category2: CategoryAvailability,
    pub category3: CategoryAvailability,
}

/// `available` is the capacity of the category (at most [`MAX_CAPACITY`]);
/// `pending` is informational (the ledger, not the publisher, tracks what
/// is held).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryAvailability {
    #[serde(deserialize_with = "capacity")]
    pub available: u32,
    pub pending: u32,
    pub price: Price,
}

/// Most seats one category of one match may have (the largest stadium of
/// any World Cup held about 200,000 people): bounds every counter of the
/// ledger far below what storage can hold.
pub const MAX_CAPACITY: u32 = 1_000_000;

fn kick_off<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    use chrono::Datelike as _;
    let at = DateTime::<Utc>::deserialize(d)?;
    if !(2000..=2100).contains(&at.year()) {
        return Err(serde::de::Error::custom(format!("dateUtc must lie between 2000 and 2100, got {at}")));
    }
    Ok(at)
}

fn capacity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n > MAX_CAPACITY {
        return Err(serde::de::Error::custom(format!("available must be at most {MAX_CAPACITY}, got {n}")));
    }
    Ok(n)
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

    /// What a later message for this match changes of what sales depend
    /// on — the kick-off, a category's price or capacity — or `None`. Only
    /// the organisers' signed correction may change those; without the
    /// organisers' key the first message of a match fixes them, on every
    /// platform alike (all read the topic from its start).
    pub fn frozen_change(&self, later: &MasterListMatch) -> Option<String> {
        if later.date_utc != self.date_utc {
            return Some(format!("the kick-off from {} to {}", self.date_utc, later.date_utc));
        }
        self.ticket_types().zip(later.ticket_types()).find_map(|((tt, cap, price), (_, later_cap, later_price))| {
            (cap != later_cap || price != later_price).then(|| {
                format!(
                    "category {} from {cap} seats at {} to {later_cap} at {}",
                    tt.category.get(),
                    price.get(),
                    later_price.get()
                )
            })
        })
    }

    /// Whether `later`, a message for this match, may replace it.
    /// `issued_at`: when the organisers signed `later` (`None`: unsigned);
    /// `known_issued_at`: when they signed the message that set this one.
    /// An organisers' message counts only when it is newer than the last
    /// one (an old signed message replayed changes nothing); an unsigned
    /// one may not change what [`Self::frozen_change`] guards. The shop and
    /// analytics both decide with this, so they agree.
    pub fn replaced_by(
        &self,
        known_issued_at: Option<DateTime<Utc>>,
        later: &MasterListMatch,
        issued_at: Option<DateTime<Utc>>,
    ) -> Result<(), String> {
        match (issued_at, known_issued_at) {
            (Some(t), Some(k)) if t <= k => {
                Err(format!("an organisers' message issued at {t}, not after the one in force (issued at {k})"))
            }
            (Some(_), _) => Ok(()),
            (None, _) => match self.frozen_change(later) {
                Some(change) => Err(format!("a correction not signed by the organisers would change {change}")),
                None => Ok(()),
            },
        }
    }

    /// Kafka key of this match on the master-list topic.
    pub fn kafka_key(&self) -> String {
        self.match_number.kafka_key()
    }

    /// Parse one master-list message body (at most
    /// [`crate::text::MAX_MESSAGE_BYTES`]); the error says what is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > crate::text::MAX_MESSAGE_BYTES {
            return Err(format!("the body has {} bytes, more than {}", bytes.len(), crate::text::MAX_MESSAGE_BYTES));
        }
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
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
    fn names_with_control_characters_oversized_bodies_and_huge_capacities_are_refused() {
        let good: serde_json::Value = serde_json::from_slice(&fixture()[0].to_json()).unwrap();
        let with = |path: &[&str], value: serde_json::Value| {
            let mut v = good.clone();
            let mut at = &mut v;
            for key in path {
                at = &mut at[*key];
            }
            *at = value;
            serde_json::to_vec(&v).unwrap()
        };
        for bad in [
            with(&["homeTeam"], "Qatar\u{0}".into()),
            with(&["awayTeam"], "Ecua\ndor".into()),
            with(&["location"], "S".repeat(crate::text::MAX_LABEL_CHARS + 1).into()),
            with(&["group"], "Group \u{7}A".into()),
            with(&["availability", "category1", "available"], (MAX_CAPACITY + 1).into()),
            with(&["dateUtc"], "-5000-01-01T00:00:00Z".into()),
            with(&["dateUtc"], "+12022-11-20T16:00:00Z".into()),
        ] {
            let text = String::from_utf8_lossy(&bad).to_string();
            assert!(MasterListMatch::from_json(&bad).is_err(), "{text}");
        }
        let mut padded = serde_json::to_vec(&good).unwrap();
        padded.extend(std::iter::repeat_n(b' ', crate::text::MAX_MESSAGE_BYTES));
        assert!(MasterListMatch::from_json(&padded).unwrap_err().contains("bytes"));
        assert!(
            MasterListMatch::from_json(&with(&["availability", "category1", "available"], MAX_CAPACITY.into())).is_ok()
        );
    }

    #[test]
    fn a_later_message_may_rename_but_not_move_reprice_or_resize_a_match() {
        let first = fixture()[0].clone();
        let mut renamed = first.clone();
        renamed.home_team = "Winner Group A".into();
        assert_eq!(first.frozen_change(&renamed), None);
        let mut cheaper = first.clone();
        cheaper.availability.category2.price = Price::new(1).unwrap();
        assert!(first.frozen_change(&cheaper).unwrap().contains("category 2"));
        let mut bigger = first.clone();
        bigger.availability.category3.available += 1;
        assert!(first.frozen_change(&bigger).unwrap().contains("category 3"));
        let later = years_later(vec![first.clone()], 1).remove(0);
        assert!(first.frozen_change(&later).unwrap().contains("kick-off"));
    }

    #[test]
    fn duplicate_matches_are_refused() {
        let one = String::from_utf8(fixture()[0].to_json()).unwrap();
        assert!(parse_list(&format!("[{one},{one}]")).is_err());
    }
}
