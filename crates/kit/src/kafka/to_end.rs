//! Reading a topic to the end it had at start, before following it: the
//! master list, which decisions and statistics depend on. shop-consumer
//! and analytics both start this way; what each does when an end cannot be
//! known differs and stays with them (shop-consumer takes a quiet spell for
//! the end, analytics refuses to start).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

/// How far a topic was read, against where each partition ended at start.
#[derive(Debug, Clone)]
pub struct ToEnd {
    /// Each partition's high watermark at start; `None` where the broker
    /// could not tell it.
    ends: BTreeMap<i32, Option<i64>>,
    /// The next offset to read per partition.
    next: BTreeMap<i32, i64>,
}

impl ToEnd {
    /// Assign every partition of `topic` to `consumer` from its beginning,
    /// noting where each ends now.
    pub async fn assign(consumer: &Arc<StreamConsumer>, topic: &str) -> anyhow::Result<Self> {
        let (c, t) = (consumer.clone(), topic.to_string());
        let ends = tokio::task::spawn_blocking(move || -> anyhow::Result<BTreeMap<i32, Option<i64>>> {
            let md = c.fetch_metadata(Some(&t), Duration::from_secs(10))?;
            Ok(md
                .topics()
                .iter()
                .flat_map(|t| t.partitions())
                .map(|p| (p.id(), c.fetch_watermarks(&t, p.id(), Duration::from_secs(5)).ok().map(|(_, high)| high)))
                .collect())
        })
        .await??;
        let mut tpl = TopicPartitionList::new();
        for p in ends.keys() {
            tpl.add_partition_offset(topic, *p, Offset::Offset(0))?;
        }
        consumer.assign(&tpl)?;
        Ok(Self::with_ends(ends))
    }

    fn with_ends(ends: BTreeMap<i32, Option<i64>>) -> Self {
        let next = ends.keys().map(|p| (*p, 0)).collect();
        Self { ends, next }
    }

    /// Everything before `next` of `partition` was read.
    pub fn reached(&mut self, partition: i32, next: i64) {
        let at = self.next.entry(partition).or_insert(0);
        *at = (*at).max(next);
    }

    /// Whether every partition was read to its end (never while an end is
    /// unknown).
    pub fn done(&self) -> bool {
        self.ends.iter().all(|(p, end)| end.is_some_and(|end| self.next.get(p).is_some_and(|n| *n >= end)))
    }

    /// Whether some partition's end could not be learnt.
    pub fn some_end_unknown(&self) -> bool {
        self.ends.values().any(Option::is_none)
    }

    /// Where following should start: each partition's end, or as far as it
    /// was read where the end is unknown.
    pub fn resume_at(&self) -> BTreeMap<i32, i64> {
        self.ends.iter().map(|(p, end)| (*p, end.unwrap_or_else(|| self.next.get(p).copied().unwrap_or(0)))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_is_read_to_its_end_only_when_every_end_is_known_and_reached() {
        let mut read = ToEnd::with_ends([(0, Some(2)), (1, Some(0))].into());
        assert!(!read.done(), "partition 0 has two messages to read");
        read.reached(0, 1);
        assert!(!read.done());
        read.reached(0, 2);
        read.reached(0, 1);
        assert!(read.done(), "an empty partition is read; going back does not undo");
        assert_eq!(read.resume_at(), [(0, 2), (1, 0)].into());
        let mut unknown = ToEnd::with_ends([(0, None)].into());
        unknown.reached(0, 5);
        assert!(!unknown.done() && unknown.some_end_unknown());
        assert_eq!(unknown.resume_at(), [(0, 5)].into());
    }
}
