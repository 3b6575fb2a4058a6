//! The recommendation model: which matches a buyer from a given country is
//! likely to book, learnt from the bookings in the lake.
//!
//! A log-linear score per (buyer country, match):
//!
//! ```text
//! score(c, m) = ln popularity(m)
//!             + Σ over the match's teams t:  lift(country c, team t)
//!                                          + lift(region of c, team t)
//!                                          + lift(region of c, region of t)
//!             + lift(region of c, stage of m)
//! lift(x, f) = ln( (n(x, f) + α·p(f)) / ((n(x) + α)·p(f)) )
//! ```
//!
//! `n(x, f)` counts bookings by buyers of group `x` of matches with feature
//! `f`, `p(f)` the share of all bookings with `f`, and α = 20 shrinks a
//! lift towards 0 when a group has booked little. Knock-out matches whose
//! teams are not known yet score by stage and popularity only.
//!
//! The model is a score for every match per country seen in training, per
//! region, and by popularity alone; `contracts::analytics::Model::rank`
//! turns them into the ranking the shop serves. It is evaluated on the
//! latest 20 % of the bookings (a time-based split: trained on the earlier
//! 80 %) by hit rate and NDCG at 5, against ranking by popularity on the
//! same split; the served model is then trained on all bookings.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ticktak_contracts::analytics::{ranked, Evaluation, Model, Scores};
use ticktak_core::region::{team_country, Region, Stage};
use ticktak_core::Country;

use crate::market::MatchInfo;

const ALPHA: f64 = 20.0;
/// Share of the bookings, the latest, held out for evaluation.
const HELD_OUT: f64 = 0.2;
pub const K: usize = 5;

/// A booking as the model learns from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Interest {
    pub country: Option<Country>,
    pub match_number: u8,
    pub at: DateTime<Utc>,
}

/// What the model knows about a match.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub teams: Vec<Country>,
    pub stage: Stage,
}

pub fn features(matches: &BTreeMap<u8, MatchInfo>) -> BTreeMap<u8, Features> {
    matches
        .iter()
        .map(|(n, m)| {
            let teams = [&m.home_team, &m.away_team].into_iter().filter_map(|t| team_country(t)).collect();
            (*n, Features { teams, stage: Stage::of_round(m.round_number) })
        })
        .collect()
}

/// Counts of bookings by a group of buyers.
#[derive(Default)]
struct Counts {
    total: f64,
    by_team: HashMap<Country, f64>,
    by_team_region: HashMap<Region, f64>,
    by_stage: HashMap<Stage, f64>,
}

impl Counts {
    fn add(&mut self, f: &Features) {
        self.total += 1.0;
        for t in &f.teams {
            *self.by_team.entry(*t).or_default() += 1.0;
            *self.by_team_region.entry(Region::of(*t)).or_default() += 1.0;
        }
        *self.by_stage.entry(f.stage).or_default() += 1.0;
    }
}

fn lift<K: std::hash::Hash + Eq>(
    group: &Counts,
    all: &Counts,
    pick: impl Fn(&Counts) -> &HashMap<K, f64>,
    k: &K,
) -> f64 {
    let p = pick(all).get(k).copied().unwrap_or(0.0) / all.total.max(1.0);
    if p <= 0.0 {
        return 0.0;
    }
    let n = pick(group).get(k).copied().unwrap_or(0.0);
    ((n + ALPHA * p) / ((group.total + ALPHA) * p)).ln()
}

/// The scores learnt from `bookings` for the matches in `features`.
struct Fitted {
    popularity: Scores,
    regions: BTreeMap<String, Scores>,
    countries: BTreeMap<String, Scores>,
}

fn fit(bookings: &[Interest], features: &BTreeMap<u8, Features>) -> Fitted {
    let mut all = Counts::default();
    let mut per_match: HashMap<u8, f64> = HashMap::new();
    let mut regions: HashMap<Region, Counts> = HashMap::new();
    let mut countries: HashMap<Country, Counts> = HashMap::new();
    for b in bookings {
        let Some(f) = features.get(&b.match_number) else { continue };
        all.add(f);
        *per_match.entry(b.match_number).or_default() += 1.0;
        if let Some(c) = b.country {
            regions.entry(Region::of(c)).or_default().add(f);
            countries.entry(c).or_default().add(f);
        }
    }
    let n = features.len() as f64;
    let popularity: Scores = features
        .keys()
        .map(|m| (*m, ((per_match.get(m).copied().unwrap_or(0.0) + 1.0) / (all.total + n)).ln()))
        .collect();
    let empty = Counts::default();
    let score = |region: &Counts, country: &Counts| -> Scores {
        features
            .iter()
            .map(|(m, f)| {
                let mut s = popularity[m];
                for t in &f.teams {
                    s += lift(country, &all, |c| &c.by_team, t);
                    s += lift(region, &all, |c| &c.by_team, t);
                    s += lift(region, &all, |c| &c.by_team_region, &Region::of(*t));
                }
                s += lift(region, &all, |c| &c.by_stage, &f.stage);
                (*m, s)
            })
            .collect()
    };
    Fitted {
        regions: regions.iter().map(|(r, c)| (r.code().to_string(), score(c, &empty))).collect(),
        countries: countries
            .iter()
            .map(|(c, counts)| (c.to_string(), score(&regions[&Region::of(*c)], counts)))
            .collect(),
        popularity,
    }
}

