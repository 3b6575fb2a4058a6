//! The ticket-sales topic: course-format bodies
//! `{"meta":{"action":…},"body":{"matchNumber":…,"tickets":{…}}}`.
//!
//! On input the older form where `tickets` is an array is accepted too, and
//! keys the course format does not have are ignored (and reported, so they
//! can be counted): a peer that adds a field must not vanish from the
//! market. On output we always write the single-object form with exactly
//! the course's keys.

use serde::{Deserialize, Serialize};

use crate::ids::{Category, MatchNumber, Price, Quantity, TicketType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    TicketPending,
    TicketReserved,
    TicketCancelled,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TicketPending => "TICKET_PENDING",
            Action::TicketReserved => "TICKET_RESERVED",
            Action::TicketCancelled => "TICKET_CANCELLED",
        }
    }
}

/// One line of tickets of a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLine {
    pub category: Category,
    pub quantity: Quantity,
    pub price: Price,
}

/// Most ticket lines one message (the older array form) may carry: a
/// message with more is invalid. A buyer's order is a few lines; a bound
/// keeps one message from costing a consumer unbounded memory, re-homed
/// copies and batch size.
pub const MAX_LINES: usize = 32;

/// A parsed sales message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleMessage {
    pub action: Action,
    pub match_number: MatchNumber,
    /// At least one line; messages we produce carry exactly one.
    pub lines: Vec<TicketLine>,
}

#[derive(Serialize, Deserialize)]
struct Wire<T> {
    meta: Meta,
    body: Body<T>,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    action: Action,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body<T> {
    match_number: MatchNumber,
    tickets: T,
}

impl SaleMessage {
    /// A one-line sale, the only form this platform produces.
    pub fn single(action: Action, ticket_type: TicketType, quantity: Quantity, price: Price) -> Self {
        Self {
            action,
            match_number: ticket_type.match_number,
            lines: vec![TicketLine { category: ticket_type.category, quantity, price }],
        }
    }

    /// Parse a message body; the error names what is wrong with it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        Self::parse(bytes).map(|(sale, _)| sale)
    }

