//! Newtypes for the values that travel between platforms. Each one can only be
//! built through a constructor that checks it ("parse, don't validate").

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A match of the tournament, 1..=64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct MatchNumber(u8);

impl MatchNumber {
    pub const MAX: u8 = 64;

    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        if (1..=i64::from(Self::MAX)).contains(&n) {
            Ok(Self(n as u8))
        } else {
            Err(InvalidValue(format!("matchNumber must be between 1 and 64, got {n}")))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// The Kafka key of this match's messages, on the master list and on
    /// the ticket sales alike: the match number. It decides the partition
    /// (`crate::partition`), so all of a match's sales are in one order.
    pub fn kafka_key(self) -> String {
        self.0.to_string()
    }
}

impl TryFrom<i64> for MatchNumber {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<MatchNumber> for u8 {
    fn from(m: MatchNumber) -> u8 {
        m.0
    }
}

impl fmt::Display for MatchNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A seating category, 1..=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Category(u8);

impl Category {
    pub const ALL: [Category; 3] = [Category(1), Category(2), Category(3)];

    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        if (1..=3).contains(&n) {
            Ok(Self(n as u8))
        } else {
            Err(InvalidValue(format!("category must be 1, 2 or 3, got {n}")))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Category {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Category> for u8 {
    fn from(c: Category) -> u8 {
        c.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Tickets in one sale message: 1 or 2 (the wire format's limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Quantity(u8);

impl Quantity {
    pub const MAX: u8 = 2;

    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        if (1..=i64::from(Self::MAX)).contains(&n) {
            Ok(Self(n as u8))
        } else {
            Err(InvalidValue(format!("quantity must be 1 or 2, got {n}")))
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Quantity> for u8 {
    fn from(q: Quantity) -> u8 {
        q.0
    }
}

/// A ticket price in whole currency units, as the master list publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Price(u32);

impl Price {
    /// Upper bound that keeps any order total far from overflow.
    pub const MAX: u32 = 1_000_000;

    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        if (0..=i64::from(Self::MAX)).contains(&n) {
            Ok(Self(n as u32))
        } else {
            Err(InvalidValue(format!("price must be between 0 and {}, got {n}", Self::MAX)))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// The price in minor units (cents): master-list prices are whole units
    /// of the currency; money moves in minor units everywhere else.
    pub fn minor_units(self) -> i64 {
        i64::from(self.0) * 100
    }
}

impl TryFrom<i64> for Price {
    type Error = InvalidValue;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Price> for u32 {
    fn from(p: Price) -> u32 {
        p.0
    }
}

/// One kind of ticket: a category of a match. The ledger keeps one set of
/// counters per ticket type; the sales topic is keyed by its match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TicketType {
    pub match_number: MatchNumber,
    pub category: Category,
}

impl TicketType {
    pub fn new(match_number: MatchNumber, category: Category) -> Self {
        Self { match_number, category }
    }
}

impl fmt::Display for TicketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.match_number, self.category)
    }
}

/// Identity of one hold across the market: every message about the hold
/// (pending, reserved, cancelled) carries it in the `hold-id` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HoldId(pub Uuid);

impl HoldId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        Uuid::parse_str(s).map(Self).map_err(|_| InvalidValue(format!("hold id must be a UUID, got {s:?}")))
    }
}

impl Default for HoldId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for HoldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A buyer's pseudonym across the market: the same person (the same
/// e-mail address) gets the same id on every platform, and the id does not
/// show the address. 16 bytes, written as 22 characters of base64url
/// (`ticktak_kit::buyer` makes it). It travels in the signed `buyer` header
/// of a hold's `TICKET_PENDING`; the ledger rule caps each buyer's tickets
/// per match across the market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BuyerId([u8; 16]);

impl BuyerId {
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// 22 characters of base64url (no padding).
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        use base64::Engine as _;
        let bytes = (s.len() == 22)
            .then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok())
            .flatten()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .ok_or_else(|| InvalidValue(format!("buyer must be 22 characters of base64url, got {s:?}")))?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for BuyerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine as _;
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl TryFrom<String> for BuyerId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<BuyerId> for String {
    fn from(b: BuyerId) -> String {
        b.to_string()
    }
}

/// The name of one platform of the market (`PLATFORM_ID`): 1–32 characters of
/// lowercase letters, digits and `-`, so it is safe in topic, group and
/// database names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlatformId(String);

impl PlatformId {
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidValue> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidValue(format!("platform id must be 1-32 characters of a-z, 0-9 and '-', got {s:?}")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PlatformId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<PlatformId> for String {
    fn from(p: PlatformId) -> String {
        p.0
    }
}

impl fmt::Display for PlatformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_refuse_out_of_range_values() {
        assert!(MatchNumber::new(0).is_err());
        assert!(MatchNumber::new(65).is_err());
        assert_eq!(MatchNumber::new(64).unwrap().get(), 64);
        assert!(Category::new(4).is_err());
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(3).is_err());
        assert!(Price::new(-1).is_err());
        assert!(PlatformId::new("A").is_err());
        assert!(PlatformId::new("").is_err());
        assert!(PlatformId::new("platform-b2").is_ok());
    }

    #[test]
    fn a_matchs_kafka_key_is_its_number() {
        assert_eq!(MatchNumber::new(12).unwrap().kafka_key(), "12");
    }
}
