//! A one-minute version of the draw scenario that runs in `make test`: two
//! platforms take 600 applications for 30 tickets of 3 ticket types; both
//! draw the same winners, `draw verify` agrees, winners pay, a tenth of
//! them let their hold go and their tickets pass on; nothing oversells.

use ticktak_bench::draw::{run, DrawOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_on_two_platforms_is_the_same_everywhere_and_sells_the_stock_once() {
    let report = run(&DrawOptions {
        applications: 600,
        tickets: 30,
        types: 3,
        window_s: 25,
        clients: 8,
        decline_percent: 10,
        twice_percent: 5,
    })
    .await
    .expect("the draw runs");
    report.print();
    assert_eq!(report.applications_accepted, 600, "{:?}", report.first_refusal);
    assert!(report.duplicates > 0, "people who applied on both platforms count once");
    assert!(report.digests_agree, "{:?}", report.digests);
    assert!(report.verify_agrees, "draw verify");
    assert!(report.passed_on > 0, "declined allocations pass on");
    assert_eq!(report.oversell, 0, "oversold");
    assert!(report.ledgers_agree, "ledgers diverged");
    assert_eq!(report.held_left, vec![0, 0]);
    assert!(report.sold.iter().all(|s| *s > 25 && *s <= 30), "{:?}", report.sold);
}