    /// Parse a message body and name the keys (as paths such as
    /// `body.tickets.seat`) that the course format does not have.
    pub fn parse(bytes: &[u8]) -> Result<(Self, Vec<String>), String> {
        if bytes.len() > crate::text::MAX_MESSAGE_BYTES {
            return Err(format!(
                "invalid sale message: the body has {} bytes, more than {}",
                bytes.len(),
                crate::text::MAX_MESSAGE_BYTES
            ));
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid sale message: {e}"))?;
        let unknown = unknown_keys(&value);
        let wire: Wire<serde_json::Value> =
            serde_json::from_value(value).map_err(|e| format!("invalid sale message: {e}"))?;
        let lines = match wire.body.tickets {
            serde_json::Value::Array(items) if items.len() > MAX_LINES => {
                return Err(format!("invalid tickets: {} lines, more than {MAX_LINES}", items.len()));
            }
            serde_json::Value::Array(items) => {
                items.into_iter().map(serde_json::from_value).collect::<Result<Vec<TicketLine>, _>>()
            }
            other => serde_json::from_value(other).map(|line| vec![line]),
        }
        .map_err(|e| format!("invalid tickets: {e}"))?;
        if lines.is_empty() {
            return Err("invalid tickets: the array is empty".into());
        }
        Ok((Self { action: wire.meta.action, match_number: wire.body.match_number, lines }, unknown))
    }

    /// The course-format body: the object form for one line, the array form
    /// otherwise.
    pub fn to_json(&self) -> Vec<u8> {
        let meta = Meta { action: self.action };
        let result = if let [line] = self.lines.as_slice() {
            serde_json::to_vec(&Wire { meta, body: Body { match_number: self.match_number, tickets: line } })
        } else {
            serde_json::to_vec(&Wire { meta, body: Body { match_number: self.match_number, tickets: &self.lines } })
        };
        result.expect("a sale message always serialises")
    }

    /// The Kafka key: its match (`MatchNumber::kafka_key`).
    pub fn kafka_key(&self) -> String {
        self.match_number.kafka_key()
    }
}

/// Keys of a sale body outside the course format, as dotted paths.
fn unknown_keys(value: &serde_json::Value) -> Vec<String> {
    fn extra(out: &mut Vec<String>, at: &str, value: &serde_json::Value, known: &[&str]) {
        if let Some(object) = value.as_object() {
            out.extend(object.keys().filter(|k| !known.contains(&k.as_str())).map(|k| format!("{at}{k}")));
        }
    }
    let mut out = Vec::new();
    extra(&mut out, "", value, &["meta", "body"]);
    extra(&mut out, "meta.", &value["meta"], &["action"]);
    extra(&mut out, "body.", &value["body"], &["matchNumber", "tickets"]);
    let line = ["category", "quantity", "price"];
    match &value["body"]["tickets"] {
        serde_json::Value::Array(lines) => lines.iter().for_each(|l| extra(&mut out, "body.tickets.", l, &line)),
        single => extra(&mut out, "body.tickets.", single, &line),
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_exactly_the_course_body() {
        let t = TicketType::new(MatchNumber::new(1).unwrap(), Category::new(1).unwrap());
        let m = SaleMessage::single(Action::TicketPending, t, Quantity::new(2).unwrap(), Price::new(75).unwrap());
        assert_eq!(
            String::from_utf8(m.to_json()).unwrap(),
            r#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":2,"price":75}}}"#
        );
        assert_eq!(m.kafka_key(), "1");
    }

    #[test]
    fn accepts_the_older_array_form() {
        let body = br#"{"meta":{"action":"TICKET_RESERVED"},"body":{"matchNumber":7,"tickets":[{"category":2,"quantity":1,"price":125},{"category":3,"quantity":2,"price":195}]}}"#;
        let m = SaleMessage::from_json(body).unwrap();
        assert_eq!(m.action, Action::TicketReserved);
        assert_eq!(m.lines.len(), 2);
        assert_eq!(SaleMessage::from_json(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn refuses_what_the_course_schema_refuses() {
        for bad in [
            &br#"{"meta":{"action":"TICKET_SOLD"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":1,"price":75}}}"#[..],
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":3,"price":75}}}"#,
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":4,"quantity":1,"price":75}}}"#,
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":0,"tickets":{"category":1,"quantity":1,"price":75}}}"#,
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[]}}"#,
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":"1","tickets":{"category":1,"quantity":1,"price":75}}}"#,
            br#"not json"#,
        ] {
            assert!(SaleMessage::from_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn refuses_more_lines_or_bytes_than_a_consumer_takes() {
        let line = r#"{"category":1,"quantity":1,"price":75}"#;
        let body = |n: usize| {
            let lines = vec![line; n].join(",");
            format!(r#"{{"meta":{{"action":"TICKET_PENDING"}},"body":{{"matchNumber":1,"tickets":[{lines}]}}}}"#)
        };
        assert_eq!(SaleMessage::from_json(body(MAX_LINES).as_bytes()).unwrap().lines.len(), MAX_LINES);
        assert!(SaleMessage::from_json(body(MAX_LINES + 1).as_bytes()).unwrap_err().contains("lines"));
        assert!(SaleMessage::from_json(body(100_000).as_bytes()).unwrap_err().contains("bytes"));
    }

    #[test]
    fn accepts_unknown_keys_on_input_and_names_them() {
        let body = br#"{"meta":{"action":"TICKET_PENDING","source":"web"},"body":{"matchNumber":1,"tickets":[{"category":1,"quantity":1,"price":75,"seat":"A1"}],"note":"x"},"v":2}"#;
        let (m, unknown) = SaleMessage::parse(body).unwrap();
        assert_eq!(m.lines[0].quantity.get(), 1);
        assert_eq!(unknown, ["body.note", "body.tickets.seat", "meta.source", "v"]);
        assert_eq!(
            String::from_utf8(m.to_json()).unwrap(),
            r#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":1,"price":75}}}"#,
            "output stays exactly the course format"
        );
        let exact = br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":1,"price":75}}}"#;
        assert!(SaleMessage::parse(exact).unwrap().1.is_empty());
    }
}
