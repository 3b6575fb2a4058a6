//! A mixed ticket-sales log for agreement tests: this platform's and other
//! platforms' holds (with our headers), other teams' header-less course
//! messages in both `tickets` forms (some with keys the course format does
//! not have), duplicates and invalid messages — and
//! the reference fold of that log computed here with the core rule.

use std::collections::BTreeMap;

use futures::StreamExt;
use ticktak_core::headers::SaleHeaders;
use ticktak_core::ledger::{LedgerOp, LogPosition};
use ticktak_core::{Action, HoldId, Ledger, MasterListMatch, PlatformId, Price, Quantity, SaleMessage, TicketType};
use ticktak_kit::kafka::{self, Record, Topics};

/// One message to produce: raw body and headers.
#[derive(Debug, Clone)]
pub struct Message {
    pub key: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// What the rule sees (empty when the message is invalid).
    pub ops: Vec<LedgerOp>,
}

/// A message as it landed in the log.
#[derive(Debug, Clone)]
pub struct Produced {
    pub position: LogPosition,
    pub message: Message,
}

/// Deterministic xorshift, so a failing run can be repeated from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn price_of(list: &[MasterListMatch], tt: TicketType) -> Price {
    let m = list.iter().find(|m| m.match_number == tt.match_number).unwrap();
    m.availability.get(tt.category).price
}

