//! Kafka message → ledger batch entry (the shop's and analytics'), in the
//! order shop-consumer feeds the shop. A message that fails validation becomes
//! an entry without content (so its offset still moves), and the reason is
//! returned for logging, metrics and the `invalid_messages` table.
//!
//! A ticket line found off its match's home partition (a peer sent it
//! without our key, or with the course's `"{match}-{category}"`) is not
//! applied here: it becomes a [`Rehome`], published to its home with its
//! origin, where every platform applies its first copy.

use rdkafka::message::Message;
use ticktak_contracts::ledger::{MasterListEntry, SalesEntry, SalesLine};
use ticktak_core::headers::SaleHeaders;
use ticktak_core::ledger::LineOrigin;
use ticktak_core::partition::home_partition;
use ticktak_core::{MasterListMatch, SaleMessage, TicketType};

use crate::kafka::trust::Trust;

/// Decode a master-list message. Where the market has an organisers' key
/// (`Trust::has_organisers_key`), a message it did not sign is invalid.
pub fn masterlist<M: Message>(msg: &M, trust: &Trust) -> (MasterListEntry, Option<String>) {
    let mut entry =
        MasterListEntry { partition: msg.partition(), offset: msg.offset(), content: None, issued_at: None };
    let Some(payload) = msg.payload() else { return (entry, Some("empty payload".to_string())) };
    let parsed = match MasterListMatch::from_json(payload) {
        Ok(m) => m,
        Err(e) => return (entry, Some(format!("invalid master-list message: {e}"))),
    };
    let headers = crate::kafka::header_pairs(msg);
    let header = |name: &str| {
        headers.iter().find(|(n, _)| *n == name).and_then(|(_, value)| std::str::from_utf8((*value)?).ok())
    };
    entry.issued_at = trust.issued_by_organisers(
        payload,
        header(crate::kafka::trust::ISSUED_AT),
        header(ticktak_core::headers::SIGNATURE),
    );
    if trust.has_organisers_key() && entry.issued_at.is_none() {
        return (entry, Some("master-list message not signed by the organisers' key".to_string()));
    }
    entry.content = Some(parsed);
    (entry, None)
}

/// A ticket line to publish to its home partition: its headers are the
/// original's (as vetted: anonymous when its signature did not verify) with
/// `rehomed-from`; the re-homer adds `rehomed-by` and signs the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rehome {
    pub partition: i32,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: SaleHeaders,
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

/// Decode a sales message on a topic of `partitions` partitions. Its
/// headers count only as far as `trust` vouches for them.
pub fn sales<M: Message>(msg: &M, partitions: i32, trust: &Trust) -> DecodedSale {
    let mut entry = SalesEntry {
        partition: msg.partition(),
        offset: msg.offset(),
        lines: Vec::new(),
        hold_id: None,
        origin: None,
        produced_at: None,
        rehomed_from: None,
        buyer: None,
    };
    let (sale, headers) = match decode_sale(msg, trust) {
        Ok(parsed) => parsed,
        Err(reason) => return DecodedSale { entry, invalid: Some(reason), rehome: Vec::new() },
    };
    let mut rehome = Vec::new();
    let home = home_partition(sale.match_number, partitions);
    for (i, l) in sale.lines.iter().enumerate() {
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
            entry.lines.clear();
            return DecodedSale { entry, invalid: Some(reason), rehome: Vec::new() };
        } else {
            let origin = LineOrigin { partition: msg.partition(), offset: msg.offset(), line: i as u16 };
            let tt = TicketType::new(sale.match_number, l.category);
            let copy = SaleMessage::single(sale.action, tt, l.quantity, l.price);
            rehome.push(Rehome {
                partition: home,
                key: sale.match_number.kafka_key(),
                payload: copy.to_json(),
                // A copy is an anonymous line of its origin
                // (`Trust::vetted`): the re-homer signs it as `rehomed-by`.
                headers: SaleHeaders { rehomed_from: Some(origin), ..headers.anonymous() },
            });
        }
    }
    entry.hold_id = headers.hold_id;
    entry.origin = headers.client_id.map(String::from);
    entry.produced_at = headers.produced_at;
    entry.rehomed_from = headers.rehomed_from;
    // Only a signed hold's buyer counts (`Trust::vetted` dropped any other).
    entry.buyer = headers.buyer.filter(|_| headers.hold_id.is_some());
    DecodedSale { entry, invalid: None, rehome }
}

