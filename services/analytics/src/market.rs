//! The market as analytics sees it: the master list, the ledger rule applied
//! to every platform's sales (the same `ticktak_core::Ledger` the shop
//! applies, so the counts agree at the same log position), and sales over
//! time per match and platform. Kept in memory and saved with the log
//! positions it reflects at each checkpoint (`store::checkpoint`): the
//! small part whole ([`Whole`]: counters, positions, matches, anomalies),
//! and of what grows with the log — holds, re-homed origins, minutes of
//! sales — only the rows changed since the last checkpoint ([`Changes`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ticktak_contracts::ledger::SalesEntry;
use ticktak_core::ledger::{Hold, LineOrigin, LogPosition, Outcome};
use ticktak_core::{Category, HoldId, Ledger, MasterListMatch, MatchNumber, TicketCounts, TicketType};

/// A master-list match, as statistics show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchInfo {
    pub round_number: u8,
    pub date_utc: DateTime<Utc>,
    pub location: String,
    pub home_team: String,
    pub away_team: String,
    pub group: Option<String>,
    /// Unit price per category 1–3.
    pub prices: [u32; 3],
    /// When the organisers signed the message in force (`None`: unsigned).
    #[serde(default)]
    pub issued_at: Option<DateTime<Utc>>,
}

/// Tickets sold (net of refunds) and their value in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sold {
    pub tickets: i64,
    pub revenue: i64,
}

/// How far a sale's `produced-at` may be from the broker's timestamp and
/// still date it.
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// When a sale happened, for the sales over time: its `produced-at` when a
/// known platform signed it (its origin survived verification) and it lies
/// within [`MAX_CLOCK_SKEW`] of the broker's timestamp; the broker's
/// timestamp otherwise. An anonymous or lying producer cannot scatter its
/// sales over minutes of its choosing (each minute is a row kept forever).
pub fn sale_time(entry: &SalesEntry, broker_at: DateTime<Utc>) -> DateTime<Utc> {
    match entry.produced_at {
        Some(at) if entry.origin.is_some() && (at - broker_at).abs() <= MAX_CLOCK_SKEW => at,
        _ => broker_at,
    }
}

/// Who sold a message's tickets: its `client-id`, or `unknown` for peers
/// that send none.
pub fn platform_of(entry: &SalesEntry) -> String {
    entry.origin.clone().unwrap_or_else(|| "unknown".to_string())
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Market {
    pub ledger: Ledger,
    pub matches: BTreeMap<u8, MatchInfo>,
    /// (minute since the epoch, match, platform) → sold in that minute.
    pub sold_per_minute: BTreeMap<(i64, u8, String), Sold>,
    /// Anomalies by kind, as the rule reported them.
    pub anomalies: BTreeMap<String, u64>,
    /// What changed since the last checkpoint took its rows.
    pub changes: Changes,
}

/// Of what grows with the log, the keys of the rows changed since the last
/// checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub holds: BTreeSet<HoldId>,
    pub origins: BTreeSet<LineOrigin>,
    pub minutes: BTreeSet<(i64, u8, String)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.holds.is_empty() && self.origins.is_empty() && self.minutes.is_empty()
    }

    fn merge(&mut self, other: Changes) {
        self.holds.extend(other.holds);
        self.origins.extend(other.origins);
        self.minutes.extend(other.minutes);
    }
}

/// The rows of [`Changes`], as a checkpoint writes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub holds: Vec<(HoldId, Hold)>,
    pub origins: Vec<LineOrigin>,
    pub minutes: Vec<((i64, u8, String), Sold)>,
}

/// The part of the market saved whole at each checkpoint: it does not grow
/// with the log (192 ticket types, a few partitions, 64 matches, a handful
/// of anomaly kinds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Whole {
    types: Vec<((u8, u8), TicketCounts)>,
    applied: Vec<(i32, i64)>,
    matches: BTreeMap<u8, MatchInfo>,
    anomalies: BTreeMap<String, u64>,
}

