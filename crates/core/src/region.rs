//! Regions, teams and stages: what recommendations are made from.
//!
//! A buyer's region is the FIFA confederation of their country (the six
//! confederations cover every country; a few territories that are no FIFA
//! member are mapped to the confederation of their geography). A match's
//! teams are mapped to their country codes (England and Wales to `GB`), so
//! "fans of the home nation" is a comparison of codes.

use serde::{Deserialize, Serialize};

use crate::country::Country;

/// A FIFA confederation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Region {
    /// Asia and Australia.
    Afc,
    /// Africa.
    Caf,
    /// North and Central America and the Caribbean.
    Concacaf,
    /// South America.
    Conmebol,
    /// Oceania.
    Ofc,
    /// Europe.
    Uefa,
}

const CONMEBOL: &[&str] = &["AR", "BO", "BR", "CL", "CO", "EC", "PE", "PY", "UY", "VE", "FK", "GS"];
const CONCACAF: &[&str] = &[
    "AG", "AI", "AW", "BB", "BL", "BM", "BQ", "BS", "BZ", "CA", "CR", "CU", "CW", "DM", "DO", "GD", "GF", "GL", "GP",
    "GT", "GY", "HN", "HT", "JM", "KN", "KY", "LC", "MF", "MQ", "MS", "MX", "NI", "PA", "PM", "PR", "SR", "SV", "SX",
    "TC", "TT", "UM", "US", "VC", "VG", "VI",
];
const UEFA: &[&str] = &[
    "AD", "AL", "AM", "AT", "AX", "AZ", "BA", "BE", "BG", "BY", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FO",
    "FR", "GB", "GE", "GG", "GI", "GR", "HR", "HU", "IE", "IL", "IM", "IS", "IT", "JE", "KZ", "LI", "LT", "LU", "LV",
    "MC", "MD", "ME", "MK", "MT", "NL", "NO", "PL", "PT", "RO", "RS", "RU", "SE", "SI", "SJ", "SK", "SM", "TR", "UA",
    "VA",
];
const CAF: &[&str] = &[
    "AO", "BF", "BI", "BJ", "BW", "CD", "CF", "CG", "CI", "CM", "CV", "DJ", "DZ", "EG", "EH", "ER", "ET", "GA", "GH",
    "GM", "GN", "GQ", "GW", "KE", "KM", "LR", "LS", "LY", "MA", "MG", "ML", "MR", "MU", "MW", "MZ", "NA", "NE", "NG",
    "RE", "RW", "SC", "SD", "SH", "SL", "SN", "SO", "SS", "ST", "SZ", "TD", "TG", "TN", "TZ", "UG", "YT", "ZA", "ZM",
    "ZW",
];
const OFC: &[&str] = &[
    "AS", "CK", "FJ", "FM", "KI", "MH", "MP", "NC", "NF", "NR", "NU", "NZ", "PF", "PG", "PN", "PW", "SB", "TK", "TO",
    "TV", "VU", "WF", "WS",
];
// Everything else (Asia, Australia, Guam, the Indian Ocean territories,
// Antarctica) is AFC.

impl Region {
    pub const ALL: [Region; 6] =
        [Region::Afc, Region::Caf, Region::Concacaf, Region::Conmebol, Region::Ofc, Region::Uefa];

    pub fn of(country: Country) -> Self {
        let code = country.as_str();
        let lists = [
            (CONMEBOL, Region::Conmebol),
            (CONCACAF, Region::Concacaf),
            (UEFA, Region::Uefa),
            (CAF, Region::Caf),
            (OFC, Region::Ofc),
        ];
        lists.iter().find(|(codes, _)| codes.contains(&code)).map_or(Region::Afc, |(_, r)| *r)
    }

