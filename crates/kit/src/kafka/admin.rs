//! Topic creation at start-up and the broker readiness probe.

use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaSettings;

/// Topic settings of the shared topics: a new or rebuilt platform needs the
/// whole history (every sale since the first, the whole master list), so
/// nothing is ever deleted by age or size. Brokers default to 7 days.
pub const UNLIMITED_RETENTION: [(&str, &str); 2] = [("retention.ms", "-1"), ("retention.bytes", "-1")];

/// Create the topics that do not exist yet, with unlimited retention. Topics
/// created by another platform (or an operator) are left as they are; the
/// README says what an operator sets on an existing cluster.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[&str]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        settings.client_config().create().context("cannot create Kafka admin client")?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            UNLIMITED_RETENTION.iter().fold(
                NewTopic::new(t, settings.partitions, TopicReplication::Fixed(settings.replication)),
                |topic, (name, value)| topic.set(name, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics(&new, &options).await.context("cannot create topics")?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// Whether the broker answers a metadata request within `timeout`.
pub async fn probe(producer: &FutureProducer, timeout: Duration) -> bool {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).is_ok()).await.unwrap_or(false)
}