fn decode_sale<M: Message>(msg: &M, trust: &Trust) -> Result<(SaleMessage, SaleHeaders), String> {
    let payload = msg.payload().ok_or("empty payload")?;
    let (sale, unknown) = SaleMessage::parse(payload)?;
    if !unknown.is_empty() {
        // Accepted (a peer's extra field must not hide its sale), but counted.
        tracing::debug!(partition = msg.partition(), offset = msg.offset(), keys = ?unknown, "sale with unknown keys");
        metrics::counter!("consumer_messages_with_unknown_keys_total").increment(1);
    }
    let headers = SaleHeaders::from_pairs(crate::kafka::header_pairs(msg)).map_err(|e| e.0)?;
    let headers = trust.vetted(headers, payload);
    if headers.rehomed_from.is_some() && headers.rehomed_by.is_none() {
        return Err("a re-homed copy whose signature does not verify (its line counts through a verified copy)".into());
    }
    if headers.hold_id.is_some() && sale.lines.len() != 1 {
        return Err("a message with a hold-id must carry exactly one ticket line".into());
    }
    Ok((sale, headers))
}

#[cfg(test)]
mod tests {
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
    use ticktak_core::MatchNumber;

    use super::*;

    const PARTITIONS: i32 = 3;

    fn home(m: i64) -> i32 {
        home_partition(MatchNumber::new(m).unwrap(), PARTITIONS)
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

    fn trust() -> Trust {
        Trust::development(&ticktak_core::PlatformId::new("a").unwrap())
    }

    /// `headers` signed by their signer's development key, as header pairs.
    fn signed(mut headers: SaleHeaders, body: &[u8]) -> Vec<(&'static str, String)> {
        Trust::development(headers.signer().unwrap()).sign(&mut headers, body);
        headers.to_pairs()
    }

    fn pairs<'a>(p: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        p.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn peer() -> ticktak_core::PlatformId {
        ticktak_core::PlatformId::new("peer").unwrap()
    }

