//! The random selection draw: buyers of every platform apply for a set of
//! ticket types while the draw is open; after the close, one draw decides
//! who may buy, the same on every platform, and anyone can re-run it from
//! the draw topic alone.
//!
//! - Topic `{prefix}-draws-{env}`, key = the draw id, so one draw lives on
//!   one partition ([`home_partition`]; a message of a draw elsewhere does
//!   not count) and every reader sees its messages in one order.
//! - [`DrawTerms`] (the organisers, signed like the sale schedule): the
//!   ticket types and their stock, the window, the payment window, the cap
//!   per application, and the **commitment**: SHA-256 of a secret seed.
//! - [`Application`] (a platform, signed with its key like queue lengths):
//!   one per buyer and ticket type on that platform, with the buyer's
//!   pseudonym (`BuyerId`, never an address); a later version edits its
//!   quantity, quantity 0 withdraws it.
//! - [`SeedReveal`] (the organisers, after the close): the secret. It
//!   counts only if its SHA-256 is the commitment, which was public before
//!   any application: nobody could choose it knowing the applications, and
//!   the organisers could not pick another after seeing them.
//!
//! The draw ([`run`]) is a function of the applications the log holds
//! before the seed and of the seed: each person's lot for a ticket type is
//! SHA-256 of the seed, the draw, the person and the ticket type (so the
//! same person applying on two platforms has one lot, counted once, for
//! the application that came first), and each ticket type's applicants
//! are ordered by their lots. Tickets go down that order to every
//! application the rest of the stock still covers ([`drawn_offers`]); an
//! allocation whose hold lapses unpaid (or the log refused) passes its
//! tickets on to the next in order ([`offers_after`]), lapse by lapse in
//! the ticket-sales log's order. Allocations are held through that log
//! with a hold id every platform can compute once the seed is out
//! ([`hold_id`]), so every platform sees which of them lapsed, in which
//! order, and passes them on alike.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ids::{BuyerId, Category, MatchNumber, PlatformId, Quantity, TicketType};

/// What the organisers' signature of draw terms begins with.
pub const TERMS_LABEL: &str = "ticktak-draw-terms-v1";
/// What the organisers' signature of a revealed seed begins with.
pub const SEED_LABEL: &str = "ticktak-draw-seed-v1";
/// What a platform's signature of an application covers before the body.
pub const APPLICATION_LABEL: &str = "ticktak-draw-application-v1";
/// Largest draw message a platform reads, in bytes.
pub const MAX_BYTES: usize = 16 * 1024;
/// Longest payment window a draw may give its winners.
pub const MAX_PAYMENT_WINDOW_MINUTES: u32 = 14 * 24 * 60;
/// Most tickets one ticket type may put in a draw.
pub const MAX_STOCK: u32 = 1_000_000;
/// Most versions (edits) of one application.
pub const MAX_VERSION: u32 = 1_000;

/// One message of the draw topic, told apart by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DrawMessage {
    Terms(DrawTerms),
    Application(Application),
    Seed(SeedReveal),
}

impl DrawMessage {
    /// Read a body, refusing what no organiser or platform would write.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        if body.len() > MAX_BYTES {
            return Err(format!("body of {} bytes is over {MAX_BYTES}", body.len()));
        }
        let m: DrawMessage = serde_json::from_slice(body).map_err(|e| format!("not a draw message: {e}"))?;
        match &m {
            DrawMessage::Terms(t) => t.check()?,
            DrawMessage::Application(a) => a.check()?,
            DrawMessage::Seed(s) => s.check()?,
        }
        Ok(m)
    }

    pub fn draw(&self) -> &str {
        match self {
            DrawMessage::Terms(t) => &t.draw,
            DrawMessage::Application(a) => &a.draw,
            DrawMessage::Seed(s) => &s.draw,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a draw message serialises")
    }
}

/// Where a draw's messages belong: the partition (of `partitions`) of its
/// id as a key, by the Java client's partitioner.
pub fn home_partition(draw: &str, partitions: i32) -> i32 {
    (crate::partition::murmur2(draw.as_bytes()) & 0x7fff_ffff) % partitions.max(1)
}

