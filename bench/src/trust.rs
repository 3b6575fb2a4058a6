//! `ticktak-bench trust [--messages N]`: what signing and verifying sales
//! costs per message, against what decoding one already cost (parsing its
//! body and headers, `ticktak_kit::kafka::decode::sales`). One thread, no
//! I/O; each measurement is the median of 7 rounds of N messages.

use std::time::Instant;

use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
use ticktak_core::headers::SaleHeaders;
use ticktak_core::{Action, Category, HoldId, MatchNumber, PlatformId, Price, Quantity, SaleMessage, TicketType};
use ticktak_kit::kafka::decode;
use ticktak_kit::kafka::trust::Trust;

const ROUNDS: usize = 7;

fn message(body: &[u8], headers: &[(&'static str, String)]) -> OwnedMessage {
    let mut h = OwnedHeaders::new();
    for (k, v) in headers {
        h = h.insert(Header { key: k, value: Some(v.as_bytes()) });
    }
    OwnedMessage::new(Some(body.to_vec()), Some(b"1-1".to_vec()), "t".into(), Timestamp::NotAvailable, 0, 0, Some(h))
}

/// Median nanoseconds per message of `work` over `n` messages.
fn per_message(n: usize, mut work: impl FnMut(usize)) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for i in 0..n {
                work(i);
            }
            started.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

pub fn run(n: usize) -> anyhow::Result<()> {
    let a = PlatformId::new("a")?;
    let trust = Trust::development(&a);
    let tt = TicketType::new(MatchNumber::new(1)?, Category::new(1)?);
    let body = SaleMessage::single(Action::TicketPending, tt, Quantity::new(2)?, Price::new(75)?).to_json();
    let unsigned: Vec<OwnedMessage> =
        (0..n).map(|_| message(&body, &SaleHeaders::for_hold(&a, HoldId::new()).to_pairs())).collect();
    let signed: Vec<OwnedMessage> = (0..n)
        .map(|_| {
            let mut h = SaleHeaders::for_hold(&a, HoldId::new());
            trust.sign(&mut h, &body);
            message(&body, &h.to_pairs())
        })
        .collect();
    let headers: Vec<SaleHeaders> = (0..n).map(|_| SaleHeaders::for_hold(&a, HoldId::new())).collect();

    // What decoding cost before: the body and headers parsed, no signature.
    let parse = per_message(n, |i| {
        let m = &unsigned[i];
        let payload = rdkafka::Message::payload(m).unwrap_or_default();
        std::hint::black_box(SaleMessage::parse(payload).ok());
        std::hint::black_box(SaleHeaders::from_pairs(ticktak_kit::kafka::header_pairs(m)).ok());
    });
    let decode_signed = per_message(n, |i| {
        std::hint::black_box(decode::sales(&signed[i], 1, &trust));
    });
    let sign = per_message(n, |i| {
        let mut h = headers[i].clone();
        trust.sign(&mut h, &body);
        std::hint::black_box(h);
    });
    println!("messages per round: {n}, rounds: {ROUNDS} (median)");
    println!("decode, parse only (before signing):   {parse:>9.0} ns/message");
    println!("decode, parse + verify (signed):       {decode_signed:>9.0} ns/message  ({:.1}×)", decode_signed / parse);
    println!("sign one produced message:             {sign:>9.0} ns/message");
    let per_hold = sign + 2.0 * decode_signed;
    println!(
        "per hold on one platform (sign once, verify in shop-consumer and analytics): {:.0} µs CPU; \
         at 2,000 holds/s {:.0} % of one core",
        per_hold / 1000.0,
        per_hold * 2000.0 / 1e9 * 100.0
    );
    Ok(())
}
