//! A few-second version of scenario 6 that runs in `make test`: two
//! platforms, every ticket type of the market on sale at once with three
//! tickets each, Zipf-distributed requests that sell the hot ones out;
//! any oversell on any ticket type fails.

use ticktak_bench::onsale::{run, OnsaleOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_market_on_sale_at_once_never_oversells_a_ticket_type() {
    let report = run(&OnsaleOptions {
        platforms: 2,
        requests: 1_500,
        buyers: 24,
        rate: 0.0,
        people: 300,
        zipf_s: 1.0,
        seed: 7,
        capacity: Some(3),
    })
    .await
    .expect("the on-sale runs");
    report.print();
    assert_eq!(report.ticket_types, 192);
    assert_eq!(report.oversell, 0, "oversold");
    assert!(report.ledgers_equal, "ledgers diverged");
    assert_eq!(report.left_requested, 0);
    assert_eq!(report.errors, 0);
    assert!(report.sold_out_types >= 3, "the hot ticket types sell out: {}", report.sold_out_types);
    assert_eq!(report.granted + report.rejected_by_log + report.rejected_fast + report.pending_at_answer, 1_500);
}
