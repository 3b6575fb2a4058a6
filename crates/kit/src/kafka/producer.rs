//! The producer every service uses: idempotent (unless `KAFKA_IDEMPOTENCE=false`), `acks=all`, and the
//! Java-compatible murmur2 partitioner so one match's sales land on one
//! partition whichever client (librdkafka, KafkaJS, Java) produced them.

use std::time::Duration;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::KafkaSettings;

pub fn producer(settings: &KafkaSettings, client_id: &str) -> anyhow::Result<FutureProducer> {
    settings
        .client_config()
        .set("client.id", client_id)
        .set("enable.idempotence", settings.idempotence.to_string())
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", settings.linger_ms.to_string())
        .set("message.timeout.ms", "30000")
        .create()
        .context("cannot create Kafka producer")
}

/// Learn `topic`'s partitions now rather than on the first send, which would
/// otherwise wait for that metadata (and the idempotent producer's id).
pub async fn warm_up(producer: &FutureProducer, topic: &str) {
    let (p, t) = (producer.clone(), topic.to_string());
    let fetched =
        tokio::task::spawn_blocking(move || p.client().fetch_metadata(Some(&t), Duration::from_secs(5)).map(|_| ()))
            .await;
    if !matches!(fetched, Ok(Ok(()))) {
        tracing::debug!(topic, "producer warm-up failed; the first send will fetch the metadata");
    }
}

/// One message to produce.
pub struct Record<'a> {
    pub topic: &'a str,
    pub key: &'a str,
    pub payload: &'a [u8],
    pub headers: &'a [(&'a str, String)],
}

/// Produce and wait for the delivery report. Retries while the local queue
/// is full (back-pressure); any other error is returned.
pub async fn send(producer: &FutureProducer, record: &Record<'_>) -> anyhow::Result<(i32, i64)> {
    send_with(producer, record, None).await
}

/// [`send`] to an explicit partition instead of the key's.
pub async fn send_to_partition(
    producer: &FutureProducer,
    record: &Record<'_>,
    partition: i32,
) -> anyhow::Result<(i32, i64)> {
    send_with(producer, record, Some(partition)).await
}

async fn send_with(
    producer: &FutureProducer,
    record: &Record<'_>,
    partition: Option<i32>,
) -> anyhow::Result<(i32, i64)> {
    loop {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in record.headers {
            headers = headers.insert(Header { key, value: Some(value.as_bytes()) });
        }
        let mut future_record = FutureRecord::to(record.topic).key(record.key).payload(record.payload).headers(headers);
        if let Some(p) = partition {
            future_record = future_record.partition(p);
        }
        match producer.send(future_record, Duration::from_secs(0)).await {
            Ok(delivered) => return Ok(delivered),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => {
                return Err(e).with_context(|| format!("cannot produce to {}", record.topic));
            }
        }
    }
}
