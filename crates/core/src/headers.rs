//! Kafka headers ticktak adds to the sales messages it produces. Bodies stay
//! exactly in the course format; everything of ours travels here, and a
//! message without them (another team's) is still applied by counts.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{BuyerId, HoldId, InvalidValue, PlatformId};
use crate::ledger::LineOrigin;

pub const CLIENT_ID: &str = "client-id";
pub const EVENT_ID: &str = "event-id";
pub const HOLD_ID: &str = "hold-id";
/// On a hold's `TICKET_PENDING`: its buyer's pseudonym across the market
/// ([`BuyerId`]); the ledger caps each buyer's tickets per match.
pub const BUYER: &str = "buyer";
pub const PRODUCED_AT: &str = "produced-at";
/// On a ticket line re-published to its home partition: where it was first
/// published, `"{partition}:{offset}:{line}"` (line = index in the body's
/// `tickets`, 0 for the single-object form).
pub const REHOMED_FROM: &str = "rehomed-from";
/// On a re-homed line: the platform that re-published it (and signed the
/// copy).
pub const REHOMED_BY: &str = "rehomed-by";
/// The Ed25519 signature (base64url, no padding) of [`SaleHeaders::signed_bytes`]
/// by the signer's key: `client-id`'s, or `rehomed-by`'s on a re-homed copy.
pub const SIGNATURE: &str = "signature";

/// Our metadata of one sales message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaleHeaders {
    pub client_id: Option<PlatformId>,
    pub event_id: Option<Uuid>,
    pub hold_id: Option<HoldId>,
    pub buyer: Option<BuyerId>,
    pub produced_at: Option<DateTime<Utc>>,
    pub rehomed_from: Option<LineOrigin>,
    pub rehomed_by: Option<PlatformId>,
    /// The `signature` header as it came (checked by the kit, which holds
    /// the keys).
    pub signature: Option<String>,
}

impl SaleHeaders {
    /// Headers for a message about `hold` produced now by `platform`.
    pub fn for_hold(platform: &PlatformId, hold: HoldId) -> Self {
        Self {
            client_id: Some(platform.clone()),
            event_id: Some(Uuid::now_v7()),
            hold_id: Some(hold),
            buyer: None,
            produced_at: Some(Utc::now()),
            rehomed_from: None,
            rehomed_by: None,
            signature: None,
        }
    }

    /// Whether the message claims anything only its signer may claim: a
    /// producer, a hold, a buyer, or the origin of a re-homed line. Such a message
    /// counts as it says only when its signature verifies.
    pub fn claims_a_signer(&self) -> bool {
        self.client_id.is_some()
            || self.hold_id.is_some()
            || self.buyer.is_some()
            || self.rehomed_from.is_some()
            || self.rehomed_by.is_some()
    }

    /// Who must have signed the message: the re-homer of a copy, else the
    /// producer.
    pub fn signer(&self) -> Option<&PlatformId> {
        match self.rehomed_from {
            Some(_) => self.rehomed_by.as_ref(),
            None => self.client_id.as_ref(),
        }
    }

    /// What a message whose signature does not verify is applied as: the
    /// course's anonymous rule, with nothing that names a producer, a hold
    /// or an origin.
    pub fn anonymous(&self) -> Self {
        Self { event_id: self.event_id, produced_at: self.produced_at, ..Self::default() }
    }

    /// The bytes a signature covers: a fixed label, every header of ours
    /// but the signature as [`Self::to_pairs`] writes it (one `name:value`
    /// a line, in that order), an empty line, and the body. Values are
    /// rendered from their parsed form, so a reader computes the same bytes.
    pub fn signed_bytes(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(200 + body.len());
        out.extend_from_slice(b"ticktak-sale-v1\n");
        for (name, value) in self.to_pairs() {
            if name != SIGNATURE {
                out.extend_from_slice(name.as_bytes());
                out.push(b':');
                out.extend_from_slice(value.as_bytes());
                out.push(b'\n');
            }
        }
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }

    /// Read our headers from raw Kafka header pairs. Unknown headers are
    /// ignored; a malformed `hold-id` makes the message invalid, since
    /// applying it anonymously would decide a hold differently than its owner.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> Result<Self, InvalidValue> {
        let mut h = SaleHeaders::default();
        for (name, value) in pairs {
            let Some(value) = value else { continue };
            let text = std::str::from_utf8(value).map_err(|_| InvalidValue(format!("header {name} is not UTF-8")));
            match name {
                HOLD_ID => h.hold_id = Some(HoldId::parse(text?.trim())?),
                // A malformed buyer is no buyer: the hold is decided without
                // the market's cap, as one from a platform that sends none.
                BUYER => h.buyer = text.ok().and_then(|t| BuyerId::parse(t.trim()).ok()),
                REHOMED_FROM => h.rehomed_from = Some(LineOrigin::parse(text?.trim())?),
                CLIENT_ID => h.client_id = PlatformId::new(text?.trim()).ok(),
                REHOMED_BY => h.rehomed_by = text.ok().and_then(|t| PlatformId::new(t.trim()).ok()),
                SIGNATURE => h.signature = text.ok().map(|t| t.trim().to_string()),
                EVENT_ID => h.event_id = text.ok().and_then(|t| Uuid::parse_str(t.trim()).ok()),
                PRODUCED_AT => {
                    // Outside 2000–2100 it is no time a sale happened (and
                    // more than storage holds): ignored, like a malformed one.
                    h.produced_at = text
                        .ok()
                        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
                        .map(|t| t.with_timezone(&Utc))
                        .filter(|t| (2000..=2100).contains(&chrono::Datelike::year(t)))
                }
                _ => {}
            }
        }
        Ok(h)
    }

    /// The pairs to attach to a produced message.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(8);
        if let Some(c) = &self.client_id {
            out.push((CLIENT_ID, c.to_string()));
        }
        if let Some(e) = self.event_id {
            out.push((EVENT_ID, e.to_string()));
        }
        if let Some(h) = self.hold_id {
            out.push((HOLD_ID, h.to_string()));
        }
        if let Some(b) = self.buyer {
            out.push((BUYER, b.to_string()));
        }
        if let Some(p) = self.produced_at {
            out.push((PRODUCED_AT, p.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
        }
        if let Some(o) = self.rehomed_from {
            out.push((REHOMED_FROM, o.to_string()));
        }
        if let Some(r) = &self.rehomed_by {
            out.push((REHOMED_BY, r.to_string()));
        }
        if let Some(s) = &self.signature {
            out.push((SIGNATURE, s.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let h = SaleHeaders::for_hold(&PlatformId::new("a").unwrap(), HoldId::new());
        let pairs = h.to_pairs();
        let back = SaleHeaders::from_pairs(pairs.iter().map(|(k, v)| (*k, Some(v.as_bytes())))).unwrap();
        assert_eq!(back.hold_id, h.hold_id);
        assert_eq!(back.client_id, h.client_id);
        assert_eq!(back.event_id, h.event_id);
        assert_eq!(back.produced_at.unwrap().timestamp_micros(), h.produced_at.unwrap().timestamp_micros());
    }

    #[test]
    fn the_signed_bytes_cover_every_header_but_the_signature_and_the_body() {
        let mut h = SaleHeaders::for_hold(&PlatformId::new("a").unwrap(), HoldId::new());
        let bytes = h.signed_bytes(b"{}");
        h.signature = Some("sig".into());
        assert_eq!(h.signed_bytes(b"{}"), bytes, "the signature is not signed");
        let back = SaleHeaders::from_pairs(h.to_pairs().iter().map(|(k, v)| (*k, Some(v.as_bytes())))).unwrap();
        assert_eq!(back.signed_bytes(b"{}"), bytes, "a reader computes the same bytes");
        assert_ne!(h.signed_bytes(b"{ }"), bytes);
        let other = SaleHeaders { client_id: Some(PlatformId::new("b").unwrap()), ..h.clone() };
        assert_ne!(other.signed_bytes(b"{}"), bytes);
        assert_eq!(h.signer().unwrap().as_str(), "a");
        let copy = SaleHeaders {
            rehomed_from: Some(LineOrigin { partition: 1, offset: 2, line: 0 }),
            rehomed_by: Some(PlatformId::new("c").unwrap()),
            ..h.clone()
        };
        assert_eq!(copy.signer().unwrap().as_str(), "c");
        let demoted = copy.anonymous();
        assert!(!demoted.claims_a_signer() && demoted.event_id == h.event_id);
    }

    #[test]
    fn malformed_hold_id_is_refused_other_headers_are_lenient() {
        assert!(SaleHeaders::from_pairs([(HOLD_ID, Some(&b"nope"[..]))]).is_err());
        assert!(SaleHeaders::from_pairs([(REHOMED_FROM, Some(&b"1:2"[..]))]).is_err());
        let o = LineOrigin { partition: 2, offset: 41, line: 1 };
        let h = SaleHeaders { rehomed_from: Some(o), ..Default::default() };
        let pairs = h.to_pairs();
        let back = SaleHeaders::from_pairs(pairs.iter().map(|(k, v)| (*k, Some(v.as_bytes())))).unwrap();
        assert_eq!(back.rehomed_from, Some(o));
        let h = SaleHeaders::from_pairs([
            (CLIENT_ID, Some(&b"NOT VALID"[..])),
            ("x-other", Some(&b"1"[..])),
            (PRODUCED_AT, None),
        ])
        .unwrap();
        assert_eq!(h, SaleHeaders::default());
        let far = SaleHeaders::from_pairs([(PRODUCED_AT, Some(&b"+99999-01-01T00:00:00Z"[..]))]).unwrap();
        assert_eq!(far.produced_at, None);
    }
}
