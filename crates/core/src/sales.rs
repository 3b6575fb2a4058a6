//! The ticket-sales topic: course-format bodies
//! `{"meta":{"action":…},"body":{"matchNumber":…,"tickets":{…}}}`.
//!
//! On input the older form where `tickets` is an array is accepted too; on
//! output we always write the single-object form with exactly the course's
//! keys.

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
#[serde(deny_unknown_fields)]
pub struct TicketLine {
    pub category: Category,
    pub quantity: Quantity,
    pub price: Price,
}

/// A parsed sales message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleMessage {
    pub action: Action,
    pub match_number: MatchNumber,
    /// At least one line; messages we produce carry exactly one.
    pub lines: Vec<TicketLine>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<T> {
    meta: Meta,
    body: Body<T>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    action: Action,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
        let wire: Wire<serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid sale message: {e}"))?;
        let lines = match wire.body.tickets {
            serde_json::Value::Array(items) => {
                items.into_iter().map(serde_json::from_value).collect::<Result<Vec<TicketLine>, _>>()
            }
            other => serde_json::from_value(other).map(|line| vec![line]),
        }
        .map_err(|e| format!("invalid tickets: {e}"))?;
        if lines.is_empty() {
            return Err("invalid tickets: the array is empty".into());
        }
        Ok(Self { action: wire.meta.action, match_number: wire.body.match_number, lines })
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

    /// The Kafka key: the ticket type of the first line.
    pub fn kafka_key(&self) -> String {
        TicketType::new(self.match_number, self.lines[0].category).kafka_key()
    }
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
        assert_eq!(m.kafka_key(), "1-1");
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
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":1,"price":75,"x":1}}}"#,
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":1,"tickets":[]}}"#,
            br#"{"meta":{"action":"TICKET_PENDING"},"body":{"matchNumber":"1","tickets":{"category":1,"quantity":1,"price":75}}}"#,
            br#"not json"#,
        ] {
            assert!(SaleMessage::from_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
