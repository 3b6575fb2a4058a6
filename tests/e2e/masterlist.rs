//! The master list travels from the topic through shop-consumer into the
//! shop and out of its API.

use std::time::Duration;

use ticktak_core::masterlist::fixture;
use ticktak_tests::*;

/// Master-list messages applied so far, summed over partitions.
async fn masterlist_applied(platform: &Platform) -> i64 {
    let topic = platform.env.topics().masterlist;
    let ledger = platform.ledger().await;
    ledger["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["topic"] == topic.as_str())
        .map(|o| o["lastOffset"].as_i64().unwrap() + 1)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_list_reaches_the_api_through_kafka_and_republishing_changes_nothing() {
    let env = PlatformEnv::new("a", &unique("ml"));
    ensure_topics(&env.topics()).await;
    let platform = Platform::start(env.clone()).await;
    publish_masterlist(&env.topics(), &fixture()).await;

    let page = eventually(Duration::from_secs(60), "64 matches in the shop", || async {
        let (status, body) = platform.get("/api/matches").await;
        (status == 200 && body["matches"].as_array().map(Vec::len) == Some(64)).then_some(body)
    })
    .await;
    assert_eq!(page["total"], 64);
    let matches = page["matches"].as_array().unwrap();
    let opening = matches.iter().find(|m| m["matchNumber"] == 1).unwrap();
    assert_eq!(opening["homeTeam"], "Qatar");
    assert_eq!(opening["group"], "A");
    let cats = opening["categories"].as_array().unwrap();
    let prices: Vec<_> = cats.iter().map(|c| c["price"].as_u64().unwrap()).collect();
    let capacities: Vec<_> = cats.iter().map(|c| c["capacity"].as_u64().unwrap()).collect();
    assert_eq!(prices, [75, 125, 195]);
    assert_eq!(capacities, [5, 20, 20]);
    assert_eq!(cats[0]["status"], "AVAILABLE");
    assert_eq!(cats[0]["sellable"], 5);
    let last = matches.iter().find(|m| m["matchNumber"] == 64).unwrap();
    assert!(last["group"].is_null(), "knock-out matches have no group");

    let before = platform.ledger().await;
    publish_masterlist(&env.topics(), &fixture()).await;
    eventually(Duration::from_secs(30), "the second copy applied", || async {
        (masterlist_applied(&platform).await == 128).then_some(())
    })
    .await;
    let after = platform.ledger().await;
    assert_eq!(before["digest"], after["digest"]);
    let (_, again) = platform.get("/api/matches").await;
    assert_eq!(again["matches"], page["matches"]);

    // A forged correction (not signed by the organisers) changes nothing and
    // is recorded; the organisers' own correction replaces the capacity.
    let mut forged = fixture()[0].clone();
    forged.availability.category1.available = 5000;
    forged.availability.category1.price = ticktak_core::Price::new(1).unwrap();
    let payload = forged.to_json();
    let record =
        ticktak_kit::kafka::Record { topic: &env.topics().masterlist, key: "1", payload: &payload, headers: &[] };
    ticktak_kit::kafka::send(&producer(), &record).await.unwrap();
    // The organisers' original message, signed before their correction.
    let original = fixture()[0].to_json();
    let original_headers = organisers_signature(&original);
    let mut corrected = fixture()[0].clone();
    corrected.availability.category1.available = 7;
    publish_masterlist(&env.topics(), &[corrected]).await;
    eventually(Duration::from_secs(30), "the correction", || async {
        let (_, body) = platform.get("/api/matches/1/availability").await;
        (body["categories"][0]["capacity"] == 7).then_some(())
    })
    .await;
    let (_, body) = platform.get("/api/matches/1/availability").await;
    assert_eq!(body["categories"][0]["price"], 75, "{body}");
    assert_eq!(masterlist_applied(&platform).await, 130, "the forgery moved the offset");
    // Replayed after the correction, the older signed message changes nothing.
    let record = ticktak_kit::kafka::Record {
        topic: &env.topics().masterlist,
        key: "1",
        payload: &original,
        headers: &original_headers,
    };
    ticktak_kit::kafka::send(&producer(), &record).await.unwrap();
    eventually(Duration::from_secs(30), "the replay applied", || async {
        (masterlist_applied(&platform).await == 131).then_some(())
    })
    .await;
    let (_, body) = platform.get("/api/matches/1/availability").await;
    assert_eq!(body["categories"][0]["capacity"], 7, "the replay is refused: {body}");

    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_organisers_key_the_first_message_of_a_match_fixes_its_kick_off_prices_and_capacities() {
    let mut env = PlatformEnv::new("a", &unique("mlnone"));
    env.extra.insert("ORGANISERS_KEY".into(), "none".into());
    ensure_topics(&env.topics()).await;
    let list = masterlist_with_capacity(1, 10);
    publish_masterlist(&env.topics(), &list).await;
    let platform = Platform::start(env.clone()).await;
    let number = list[0].match_number.get();
    eventually(Duration::from_secs(60), "the match", || async {
        let (_, body) = platform.get(&format!("/api/matches/{number}/availability")).await;
        (body["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    // A later message renames a team but also tries to add 990 seats and a
    // $1 price: the names change, the seats and prices do not.
    let mut later = list[0].clone();
    later.home_team = "Hosts".into();
    later.availability.category1.available = 1000;
    later.availability.category2.price = ticktak_core::Price::new(1).unwrap();
    publish_masterlist(&env.topics(), &[later.clone()]).await;
    let mut renamed = list[0].clone();
    renamed.away_team = "Guests".into();
    publish_masterlist(&env.topics(), &[renamed]).await;
    let body = eventually(Duration::from_secs(30), "the rename", || async {
        let (_, body) = platform.get(&format!("/api/matches/{number}")).await;
        (body["awayTeam"] == "Guests").then_some(body)
    })
    .await;
    assert_eq!(body["categories"][0]["capacity"], 10, "{body}");
    assert_eq!(body["categories"][1]["price"], 125, "{body}");
    assert_ne!(body["homeTeam"], "Hosts", "the refused message changed nothing: {body}");
    platform.stop().await;
}