impl Market {
    /// A master-list message: the match's details, capacities and prices
    /// (a correction replaces them and keeps every count), unless
    /// `MasterListMatch::replaced_by` says no, as the shop decides.
    pub fn apply_match(&mut self, m: &MasterListMatch, issued_at: Option<DateTime<Utc>>) {
        if let Some(known) = self.known(m) {
            let known_issued_at = self.matches.get(&m.match_number.get()).and_then(|i| i.issued_at);
            if known.replaced_by(known_issued_at, m, issued_at).is_err() {
                return;
            }
        }
        let issued_at = issued_at.or_else(|| self.matches.get(&m.match_number.get()).and_then(|i| i.issued_at));
        let mut prices = [0u32; 3];
        for (tt, capacity, price) in m.ticket_types() {
            self.ledger.set_capacity(tt, capacity);
            prices[usize::from(tt.category.get() - 1)] = price.get();
        }
        self.matches.insert(
            m.match_number.get(),
            MatchInfo {
                round_number: m.round_number,
                date_utc: m.date_utc,
                location: m.location.clone(),
                home_team: m.home_team.clone(),
                away_team: m.away_team.clone(),
                group: m.group.clone(),
                prices,
                issued_at,
            },
        );
    }

    /// What this market knows of `m`'s match, as a master-list message
    /// (names from `m`: only kick-off, prices and capacities are compared).
    fn known(&self, m: &MasterListMatch) -> Option<MasterListMatch> {
        let info = self.matches.get(&m.match_number.get())?;
        let mut known = m.clone();
        known.date_utc = info.date_utc;
        for (i, category) in
            [&mut known.availability.category1, &mut known.availability.category2, &mut known.availability.category3]
                .into_iter()
                .enumerate()
        {
            let tt = TicketType::new(m.match_number, Category::ALL[i]);
            category.available = self.ledger.counts(tt).map_or(0, |c| c.capacity);
            category.price = ticktak_core::Price::new(i64::from(info.prices[i])).ok()?;
        }
        Some(known)
    }

    /// A sales message at its log position, with the time it was sold
    /// (`produced-at`, else the broker's timestamp).
    pub fn apply_sale(&mut self, entry: &SalesEntry, at: DateTime<Utc>) -> Vec<Outcome> {
        let position = LogPosition { partition: entry.partition, offset: entry.offset };
        let ops = entry.ops().unwrap_or_default();
        let before: Vec<(TicketType, u32)> = ops.iter().map(|op| (op.ticket_type, self.sold(op.ticket_type))).collect();
        let outcomes = self.ledger.apply(position, &ops);
        for op in &ops {
            if let Some(hold) = op.hold.filter(|h| self.ledger.hold(*h).is_some()) {
                self.changes.holds.insert(hold);
            }
            if let Some(origin) = op.rehomed_from.filter(|o| self.ledger.has_origin(o)) {
                self.changes.origins.insert(origin);
            }
        }
        for o in &outcomes {
            if let Some(a) = o.anomaly() {
                let kind = serde_json::to_value(a).ok().and_then(|v| v.as_str().map(str::to_string));
                *self.anomalies.entry(kind.unwrap_or_default()).or_default() += 1;
            }
        }
        // What the message changed in `sold`, credited to its platform.
        let mut seen = std::collections::BTreeSet::new();
        for (tt, was) in before {
            if !seen.insert(tt) {
                continue;
            }
            let delta = i64::from(self.sold(tt)) - i64::from(was);
            if delta != 0 {
                let price = self.price(tt);
                let key = (at.timestamp().div_euclid(60), tt.match_number.get(), platform_of(entry));
                let cell = self.sold_per_minute.entry(key.clone()).or_default();
                cell.tickets += delta;
                cell.revenue += delta * i64::from(price);
                self.changes.minutes.insert(key);
            }
        }
        outcomes
    }

    fn sold(&self, tt: TicketType) -> u32 {
        self.ledger.counts(tt).map_or(0, |c| c.sold)
    }

    pub fn price(&self, tt: TicketType) -> u32 {
        self.matches.get(&tt.match_number.get()).map_or(0, |m| m.prices[usize::from(tt.category.get() - 1)])
    }