/// A draw id: 1–64 letters, digits, `-`, `_`, `.` and `@`.
pub fn check_id(draw: &str) -> Result<(), String> {
    let ok = !draw.is_empty()
        && draw.len() <= 64
        && draw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err("a draw id is 1 to 64 letters, digits, '-', '_', '.' and '@'".into())
    }
}

/// Tickets of one ticket type in a draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stock {
    pub match_number: MatchNumber,
    pub category: Category,
    pub tickets: u32,
}

impl Stock {
    pub fn ticket_type(&self) -> TicketType {
        TicketType::new(self.match_number, self.category)
    }
}

/// A draw as the organisers set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrawTerms {
    pub draw: String,
    /// Applications are taken from `opensAt` until `closesAt`.
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// When the organisers reveal the seed.
    pub draws_at: DateTime<Utc>,
    /// How long a winner has to pay once their hold is granted.
    pub payment_window_minutes: u32,
    /// Most tickets one application may ask for.
    pub max_quantity: u8,
    pub stock: Vec<Stock>,
    /// Lowercase hex SHA-256 of the seed ([`commitment_of`]).
    pub commitment: String,
}

impl DrawTerms {
    pub fn check(&self) -> Result<(), String> {
        check_id(&self.draw)?;
        if [self.opens_at, self.closes_at, self.draws_at].iter().any(|t| !(2000..=2100).contains(&t.year())) {
            return Err("a time outside the years 2000–2100".into());
        }
        if self.opens_at >= self.closes_at || self.closes_at > self.draws_at {
            return Err("opensAt must come before closesAt, and closesAt no later than drawsAt".into());
        }
        if !(1..=MAX_PAYMENT_WINDOW_MINUTES).contains(&self.payment_window_minutes) {
            return Err(format!("paymentWindowMinutes must be 1 to {MAX_PAYMENT_WINDOW_MINUTES}"));
        }
        if !(1..=Quantity::MAX).contains(&self.max_quantity) {
            return Err(format!("maxQuantity must be 1 to {}", Quantity::MAX));
        }
        if self.stock.is_empty() || self.stock.len() > 64 * 3 {
            return Err("stock names 1 to 192 ticket types".into());
        }
        let mut seen = HashSet::new();
        for s in &self.stock {
            if !seen.insert(s.ticket_type()) {
                return Err(format!("match {} category {} is in the stock twice", s.match_number, s.category));
            }
            if !(1..=MAX_STOCK).contains(&s.tickets) {
                return Err(format!("a ticket type's stock must be 1 to {MAX_STOCK} tickets"));
            }
        }
        if !is_hex(&self.commitment, 64) {
            return Err("commitment must be 64 lowercase hex digits (SHA-256 of the seed)".into());
        }
        Ok(())
    }

    /// The tickets `tt` has in this draw, if it is in it.
    pub fn stock_of(&self, tt: TicketType) -> Option<u32> {
        self.stock.iter().find(|s| s.ticket_type() == tt).map(|s| s.tickets)
    }

    /// Whether applications are taken at `at`.
    pub fn takes_applications_at(&self, at: DateTime<Utc>) -> bool {
        self.opens_at <= at && at < self.closes_at
    }
}

/// A platform's application of one buyer for one ticket type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    pub draw: String,
    /// Who took it, and signs it.
    pub platform: PlatformId,
    /// The platform's id of the application; the same in every version.
    pub application: Uuid,
    /// 1, then one more with each edit.
    pub version: u32,
    pub buyer: BuyerId,
    pub match_number: MatchNumber,
    pub category: Category,
    /// Tickets asked for; 0: withdrawn.
    pub quantity: u8,
    /// When the platform took this version.
    pub at: DateTime<Utc>,
}

impl Application {
    pub fn check(&self) -> Result<(), String> {
        check_id(&self.draw)?;
        if !(1..=MAX_VERSION).contains(&self.version) {
            return Err(format!("version must be 1 to {MAX_VERSION}"));
        }
        if self.quantity > Quantity::MAX {
            return Err(format!("quantity must be 0 to {}", Quantity::MAX));
        }
        Ok(())
    }

    pub fn ticket_type(&self) -> TicketType {
        TicketType::new(self.match_number, self.category)
    }

