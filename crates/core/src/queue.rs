//! The market's waiting rooms: how many buyers each platform has waiting,
//! so that an on-sale's admission rate (the organisers' `admitPerMinute`,
//! `crate::schedule`) is shared between the platforms in proportion to
//! their queues and a buyer on a small platform waits no longer than one
//! on a big platform.
//!
//! - Topic `{prefix}-queue-lengths-{env}`, key = the room id, one JSON
//!   [`QueueLength`] per platform and room every second while it has
//!   buyers waiting (and once more when it has none left).
//! - Headers `client-id` (the platform) and `signature`: Ed25519 of the
//!   platform's key over [`QueueLength::signed_bytes`]; a message whose
//!   `client-id`, body and signature do not agree is counted and ignored.
//! - A platform's share of a room's rate: its own waiting count over the
//!   sum of every platform's latest fresh report (its own count read live);
//!   a report older than [`STALE_AFTER_SECS`] is counted out, so a
//!   platform that stops publishing stops taking a share.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::PlatformId;

/// What the signature covers before the body.
pub const LABEL: &str = "ticktak-queue-length-v1";
/// Largest message a platform reads, in bytes.
pub const MAX_BYTES: usize = 512;
/// A report this old no longer counts.
pub const STALE_AFTER_SECS: i64 = 5;
/// Most buyers one report may claim.
pub const MAX_WAITING: u32 = 10_000_000;

/// One platform's queue in one room, at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueLength {
    /// The room id (`crate::schedule::Room::id`).
    pub room: String,
    pub platform: PlatformId,
    /// Buyers in line not yet admitted (the pre-queue included).
    pub waiting: u32,
    /// Buyers admitted so far.
    pub admitted: u32,
    pub at: DateTime<Utc>,
}

impl QueueLength {
    /// What the platform signs: the label, a line feed and the body.
    pub fn signed_bytes(body: &[u8]) -> Vec<u8> {
        [LABEL.as_bytes(), b"\n", body].concat()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a queue length serialises")
    }

    /// Read a body, refusing what no platform would write.
    pub fn decode(body: &[u8]) -> Result<Self, String> {
        if body.len() > MAX_BYTES {
            return Err(format!("body of {} bytes is over {MAX_BYTES}", body.len()));
        }
        let l: QueueLength = serde_json::from_slice(body).map_err(|e| format!("not a queue length: {e}"))?;
        let room_ok = !l.room.is_empty()
            && l.room.len() <= 64
            && l.room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'@');
        if !room_ok {
            return Err("a room id is up to 64 letters, digits, '-' and '@'".into());
        }
        if l.waiting > MAX_WAITING || l.admitted > MAX_WAITING {
            return Err(format!("more than {MAX_WAITING} buyers"));
        }
        Ok(l)
    }
}

/// The latest report of each platform in each room.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarketQueues {
    rooms: HashMap<String, HashMap<PlatformId, QueueLength>>,
}

impl MarketQueues {
    /// Keep `l` unless a later report of its platform and room is known.
    pub fn note(&mut self, l: QueueLength) {
        let room = self.rooms.entry(l.room.clone()).or_default();
        if room.get(&l.platform).is_none_or(|known| known.at < l.at) {
            room.insert(l.platform.clone(), l);
        }
    }

    /// Forget reports older than `before` (rooms that ended, platforms gone).
    pub fn forget_before(&mut self, before: DateTime<Utc>) {
        for reports in self.rooms.values_mut() {
            reports.retain(|_, l| l.at >= before);
        }
        self.rooms.retain(|_, reports| !reports.is_empty());
    }

    /// The other platforms' fresh reports of `room` at `now`.
    pub fn peers(&self, room: &str, me: &PlatformId, now: DateTime<Utc>) -> Vec<&QueueLength> {
        self.rooms
            .get(room)
            .map(|reports| reports.values().filter(|l| &l.platform != me && fresh(l, now)).collect::<Vec<_>>())
            .unwrap_or_default()
    }

    /// This platform's share of `rate` (buyers per minute over the market)
    /// for `room` at `now`, with `mine` buyers waiting here.
    pub fn share(&self, room: &str, me: &PlatformId, mine: u32, rate: f64, now: DateTime<Utc>) -> f64 {
        if mine == 0 {
            return 0.0;
        }
        let others: u64 = self.peers(room, me, now).iter().map(|l| u64::from(l.waiting)).sum();
        rate * f64::from(mine) / (f64::from(mine) + others as f64)
    }
}

/// Whether a report still counts at `now` (one from the future, a clock
/// ahead of ours, counts until it is as old as any other would be).
fn fresh(l: &QueueLength, now: DateTime<Utc>) -> bool {
    (now - l.at).num_seconds().abs() <= STALE_AFTER_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(platform: &str, waiting: u32, at: DateTime<Utc>) -> QueueLength {
        QueueLength {
            room: "1@1764842400".into(),
            platform: PlatformId::new(platform).unwrap(),
            waiting,
            admitted: 0,
            at,
        }
    }

    #[test]
    fn the_rate_is_shared_in_proportion_to_fresh_queues() {
        let now = Utc::now();
        let (a, c) = (PlatformId::new("a").unwrap(), PlatformId::new("c").unwrap());
        let mut m = MarketQueues::default();
        assert_eq!(m.share("1@1764842400", &a, 100, 600.0, now), 600.0, "alone: the whole rate");
        m.note(report("b", 300, now));
        assert_eq!(m.share("1@1764842400", &a, 100, 600.0, now), 150.0);
        assert_eq!(m.share("1@1764842400", &a, 0, 600.0, now), 0.0, "nobody waiting here: no share");
        assert_eq!(m.share("2@1764842400", &a, 100, 600.0, now), 600.0, "another room's queues do not count");
        // An older report of b arriving late changes nothing.
        m.note(report("b", 5, now - chrono::Duration::seconds(1)));
        assert_eq!(m.share("1@1764842400", &a, 100, 600.0, now), 150.0);
        // c stopped publishing 6 s ago: counted out.
        m.note(report("c", 1_000, now - chrono::Duration::seconds(STALE_AFTER_SECS + 1)));
        assert_eq!(m.share("1@1764842400", &a, 100, 600.0, now), 150.0);
        // Our own reports, as they come back from the topic, are not counted twice.
        m.note(report("a", 100, now));
        assert_eq!(m.share("1@1764842400", &a, 100, 600.0, now), 150.0);
        assert_eq!(m.peers("1@1764842400", &c, now).len(), 2);
        m.forget_before(now - chrono::Duration::seconds(3));
        assert_eq!(m.rooms["1@1764842400"].len(), 2, "c's old report forgotten");
    }

    #[test]
    fn odd_reports_are_refused() {
        let good = report("a", 10, Utc::now());
        assert_eq!(QueueLength::decode(&good.to_json()), Ok(good.clone()));
        let text = String::from_utf8(good.to_json()).unwrap();
        for bad in [
            text.replace("1@1764842400", "1@17648\u{0}42400"),
            text.replace("1@1764842400", &"1".repeat(65)),
            text.replace("\"waiting\":10", "\"waiting\":10000001"),
            text.replace("\"waiting\":10", "\"waiting\":-1"),
            text.replace('}', ",\"extra\":1}"),
            "[]".into(),
            format!("{{\"room\":\"{}\"}}", "x".repeat(600)),
        ] {
            assert!(QueueLength::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
