//! A message on a shared topic is input from parties we do not control. What
//! a platform cannot apply is recorded as invalid (with its offset and why,
//! listed for operators and counted) and skipped: it never stops selling.

use std::time::Duration;

use ticktak_kit::kafka::{self, Record};
use ticktak_kit::Service;
use ticktak_tests::process::metric;
use ticktak_tests::*;

/// A pool on one service's schema of a test platform's database.
async fn schema_pool(env: &PlatformEnv, schema: &str) -> sqlx::PgPool {
    let options: sqlx::postgres::PgConnectOptions = database_url(&env.database).parse().unwrap();
    sqlx::PgPool::connect_with(options.options([("search_path", schema)])).await.unwrap()
}

/// The messages `p`'s shop-consumer skipped, as operators list them.
async fn invalid_messages(p: &Platform) -> Vec<serde_json::Value> {
    let token = p.env.settings(Service::ShopConsumer).internal_token().to_string();
    let res = p
        .http
        .get(format!("{}/internal/invalid-messages?limit=100", p.consumer.internal_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("shop-consumer answers");
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Hold `quantity` tickets of match 1 category 1 for `buyer` and wait until
/// the log decided it: a platform that is stuck on an earlier message never
/// decides it.
async fn a_hold_is_decided(p: &Platform, buyer: &str) {
    let (status, body) = p.reserve(buyer, 1, 1, 1, None).await;
    assert!(status == 201 || status == 202, "{status} {body}");
    let id = body["id"].as_str().expect("a reservation id").to_string();
    eventually(Duration::from_secs(60), "the hold decided by the log", || async {
        let (_, r) = p.as_buyer(reqwest::Method::GET, &format!("/api/reservations/{id}"), Some(buyer)).await;
        (r["status"] == "HELD").then_some(())
    })
    .await;
}

fn sale_body(action: &str, lines: usize, category: u8) -> Vec<u8> {
    let price = [75, 125, 195][usize::from(category) - 1];
    let line = serde_json::json!({"category": category, "quantity": 2, "price": price});
    let body =
        serde_json::json!({"meta": {"action": action}, "body": {"matchNumber": 1, "tickets": vec![line; lines]}});
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_an_oversized_array_and_a_counter_flood_leave_every_platform_selling() {
    let topic_env = unique("poison");
    let envs = [PlatformEnv::new("a", &topic_env), PlatformEnv::new("b", &topic_env)];
    let topics = envs[0].topics();
    ensure_topics(&topics).await;
    let list = masterlist_with_capacity(2, 10);
    publish_masterlist(&topics, &list).await;
    // The fixture's second match (match 3) is the one corrected below.
    let second = list[1].match_number.get();
    let a = Platform::start(envs[0].clone()).await;
    let b = Platform::start(envs[1].clone()).await;
    let analytics = start_analytics(&envs[0]).await;
    for p in [&a, &b] {
        eventually(Duration::from_secs(60), "the master list", || async {
            let (_, m) = p.get(&format!("/api/matches/{second}/availability")).await;
            (m["categories"][0]["capacity"] == 10).then_some(())
        })
        .await;
    }

    // What 2^31 anonymous lines would leave: platform a's anonymous pool of
    // match 1, category 2 one ticket short of what a counter holds.
    let shop_db = schema_pool(&envs[0], "shop").await;
    sqlx::query("UPDATE ticket_types SET held = $1, anonymous_held = $1 WHERE match_number = 1 AND category = 2")
        .bind(i32::MAX - 1)
        .execute(&shop_db)
        .await
        .unwrap();

    let producer = producer();
    // A correction of the second match whose home team holds a NUL (PostgreSQL's text
    // and jsonb refuse it).
    let mut nul = serde_json::to_value(&list[1]).unwrap();
    nul["homeTeam"] = "Qatar\u{0}".into();
    let nul = serde_json::to_vec(&nul).unwrap();
    let key = second.to_string();
    kafka::send(&producer, &Record { topic: &topics.masterlist, key: &key, payload: &nul, headers: &[] })
        .await
        .unwrap();
    // An array form of 20,000 lines, one just past the line limit, then 16
    // anonymous lines of two tickets on the nearly full pool.
    for (payload, key) in [
        (sale_body("TICKET_PENDING", 20_000, 1), "1-1"),
        (sale_body("TICKET_PENDING", ticktak_core::sales::MAX_LINES + 1, 1), "1-1"),
        (sale_body("TICKET_PENDING", 16, 2), "1-2"),
    ] {
        kafka::send(&producer, &Record { topic: &topics.sales, key, payload: &payload, headers: &[] }).await.unwrap();
    }

    // Both platforms still decide holds, after every one of those.
    a_hold_is_decided(&a, "alice").await;
    a_hold_is_decided(&b, "bob").await;

    // The flood saturates the counter at what storage holds, and the
    // match's other categories sell on.
    let ledger = a.ledger().await;
    let flooded = ledger["types"].as_array().unwrap().iter().find(|t| t["matchNumber"] == 1 && t["category"] == 2);
    assert_eq!(flooded.unwrap()["held"], i64::from(i32::MAX), "{ledger}");

    // Each poison is skipped with its reason, for operators to read.
    for p in [&a, &b] {
        let invalid = eventually(Duration::from_secs(30), "the skipped messages recorded", || async {
            let list = invalid_messages(p).await;
            (list.len() >= 3).then_some(list)
        })
        .await;
        let reasons: Vec<&str> = invalid.iter().map(|i| i["reason"].as_str().unwrap()).collect();
        for why in ["control character", "bytes", "lines"] {
            assert!(reasons.iter().any(|r| r.contains(why)), "no reason mentions {why:?}: {reasons:?}");
        }
        assert!(invalid.iter().any(|i| i["topic"] == topics.masterlist.as_str()), "{invalid:?}");
        assert!(metric(&p.consumer.url(), "consumer_messages_invalid_total").await >= 3.0);
    }

    // Analytics still checkpoints: the sales after the poison reach its lake.
    eventually(Duration::from_secs(60), "analytics checkpoints after the poison", || async {
        (metric(&analytics.url(), "analytics_lake_rows_total").await >= 18.0).then_some(())
    })
    .await;
    analytics.stop().await.unwrap();
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_the_database_refuses_is_recorded_as_invalid_and_its_partition_goes_on() {
    let env = PlatformEnv::new("a", &unique("refused"));
    let topics = env.topics();
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(1, 10)).await;
    let p = Platform::start(env.clone()).await;
    eventually(Duration::from_secs(60), "the master list", || async {
        let (_, m) = p.get("/api/matches/1/availability").await;
        (m["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    // A rule of this platform's storage that one peer's hold breaks: the
    // database refuses the batch that holds it, every time it is tried.
    let shop_db = schema_pool(&env, "shop").await;
    sqlx::query("ALTER TABLE holds ADD CONSTRAINT no_mallory CHECK (origin IS DISTINCT FROM 'mallory')")
        .execute(&shop_db)
        .await
        .unwrap();
    let mallory = ticktak_core::PlatformId::new("mallory").unwrap();
    let tt = ticktak_core::TicketType::new(
        ticktak_core::MatchNumber::new(1).unwrap(),
        ticktak_core::Category::new(1).unwrap(),
    );
    let sale = ticktak_core::SaleMessage::single(
        ticktak_core::Action::TicketPending,
        tt,
        ticktak_core::Quantity::new(2).unwrap(),
        ticktak_core::Price::new(75).unwrap(),
    );
    let headers = ticktak_core::headers::SaleHeaders::for_hold(&mallory, ticktak_core::HoldId::new());
    let (partition, offset) = produce_sale(&producer(), &topics, &sale, Some(&headers)).await;

    // The partition goes on: a later hold on it is decided.
    a_hold_is_decided(&p, "alice").await;
    let invalid = invalid_messages(&p).await;
    let refused = invalid.iter().find(|i| i["partition"] == partition && i["offset"] == offset);
    let reason = refused.unwrap_or_else(|| panic!("mallory's sale is not recorded: {invalid:?}"))["reason"].to_string();
    assert!(reason.contains("no_mallory"), "{reason}");
    let ledger = p.ledger().await;
    let counts = ledger["types"].as_array().unwrap().iter().find(|t| t["matchNumber"] == 1 && t["category"] == 1);
    assert_eq!(counts.unwrap()["held"], 1, "only alice's ticket is held: {ledger}");
    p.stop().await;
}