    /// The last applied offset per partition of the sales topic.
    pub fn applied(&self) -> BTreeMap<i32, i64> {
        self.ledger.applied().collect()
    }

    /// What changed since the last call, to be checkpointed; given back
    /// with [`Self::give_back`] when the checkpoint fails.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    pub fn give_back(&mut self, changes: Changes) {
        self.changes.merge(changes);
    }

    /// The small part, saved whole.
    pub fn whole(&self) -> Whole {
        Whole {
            types: self.ledger.types().map(|(tt, c)| ((tt.match_number.get(), tt.category.get()), *c)).collect(),
            applied: self.ledger.applied().collect(),
            matches: self.matches.clone(),
            anomalies: self.anomalies.clone(),
        }
    }

    /// The rows of `changes` as they are now.
    pub fn rows(&self, changes: &Changes) -> Rows {
        Rows {
            holds: changes.holds.iter().filter_map(|id| self.ledger.hold(*id).map(|h| (*id, h.clone()))).collect(),
            origins: changes.origins.iter().copied().collect(),
            minutes: changes
                .minutes
                .iter()
                .filter_map(|k| self.sold_per_minute.get(k).map(|s| (k.clone(), *s)))
                .collect(),
        }
    }

    /// Everything, as one snapshot (a checkpoint's parts read back).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            types: self.ledger.types().map(|(tt, c)| ((tt.match_number.get(), tt.category.get()), *c)).collect(),
            holds: self.ledger.holds().map(|(id, h)| (*id, h.clone())).collect(),
            applied: self.ledger.applied().collect(),
            origins: self.ledger.origins().copied().collect(),
            matches: self.matches.clone(),
            sold_per_minute: self.sold_per_minute.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            anomalies: self.anomalies.clone(),
        }
    }

    pub fn restore(s: Snapshot) -> anyhow::Result<Self> {
        let mut ledger = Ledger::new();
        for ((m, c), counts) in s.types {
            let tt = TicketType::new(MatchNumber::new(i64::from(m))?, Category::new(i64::from(c))?);
            ledger.insert_counts(tt, counts);
        }
        for (id, hold) in s.holds {
            ledger.insert_hold(id, hold);
        }
        for (p, o) in s.applied {
            ledger.insert_applied(p, o);
        }
        for origin in s.origins {
            ledger.insert_origin(origin);
        }
        // Every hold is here: each buyer's tickets follow from them.
        ledger.recount_buyers();
        Ok(Self {
            ledger,
            matches: s.matches,
            sold_per_minute: s.sold_per_minute.into_iter().collect(),
            anomalies: s.anomalies,
            changes: Changes::default(),
        })
    }

    pub fn counts(&self) -> impl Iterator<Item = (TicketType, &TicketCounts)> {
        self.ledger.types().map(|(tt, c)| (*tt, c))
    }
}

impl Snapshot {
    /// A checkpoint read back: its whole part and every row.
    pub fn from_parts(whole: Whole, rows: Rows) -> Self {
        Snapshot {
            types: whole.types,
            holds: rows.holds,
            applied: whole.applied,
            origins: rows.origins,
            matches: whole.matches,
            sold_per_minute: rows.minutes,
            anomalies: whole.anomalies,
        }
    }
}

