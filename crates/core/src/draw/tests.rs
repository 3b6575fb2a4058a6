use chrono::TimeZone;

use super::*;

const SEED: &str = "6b1f0a3c9d2e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, h, 0, 0).unwrap()
}

fn tt(m: i64, c: i64) -> TicketType {
    TicketType::new(MatchNumber::new(m).unwrap(), Category::new(c).unwrap())
}

fn terms(stock: u32) -> DrawTerms {
    DrawTerms {
        draw: "final@1764842400".into(),
        opens_at: at(8),
        closes_at: at(10),
        draws_at: at(11),
        payment_window_minutes: 60,
        max_quantity: 2,
        stock: vec![
            Stock { match_number: MatchNumber::new(64).unwrap(), category: Category::new(1).unwrap(), tickets: stock },
            Stock { match_number: MatchNumber::new(64).unwrap(), category: Category::new(2).unwrap(), tickets: stock },
        ],
        commitment: commitment_of(SEED),
    }
}

fn buyer(n: u8) -> BuyerId {
    BuyerId::from_bytes([n; 16])
}

fn application(platform: &str, n: u8, version: u32, quantity: u8) -> Application {
    Application {
        draw: "final@1764842400".into(),
        platform: PlatformId::new(platform).unwrap(),
        application: Uuid::from_bytes([n; 16]),
        version,
        buyer: buyer(n),
        match_number: MatchNumber::new(64).unwrap(),
        category: Category::new(1).unwrap(),
        quantity,
        at: at(9),
    }
}

fn entry(platform: &str, n: u8, quantity: u8) -> Entry {
    Entry {
        platform: PlatformId::new(platform).unwrap(),
        application: Uuid::from_bytes([n; 16]),
        buyer: buyer(n),
        ticket_type: tt(64, 1),
        quantity,
    }
}