    /// What the platform signs: the label, a line feed and the body.
    pub fn signed_bytes(body: &[u8]) -> Vec<u8> {
        [APPLICATION_LABEL.as_bytes(), b"\n", body].concat()
    }
}

/// The organisers' seed of a draw, revealed after its close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedReveal {
    pub draw: String,
    /// 64 lowercase hex digits.
    pub seed: String,
}

impl SeedReveal {
    pub fn check(&self) -> Result<(), String> {
        check_id(&self.draw)?;
        if !is_hex(&self.seed, 64) {
            return Err("seed must be 64 lowercase hex digits".into());
        }
        Ok(())
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The commitment to `seed`: lowercase hex SHA-256 of its text, so
/// `printf %s SEED | sha256sum` checks it.
pub fn commitment_of(seed: &str) -> String {
    sha256_hex(&[seed.as_bytes()])
}

/// What the log already holds of an application, for its next version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub version: u32,
    pub buyer: BuyerId,
    pub ticket_type: TicketType,
}

/// Whether a message on `partition` counts for its draw, whose terms came
/// on `home` (none yet: the first terms fix it): a draw's messages count
/// on one partition, so every reader takes them in one order.
pub fn admit_partition(home: Option<i32>, partition: i32) -> Result<(), String> {
    match home {
        Some(home) if home != partition => {
            Err(format!("on partition {partition}; the draw's messages count on {home}, where its terms came"))
        }
        _ => Ok(()),
    }
}

/// Whether terms count: the first terms of a draw are its terms for good.
pub fn admit_terms(known: Option<&DrawTerms>, terms: &DrawTerms) -> Result<(), String> {
    match known {
        Some(k) if k == terms => Err("these terms were published before".into()),
        Some(_) => Err("a draw's terms cannot change once published".into()),
        None => Ok(()),
    }
}

/// Whether a seed counts: the draw's terms came first, no seed did, and it
/// is the one the terms committed to.
pub fn admit_seed(terms: Option<&DrawTerms>, seeded: bool, seed: &SeedReveal) -> Result<(), String> {
    let terms = terms.ok_or("no terms of this draw came before")?;
    if seeded {
        return Err("the draw's seed was revealed before".into());
    }
    if commitment_of(&seed.seed) != terms.commitment {
        return Err("the seed does not match the draw's commitment".into());
    }
    Ok(())
}

/// Whether an application (signed by its platform) counts: its draw's
/// terms came first and its seed did not, it was taken while the draw was
/// open, for a ticket type of the draw within the cap, and it is a newer
/// version (than any seen) of the same buyer's application for the same
/// ticket type.
pub fn admit_application(
    terms: Option<&DrawTerms>,
    seeded: bool,
    known: Option<&Known>,
    a: &Application,
) -> Result<(), String> {
    let terms = terms.ok_or("no terms of this draw came before")?;
    if seeded {
        return Err("after the draw's seed: the draw is closed".into());
    }
    if !terms.takes_applications_at(a.at) {
        return Err(format!("taken at {}, outside the draw's window", a.at));
    }
    if terms.stock_of(a.ticket_type()).is_none() {
        return Err(format!("match {} category {} is not in this draw", a.match_number, a.category));
    }
    if a.quantity > terms.max_quantity {
        return Err(format!("{} tickets is over the draw's cap of {}", a.quantity, terms.max_quantity));
    }
    // Versions may arrive out of order (a platform publishes each as it is
    // made): the highest counts, whichever came first.
    match known {
        Some(k) if a.version <= k.version => Err(format!("version {} is not after {}: replayed", a.version, k.version)),
        Some(k) if k.buyer != a.buyer || k.ticket_type != a.ticket_type() => {
            Err("a new version cannot change the buyer or the ticket type".into())
        }
        _ => Ok(()),
    }
}

/// An application as it stood at the draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub platform: PlatformId,
    pub application: Uuid,
    pub buyer: BuyerId,
    pub ticket_type: TicketType,
    pub quantity: u8,
}

