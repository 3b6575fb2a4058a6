//! The waiting room's two tokens. Only this platform reads them, so they
//! are HMAC-SHA256 under a key of its own (derived from `INTERNAL_TOKEN`):
//!
//! - a **queue ticket** `QT1.<payload>.<tag>`: a room and an account, the
//!   buyer's handle on their place (`GET /api/queue/{ticket}`);
//! - an **admission** `QA1.<payload>.<tag>`: a room, an account, a nonce
//!   and an expiry; one hold spends it (the nonce is stored with the
//!   buyer's place, so a copy of it is worth nothing once spent).
//!
//! The payload is base64url JSON; the tag covers the kind, a dot and the
//! payload, so neither token passes for the other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const TICKET: &str = "QT1";
const ADMISSION: &str = "QA1";
/// Longest token read (a real one is about 200 characters).
pub const MAX_TOKEN_LEN: usize = 1024;

/// A buyer's place in a room, as the buyer holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueTicket {
    #[serde(rename = "r")]
    pub room: String,
    #[serde(rename = "a")]
    pub account: String,
    /// The place, once drawn: a status read of a place still waiting is
    /// then answered without the database.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub place: Option<i64>,
}

/// A buyer's turn: one hold in the room's ticket types, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    #[serde(rename = "r")]
    pub room: String,
    #[serde(rename = "a")]
    pub account: String,
    #[serde(rename = "n")]
    pub nonce: Uuid,
    #[serde(rename = "e", with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

/// Why a token was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a token of this platform's waiting room")]
    Malformed,
    #[error("the token's signature does not verify")]
    Forged,
}

/// This platform's waiting-room key.
#[derive(Clone)]
pub struct QueueKey(ring::hmac::Key);

impl std::fmt::Debug for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueKey(…)")
    }
}

impl QueueKey {
    /// The key derived from the platform's internal secret, for this use only.
    pub fn derive(secret: &str) -> Self {
        let root = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let derived = ring::hmac::sign(&root, b"ticktak-queue-v1");
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()))
    }

    pub fn ticket(&self, t: &QueueTicket) -> String {
        self.seal(TICKET, t)
    }

    pub fn read_ticket(&self, token: &str) -> Result<QueueTicket, TokenError> {
        self.open(TICKET, token)
    }

    pub fn admission(&self, a: &Admission) -> String {
        self.seal(ADMISSION, a)
    }

    pub fn read_admission(&self, token: &str) -> Result<Admission, TokenError> {
        self.open(ADMISSION, token)
    }

    fn seal<T: Serialize>(&self, kind: &str, value: &T) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("a token serialises"));
        let tag = ring::hmac::sign(&self.0, format!("{kind}.{payload}").as_bytes());
        format!("{kind}.{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn open<T: DeserializeOwned>(&self, kind: &str, token: &str) -> Result<T, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.trim().split('.');
        let (Some(k), Some(payload), Some(tag), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        if k != kind {
            return Err(TokenError::Malformed);
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        ring::hmac::verify(&self.0, format!("{kind}.{payload}").as_bytes(), &tag).map_err(|_| TokenError::Forged)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission() -> Admission {
        Admission {
            room: "7-1@1764842400".into(),
            account: "acc-1".into(),
            nonce: Uuid::new_v4(),
            expires_at: DateTime::from_timestamp(1_764_843_000, 0).unwrap(),
        }
    }

    #[test]
    fn tokens_round_trip_under_their_key_only() {
        let key = QueueKey::derive("secret one");
        let t = QueueTicket { room: "7@1764842400".into(), account: "acc-1".into(), place: Some(12) };
        assert_eq!(key.read_ticket(&key.ticket(&t)), Ok(t.clone()));
        let a = admission();
        assert_eq!(key.read_admission(&key.admission(&a)), Ok(a.clone()));
        let other = QueueKey::derive("secret two");
        assert_eq!(other.read_ticket(&key.ticket(&t)), Err(TokenError::Forged));
        assert_eq!(other.read_admission(&key.admission(&a)), Err(TokenError::Forged));
    }

    #[test]
    fn one_kind_never_passes_for_the_other_and_edits_are_caught() {
        let key = QueueKey::derive("secret");
        let t = key.ticket(&QueueTicket { room: "all@1".into(), account: "acc-1".into(), place: None });
        assert_eq!(key.read_admission(&t), Err(TokenError::Malformed));
        let relabelled = t.replacen("QT1", "QA1", 1);
        assert_eq!(key.read_admission(&relabelled), Err(TokenError::Forged));
        // Another account's payload under the first token's tag.
        let theirs = key.ticket(&QueueTicket { room: "all@1".into(), account: "acc-2".into(), place: None });
        let spliced = format!("{}.{}", theirs.rsplit_once('.').unwrap().0, t.rsplit_once('.').unwrap().1);
        assert_eq!(key.read_ticket(&spliced), Err(TokenError::Forged));
        for bad in ["", "QT1", "QT1..", "QT1.a.b.c", "QT1.!!.??", &"Q".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(key.read_ticket(bad).is_err(), "{bad}");
        }
    }
}