/// `n` messages over the ticket types of `list`, holds from `platforms`.
pub fn generate(seed: u64, n: usize, list: &[MasterListMatch], platforms: &[&str]) -> Vec<Message> {
    let mut rng = Rng::new(seed);
    let types: Vec<TicketType> = list.iter().flat_map(|m| m.ticket_types().map(|(t, _, _)| t)).collect();
    let mut holds: Vec<(HoldId, TicketType, Quantity, PlatformId)> = Vec::new();
    let mut out: Vec<Message> = Vec::with_capacity(n);
    while out.len() < n {
        let roll = rng.below(100);
        let msg = if roll < 45 || holds.is_empty() {
            let tt = types[rng.below(types.len() as u64) as usize];
            let q = Quantity::new(1 + rng.below(2) as i64).unwrap();
            let platform = PlatformId::new(platforms[rng.below(platforms.len() as u64) as usize]).unwrap();
            let id = HoldId::new();
            holds.push((id, tt, q, platform.clone()));
            ours(Action::TicketPending, list, tt, q, &platform, id)
        } else if roll < 72 {
            let (id, tt, q, platform) = holds[rng.below(holds.len() as u64) as usize].clone();
            let action = if roll < 60 { Action::TicketReserved } else { Action::TicketCancelled };
            ours(action, list, tt, q, &platform, id)
        } else if roll < 77 && !out.is_empty() {
            out[rng.below(out.len() as u64) as usize].clone()
        } else if roll < 95 {
            let tt = types[rng.below(types.len() as u64) as usize];
            let action =
                [Action::TicketPending, Action::TicketReserved, Action::TicketCancelled][rng.below(3) as usize];
            let q = Quantity::new(1 + rng.below(2) as i64).unwrap();
            let mut m = anonymous(action, list, tt, q, rng.below(3) == 0);
            if rng.below(4) == 0 {
                // A peer's extra key: applied all the same.
                let mut body: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
                body["body"]["channel"] = serde_json::json!("box-office");
                m.body = serde_json::to_vec(&body).unwrap();
            }
            m
        } else {
            let tt = types[rng.below(types.len() as u64) as usize];
            let body = if rng.below(2) == 0 {
                b"{not json".to_vec()
            } else {
                format!(r#"{{"meta":{{"action":"TICKET_PENDING"}},"body":{{"matchNumber":{},"tickets":{{"category":{},"quantity":3,"price":75}}}}}}"#, tt.match_number, tt.category).into_bytes()
            };
            Message { key: tt.match_number.kafka_key(), body, headers: vec![], ops: vec![] }
        };
        out.push(msg);
    }
    out
}

fn ours(
    action: Action,
    list: &[MasterListMatch],
    tt: TicketType,
    q: Quantity,
    platform: &PlatformId,
    id: HoldId,
) -> Message {
    let sale = SaleMessage::single(action, tt, q, price_of(list, tt));
    let body = sale.to_json();
    Message {
        key: sale.kafka_key(),
        headers: crate::signed(&SaleHeaders::for_hold(platform, id), &body).to_pairs(),
        body,
        ops: vec![LedgerOp {
            action,
            ticket_type: tt,
            quantity: q,
            hold: Some(id),
            producer: Some(platform.clone()),
            rehomed_from: None,
            buyer: None,
        }],
    }
}

/// A course message without headers; `array` uses the older form, with two
/// lines of the same ticket type.
pub fn anonymous(action: Action, list: &[MasterListMatch], tt: TicketType, q: Quantity, array: bool) -> Message {
    let price = price_of(list, tt);
    let op =
        LedgerOp { action, ticket_type: tt, quantity: q, hold: None, producer: None, rehomed_from: None, buyer: None };
    let line = serde_json::json!({"category": tt.category.get(), "quantity": q.get(), "price": price.get()});
    let (tickets, ops) = if array { (serde_json::json!([line, line]), vec![op.clone(), op]) } else { (line, vec![op]) };
    let body = serde_json::json!({"meta": {"action": action.as_str()}, "body": {"matchNumber": tt.match_number.get(), "tickets": tickets}});
    Message { key: tt.match_number.kafka_key(), body: serde_json::to_vec(&body).unwrap(), headers: vec![], ops }
}

/// Produce every message (concurrently, in order per partition) and return
/// where each landed.
pub async fn produce_all(topics: &Topics, messages: Vec<Message>) -> Vec<Produced> {
    let producer = crate::producer();
    let producer = &producer;
    futures::stream::iter(messages)
        .map(|message| async move {
            let (partition, offset) = kafka::send(
                producer,
                &Record { topic: &topics.sales, key: &message.key, payload: &message.body, headers: &message.headers },
            )
            .await
            .expect("produced");
            Produced { position: LogPosition { partition, offset }, message }
        })
        .buffered(128)
        .collect()
        .await
}

/// The ledger every platform must reach: the log folded with the core rule
/// in partition order.
pub fn reference_fold(list: &[MasterListMatch], log: &[Produced]) -> Ledger {
    let mut ledger = Ledger::new();
    for m in list {
        for (tt, capacity, _) in m.ticket_types() {
            ledger.set_capacity(tt, capacity);
        }
    }
    let mut sorted: Vec<&Produced> = log.iter().collect();
    sorted.sort_by_key(|p| p.position);
    for p in sorted {
        ledger.apply(p.position, &p.message.ops);
    }
    ledger
}

/// The reference as the shop's `/internal/ledger` `types` list.
pub fn reference_types(ledger: &Ledger) -> Vec<serde_json::Value> {
    ledger
        .types()
        .map(|(tt, c)| {
            serde_json::json!({
                "matchNumber": tt.match_number.get(), "category": tt.category.get(), "capacity": c.capacity,
                "held": c.held, "sold": c.sold, "anonymousHeld": c.anonymous_held, "anonymousCredit": c.anonymous_credit,
                "anomalies": c.anomalies,
            })
        })
        .collect()
}

/// The last offset per partition of a produced log.
pub fn log_end(log: &[Produced]) -> BTreeMap<i32, i64> {
    let mut end = BTreeMap::new();
    for p in log {
        let e = end.entry(p.position.partition).or_insert(-1);
        *e = (*e).max(p.position.offset);
    }
    end
}

/// Whether a `/internal/ledger` snapshot has applied `topic` up to `end`.
pub fn caught_up(snapshot: &serde_json::Value, topic: &str, end: &BTreeMap<i32, i64>) -> bool {
    let applied: BTreeMap<i32, i64> = snapshot["offsets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|o| o["topic"] == topic)
                .map(|o| (o["partition"].as_i64().unwrap() as i32, o["lastOffset"].as_i64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    end.iter().all(|(p, o)| applied.get(p).is_some_and(|a| a >= o))
}

/// Read the sales topic back from offset 0 of every partition until nothing
/// new arrives for two seconds: the log as the broker holds it, to fold
/// into the reference. (Delivery reports are not enough: under a burst the
/// tansu broker's log has been seen to differ from the offsets it reported.)
/// Each record is matched to the generated message with the same key, body
/// and headers to know its ops.
pub async fn read_back(topics: &Topics, generated: &[Message], partitions: i32) -> Vec<Produced> {
    type Content = (String, Vec<u8>, Vec<(String, String)>);
    let by_content: std::collections::HashMap<Content, &Message> = generated
        .iter()
        .map(|m| {
            ((m.key.clone(), m.body.clone(), m.headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()), m)
        })
        .collect();
    let mut next: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let mut out = Vec::new();
    for raw in read_topic(&topics.sales, partitions).await {
        assert_eq!(raw.offset, next[&raw.partition], "the log has no holes");
        next.insert(raw.partition, raw.offset + 1);
        let content = (raw.key.unwrap_or_default(), raw.payload, raw.headers);
        let message = by_content.get(&content).map(|m| (*m).clone()).expect("every record in the log was generated");
        out.push(Produced { position: LogPosition { partition: raw.partition, offset: raw.offset }, message });
    }
    out
}

/// One message as the broker holds it.
#[derive(Debug, Clone)]
pub struct Raw {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
    /// Its timestamp (the producer's clock when it was produced), in ms
    /// since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// Every message of `topic` (its `partitions` partitions) from offset 0 to
/// the end each partition has now (its high watermark), however slow the
/// broker is to serve it; an error after a minute without reaching it.
pub async fn read_topic_to_end(topic: &str, partitions: i32) -> anyhow::Result<Vec<Raw>> {
    let ends = high_watermarks(topic, partitions).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let log = read_topic(topic, partitions).await;
        let complete = (0..partitions).all(|p| {
            let read = log.iter().filter(|m| m.partition == p).map(|m| m.offset + 1).max().unwrap_or(0);
            read >= ends[p as usize]
        });
        if complete {
            return Ok(log);
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "{topic} not read to its end {ends:?} in a minute");
    }
}

/// The end of each of `topic`'s `partitions` partitions now: the offset
/// its next message will get (its high watermark).
pub async fn high_watermarks(topic: &str, partitions: i32) -> anyhow::Result<Vec<i64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let settings = ticktak_kit::kafka::KafkaSettings::plaintext(crate::brokers());
    let owned = topic.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<i64>> {
        let consumer: BaseConsumer = settings.client_config().create()?;
        (0..partitions)
            .map(|p| Ok(consumer.fetch_watermarks(&owned, p, std::time::Duration::from_secs(30))?.1))
            .collect()
    })
    .await?
}

/// Every message of `topic` (its `partitions` partitions) from offset 0,
/// until nothing new arrives for 2 s.
pub async fn read_topic(topic: &str, partitions: i32) -> Vec<Raw> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message as _};
    use rdkafka::{Offset, TopicPartitionList};

    let topic = topic.to_string();
    let settings = ticktak_kit::kafka::KafkaSettings::plaintext(crate::brokers());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = settings
            .client_config()
            .set("group.id", crate::unique("read-topic-"))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", settings.fetch_wait_ms.to_string())
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(&topic, p, Offset::Offset(0)).unwrap();
        }
        consumer.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let mut idle_since = std::time::Instant::now();
        while idle_since.elapsed() < std::time::Duration::from_secs(2) {
            let Some(Ok(m)) = consumer.poll(std::time::Duration::from_millis(100)) else { continue };
            idle_since = std::time::Instant::now();
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Raw {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                headers,
                payload: m.payload().unwrap_or_default().to_vec(),
                timestamp_ms: m.timestamp().to_millis(),
            });
        }
        out
    })
    .await
    .expect("reader")
}