/// A person's lot for a ticket type: the lower, the earlier in the draw.
pub fn lot(seed: &str, draw: &str, buyer: BuyerId, tt: TicketType) -> [u8; 32] {
    let buyer = buyer.to_string();
    let tt = format!("{}-{}", tt.match_number, tt.category);
    let mut h = Sha256::new();
    for part in [seed.as_bytes(), b"\n", draw.as_bytes(), b"\n", buyer.as_bytes(), b"\n", tt.as_bytes()] {
        h.update(part);
    }
    h.finalize().into()
}

/// The hold of an allocation: every platform computes it, so every
/// platform sees in the ticket-sales log whether it was paid or lapsed.
/// It depends on the seed, so nobody can take the id in the log before
/// the draw.
pub fn hold_id(seed: &str, draw: &str, platform: &PlatformId, application: Uuid) -> Uuid {
    let mut h = Sha256::new();
    for part in [b"ticktak-draw-hold-v1\n", seed.as_bytes(), b"\n", draw.as_bytes(), b"\n"] {
        h.update(part);
    }
    h.update(platform.as_str().as_bytes());
    h.update(b"\n");
    h.update(application.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The outcome of a draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawResult {
    /// Each ticket type's applications in draw order (one per person).
    pub order: BTreeMap<TicketType, Vec<Entry>>,
    /// Applications left out because their person applied for the same
    /// ticket type before (on this platform or another).
    pub duplicates: usize,
    /// Applications allocated tickets by the draw itself.
    pub winners: usize,
    /// [`winners_digest`] of those.
    pub digest: String,
}

/// Run the draw of `terms` with `seed` over `entries`, in the log's order
/// of their first versions (withdrawn ones, quantity 0, included or not).
pub fn run(terms: &DrawTerms, seed: &str, entries: impl IntoIterator<Item = Entry>) -> DrawResult {
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut lots: BTreeMap<TicketType, Vec<([u8; 32], Entry)>> = BTreeMap::new();
    for e in entries {
        if e.quantity == 0 || terms.stock_of(e.ticket_type).is_none() {
            continue;
        }
        if !seen.insert((e.buyer, e.ticket_type)) {
            duplicates += 1;
            continue;
        }
        let lot = lot(seed, &terms.draw, e.buyer, e.ticket_type);
        lots.entry(e.ticket_type).or_default().push((lot, e));
    }
    let order: BTreeMap<TicketType, Vec<Entry>> = lots
        .into_iter()
        .map(|(tt, mut v)| {
            v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.buyer.cmp(&b.1.buyer)));
            (tt, v.into_iter().map(|(_, e)| e).collect())
        })
        .collect();
    let winners: BTreeMap<TicketType, Vec<&Entry>> = order
        .iter()
        .map(|(tt, entries)| {
            let offered = drawn_offers(entries, terms.stock_of(*tt).unwrap_or(0));
            (*tt, entries.iter().zip(offered).filter(|(_, o)| *o).map(|(e, _)| e).collect())
        })
        .collect();
    let digest = winners_digest(&terms.draw, &winners);
    DrawResult { winners: winners.values().map(Vec::len).sum(), order, duplicates, digest }
}

