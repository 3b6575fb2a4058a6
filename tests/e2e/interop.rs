//! Other teams validate bodies strictly: everything this platform produces
//! must pass schemas written from the course format (not from our types).

use ticktak_core::{Action, Category, MatchNumber, Price, Quantity, SaleMessage, TicketType};

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    jsonschema::validator_for(&schema).expect("schema compiles")
}

#[test]
fn every_sale_body_we_produce_passes_the_strict_course_schema() {
    let v = validator(include_str!("../schemas/ticket-sale.schema.json"));
    let prices = [75, 125, 195];
    for action in [Action::TicketPending, Action::TicketReserved, Action::TicketCancelled] {
        for m in [1, 33, 64] {
            for c in 1..=3 {
                for q in 1..=2 {
                    let tt = TicketType::new(MatchNumber::new(m).unwrap(), Category::new(c).unwrap());
                    let sale = SaleMessage::single(
                        action,
                        tt,
                        Quantity::new(q).unwrap(),
                        Price::new(prices[c as usize - 1]).unwrap(),
                    );
                    let body: serde_json::Value = serde_json::from_slice(&sale.to_json()).unwrap();
                    let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
                    assert!(errors.is_empty(), "{body}: {errors:?}");
                }
            }
        }
    }
    // The schema is strict: an extra key fails it.
    let extra = serde_json::json!({"meta":{"action":"TICKET_PENDING","by":"a"},"body":{"matchNumber":1,"tickets":{"category":1,"quantity":1,"price":75}}});
    assert!(!v.is_valid(&extra));
}

#[test]
fn every_master_list_message_we_publish_passes_the_strict_course_schema() {
    let v = validator(include_str!("../schemas/masterlist-match.schema.json"));
    for m in ticktak_core::masterlist::fixture() {
        let body: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "match {}: {errors:?}", m.match_number);
    }
}
