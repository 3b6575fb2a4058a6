//! Kafka message → ledger batch entry (the shop's and analytics'), in the
//! order shop-consumer feeds the shop. A message that fails validation becomes
//! an entry without content (so its offset still moves), and the reason is
//! returned for logging, metrics and the `invalid_messages` table.
//!
//! A ticket line found off its ticket type's home partition (a peer sent it
//! without our key, or mixed categories in one message) is not applied
//! here: it becomes a [`Rehome`], published to its home with its origin,
//! where every platform applies its first copy.

use rdkafka::message::Message;
use ticktak_contracts::ledger::{MasterListEntry, SalesEntry, SalesLine};
use ticktak_core::headers::SaleHeaders;
use ticktak_core::ledger::LineOrigin;
use ticktak_core::partition::home_partition;
use ticktak_core::{MasterListMatch, SaleMessage, TicketType};

pub fn masterlist<M: Message>(msg: &M) -> (MasterListEntry, Option<String>) {
    let (content, reason) = match msg.payload().map(MasterListMatch::from_json) {
        None => (None, Some("empty payload".to_string())),
        Some(Ok(m)) => (Some(m), None),
        Some(Err(e)) => (None, Some(format!("invalid master-list message: {e}"))),
    };
    (MasterListEntry { partition: msg.partition(), offset: msg.offset(), content }, reason)
}

/// A ticket line to publish to its home partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rehome {
    pub partition: i32,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// A sales message decoded for the shop.
#[derive(Debug)]
pub struct DecodedSale {
    /// Its lines that belong on this partition (all others are in `rehome`).
    pub entry: SalesEntry,
    /// Why it cannot be applied, if so (its offset still moves).
    pub invalid: Option<String>,
    pub rehome: Vec<Rehome>,
}

/// Decode a sales message on a topic of `partitions` partitions.
pub fn sales<M: Message>(msg: &M, partitions: i32) -> DecodedSale {
    let mut entry = SalesEntry {
        partition: msg.partition(),
        offset: msg.offset(),
        lines: Vec::new(),
        hold_id: None,
        origin: None,
        produced_at: None,
        rehomed_from: None,
    };
    let (sale, headers) = match decode_sale(msg) {
        Ok(parsed) => parsed,
        Err(reason) => return DecodedSale { entry, invalid: Some(reason), rehome: Vec::new() },
    };
    let mut rehome = Vec::new();
    for (i, l) in sale.lines.iter().enumerate() {
        let tt = TicketType::new(sale.match_number, l.category);
        let home = home_partition(tt, partitions);
        if home == msg.partition() {
            entry.lines.push(SalesLine {
                action: sale.action,
                match_number: sale.match_number.get(),
                category: l.category.get(),
                quantity: l.quantity.get(),
                price: l.price.get(),
            });
        } else if headers.rehomed_from.is_some() {
            // A copy must already be at home: never re-home a copy again.
            let reason = format!("re-homed line on partition {} instead of {home}", msg.partition());
            return DecodedSale { entry, invalid: Some(reason), rehome: Vec::new() };
        } else {
            let origin = LineOrigin { partition: msg.partition(), offset: msg.offset(), line: i as u16 };
            let copy = SaleMessage::single(sale.action, tt, l.quantity, l.price);
            rehome.push(Rehome {
                partition: home,
                key: tt.kafka_key(),
                payload: copy.to_json(),
                headers: SaleHeaders { rehomed_from: Some(origin), ..headers.clone() }.to_pairs(),
            });
        }
    }
    entry.hold_id = headers.hold_id;
    entry.origin = headers.client_id.map(String::from);
    entry.produced_at = headers.produced_at;
    entry.rehomed_from = headers.rehomed_from;
    DecodedSale { entry, invalid: None, rehome }
}