fn as_model(f: Fitted, version: i64, evaluation: Evaluation) -> Model {
    Model {
        version,
        trained_at: Utc::now(),
        evaluation,
        popularity: f.popularity,
        regions: f.regions,
        countries: f.countries,
    }
}

/// Hit rate and NDCG at `K` of `model` on `test` (bookings with a country),
/// and of ranking by `model`'s popularity.
fn evaluate(model: &Model, test: &[Interest]) -> (f64, f64, f64, f64) {
    let popular = ranked(&model.popularity);
    let (mut hit, mut ndcg, mut base_hit, mut base_ndcg) = (0.0, 0.0, 0.0, 0.0);
    let mut n = 0.0;
    let gain = |ranking: &[u8], m: u8| match ranking.iter().take(K).position(|x| *x == m) {
        Some(p) => (1.0, 1.0 / ((p + 2) as f64).log2()),
        None => (0.0, 0.0),
    };
    for b in test.iter().filter(|b| b.country.is_some()) {
        let (ranking, _) = model.rank(b.country);
        let (h, g) = gain(&ranking, b.match_number);
        let (bh, bg) = gain(&popular, b.match_number);
        hit += h;
        ndcg += g;
        base_hit += bh;
        base_ndcg += bg;
        n += 1.0;
    }
    let n: f64 = if n == 0.0 { 1.0 } else { n };
    (hit / n, ndcg / n, base_hit / n, base_ndcg / n)
}

/// Train version `version` from `bookings`: evaluated on a time-based split,
/// then fitted on all of them.
pub fn train(mut bookings: Vec<Interest>, features: &BTreeMap<u8, Features>, version: i64) -> Model {
    bookings.sort_by_key(|b| b.at);
    let cut = ((bookings.len() as f64) * (1.0 - HELD_OUT)).round() as usize;
    let (train_part, test_part) = bookings.split_at(cut);
    let held_out = as_model(fit(train_part, features), version, Evaluation::default());
    let (hit, ndcg, base_hit, base_ndcg) = evaluate(&held_out, test_part);
    let evaluation = Evaluation {
        train_bookings: train_part.len() as u64,
        test_bookings: test_part.len() as u64,
        hit_rate_at_5: hit,
        ndcg_at_5: ndcg,
        baseline_hit_rate_at_5: base_hit,
        baseline_ndcg_at_5: base_ndcg,
    };
    as_model(fit(&bookings, features), version, evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Country {
        Country::new(code).unwrap()
    }

    #[test]
    fn fans_get_their_nations_matches_first_and_strangers_the_popular_ones() {
        let mut market = crate::market::Market::default();
        for m in ticktak_core::masterlist::fixture() {
            market.apply_match(&m, None);
        }
        let features = features(&market.matches);
        let argentina: Vec<u8> = features.iter().filter(|(_, f)| f.teams.contains(&c("AR"))).map(|(m, _)| *m).collect();
        assert_eq!(argentina.len(), 3, "three group matches");
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut bookings = Vec::new();
        // Argentinians book Argentina, Germans the final (64), and buyers of
        // no known country the round of 16 (49–56), the most of all.
        for i in 0..300 {
            let at = t0 + chrono::Duration::minutes(i);
            let m = argentina[i as usize % 3];
            bookings.push(Interest { country: Some(c("AR")), match_number: m, at });
            bookings.push(Interest { country: Some(c("DE")), match_number: 64, at });
            for k in 0..4 {
                bookings.push(Interest { country: None, match_number: 49 + ((i * 4 + k) % 8) as u8, at });
            }
        }
        let model = train(bookings, &features, 1);
        let (ranking, _) = model.rank(Some(c("AR")));
        let mut top: Vec<u8> = ranking[..3].to_vec();
        top.sort();
        assert_eq!(top, argentina);
        // Another South American country, never seen: its region's taste.
        let (ranking, basis) = model.rank(Some(c("UY")));
        assert!(argentina.contains(&ranking[0]));
        assert_eq!(basis.reason(), "popular with fans from South America");
        let (ranking, _) = model.rank(None);
        assert_eq!(ranking[0], 64);
        assert!((49..=56).contains(&ranking[1]));
        let e = &model.evaluation;
        assert_eq!((e.train_bookings, e.test_bookings), (1440, 360));
        // Popularity serves the Germans (the final is on top), not the
        // Argentinians.
        assert!(e.hit_rate_at_5 > 0.99, "{e:?}");
        assert!((e.baseline_hit_rate_at_5 - 0.5).abs() < 1e-9, "{e:?}");
        assert!(e.ndcg_at_5 > e.baseline_ndcg_at_5);
    }
}
