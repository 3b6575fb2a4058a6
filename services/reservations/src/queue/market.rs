//! This platform's end of the market's queue lengths
//! (`ticktak_core::queue`): each second it publishes, signed, how many
//! buyers wait in each of its rooms, and it follows every platform's
//! reports to take its share of a room's market rate.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rdkafka::producer::FutureProducer;
use ticktak_core::headers::{CLIENT_ID, SIGNATURE};
use ticktak_core::queue::{MarketQueues, QueueLength};
use ticktak_core::PlatformId;
use ticktak_kit::kafka::follow::{self, Message, OwnedMessage};
use ticktak_kit::kafka::trust::Trust;
use ticktak_kit::kafka::{self, Record};
use tokio_util::sync::CancellationToken;

use super::store::RoomState;

/// How long the broker may hold a fetch of the caught-up topic: reports
/// come every second, so a share is at most this much older.
const FETCH_WAIT: Duration = Duration::from_millis(500);

/// The market's queues as this platform sees them.
#[derive(Clone)]
pub struct MarketRooms {
    producer: FutureProducer,
    topic: String,
    trust: Trust,
    platform: PlatformId,
    queues: Arc<Mutex<MarketQueues>>,
    /// Rooms whose last report said someone was waiting (one more report,
    /// with none, follows when the line empties).
    reported: Arc<Mutex<HashSet<String>>>,
}

impl MarketRooms {
    pub fn new(producer: FutureProducer, topic: String, trust: Trust, platform: PlatformId) -> Self {
        Self { producer, topic, trust, platform, queues: Default::default(), reported: Default::default() }
    }

    /// This platform's share of `room`'s market rate now.
    pub fn share(&self, room: &RoomState, rate: f64) -> f64 {
        let queues = self.queues.lock().expect("market queues lock");
        let mine = u32::try_from(room.waiting).unwrap_or(u32::MAX);
        queues.share(&room.room, &self.platform, mine, rate, Utc::now())
    }

    /// The other platforms' fresh reports of `room`: platform, waiting,
    /// admitted (for operators).
    pub fn peers(&self, room: &str) -> Vec<(String, u32, u32)> {
        let queues = self.queues.lock().expect("market queues lock");
        let mut peers: Vec<_> = queues
            .peers(room, &self.platform, Utc::now())
            .iter()
            .map(|l| (l.platform.to_string(), l.waiting, l.admitted))
            .collect();
        peers.sort();
        peers
    }

    /// Publish this platform's queue in each room with buyers waiting (or
    /// that had some at the last report).
    pub async fn publish(&self, rooms: &[RoomState]) {
        let now = Utc::now();
        let due: Vec<&RoomState> = {
            let mut reported = self.reported.lock().expect("reported lock");
            let due = rooms.iter().filter(|r| r.waiting > 0 || reported.contains(&r.room)).collect();
            reported.clear();
            reported.extend(rooms.iter().filter(|r| r.waiting > 0).map(|r| r.room.clone()));
            due
        };
        for r in due {
            let length = QueueLength {
                room: r.room.clone(),
                platform: self.platform.clone(),
                waiting: u32::try_from(r.waiting).unwrap_or(u32::MAX),
                admitted: u32::try_from(r.admitted_through).unwrap_or(u32::MAX),
                at: now,
            };
            let body = length.to_json();
            let Some(signature) = self.trust.sign_bytes(&QueueLength::signed_bytes(&body)) else {
                tracing::warn!("no platform key to sign queue lengths with");
                return;
            };
            let headers = [(CLIENT_ID, self.platform.to_string()), (SIGNATURE, signature)];
            let record = Record { topic: &self.topic, key: &r.room, payload: &body, headers: &headers };
            if let Err(e) = kafka::send(&self.producer, &record).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot publish a queue length");
            }
        }
    }

    /// Why a report is not taken, or the report.
    fn vet(&self, body: &[u8], client_id: Option<&str>, signature: Option<&str>) -> Result<QueueLength, String> {
        let length = QueueLength::decode(body)?;
        if client_id != Some(length.platform.as_str()) {
            return Err(format!("client-id {client_id:?} is not the report's platform {}", length.platform));
        }
        let signature = signature.ok_or("no signature")?;
        if !self.trust.verify_bytes(&length.platform, &QueueLength::signed_bytes(body), signature) {
            return Err(format!("the signature is not {}'s", length.platform));
        }
        Ok(length)
    }

    /// Follow every platform's reports from now until `shutdown`.
    pub async fn follow(self, settings: Arc<ticktak_kit::Settings>, shutdown: CancellationToken) {
        let client_id = format!("ticktak-{}-queue-lengths", self.platform);
        let apply = |message: OwnedMessage| {
            let vetted = self.vet(
                message.payload().unwrap_or_default(),
                follow::header(&message, CLIENT_ID),
                follow::header(&message, SIGNATURE),
            );
            match vetted {
                Ok(length) => {
                    let mut queues = self.queues.lock().expect("market queues lock");
                    queues.note(length);
                    queues.forget_before(Utc::now() - chrono::Duration::minutes(1));
                }
                Err(why) => {
                    metrics::counter!("queue_lengths_invalid_total").increment(1);
                    tracing::debug!(offset = message.offset(), why, "queue length ignored");
                }
            }
            async { anyhow::Ok(()) }
        };
        let topic = self.topic.clone();
        follow::follow_from_now(&settings.kafka, &client_id, &topic, FETCH_WAIT, apply, shutdown).await;
    }
}
