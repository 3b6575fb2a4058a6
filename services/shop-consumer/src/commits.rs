//! Acknowledged offsets → the platform's consumer group, in the background.
//!
//! The shop's own offsets (stored with the effects) are what makes the
//! apply exactly-once and where the pump resumes; the group's offsets are
//! for the operator's lag tools. So commits are cheap to lose but must not
//! lie: an offset counts as committed only once the broker confirmed it, and
//! a failed commit is tried again at the next round. Commits go out at most
//! every `every` (each is a write on the broker) and never block the pump.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Next offset to read per (topic, partition).
pub type Offsets = HashMap<(String, i32), i64>;

/// How long one commit may take before it counts as failed.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Committer {
    acknowledged: watch::Sender<Offsets>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Committer {
    pub fn start(consumer: Arc<StreamConsumer>, every: Duration) -> Self {
        let (acknowledged, rx) = watch::channel(Offsets::new());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(consumer, rx, every, stop.clone()));
        Self { acknowledged, stop, task }
    }

    /// The shop acknowledged everything before `next` on this partition.
    pub fn acknowledge(&self, topic: &str, partition: i32, next: i64) {
        self.acknowledged.send_modify(|a| {
            a.insert((topic.to_string(), partition), next);
        });
    }

    /// Stop, after one last commit of what was acknowledged (bounded by
    /// `COMMIT_TIMEOUT`, so a broker that is gone cannot hold up shutdown).
    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn run(
    consumer: Arc<StreamConsumer>,
    acknowledged: watch::Receiver<Offsets>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut committed = Offsets::new();
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
        };
        let wanted = acknowledged.borrow().clone();
        if wanted != committed {
            match commit(&consumer, &wanted).await {
                Ok(()) => {
                    committed = wanted;
                    metrics::counter!("consumer_commits_total").increment(1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "offset commit failed; tried again at the next round");
                    metrics::counter!("consumer_commit_failures_total").increment(1);
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// Commit `offsets` and wait for the broker's answer.
async fn commit(consumer: &Arc<StreamConsumer>, offsets: &Offsets) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
    }
    let c = consumer.clone();
    let done = tokio::task::spawn_blocking(move || c.commit(&tpl, CommitMode::Sync));
    match tokio::time::timeout(COMMIT_TIMEOUT, done).await {
        Ok(Ok(result)) => Ok(result?),
        Ok(Err(e)) => anyhow::bail!("commit task failed: {e}"),
        Err(_) => anyhow::bail!("no answer within {COMMIT_TIMEOUT:?}"),
    }
}