/// The digest every platform shows and `draw verify` prints: SHA-256 over
/// the draw id and, ticket type by ticket type, each winner in draw order.
pub fn winners_digest(draw: &str, winners: &BTreeMap<TicketType, Vec<&Entry>>) -> String {
    let mut h = Sha256::new();
    h.update(b"ticktak-draw-winners-v1\n");
    h.update(draw.as_bytes());
    h.update(b"\n");
    for (tt, entries) in winners {
        for e in entries {
            let line = format!(
                "{}-{} {} {} {} {}\n",
                tt.match_number, tt.category, e.buyer, e.platform, e.application, e.quantity
            );
            h.update(line.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// Which of a ticket type's applications (in draw order) the draw itself
/// offers tickets out of `stock`: down the order, every application the
/// stock left still covers.
pub fn drawn_offers(order: &[Entry], stock: u32) -> Vec<bool> {
    let mut left = stock;
    order
        .iter()
        .map(|e| {
            let fits = u32::from(e.quantity) <= left;
            if fits {
                left -= u32::from(e.quantity);
            }
            fits
        })
        .collect()
}

/// The offers after `lapses`: the places (in `order`) of allocations whose
/// holds lapsed, in the order the ticket-sales log let them go. Each lapse
/// gives its tickets back, and they go down the order to every application
/// not offered yet that they (with what was left) cover. An offer is never
/// taken back, and the tickets offered and not lapsed never pass `stock`.
/// A lapse of an application not offered at that point counts for nothing
/// (its platform held it before its turn).
pub fn offers_after(order: &[Entry], stock: u32, lapses: &[usize]) -> Vec<bool> {
    let mut offered = drawn_offers(order, stock);
    let taken: u32 = order.iter().zip(&offered).filter(|(_, o)| **o).map(|(e, _)| u32::from(e.quantity)).sum();
    let mut left = stock - taken;
    let mut lapsed = vec![false; order.len()];
    for &i in lapses {
        if i >= order.len() || !offered[i] || lapsed[i] {
            continue;
        }
        lapsed[i] = true;
        left += u32::from(order[i].quantity);
        for (j, e) in order.iter().enumerate() {
            if !offered[j] && u32::from(e.quantity) <= left {
                offered[j] = true;
                left -= u32::from(e.quantity);
            }
        }
    }
    offered
}

/// A draw replayed from its topic alone (`draw verify`): the messages in
/// log order, each already checked for its signer, with what was refused.
#[derive(Debug, Default)]
pub struct Replay {
    terms: HashMap<String, (DrawTerms, i32)>,
    seeds: HashMap<String, String>,
    /// Each draw's applications in the order their first versions came.
    entries: HashMap<String, Vec<Entry>>,
    known: HashMap<(String, PlatformId, Uuid), (usize, Known)>,
}

impl Replay {
    /// Apply one message read on `partition`; why it does not count, if it
    /// does not.
    pub fn apply(&mut self, m: &DrawMessage, partition: i32) -> Result<(), String> {
        admit_partition(self.terms.get(m.draw()).map(|(_, p)| *p), partition)?;
        match m {
            DrawMessage::Terms(t) => {
                admit_terms(self.terms(&t.draw), t)?;
                self.terms.insert(t.draw.clone(), (t.clone(), partition));
            }
            DrawMessage::Seed(s) => {
                admit_seed(self.terms(&s.draw), self.seeds.contains_key(&s.draw), s)?;
                self.seeds.insert(s.draw.clone(), s.seed.clone());
            }
            DrawMessage::Application(a) => {
                let key = (a.draw.clone(), a.platform.clone(), a.application);
                let known = self.known.get(&key).copied();
                admit_application(
                    self.terms(&a.draw),
                    self.seeds.contains_key(&a.draw),
                    known.as_ref().map(|(_, k)| k),
                    a,
                )?;
                let entries = self.entries.entry(a.draw.clone()).or_default();
                let entry = Entry {
                    platform: a.platform.clone(),
                    application: a.application,
                    buyer: a.buyer,
                    ticket_type: a.ticket_type(),
                    quantity: a.quantity,
                };
                let index = match known {
                    Some((i, _)) => {
                        entries[i] = entry;
                        i
                    }
                    None => {
                        entries.push(entry);
                        entries.len() - 1
                    }
                };
                self.known
                    .insert(key, (index, Known { version: a.version, buyer: a.buyer, ticket_type: a.ticket_type() }));
            }
        }
        Ok(())
    }

    pub fn terms(&self, draw: &str) -> Option<&DrawTerms> {
        self.terms.get(draw).map(|(t, _)| t)
    }

    pub fn seed(&self, draw: &str) -> Option<&str> {
        self.seeds.get(draw).map(String::as_str)
    }

    /// Applications counted so far (withdrawn ones included).
    pub fn entries(&self, draw: &str) -> &[Entry] {
        self.entries.get(draw).map(Vec::as_slice).unwrap_or_default()
    }

    /// The draw's result, once its seed came.
    pub fn result(&self, draw: &str) -> Option<DrawResult> {
        let (terms, seed) = (self.terms(draw)?, self.seeds.get(draw)?);
        Some(run(terms, seed, self.entries(draw).iter().cloned()))
    }
}

#[cfg(test)]
mod tests;
