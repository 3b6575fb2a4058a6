//! Consumers: manual commits only, offsets reset to the beginning so a new
//! group reads the whole log.

use anyhow::Context;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{Headers, Message};

use super::KafkaSettings;

pub fn consumer(settings: &KafkaSettings, group_id: &str) -> anyhow::Result<StreamConsumer> {
    settings
        .client_config()
        .set("group.id", group_id)
        .set("client.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("fetch.wait.max.ms", settings.fetch_wait_ms.to_string())
        .create()
        .context("cannot create Kafka consumer")
}

/// The headers of a message as (name, value) pairs.
pub fn header_pairs<M: Message>(message: &M) -> Vec<(&str, Option<&[u8]>)> {
    match message.headers() {
        Some(h) => h.iter().map(|h| (h.key, h.value)).collect(),
        None => Vec::new(),
    }
}
