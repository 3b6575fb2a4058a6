//! The market's gate log: one topic (`{prefix}-ticket-admissions-{env}`)
//! where every platform's gates announce each ticket they admit and every
//! issuer announces each ticket it revokes, so that a ticket is admitted
//! once across every gate of every platform.
//!
//! - Key: the ticket id, so every event of one ticket is on one partition
//!   and the log orders them.
//! - Body: a [`GateEvent`] as JSON.
//! - Headers: `client-id` (the signer) and `signature`, Ed25519 by the
//!   signer's platform key over [`GateEvent::signed_bytes`]. An `ADMIT` is
//!   signed by the gate's platform (`gate`), a `REVOKE` by the ticket's
//!   issuer (`issuer`); anything else is invalid and changes nothing.
//! - Rule, the same on every platform: the first valid event of a ticket in
//!   log order decides it. After an `ADMIT` the ticket is used (a later
//!   `ADMIT` is a second scan, a later `REVOKE` comes too late); after a
//!   `REVOKE` it admits no one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::PlatformId;

/// Largest gate event body a platform reads, in bytes (a real one is about
/// 200).
pub const MAX_GATE_EVENT_BYTES: usize = 1024;

/// What a gate event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GateAction {
    /// A gate let the ticket's holder in.
    Admit,
    /// The issuer revoked the ticket (refunded, disputed).
    Revoke,
}

/// One event of the gate log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GateEvent {
    pub action: GateAction,
    /// Unique per event: a gate knows its own admission by it.
    pub event_id: Uuid,
    pub ticket_id: Uuid,
    /// The platform that sold the ticket and signed its code.
    pub issuer: PlatformId,
    pub match_number: u8,
    pub category: u8,
    /// The platform whose gate scanned it (`ADMIT`); the issuer (`REVOKE`).
    pub gate: PlatformId,
    pub at: DateTime<Utc>,
}

impl GateEvent {
    /// Who must have signed the event.
    pub fn signer(&self) -> &PlatformId {
        match self.action {
            GateAction::Admit => &self.gate,
            GateAction::Revoke => &self.issuer,
        }
    }

    /// The bytes its signature covers: a fixed label, then the body as it
    /// travels.
    pub fn signed_bytes(body: &[u8]) -> Vec<u8> {
        [b"ticktak-gate-v1\n".as_slice(), body].concat()
    }

    /// Read a body, refusing what no platform wrote: oversized, malformed,
    /// a match or category outside the master list's ranges.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        if body.len() > MAX_GATE_EVENT_BYTES {
            return Err(format!("body of {} bytes is over {MAX_GATE_EVENT_BYTES}", body.len()));
        }
        let event: GateEvent = serde_json::from_slice(body).map_err(|e| format!("not a gate event: {e}"))?;
        if !(1..=64).contains(&event.match_number) || !(1..=3).contains(&event.category) {
            return Err(format!("no ticket type {}-{}", event.match_number, event.category));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: GateAction) -> GateEvent {
        GateEvent {
            action,
            event_id: Uuid::now_v7(),
            ticket_id: Uuid::now_v7(),
            issuer: PlatformId::new("a").unwrap(),
            match_number: 3,
            category: 1,
            gate: PlatformId::new("b").unwrap(),
            at: Utc::now(),
        }
    }

    #[test]
    fn an_admission_is_signed_by_its_gate_and_a_revocation_by_its_issuer() {
        assert_eq!(event(GateAction::Admit).signer().as_str(), "b");
        assert_eq!(event(GateAction::Revoke).signer().as_str(), "a");
    }

    #[test]
    fn events_round_trip_and_odd_bodies_are_refused() {
        let e = event(GateAction::Admit);
        let body = serde_json::to_vec(&e).unwrap();
        assert_eq!(GateEvent::decode(&body), Ok(e.clone()));
        let mut wrong_match = e.clone();
        wrong_match.match_number = 65;
        assert!(GateEvent::decode(&serde_json::to_vec(&wrong_match).unwrap()).is_err());
        let text = String::from_utf8(body).unwrap();
        for bad in [
            text.replace("\"a\"", "\"A\\u0000\""),
            text.replace("ADMIT", "ERASE"),
            text.replace('}', ",\"extra\":1}"),
            format!("{}{}", text, " ".repeat(MAX_GATE_EVENT_BYTES)),
            "[]".into(),
        ] {
            assert!(GateEvent::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