fn decode_sale<M: Message>(msg: &M) -> Result<(SaleMessage, SaleHeaders), String> {
    let payload = msg.payload().ok_or("empty payload")?;
    let (sale, unknown) = SaleMessage::parse(payload)?;
    if !unknown.is_empty() {
        // Accepted (a peer's extra field must not hide its sale), but counted.
        tracing::debug!(partition = msg.partition(), offset = msg.offset(), keys = ?unknown, "sale with unknown keys");
        metrics::counter!("consumer_messages_with_unknown_keys_total").increment(1);
    }
    let headers = SaleHeaders::from_pairs(crate::kafka::header_pairs(msg)).map_err(|e| e.0)?;
    if headers.hold_id.is_some() && sale.lines.len() != 1 {
        return Err("a message with a hold-id must carry exactly one ticket line".into());
    }
    Ok((sale, headers))
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
    use ticktak_core::{Category, MatchNumber};

    use super::*;

    const PARTITIONS: i32 = 3;

    fn home(m: i64, c: i64) -> i32 {
        home_partition(TicketType::new(MatchNumber::new(m).unwrap(), Category::new(c).unwrap()), PARTITIONS)
    }

    fn message(payload: &[u8], headers: &[(&str, &str)], partition: i32) -> OwnedMessage {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        OwnedMessage::new(
            Some(payload.to_vec()),
            Some(b"1-1".to_vec()),
            "t".into(),
            Timestamp::NotAvailable,
            partition,
            41,
            Some(h),
        )
    }

    #[test]
    fn headerless_course_messages_decode_as_anonymous() {
        let m = message(br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":2,"price":75}]}}"#, &[], home(1, 1));
        let d = sales(&m, PARTITIONS);
        assert!(d.invalid.is_none() && d.rehome.is_empty());
        assert_eq!((d.entry.partition, d.entry.offset, d.entry.lines.len()), (home(1, 1), 41, 1));
        assert!(d.entry.hold_id.is_none());
    }

    #[test]
    fn invalid_messages_keep_their_position_and_say_why() {
        let d = sales(&message(b"{}", &[], 0), PARTITIONS);
        assert!(d.entry.lines.is_empty());
        assert_eq!(d.entry.offset, 41);
        assert!(d.invalid.unwrap().contains("invalid sale message"));

        let two = br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":2,"price":75},{"category":2,"quantity":1,"price":125}]}}"#;
        let m = message(two, &[("hold-id", "0190a0b0-0000-7000-8000-000000000000")], 0);
        assert!(sales(&m, PARTITIONS).invalid.unwrap().contains("exactly one"));
    }

    #[test]
    fn lines_off_their_home_partition_are_rehomed_with_their_origin() {
        // Match 1: categories 1..=3 on their homes; one message with all three,
        // on category 1's home.
        let body = br#"{"meta":{"action":"TICKET_CANCELLED"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":1,"price":75},{"category":2,"quantity":2,"price":125},{"category":3,"quantity":1,"price":40}]}}"#;
        let here = home(1, 1);
        let d = sales(&message(body, &[("client-id", "peer")], here), PARTITIONS);
        assert!(d.invalid.is_none());
        let away: Vec<i64> = (1..=3).filter(|c| home(1, *c) != here).collect();
        assert_eq!(d.entry.lines.len(), 3 - away.len());
        assert_eq!(d.rehome.len(), away.len());
        for r in &d.rehome {
            let headers = SaleHeaders::from_pairs(r.headers.iter().map(|(k, v)| (*k, Some(v.as_bytes())))).unwrap();
            let origin = headers.rehomed_from.unwrap();
            assert_eq!((origin.partition, origin.offset), (here, 41));
            let category = i64::from(origin.line) + 1;
            assert_eq!(r.partition, home(1, category));
            assert_eq!(r.key, format!("1-{category}"));
            assert_eq!(headers.client_id.unwrap().as_str(), "peer");
            let (copy, _) = SaleMessage::parse(&r.payload).unwrap();
            assert_eq!((copy.lines.len(), copy.lines[0].category.get() as i64), (1, category));
        }
        // A copy found off its home is refused, never re-homed again.
        if let Some(r) = d.rehome.first() {
            let pairs: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let stray = sales(&message(&r.payload, &pairs, (r.partition + 1) % PARTITIONS), PARTITIONS);
            assert!(stray.invalid.unwrap().contains("re-homed"));
        }
    }
}