    /// The fans' part of the world, for reasons shown to buyers:
    /// "popular with fans from South America".
    pub fn fans(self) -> &'static str {
        match self {
            Region::Afc => "Asia and Australia",
            Region::Caf => "Africa",
            Region::Concacaf => "North and Central America",
            Region::Conmebol => "South America",
            Region::Ofc => "Oceania",
            Region::Uefa => "Europe",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Region::Afc => "AFC",
            Region::Caf => "CAF",
            Region::Concacaf => "CONCACAF",
            Region::Conmebol => "CONMEBOL",
            Region::Ofc => "OFC",
            Region::Uefa => "UEFA",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The 32 teams of the 2022 World Cup as the master list names them, with
/// their country codes.
pub const TEAMS: [(&str, &str); 32] = [
    ("Argentina", "AR"),
    ("Australia", "AU"),
    ("Belgium", "BE"),
    ("Brazil", "BR"),
    ("Cameroon", "CM"),
    ("Canada", "CA"),
    ("Costa Rica", "CR"),
    ("Croatia", "HR"),
    ("Denmark", "DK"),
    ("Ecuador", "EC"),
    ("England", "GB"),
    ("France", "FR"),
    ("Germany", "DE"),
    ("Ghana", "GH"),
    ("Iran", "IR"),
    ("Japan", "JP"),
    ("Korea Republic", "KR"),
    ("Mexico", "MX"),
    ("Morocco", "MA"),
    ("Netherlands", "NL"),
    ("Poland", "PL"),
    ("Portugal", "PT"),
    ("Qatar", "QA"),
    ("Saudi Arabia", "SA"),
    ("Senegal", "SN"),
    ("Serbia", "RS"),
    ("Spain", "ES"),
    ("Switzerland", "CH"),
    ("Tunisia", "TN"),
    ("USA", "US"),
    ("Uruguay", "UY"),
    ("Wales", "GB"),
];

/// The country of a team named as in the master list; `None` for a
/// placeholder such as `1A` or `TBA`.
pub fn team_country(team: &str) -> Option<Country> {
    TEAMS.iter().find(|(name, _)| name.eq_ignore_ascii_case(team.trim())).and_then(|(_, c)| Country::new(c).ok())
}

/// The stage of a match, from the master list's round number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Group,
    RoundOf16,
    QuarterFinal,
    SemiFinal,
    Final,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::Group, Stage::RoundOf16, Stage::QuarterFinal, Stage::SemiFinal, Stage::Final];

    /// Rounds 1–3 are the group stage, 4 the round of 16, 5 the
    /// quarter-finals, 6 the semi-finals, 7 the final and third place.
    pub fn of_round(round: u8) -> Self {
        match round {
            0..=3 => Stage::Group,
            4 => Stage::RoundOf16,
            5 => Stage::QuarterFinal,
            6 => Stage::SemiFinal,
            _ => Stage::Final,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Country {
        Country::new(code).unwrap()
    }

    #[test]
    fn countries_belong_to_their_confederation() {
        assert_eq!(Region::of(c("AR")), Region::Conmebol);
        assert_eq!(Region::of(c("MX")), Region::Concacaf);
        assert_eq!(Region::of(c("DE")), Region::Uefa);
        assert_eq!(Region::of(c("MA")), Region::Caf);
        assert_eq!(Region::of(c("NZ")), Region::Ofc);
        assert_eq!(Region::of(c("AU")), Region::Afc);
        assert_eq!(Region::of(c("QA")), Region::Afc);
        assert_eq!(Region::Conmebol.fans(), "South America");
    }

    #[test]
    fn every_team_of_the_master_list_has_a_country_and_placeholders_none() {
        for m in crate::masterlist::fixture() {
            for team in [&m.home_team, &m.away_team] {
                let placeholder = team == "TBA" || team.len() == 2 && team.as_bytes()[0].is_ascii_digit();
                assert_eq!(team_country(team).is_none(), placeholder, "{team}");
            }
        }
        assert_eq!(team_country("korea republic"), Some(c("KR")));
        assert_eq!(Stage::of_round(2), Stage::Group);
        assert_eq!(Stage::of_round(7), Stage::Final);
    }

    #[test]
    fn the_lists_hold_assigned_codes_once() {
        let mut all: Vec<&str> = [CONMEBOL, CONCACAF, UEFA, CAF, OFC].concat();
        for code in &all {
            Country::new(code).unwrap();
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
