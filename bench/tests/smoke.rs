//! A few-second version of scenario 1 that runs in `make test`: two
//! platforms race for a small category; any oversell fails.

use ticktak_bench::race::{run, RaceOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_hot_category_race_never_oversells() {
    let report = run(&RaceOptions {
        platforms: 2,
        capacity: 30,
        oversubscribe: 5,
        buyers: 16,
        rate: 0.0,
        with_reads: false,
        chaos_every_s: 0.0,
        naive: false,
        chaos_broker: false,
        chaos_broker_only: false,
    })
    .await
    .expect("the race runs");
    report.print();
    assert_eq!(report.oversell, 0, "oversold");
    assert!(report.ledgers_equal, "ledgers diverged");
    assert_eq!(report.left_requested, 0);
    assert_eq!(report.errors, 0);
    assert_eq!(report.requests, 150);
    assert!(report.granted <= 30);
    assert_eq!(report.granted + report.rejected_by_log + report.rejected_fast + report.pending_at_answer, 150);
}