    #[test]
    fn headerless_course_messages_decode_as_anonymous() {
        let m = message(br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":2,"price":75}]}}"#, &[], home(1));
        let d = sales(&m, PARTITIONS, &trust());
        assert!(d.invalid.is_none() && d.rehome.is_empty());
        assert_eq!((d.entry.partition, d.entry.offset, d.entry.lines.len()), (home(1), 41, 1));
        assert!(d.entry.hold_id.is_none());
    }

    #[test]
    fn a_claim_whose_signature_does_not_verify_is_applied_as_anonymous() {
        let body = br#"{"meta":{"action":"TICKET_CANCELLED"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":2,"price":75}}}"#;
        let hold = ticktak_core::HoldId::new();
        let honest = signed(SaleHeaders::for_hold(&peer(), hold), body);
        let d = sales(&message(body, &pairs(&honest), home(1)), PARTITIONS, &trust());
        assert_eq!((d.entry.hold_id, d.entry.origin.as_deref()), (Some(hold), Some("peer")));
        // The same claim unsigned, or signed by someone else than the
        // producer it names, or with its body changed.
        let unsigned = SaleHeaders::for_hold(&peer(), hold).to_pairs();
        let mut spoofed = SaleHeaders::for_hold(&peer(), hold);
        Trust::development(&ticktak_core::PlatformId::new("mallory").unwrap()).sign(&mut spoofed, body);
        let changed = br#"{"meta":{"action":"TICKET_RESERVED"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":2,"price":75}}}"#;
        for (body, headers) in [(&body[..], unsigned), (&body[..], spoofed.to_pairs()), (&changed[..], honest)] {
            let d = sales(&message(body, &pairs(&headers), home(1)), PARTITIONS, &trust());
            assert!(d.invalid.is_none());
            assert_eq!((d.entry.hold_id, d.entry.origin.as_deref(), d.entry.lines.len()), (None, None, 1));
        }
    }

    #[test]
    fn a_copy_whose_signature_does_not_verify_is_skipped_not_counted_again() {
        let body = br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":2,"price":75}}}"#;
        let origin = ticktak_core::ledger::LineOrigin { partition: 0, offset: 7, line: 1 };
        let copy = SaleHeaders { rehomed_from: Some(origin), rehomed_by: Some(peer()), ..Default::default() };
        let verified = sales(&message(body, &pairs(&signed(copy.clone(), body)), home(1)), PARTITIONS, &trust());
        assert_eq!((verified.entry.rehomed_from, verified.entry.lines.len()), (Some(origin), 1));
        let forged = sales(&message(body, &pairs(&copy.to_pairs()), home(1)), PARTITIONS, &trust());
        assert!(forged.invalid.unwrap().contains("re-homed copy"));
        assert!(forged.entry.lines.is_empty() && forged.entry.rehomed_from.is_none());
    }

    #[test]
    fn invalid_messages_keep_their_position_and_say_why() {
        let d = sales(&message(b"{}", &[], 0), PARTITIONS, &trust());
        assert!(d.entry.lines.is_empty());
        assert_eq!(d.entry.offset, 41);
        assert!(d.invalid.unwrap().contains("invalid sale message"));

        let two = br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":2,"price":75},{"category":2,"quantity":1,"price":125}]}}"#;
        let headers = signed(SaleHeaders::for_hold(&peer(), ticktak_core::HoldId::new()), two);
        let m = message(two, &pairs(&headers), 0);
        assert!(sales(&m, PARTITIONS, &trust()).invalid.unwrap().contains("exactly one"));
    }

    #[test]
    fn lines_off_their_home_partition_are_rehomed_with_their_origin() {
        // Match 1's three categories in one message: at the match's home all
        // three lines are applied there; anywhere else each line is re-homed.
        let body = br#"{"meta":{"action":"TICKET_CANCELLED"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":1,"price":75},{"category":2,"quantity":2,"price":125},{"category":3,"quantity":1,"price":40}]}}"#;
        let headers = signed(SaleHeaders { client_id: Some(peer()), ..Default::default() }, body);
        let at_home = sales(&message(body, &pairs(&headers), home(1)), PARTITIONS, &trust());
        assert!(at_home.invalid.is_none());
        assert_eq!((at_home.entry.lines.len(), at_home.rehome.len()), (3, 0));

        let away = (home(1) + 1) % PARTITIONS;
        let d = sales(&message(body, &pairs(&headers), away), PARTITIONS, &trust());
        assert!(d.invalid.is_none());
        assert!(d.entry.lines.is_empty());
        assert_eq!(d.rehome.len(), 3);
        for r in &d.rehome {
            let origin = r.headers.rehomed_from.unwrap();
            assert_eq!((origin.partition, origin.offset), (away, 41));
            let category = i64::from(origin.line) + 1;
            assert_eq!((r.partition, r.key.as_str()), (home(1), "1"));
            assert!(r.headers.client_id.is_none() && r.headers.hold_id.is_none(), "a copy is an anonymous line");
            let (copy, _) = SaleMessage::parse(&r.payload).unwrap();
            assert_eq!((copy.lines.len(), copy.lines[0].category.get() as i64), (1, category));
        }
        // A copy found off its home is refused, never re-homed again.
        let r = &d.rehome[0];
        let by = SaleHeaders { rehomed_by: Some(ticktak_core::PlatformId::new("a").unwrap()), ..r.headers.clone() };
        let copy = signed(by, &r.payload);
        let stray = sales(&message(&r.payload, &pairs(&copy), (r.partition + 1) % PARTITIONS), PARTITIONS, &trust());
        assert!(stray.invalid.unwrap().contains("re-homed"));
    }
}
