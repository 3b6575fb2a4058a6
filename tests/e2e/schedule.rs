//! Sale phases: the organisers publish the schedule with `publish-schedule`;
//! every platform follows it, shows each category's phase and next on-sale
//! time, refuses holds while a category is closed and takes them once it
//! opens; a schedule the organisers did not sign, or an older one replayed,
//! changes nothing.

use std::time::Duration;

use ticktak_core::schedule::{Phase, ScheduleMessage, Scope, Step};
use ticktak_core::MatchNumber;
use ticktak_kit::kafka::{self, trust, Record};
use ticktak_tests::*;

const WAIT: Duration = Duration::from_secs(30);

async fn phase(p: &Platform, m: u8, category: usize) -> serde_json::Value {
    p.get(&format!("/api/matches/{m}/availability")).await.1["categories"][category - 1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisers_schedule_closes_and_opens_sales_on_every_platform() {
    let topic_env = unique("phases");
    let envs = [PlatformEnv::new("a", &topic_env), PlatformEnv::new("b", &topic_env)];
    ensure_topics(&envs[0].topics()).await;
    publish_masterlist(&envs[0].topics(), &masterlist_match_1_in_future(3, 10)).await;
    let a = Platform::start(envs[0].clone()).await;
    let b = Platform::start(envs[1].clone()).await;
    for p in [&a, &b] {
        eventually(WAIT, "the master list", || async { (phase(p, 3, 1).await["capacity"] == 10).then_some(()) }).await;
    }
    assert_eq!(phase(&a, 1, 1).await["phase"], "open", "no schedule: open");

    // Match 1 closed now, on sale 6 seconds from now; category 2 of match 2
    // closed with no date.
    let opens = chrono::Utc::now() + chrono::Duration::seconds(6);
    let opens_text = opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    publish_schedule(&envs[0], &["--match", "1", "closed", &format!("open@{opens_text}")]);
    publish_schedule(&envs[0], &["--match", "2", "--category", "2", "closed"]);
    for p in [&a, &b] {
        let closed = eventually(WAIT, "match 1 closed", || async {
            let c = phase(p, 1, 1).await;
            (c["phase"] == "closed").then_some(c)
        })
        .await;
        let next: chrono::DateTime<chrono::Utc> = closed["nextOnSaleAt"].as_str().unwrap().parse().unwrap();
        assert_eq!(next.timestamp(), opens.timestamp(), "{closed}");
        eventually(WAIT, "match 2 category 2 closed", || async {
            (phase(p, 2, 2).await["phase"] == "closed").then_some(())
        })
        .await;
    }
    assert_eq!(phase(&a, 2, 1).await["phase"], "open", "a ticket type's own scope leaves its match's others alone");
    let (status, body) = a.reserve("fan", 1, 1, 1, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("sale_closed")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("on sale from"), "{body}");
    let (status, body) = b.reserve("fan", 2, 2, 1, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("sale_closed")), "{body}");
    assert_eq!(b.reserve("fan", 2, 1, 1, None).await.0, 201);

    // Not the organisers' signature: ignored. An older schedule of match 2
    // replayed after the one in force: ignored.
    let topics = envs[0].topics();
    let tournament = ScheduleMessage {
        scope: Scope::TOURNAMENT,
        steps: vec![Step { from: chrono::Utc::now(), phase: Phase::Closed }],
        admit_per_minute: None,
    };
    let payload = tournament.to_json();
    let forged = trust::sign_organisers(&ticktak_kit::auth::SigningKey::generate(), trust::SCHEDULE_LABEL, &payload);
    let producer = producer();
    let send = |headers: Vec<(&'static str, String)>, payload: Vec<u8>, key: String| {
        let (producer, topic) = (producer.clone(), topics.schedule.clone());
        async move {
            let record = Record { topic: &topic, key: &key, payload: &payload, headers: &headers };
            kafka::send(&producer, &record).await.unwrap();
        }
    };
    send(forged, payload, "all".into()).await;
    let open_two = ScheduleMessage {
        scope: Scope { match_number: Some(MatchNumber::new(2).unwrap()), category: None },
        steps: vec![Step { from: chrono::Utc::now(), phase: Phase::Open }],
        admit_per_minute: None,
    };
    // Issued an hour before: older than anything in force.
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let older = trust::sign_organisers_at(
        &trust::development_organisers_key(),
        trust::SCHEDULE_LABEL,
        &open_two.to_json(),
        an_hour_ago,
    );
    send(older, open_two.to_json(), "2".into()).await;
    // Then a real one, so the two above were read before it.
    publish_schedule(&envs[0], &["--match", "3", "open"]);
    for p in [&a, &b] {
        eventually(WAIT, "match 3's schedule", || async {
            let c = phase(p, 3, 1).await;
            (c["phase"] == "open" && c["phaseUntil"].is_null()).then_some(())
        })
        .await;
        assert_eq!(phase(p, 2, 1).await["phase"], "open", "the forged tournament schedule changed nothing");
        assert_eq!(phase(p, 2, 2).await["phase"], "closed", "the replayed older schedule changed nothing");
    }

    // Match 1 opens at its time, on every platform.
    tokio::time::sleep((opens - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(300)).await;
    assert_eq!(phase(&b, 1, 1).await["phase"], "open");
    assert_eq!(a.reserve("fan", 1, 1, 1, None).await.0, 201);
    a.stop().await;
    b.stop().await;
}
