//! Kafka message → shop batch entry. A message that fails validation becomes
//! an entry without content (so its offset still moves), and the reason is
//! returned for logging, metrics and the `invalid_messages` table.

use rdkafka::message::Message;
use ticktak_contracts::ledger::{MasterListEntry, SalesEntry, SalesLine};
use ticktak_core::headers::SaleHeaders;
use ticktak_core::{MasterListMatch, SaleMessage};

pub fn masterlist<M: Message>(msg: &M) -> (MasterListEntry, Option<String>) {
    let (content, reason) = match msg.payload().map(MasterListMatch::from_json) {
        None => (None, Some("empty payload".to_string())),
        Some(Ok(m)) => (Some(m), None),
        Some(Err(e)) => (None, Some(format!("invalid master-list message: {e}"))),
    };
    (MasterListEntry { partition: msg.partition(), offset: msg.offset(), content }, reason)
}

pub fn sales<M: Message>(msg: &M) -> (SalesEntry, Option<String>) {
    let mut entry = SalesEntry {
        partition: msg.partition(),
        offset: msg.offset(),
        lines: Vec::new(),
        hold_id: None,
        origin: None,
        produced_at: None,
    };
    let parsed = decode_sale(msg);
    match parsed {
        Ok((sale, headers)) => {
            entry.lines = sale
                .lines
                .iter()
                .map(|l| SalesLine {
                    action: sale.action,
                    match_number: sale.match_number.get(),
                    category: l.category.get(),
                    quantity: l.quantity.get(),
                    price: l.price.get(),
                })
                .collect();
            entry.hold_id = headers.hold_id;
            entry.origin = headers.client_id.map(String::from);
            entry.produced_at = headers.produced_at;
            (entry, None)
        }
        Err(reason) => (entry, Some(reason)),
    }
}

fn decode_sale<M: Message>(msg: &M) -> Result<(SaleMessage, SaleHeaders), String> {
    let payload = msg.payload().ok_or("empty payload")?;
    let (sale, unknown) = SaleMessage::parse(payload)?;
    if !unknown.is_empty() {
        // Accepted (a peer's extra field must not hide its sale), but counted.
        tracing::debug!(partition = msg.partition(), offset = msg.offset(), keys = ?unknown, "sale with unknown keys");
        metrics::counter!("consumer_messages_with_unknown_keys_total").increment(1);
    }
    let headers = SaleHeaders::from_pairs(ticktak_kit::kafka::header_pairs(msg)).map_err(|e| e.0)?;
    if headers.hold_id.is_some() && sale.lines.len() != 1 {
        return Err("a message with a hold-id must carry exactly one ticket line".into());
    }
    Ok((sale, headers))
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    use super::*;

    fn message(payload: &[u8], headers: &[(&str, &str)]) -> OwnedMessage {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        OwnedMessage::new(
            Some(payload.to_vec()),
            Some(b"1-1".to_vec()),
            "t".into(),
            Timestamp::NotAvailable,
            2,
            41,
            Some(h),
        )
    }

    #[test]
    fn headerless_course_messages_decode_as_anonymous() {
        let m = message(br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":2,"price":75}]}}"#, &[]);
        let (entry, reason) = sales(&m);
        assert!(reason.is_none());
        assert_eq!((entry.partition, entry.offset, entry.lines.len()), (2, 41, 1));
        assert!(entry.hold_id.is_none());
    }

    #[test]
    fn invalid_messages_keep_their_position_and_say_why() {
        let m = message(b"{}", &[]);
        let (entry, reason) = sales(&m);
        assert!(entry.lines.is_empty());
        assert_eq!(entry.offset, 41);
        assert!(reason.unwrap().contains("invalid sale message"));

        let two = br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":2,"price":75},{"category":2,"quantity":1,"price":125}]}}"#;
        let m = message(two, &[("hold-id", "0190a0b0-0000-7000-8000-000000000000")]);
        assert!(sales(&m).1.unwrap().contains("exactly one"));
    }
}
