//! Ticket codes: what the QR code on a ticket holds, signed by the platform
//! that sold it with its platform key (`PLATFORM_SIGNING_KEY`, whose public
//! half every platform lists in `PLATFORM_KEYS`), so that any gate of the
//! market verifies it offline and knows whose ticket it is.
//!
//! Two codes per ticket, both base64url without padding:
//! - **printed** (e-mailed, on the tickets list):
//!   `TT2.<issuer>.<payload>.<signature>`; the payload is 19 bytes: the
//!   ticket id (16, a random UUID, so codes cannot be guessed), the match
//!   (1), the category (1) and flags (1; bit 0: the printed code admits —
//!   else only the live code does, `EMAILED_CODE_ADMITS=false`).
//! - **live** (the holder's account, a new one every [`WINDOW_SECS`]):
//!   `TL2.<issuer>.<payload>.<signature>`; the payload is 22 bytes: ticket
//!   id, match, category and the window (`u32`, big-endian: Unix seconds /
//!   [`WINDOW_SECS`]). A gate takes the current window and its neighbours,
//!   so a screenshot stops working within a minute.
//!
//! The signature is Ed25519 over a label (`ticktak-ticket-v2` or
//! `ticktak-live-ticket-v2`), a line feed, the issuer, a line feed and the
//! payload: no other message of the platform key's can pass for a ticket.
//! Codes issued before (`TT1.<payload>.<signature>`, 18 bytes, signed with
//! `TICKET_SIGNING_KEY` over `ticktak-ticket-v1` + payload) stay valid at
//! their issuer's gates.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ticktak_core::PlatformId;
use ticktak_kit::kafka::trust::Trust;
use uuid::Uuid;

const PRINTED: &str = "TT2";
const LIVE: &str = "TL2";
const LEGACY: &str = "TT1.";
const PRINTED_LABEL: &str = "ticktak-ticket-v2";
const LIVE_LABEL: &str = "ticktak-live-ticket-v2";
const LEGACY_LABEL: &[u8] = b"ticktak-ticket-v1";
/// How long a live code lasts.
pub const WINDOW_SECS: i64 = 30;
/// Longest code a gate reads (a real one is about 130 characters).
pub const MAX_CODE_LEN: usize = 512;

/// What a code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeClaims {
    pub ticket_id: Uuid,
    pub match_number: u8,
    pub category: u8,
}

/// Which code a gate was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The printed (e-mailed) code; `admits` unless the ticket says only
    /// its live code does.
    Printed { admits: bool },
    /// A live code of the window it names.
    Live { window: u32 },
    /// A `TT1.` code of this platform's, from before codes named their issuer.
    Legacy,
}

/// A code whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub claims: CodeClaims,
    pub issuer: PlatformId,
    pub kind: Kind,
}

/// The window a live code made at `at` names.
pub fn window_at(at: DateTime<Utc>) -> u32 {
    (at.timestamp().max(0) / WINDOW_SECS) as u32
}

/// When `window` ends.
pub fn window_end(window: u32) -> DateTime<Utc> {
    DateTime::from_timestamp((i64::from(window) + 1) * WINDOW_SECS, 0).unwrap_or_default()
}

/// Whether a live code of `window` is still shown at `now` (the window
/// before and after count too: phones' and gates' clocks differ).
pub fn is_current(window: u32, now: DateTime<Utc>) -> bool {
    window_at(now).abs_diff(window) <= 1
}

fn payload(c: &CodeClaims, tail: &[u8]) -> Vec<u8> {
    let mut bytes = c.ticket_id.as_bytes().to_vec();
    bytes.extend([c.match_number, c.category]);
    bytes.extend_from_slice(tail);
    bytes
}

fn signed(label: &str, issuer: &str, payload: &[u8]) -> Vec<u8> {
    [label.as_bytes(), b"\n", issuer.as_bytes(), b"\n", payload].concat()
}

fn make(trust: &Trust, prefix: &str, label: &str, issuer: &PlatformId, payload: &[u8]) -> Option<String> {
    let signature = trust.sign_bytes(&signed(label, issuer.as_str(), payload))?;
    Some(format!("{prefix}.{issuer}.{}.{signature}", URL_SAFE_NO_PAD.encode(payload)))
}

/// The printed code of a ticket of `issuer` (this platform); `None` in a
/// service without the platform key.
pub fn printed(trust: &Trust, issuer: &PlatformId, claims: &CodeClaims, admits: bool) -> Option<String> {
    make(trust, PRINTED, PRINTED_LABEL, issuer, &payload(claims, &[u8::from(admits)]))
}

/// The live code of a ticket for `window`.
pub fn live(trust: &Trust, issuer: &PlatformId, claims: &CodeClaims, window: u32) -> Option<String> {
    make(trust, LIVE, LIVE_LABEL, issuer, &payload(claims, &window.to_be_bytes()))
}

/// Whether a printed code admits by itself (the flag is read, not
/// verified: for showing the holder, never for a gate).
pub fn printed_admits(code: &str) -> bool {
    let mut parts = code.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(PRINTED), Some(_), Some(payload)) => {
            URL_SAFE_NO_PAD.decode(payload).ok().and_then(|p| p.get(18).copied()).is_none_or(|flags| flags & 1 == 1)
        }
        _ => true,
    }
}

