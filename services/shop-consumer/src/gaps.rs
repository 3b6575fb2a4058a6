//! Gap detection: offsets of a partition arrive without holes (no
//! transactions, idempotent producers), so a message past the next expected
//! offset means the broker skipped records — tansu 0.6 does when a fetch
//! starts inside a record batch. The pump then rewinds the partition to its
//! beginning; messages it already handed over are skipped locally, and the
//! shop's offsets would skip them anyway. A gap that survives three rewinds
//! is accepted (logged and counted): the records are not in the log.

use std::collections::HashMap;

pub type Key = (String, i32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next message of its partition: hand it over.
    Take,
    /// Already handed over, or stale after a rewind: drop it.
    Skip,
    /// Records are missing before this one: rewind the partition.
    Rewind,
}

#[derive(Default)]
pub struct GapTracker {
    next: HashMap<Key, i64>,
    /// Partitions being rewound: whether an earlier offset arrived since.
    rewinding: HashMap<Key, bool>,
    attempts: HashMap<Key, (i64, u32)>,
}

pub const MAX_REWINDS: u32 = 3;

impl GapTracker {
    /// The next offset of a partition is known (the pump read from there);
    /// anything later first is a gap. Keeps what was already handed over.
    pub fn expect_from(&mut self, topic: &str, partition: i32, offset: i64) {
        self.next.entry((topic.to_string(), partition)).or_insert(offset);
    }

    pub fn check(&mut self, topic: &str, partition: i32, offset: i64) -> Verdict {
        let key = (topic.to_string(), partition);
        let Some(&next) = self.next.get(&key) else {
            self.next.insert(key, offset + 1);
            return Verdict::Take;
        };
        if offset < next {
            if let Some(seen) = self.rewinding.get_mut(&key) {
                *seen = true;
            }
            return Verdict::Skip;
        }
        if offset == next {
            self.next.insert(key.clone(), next + 1);
            self.rewinding.remove(&key);
            self.attempts.remove(&key);
            return Verdict::Take;
        }
        match self.rewinding.get(&key) {
            // Still messages fetched before the rewind took effect.
            Some(false) => Verdict::Skip,
            _ => {
                let attempts = self.attempts.entry(key.clone()).or_insert((next, 0));
                if attempts.0 != next {
                    *attempts = (next, 0);
                }
                attempts.1 += 1;
                if attempts.1 > MAX_REWINDS {
                    tracing::error!(
                        topic,
                        partition,
                        expected = next,
                        got = offset,
                        "offsets missing from the log; accepting the gap"
                    );
                    metrics::counter!("consumer_gaps_accepted_total").increment(1);
                    self.next.insert(key.clone(), offset + 1);
                    self.rewinding.remove(&key);
                    self.attempts.remove(&key);
                    Verdict::Take
                } else {
                    tracing::warn!(
                        topic,
                        partition,
                        expected = next,
                        got = offset,
                        "broker skipped records; rewinding the partition"
                    );
                    metrics::counter!("consumer_gaps_rewound_total").increment(1);
                    self.rewinding.insert(key, false);
                    Verdict::Rewind
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_offsets_are_taken_and_repeats_skipped() {
        let mut t = GapTracker::default();
        assert_eq!(t.check("s", 0, 5), Verdict::Take);
        assert_eq!(t.check("s", 0, 6), Verdict::Take);
        assert_eq!(t.check("s", 0, 6), Verdict::Skip);
        assert_eq!(t.check("s", 1, 0), Verdict::Take);
    }

    #[test]
    fn a_gap_rewinds_until_the_missing_offset_arrives() {
        let mut t = GapTracker::default();
        assert_eq!(t.check("s", 0, 0), Verdict::Take);
        assert_eq!(t.check("s", 0, 5), Verdict::Rewind);
        assert_eq!(t.check("s", 0, 6), Verdict::Skip, "fetched before the seek");
        assert_eq!(t.check("s", 0, 0), Verdict::Skip, "re-read after the seek");
        assert_eq!(t.check("s", 0, 1), Verdict::Take);
        assert_eq!(t.check("s", 0, 2), Verdict::Take);
    }

    #[test]
    fn a_late_first_offset_is_a_gap_when_the_start_is_known() {
        let mut t = GapTracker::default();
        t.expect_from("s", 0, 0);
        assert_eq!(t.check("s", 0, 1500), Verdict::Rewind);
        assert_eq!(t.check("s", 0, 0), Verdict::Take);
    }

    #[test]
    fn a_gap_that_survives_the_rewinds_is_accepted() {
        let mut t = GapTracker::default();
        assert_eq!(t.check("s", 0, 0), Verdict::Take);
        for _ in 0..MAX_REWINDS {
            assert_eq!(t.check("s", 0, 9), Verdict::Rewind);
            assert_eq!(t.check("s", 0, 0), Verdict::Skip);
        }
        assert_eq!(t.check("s", 0, 9), Verdict::Take);
        assert_eq!(t.check("s", 0, 10), Verdict::Take);
    }
}