#[test]
fn messages_round_trip_and_odd_ones_are_refused() {
    for m in [
        DrawMessage::Terms(terms(10)),
        DrawMessage::Application(application("a", 1, 1, 2)),
        DrawMessage::Seed(SeedReveal { draw: "final@1764842400".into(), seed: SEED.into() }),
    ] {
        assert_eq!(DrawMessage::decode(&m.to_json()), Ok(m.clone()));
    }
    let text = String::from_utf8(DrawMessage::Terms(terms(10)).to_json()).unwrap();
    assert!(text.starts_with("{\"kind\":\"terms\""), "{text}");
    let app = String::from_utf8(DrawMessage::Application(application("a", 1, 1, 2)).to_json()).unwrap();
    for bad in [
        text.replace("\"kind\":\"terms\"", "\"kind\":\"prize\""),
        text.replace("\"maxQuantity\":2", "\"maxQuantity\":3"),
        text.replace("\"paymentWindowMinutes\":60", "\"paymentWindowMinutes\":0"),
        text.replace("\"tickets\":10", "\"tickets\":0"),
        text.replace(&commitment_of(SEED), "00"),
        text.replace("2026-12-04T10", "2026-12-04T07"),
        text.replace("\"category\":2", "\"category\":1"),
        text.replace("final@1764842400", "final 1764842400"),
        text.replace("\"draw\":", "\"extra\":1,\"draw\":"),
        app.replace("\"quantity\":2", "\"quantity\":3"),
        app.replace("\"version\":1", "\"version\":0"),
        app.replace("\"matchNumber\":64", "\"matchNumber\":65"),
        format!("{{\"kind\":\"seed\",\"draw\":\"x\",\"seed\":\"{}\"}}", SEED.to_uppercase()),
        "[]".into(),
        format!("{{\"kind\":\"seed\",\"draw\":\"{}\"}}", "x".repeat(MAX_BYTES)),
    ] {
        assert!(DrawMessage::decode(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn only_the_committed_seed_after_the_terms_counts_and_terms_never_change() {
    let t = terms(10);
    let seed = SeedReveal { draw: t.draw.clone(), seed: SEED.into() };
    assert!(admit_seed(None, false, &seed).is_err(), "no terms yet");
    assert_eq!(admit_seed(Some(&t), false, &seed), Ok(()));
    assert!(admit_seed(Some(&t), true, &seed).is_err(), "a second seed");
    let other = SeedReveal { seed: SEED.replace('6', "7"), ..seed };
    assert_eq!(admit_seed(Some(&t), false, &other), Err("the seed does not match the draw's commitment".into()));
    assert_eq!(admit_terms(None, &t), Ok(()));
    assert!(admit_terms(Some(&t), &t).is_err(), "published before");
    let moved = DrawTerms { commitment: commitment_of(&SEED.replace('6', "7")), ..t.clone() };
    assert_eq!(admit_terms(Some(&t), &moved), Err("a draw's terms cannot change once published".into()));
}

#[test]
fn an_application_counts_inside_the_window_within_the_cap_and_only_forwards() {
    let t = terms(10);
    let a = application("a", 1, 1, 2);
    assert_eq!(admit_application(Some(&t), false, None, &a), Ok(()));
    assert!(admit_application(None, false, None, &a).is_err(), "before the terms");
    assert!(admit_application(Some(&t), true, None, &a).is_err(), "after the seed");
    let late = Application { at: at(10), ..a.clone() };
    assert!(admit_application(Some(&t), false, None, &late).is_err(), "at the close");
    let early = Application { at: at(7), ..a.clone() };
    assert!(admit_application(Some(&t), false, None, &early).is_err(), "before it opened");
    let third = Application { category: Category::new(3).unwrap(), ..a.clone() };
    assert!(admit_application(Some(&t), false, None, &third).is_err(), "not a ticket type of the draw");
    let capped = DrawTerms { max_quantity: 1, ..t.clone() };
    assert!(admit_application(Some(&capped), false, None, &a).is_err(), "over the cap");
    let known = Known { version: 1, buyer: a.buyer, ticket_type: a.ticket_type() };
    assert!(admit_application(Some(&t), false, Some(&known), &a).is_err(), "the same version again: replayed");
    let edit = Application { version: 2, quantity: 1, ..a.clone() };
    assert_eq!(admit_application(Some(&t), false, Some(&known), &edit), Ok(()));
    let withdrawn = Application { version: 2, quantity: 0, ..a.clone() };
    assert_eq!(admit_application(Some(&t), false, Some(&known), &withdrawn), Ok(()));
    let moved = Application { version: 2, category: Category::new(2).unwrap(), ..a.clone() };
    assert!(admit_application(Some(&t), false, Some(&known), &moved).is_err(), "another ticket type");
    let first_seen = Application { version: 3, ..a };
    assert_eq!(admit_application(Some(&t), false, None, &first_seen), Ok(()), "versions may come out of order");
}

#[test]
fn one_person_counts_once_and_the_draw_is_a_function_of_its_inputs() {
    let t = terms(3);
    let mut entries: Vec<Entry> = (1..=20).map(|n| entry(if n % 2 == 0 { "a" } else { "b" }, n, 1)).collect();
    // Person 1 applied on the other platform too, later: counted once.
    entries.push(Entry {
        platform: PlatformId::new("a").unwrap(),
        application: Uuid::from_bytes([99; 16]),
        ..entry("b", 1, 2)
    });
    entries.push(entry("a", 21, 0));
    let r = run(&t, SEED, entries.clone());
    assert_eq!(r.duplicates, 1);
    let order = &r.order[&tt(64, 1)];
    assert_eq!(order.len(), 20, "withdrawn left out");
    assert_eq!(r.winners, 3);
    assert_eq!(r, run(&t, SEED, entries.clone()), "the same inputs, the same draw");
    let other = run(&t, &SEED.replace('6', "7"), entries.clone());
    assert_ne!(r.digest, other.digest, "another seed, another draw");
    // The platforms' applications in another interleaving: the same draw.
    let mut shuffled = entries.clone();
    shuffled[..20].reverse();
    assert_eq!(run(&t, SEED, shuffled).digest, r.digest);
    // Lots are in order.
    let lots: Vec<_> = order.iter().map(|e| lot(SEED, &t.draw, e.buyer, e.ticket_type)).collect();
    assert!(lots.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_lapsed_allocation_passes_its_tickets_down_the_order() {
    let order = vec![entry("a", 1, 2), entry("b", 2, 2), entry("a", 3, 1), entry("b", 4, 2), entry("a", 5, 1)];
    assert_eq!(drawn_offers(&order, 3), vec![true, false, true, false, false]);
    assert_eq!(offers_after(&order, 3, &[]), drawn_offers(&order, 3));
    // 1 did not pay: its two tickets go to 2 (the next it covers).
    assert_eq!(offers_after(&order, 3, &[0]), vec![true, true, true, false, false]);
    // Then 2 lapsed too: 4 gets two, nothing left for 5.
    assert_eq!(offers_after(&order, 3, &[0, 1]), vec![true, true, true, true, false]);
    // A lapse of one never offered counts for nothing; a lapse twice, once.
    assert_eq!(offers_after(&order, 3, &[3, 0, 0]), offers_after(&order, 3, &[0]));
    assert_eq!(offers_after(&order, 0, &[0]), vec![false; 5]);
}

#[test]
fn an_offer_is_never_taken_back_when_a_bigger_application_comes_first() {
    // Stock 2: A(1) and C(1) drawn; A lapses: B(2) does not fit in the one
    // ticket back, so C keeps its offer and the ticket goes to D.
    let order = vec![entry("a", 1, 1), entry("b", 2, 2), entry("a", 3, 1), entry("b", 4, 1)];
    assert_eq!(drawn_offers(&order, 2), vec![true, false, true, false]);
    assert_eq!(offers_after(&order, 2, &[0]), vec![true, false, true, true]);
    // C lapses too: one ticket back, B still does not fit; then D lapses:
    // two are back, B gets them.
    assert_eq!(offers_after(&order, 2, &[0, 2]), vec![true, false, true, true]);
    assert_eq!(offers_after(&order, 2, &[0, 2, 3]), vec![true, true, true, true]);
}

proptest::proptest! {
    /// Whatever lapses, in whatever order: offers only grow as lapses come
    /// in, and the tickets offered and not lapsed never pass the stock.
    #[test]
    fn offers_grow_and_never_pass_the_stock(
        quantities in proptest::collection::vec(1u8..=2, 0..40),
        stock in 0u32..30,
        lapses in proptest::collection::vec(0usize..40, 0..40),
    ) {
        let order: Vec<Entry> = quantities.iter().enumerate().map(|(i, q)| entry("a", i as u8, *q)).collect();
        let mut before = drawn_offers(&order, stock);
        for k in 0..=lapses.len() {
            let now = offers_after(&order, stock, &lapses[..k]);
            proptest::prop_assert!(before.iter().zip(&now).all(|(b, n)| !b || *n), "an offer taken back");
            let lapsed: std::collections::HashSet<usize> = lapses[..k].iter().copied().collect();
            let out: u32 = order
                .iter()
                .enumerate()
                .filter(|(i, _)| now[*i] && !lapsed.contains(i))
                .map(|(_, e)| u32::from(e.quantity))
                .sum();
            proptest::prop_assert!(out <= stock, "{out} tickets out of {stock}");
            before = now;
        }
    }
}

#[test]
fn a_replay_of_the_topic_finds_the_same_winners_and_refuses_what_does_not_count() {
    let t = terms(2);
    let mut r = Replay::default();
    assert!(r.apply(&DrawMessage::Application(application("a", 1, 1, 1)), 0).is_err(), "before the terms");
    r.apply(&DrawMessage::Terms(t.clone()), 0).unwrap();
    for n in 1..=6 {
        r.apply(&DrawMessage::Application(application(if n < 4 { "a" } else { "b" }, n, 1, 1)), 0).unwrap();
    }
    r.apply(&DrawMessage::Application(application("a", 2, 2, 0)), 0).unwrap();
    assert!(r.apply(&DrawMessage::Application(application("a", 2, 2, 1)), 0).is_err(), "replayed");
    assert!(r.result(&t.draw).is_none(), "no seed yet");
    let tampered = SeedReveal { draw: t.draw.clone(), seed: SEED.replace('6', "7") };
    assert!(r.apply(&DrawMessage::Seed(tampered), 0).is_err());
    r.apply(&DrawMessage::Seed(SeedReveal { draw: t.draw.clone(), seed: SEED.into() }), 0).unwrap();
    assert!(r.apply(&DrawMessage::Application(application("b", 7, 1, 1)), 0).is_err(), "after the seed");
    let elsewhere = r.apply(&DrawMessage::Application(application("b", 8, 1, 1)), 1);
    assert!(elsewhere.unwrap_err().contains("partition"), "off the draw's partition");
    let result = r.result(&t.draw).unwrap();
    let expected = run(&t, SEED, [1, 3, 4, 5, 6].map(|n| entry(if n < 4 { "a" } else { "b" }, n, 1)));
    assert_eq!(result, expected, "withdrawn 2 out, late 7 out");
    assert_eq!(result.winners, 2);
}

#[test]
fn hold_ids_are_the_same_everywhere_and_differ_between_allocations() {
    let (a, b) = (PlatformId::new("a").unwrap(), PlatformId::new("b").unwrap());
    let id = Uuid::from_bytes([1; 16]);
    assert_eq!(hold_id(SEED, "d", &a, id), hold_id(SEED, "d", &a, id));
    assert_ne!(hold_id(SEED, "d", &a, id), hold_id(SEED, "d", &b, id));
    assert_ne!(hold_id(SEED, "d", &a, id), hold_id(SEED, "e", &a, id));
    assert_ne!(hold_id(SEED, "d", &a, id), hold_id(&SEED.replace('6', "7"), "d", &a, id), "unknown before the seed");
    assert_eq!(home_partition("final@1764842400", 1), 0);
    assert!((0..6).contains(&home_partition("final@1764842400", 6)));
}