/// What `code` names, if its issuer's key (`trust`; `legacy_key` for a
/// `TT1.` code of `own`) signed it; `None` for anything forged, altered,
/// malformed or from a platform outside the market.
pub fn verify(trust: &Trust, own: &PlatformId, legacy_key: &[u8], code: &str) -> Option<Verified> {
    let code = code.trim();
    if code.len() > MAX_CODE_LEN {
        return None;
    }
    if let Some(rest) = code.strip_prefix(LEGACY) {
        return verify_legacy(legacy_key, rest).map(|claims| Verified {
            claims,
            issuer: own.clone(),
            kind: Kind::Legacy,
        });
    }
    let mut parts = code.split('.');
    let (Some(prefix), Some(issuer), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (label, tail_len) = match prefix {
        PRINTED => (PRINTED_LABEL, 1),
        LIVE => (LIVE_LABEL, 4),
        _ => return None,
    };
    let issuer = PlatformId::new(issuer).ok()?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    if payload.len() != 18 + tail_len
        || !trust.verify_bytes(&issuer, &signed(label, issuer.as_str(), &payload), signature)
    {
        return None;
    }
    let claims = CodeClaims {
        ticket_id: Uuid::from_slice(&payload[..16]).ok()?,
        match_number: payload[16],
        category: payload[17],
    };
    let kind = match prefix {
        PRINTED => Kind::Printed { admits: payload[18] & 1 == 1 },
        _ => Kind::Live { window: u32::from_be_bytes(payload[18..22].try_into().ok()?) },
    };
    Some(Verified { claims, issuer, kind })
}

fn verify_legacy(public_key: &[u8], rest: &str) -> Option<CodeClaims> {
    let (payload, signature) = rest.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if payload.len() != 18 {
        return None;
    }
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(&[LEGACY_LABEL, &payload].concat(), &signature)
        .ok()?;
    Some(CodeClaims {
        ticket_id: Uuid::from_slice(&payload[..16]).ok()?,
        match_number: payload[16],
        category: payload[17],
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ticktak_kit::auth::SigningKey;
    use ticktak_kit::kafka::trust::{development_key, PlatformKeys};

    use super::*;

    fn claims() -> CodeClaims {
        CodeClaims { ticket_id: Uuid::new_v4(), match_number: 7, category: 2 }
    }

    fn id(s: &str) -> PlatformId {
        PlatformId::new(s).unwrap()
    }

    #[test]
    fn a_code_of_one_platform_verifies_at_another_and_names_its_issuer() {
        let (a, b) = (Trust::development(&id("a")), Trust::development(&id("b")));
        let c = claims();
        let code = printed(&a, &id("a"), &c, true).unwrap();
        let seen = verify(&b, &id("b"), SigningKey::dev().public_key(), &code).unwrap();
        assert_eq!(seen, Verified { claims: c, issuer: id("a"), kind: Kind::Printed { admits: true } });
        let only_live = printed(&a, &id("a"), &c, false).unwrap();
        assert_eq!(verify(&b, &id("b"), &[], &only_live).unwrap().kind, Kind::Printed { admits: false });
        assert!(!printed_admits(&only_live) && printed_admits(&code));
        let window = window_at(Utc::now());
        let live_code = live(&a, &id("a"), &c, window).unwrap();
        assert_eq!(verify(&b, &id("b"), &[], &live_code).unwrap().kind, Kind::Live { window });
    }

    #[test]
    fn forged_altered_foreign_and_malformed_codes_are_refused() {
        let a = Trust::development(&id("a"));
        let code = printed(&a, &id("a"), &claims(), true).unwrap();
        // Signed by b's key, but naming a as its issuer.
        let by_b = printed(&Trust::development(&id("b")), &id("a"), &claims(), true).unwrap();
        // A platform the market does not list (only a is).
        let listed = Trust::new(
            development_key(&id("a")),
            PlatformKeys::Listed(BTreeMap::from([(id("a"), vec![development_key(&id("a")).public_key().to_vec()])])),
        );
        let outsider = printed(&Trust::development(&id("x")), &id("x"), &claims(), true).unwrap();
        assert!(verify(&listed, &id("a"), &[], &outsider).is_none());
        assert!(verify(&listed, &id("a"), &[], &code).is_some());
        let parts: Vec<&str> = code.split('.').collect();
        let mut payload = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        payload[18] = 1 - payload[18];
        let altered = format!("TT2.a.{}.{}", URL_SAFE_NO_PAD.encode(&payload), parts[3]);
        // A printed code's signature under the live label, and the other way.
        let relabelled = code.replacen("TT2", "TL2", 1);
        let renamed = code.replacen("TT2.a.", "TT2.b.", 1);
        for bad in [
            by_b.as_str(),
            &altered,
            &relabelled,
            &renamed,
            "TT2.",
            "TT2.a.b.c",
            "",
            "garbage",
            &code[..code.len() - 2],
        ] {
            assert_eq!(verify(&a, &id("a"), &[], bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn codes_issued_before_verify_with_the_ticket_key_as_this_platforms() {
        let key = SigningKey::generate();
        let c = claims();
        let mut payload = c.ticket_id.as_bytes().to_vec();
        payload.extend([c.match_number, c.category]);
        let signature = key.sign_bytes(&[LEGACY_LABEL, &payload].concat());
        let code = format!("TT1.{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(signature));
        let trust = Trust::development(&id("a"));
        let seen = verify(&trust, &id("a"), key.public_key(), &code).unwrap();
        assert_eq!((seen.claims, seen.kind, seen.issuer), (c, Kind::Legacy, id("a")));
        assert!(verify(&trust, &id("a"), SigningKey::generate().public_key(), &code).is_none());
    }

    #[test]
    fn a_live_code_lasts_its_window_and_its_neighbours() {
        let now = Utc::now();
        let w = window_at(now);
        assert!(is_current(w, now) && is_current(w - 1, now) && is_current(w + 1, now));
        assert!(!is_current(w - 2, now) && !is_current(w + 2, now));
        assert!(window_end(w) > now && window_end(w) <= now + chrono::Duration::seconds(WINDOW_SECS));
    }
}
