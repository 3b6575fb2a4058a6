//! Which partition of the ticket-sales topic is a match's home: the Java
//! client's default partitioner, `toPositive(murmur2(key)) % n` over the
//! key `"{matchNumber}"` (`MatchNumber::kafka_key`) — what librdkafka's
//! `murmur2_random`, KafkaJS's default and Java's produce for keyed
//! messages. Every platform computes the same home for every match.
//!
//! The home is the match's, not the ticket type's: all three categories of
//! a match are decided in one order, which the market's cap per person and
//! match needs (`crate::ledger`). The course keyed sales by
//! `"{matchNumber}-{category}"`; a peer that still does has its lines
//! re-homed, as keyless ones are.

use crate::ids::MatchNumber;

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition (of `partitions`) where the sales of `match_number` belong.
pub fn home_partition(match_number: MatchNumber, partitions: i32) -> i32 {
    let positive = murmur2(match_number.kafka_key().as_bytes()) & 0x7fff_ffff;
    positive % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MatchNumber;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Vectors from Kafka's own UtilsTest.
        for (input, expected) in [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            ("abc", 479470107),
        ] {
            assert_eq!(murmur2(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn every_match_has_one_home_within_the_topic() {
        for n in 1..=12 {
            for m in 1..=64 {
                let home = home_partition(MatchNumber::new(m).unwrap(), n);
                assert!((0..n).contains(&home));
            }
        }
    }

    #[test]
    fn a_matchs_home_is_where_the_default_partitioner_puts_its_key() {
        // "21" hashes to -973932308 (Kafka's UtilsTest), positive
        // 1173551340: 0 modulo 12, 3 modulo 7.
        let m = MatchNumber::new(21).unwrap();
        assert_eq!(home_partition(m, 12), 0);
        assert_eq!(home_partition(m, 7), 3);
    }

    #[test]
    fn the_matches_spread_over_the_partitions() {
        let mut used = [0; 12];
        for m in 1..=64 {
            used[home_partition(MatchNumber::new(m).unwrap(), 12) as usize] += 1;
        }
        assert!(used.iter().all(|n| *n > 0), "every partition is some match's home: {used:?}");
    }
}