/// The whole market at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    types: Vec<((u8, u8), TicketCounts)>,
    holds: Vec<(HoldId, Hold)>,
    applied: Vec<(i32, i64)>,
    origins: Vec<LineOrigin>,
    matches: BTreeMap<u8, MatchInfo>,
    sold_per_minute: Vec<((i64, u8, String), Sold)>,
    anomalies: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use ticktak_contracts::ledger::SalesLine;
    use ticktak_core::Action;

    use super::*;

    fn sale(offset: i64, action: Action, hold: HoldId, platform: &str) -> SalesEntry {
        SalesEntry {
            partition: 0,
            offset,
            lines: vec![SalesLine { action, match_number: 1, category: 1, quantity: 2, price: 75 }],
            hold_id: Some(hold),
            origin: Some(platform.into()),
            produced_at: None,
            rehomed_from: None,
            buyer: None,
        }
    }

    #[test]
    fn sales_are_credited_to_their_platform_and_minute_and_survive_a_checkpoint() {
        let mut m = Market::default();
        for mm in ticktak_core::masterlist::fixture().iter().take(2) {
            m.apply_match(mm, None);
        }
        let (h1, h2) = (HoldId::new(), HoldId::new());
        let t0 = DateTime::parse_from_rfc3339("2026-11-26T10:00:30Z").unwrap().to_utc();
        m.apply_sale(&sale(0, Action::TicketPending, h1, "a"), t0);
        m.apply_sale(&sale(1, Action::TicketPending, h2, "b"), t0);
        m.apply_sale(&sale(2, Action::TicketReserved, h1, "a"), t0);
        // Redelivered: nothing changes.
        m.apply_sale(&sale(2, Action::TicketReserved, h1, "a"), t0);
        // Not b's hold: an anomaly, no sale.
        m.apply_sale(&sale(3, Action::TicketReserved, h1, "b"), t0);
        let tt = TicketType::new(MatchNumber::new(1).unwrap(), Category::new(1).unwrap());
        let c = *m.ledger.counts(tt).unwrap();
        assert_eq!((c.sold, c.held), (2, 2));
        let minute = t0.timestamp() / 60;
        assert_eq!(m.sold_per_minute[&(minute, 1, "a".to_string())], Sold { tickets: 2, revenue: 150 });
        assert!(!m.sold_per_minute.contains_key(&(minute, 1, "b".to_string())));
        assert_eq!(m.anomalies.values().sum::<u64>(), 1);

        let json = serde_json::to_vec(&m.snapshot()).unwrap();
        let back = Market::restore(serde_json::from_slice(&json).unwrap()).unwrap();
        let changes = m.take_changes();
        assert_eq!(back, m);

        // A checkpoint carries the whole small part and the changed rows:
        // here every hold and minute, since none was saved before.
        assert_eq!((changes.holds.len(), changes.minutes.len()), (2, 1));
        let rows = m.rows(&changes);
        let whole: Whole = serde_json::from_slice(&serde_json::to_vec(&m.whole()).unwrap()).unwrap();
        assert_eq!(Market::restore(Snapshot::from_parts(whole, rows)).unwrap(), m);
        // Then only what changes: one hold confirmed, one minute moved.
        m.apply_sale(&sale(4, Action::TicketReserved, h2, "b"), t0);
        let changes = m.take_changes();
        assert_eq!(changes.holds, BTreeSet::from([h2]));
        assert_eq!(changes.minutes.len(), 1);
        // A checkpoint that failed gives its changes back for the next.
        m.give_back(changes.clone());
        m.apply_sale(&sale(5, Action::TicketCancelled, h1, "a"), t0);
        assert_eq!(m.take_changes().holds, BTreeSet::from([h1, h2]));
    }

    #[test]
    fn only_a_signed_sale_near_the_brokers_clock_dates_itself() {
        let broker = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z").unwrap().to_utc();
        let mut signed = sale(0, Action::TicketPending, HoldId::new(), "a");
        signed.produced_at = Some(broker - chrono::Duration::seconds(90));
        assert_eq!(sale_time(&signed, broker), broker - chrono::Duration::seconds(90), "signed, near: its own time");
        signed.produced_at = Some(broker - chrono::Duration::days(400));
        assert_eq!(sale_time(&signed, broker), broker, "signed, far off: the broker's");
        signed.produced_at = Some(broker + chrono::Duration::minutes(6));
        assert_eq!(sale_time(&signed, broker), broker, "from the future: the broker's");
        let mut anonymous = sale(1, Action::TicketPending, HoldId::new(), "a");
        anonymous.origin = None;
        anonymous.produced_at = Some(broker - chrono::Duration::seconds(30));
        assert_eq!(sale_time(&anonymous, broker), broker, "unsigned: the broker's");
        signed.produced_at = None;
        assert_eq!(sale_time(&signed, broker), broker);
    }
}
