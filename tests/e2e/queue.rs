//! The waiting room over HTTP: buyers who join before the on-sale get a
//! random place when it opens, later ones queue behind them, turns come in
//! place order at the platform's pace, and a hold in the queue phase needs
//! the buyer's own admission, once.

use std::time::Duration;

use ticktak_tests::*;

const WAIT: Duration = Duration::from_secs(30);

/// `token` with one character of its signature changed.
fn tamper(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// `POST /api/queue` as `buyer`.
async fn join(p: &Platform, buyer: &str, m: u8, category: u8) -> (u16, serde_json::Value) {
    let res = p
        .http
        .post(format!("{}/api/queue", p.reservations.url()))
        .bearer_auth(p.token(buyer))
        .json(&serde_json::json!({"matchNumber": m, "category": category}))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

/// `GET /api/queue/{ticket}` as `buyer`, with its `Retry-After`.
async fn status(p: &Platform, buyer: &str, ticket: &str) -> (u16, serde_json::Value, Option<String>) {
    let res = p
        .http
        .get(format!("{}/api/queue/{ticket}", p.reservations.url()))
        .bearer_auth(p.token(buyer))
        .send()
        .await
        .unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (res.status().as_u16(), res.json().await.unwrap_or_default(), retry)
}

/// `POST /api/reservations` as `buyer` with `admission`.
async fn hold(p: &Platform, buyer: &str, m: u8, category: u8, admission: &str) -> (u16, serde_json::Value) {
    let res = p
        .http
        .post(format!("{}/api/reservations", p.reservations.url()))
        .bearer_auth(p.token(buyer))
        .json(&serde_json::json!({"matchNumber": m, "category": category, "quantity": 1, "admission": admission}))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_wait_their_turn_in_the_waiting_room_and_hold_once_with_their_admission() {
    let topic_env = unique("queue");
    let env = PlatformEnv::new("a", &topic_env);
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_match_1_in_future(3, 100)).await;
    // Two buyers a second, whatever the platform's health.
    let p = Platform::start_configured(env.clone(), |o| {
        o.reservations.queue.pace.floor = 120.0;
        o.reservations.queue.pace.ceiling = 120.0;
    })
    .await;
    eventually(WAIT, "the master list", || async {
        (p.get("/api/matches/3/availability").await.1["categories"][0]["capacity"] == 100).then_some(())
    })
    .await;

    // Match 1: closed now, sold through a waiting room from T.
    let opens = chrono::Utc::now() + chrono::Duration::seconds(8);
    let opens_text = opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    publish_schedule(&env, &["--match", "1", "closed", &format!("queue@{opens_text}")]);
    let room = eventually(WAIT, "match 1's waiting room", || async {
        let c = p.get("/api/matches/1/availability").await.1["categories"][0].clone();
        c["waitingRoom"]["id"].as_str().map(str::to_string)
    })
    .await;

    // Eight buyers join before T, in order: all pre-queued, no place yet.
    let buyers: Vec<String> = (1..=8).map(|i| format!("early-{i}")).collect();
    let mut tickets = Vec::new();
    for b in &buyers {
        let (code, body) = join(&p, b, 1, 1).await;
        assert_eq!(
            (code, body["state"].as_str(), &body["place"]),
            (200, Some("prequeue"), &serde_json::Value::Null),
            "{body}"
        );
        assert_eq!(body["room"].as_str(), Some(room.as_str()));
        tickets.push(body["queueTicket"].as_str().unwrap().to_string());
    }
    let (code, again) = join(&p, &buyers[0], 1, 2).await;
    assert_eq!(
        (code, again["queueTicket"].as_str()),
        (200, Some(tickets[0].as_str())),
        "one place per account and on-sale"
    );
    let (code, _, retry) = status(&p, &buyers[0], &tickets[0]).await;
    assert_eq!(code, 200);
    assert!(retry.is_some(), "a pre-queued buyer is told when to ask again");
    // Before T the category is closed, admission or not.
    let (code, body) = hold(&p, &buyers[0], 1, 1, "").await;
    assert_eq!((code, body["error"].as_str()), (409, Some("sale_closed")), "{body}");

    // What the waiting room refuses.
    assert_eq!(join(&p, "fan", 2, 1).await.0, 409, "an open category has no waiting room");
    publish_schedule(&env, &["--match", "3", "closed"]);
    let closed = eventually(WAIT, "match 3 closed", || async {
        let (code, body) = join(&p, "fan", 3, 1).await;
        (code != 409 || body["error"] != "conflict").then_some((code, body))
    })
    .await;
    assert_eq!((closed.0, closed.1["error"].as_str()), (409, Some("sale_closed")), "{}", closed.1);
    assert_eq!(join(&p, "fan", 50, 1).await.0, 404, "unknown match");
    assert_eq!(join(&p, "fan", 0, 1).await.0, 422);
    assert_eq!(status(&p, "someone-else", &tickets[0]).await.0, 404, "another account's place");
    let forged = tamper(&tickets[0]);
    assert_eq!(status(&p, &buyers[0], &forged).await.0, 400, "a forged ticket");
    assert_eq!(status(&p, &buyers[0], "QT1.bm90aGluZw.c2ln").await.0, 400);

    // At T every pre-queued buyer gets a place at random: 1..=8, each once.
    tokio::time::sleep((opens - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let late = join(&p, "late", 1, 1).await.1;
    assert_eq!(late["place"], 9, "a buyer who comes after T queues behind the drawn ones: {late}");
    let mut places = Vec::new();
    for (b, t) in buyers.iter().zip(&tickets) {
        let (_, s, _) = status(&p, b, t).await;
        places.push(s["place"].as_i64().unwrap_or_else(|| panic!("{s}")));
    }
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=8).collect::<Vec<_>>(), "{places:?}");
    assert_ne!(places, (1..=8).collect::<Vec<_>>(), "the draw, not the order of arrival, decides");

    // Without an admission the hold names the queue.
    let (code, body) = hold(&p, "late", 1, 1, "").await;
    assert_eq!((code, body["error"].as_str()), (403, Some("admission_required")), "{body}");
    assert!(body["message"].as_str().unwrap().contains(&room), "{body}");
    let no_field = p.reserve("late", 1, 1, 1, None).await;
    assert_eq!(no_field.0, 403, "{}", no_field.1);

    // Turns come in place order: whoever is admitted, everyone before is
    // (read from the back of the line, so a turn that comes mid-read
    // cannot look out of order).
    let order: Vec<usize> = {
        let mut o: Vec<usize> = (0..8).collect();
        o.sort_by_key(|&i| places[i]);
        o
    };
    let admissions = eventually(WAIT, "every early buyer's turn", || async {
        let mut admissions = std::collections::HashMap::new();
        let mut seen_a_turn = false;
        for &i in order.iter().rev() {
            let (_, s, _) = status(&p, &buyers[i], &tickets[i]).await;
            match s["admission"].as_str() {
                Some(a) => {
                    seen_a_turn = true;
                    admissions.insert(i, a.to_string());
                }
                None => assert!(!seen_a_turn, "place {} waits behind a later place's turn: {s}", places[i]),
            }
        }
        (admissions.len() == 8).then_some(admissions)
    })
    .await;

    // The first in line holds with their admission, once.
    let first = order[0];
    let mine = &admissions[&first];
    let (code, body) = hold(&p, &buyers[first], 1, 1, mine).await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = hold(&p, &buyers[first], 1, 2, mine).await;
    assert_eq!((code, body["error"].as_str()), (403, Some("admission_required")), "spent: {body}");
    assert_eq!(status(&p, &buyers[first], &tickets[first]).await.1["state"], "used");
    // Someone else's admission, or one edited, is no admission.
    let second = order[1];
    let (code, body) = hold(&p, "late", 1, 1, &admissions[&second]).await;
    assert_eq!((code, body["error"].as_str()), (403, Some("admission_required")), "{body}");
    let edited = tamper(&admissions[&second]);
    assert_eq!(hold(&p, &buyers[second], 1, 1, &edited).await.0, 403);
    assert_eq!(hold(&p, &buyers[second], 1, 1, &admissions[&second]).await.0, 201, "the rightful holder's still works");

    // The late buyer's turn comes after the early ones'.
    let late_ticket = late["queueTicket"].as_str().unwrap();
    let theirs = eventually(WAIT, "the late buyer's turn", || async {
        status(&p, "late", late_ticket).await.1["admission"].as_str().map(str::to_string)
    })
    .await;
    assert_eq!(hold(&p, "late", 1, 1, &theirs).await.0, 201);
    // Match 2 stays open: no queue, no admission needed.
    assert_eq!(p.reserve("fan", 2, 1, 1, None).await.0, 201);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_platforms_share_the_market_rate_in_proportion_to_their_queues() {
    use ticktak_core::queue::QueueLength;
    use ticktak_kit::kafka::{self, Record};
    let topic_env = unique("queue-fair");
    let envs = [PlatformEnv::new("a", &topic_env), PlatformEnv::new("b", &topic_env)];
    ensure_topics(&envs[0].topics()).await;
    publish_masterlist(&envs[0].topics(), &masterlist_match_1_in_future(3, 100)).await;
    // Each platform's own pace is never the limit: the market's rate is.
    let fast = |o: &mut PlatformOptions| {
        o.reservations.queue.pace.floor = 6000.0;
        o.reservations.queue.pace.ceiling = 6000.0;
    };
    let a = Platform::start_configured(envs[0].clone(), fast).await;
    let b = Platform::start_configured(envs[1].clone(), fast).await;
    for p in [&a, &b] {
        eventually(WAIT, "the master list", || async {
            (p.get("/api/matches/3/availability").await.1["categories"][0]["capacity"] == 100).then_some(())
        })
        .await;
    }
    // Two buyers a second over the whole market, from T.
    let opens = chrono::Utc::now() + chrono::Duration::seconds(8);
    let opens_text = opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    publish_schedule(
        &envs[0],
        &["--match", "1", "--admit-per-minute", "120", "closed", &format!("queue@{opens_text}")],
    );
    let mut room = String::new();
    for p in [&a, &b] {
        room = eventually(WAIT, "the waiting room", || async {
            let c = p.get("/api/matches/1/availability").await.1["categories"][0].clone();
            (c["waitingRoom"]["admitPerMinute"] == 120).then(|| c["waitingRoom"]["id"].as_str().unwrap().to_string())
        })
        .await;
    }
    // A report of a million buyers on b, signed by a key that is not b's,
    // fresh from just before T to 9 s after: if it counted, a would admit
    // nobody until then.
    let forged = QueueLength {
        room: room.clone(),
        platform: ticktak_core::PlatformId::new("b").unwrap(),
        waiting: 1_000_000,
        admitted: 0,
        at: opens + chrono::Duration::seconds(4),
    };
    let body = forged.to_json();
    let stranger = ticktak_kit::kafka::trust::Trust::new(
        ticktak_kit::auth::SigningKey::generate(),
        ticktak_kit::kafka::trust::PlatformKeys::Development,
    );
    let signature = stranger.sign_bytes(&QueueLength::signed_bytes(&body)).unwrap();
    let headers = [("client-id", "b".to_string()), ("signature", signature)];
    let topics = envs[0].topics();
    kafka::send(&producer(), &Record { topic: &topics.queue_lengths, key: &room, payload: &body, headers: &headers })
        .await
        .unwrap();

    // Eight buyers wait on a, two on b.
    let mut line = Vec::new();
    for (p, n) in [(&a, 8), (&b, 2)] {
        for i in 0..n {
            let buyer = format!("{}-{i}", p.env.platform_id);
            let ticket = join(p, &buyer, 1, 1).await.1["queueTicket"].as_str().unwrap().to_string();
            line.push((p, buyer, ticket));
        }
    }
    // Operators see every platform's line in the room.
    let admin = dev_token_as("ops", "a", ticktak_kit::auth::Role::Admin);
    let board = eventually(WAIT, "b's line on a's board", || async {
        let url = format!("{}/api/admin/queues", a.reservations.url());
        let body: serde_json::Value = a.http.get(url).bearer_auth(&admin).send().await.ok()?.json().await.ok()?;
        let r = body["rooms"].as_array()?.iter().find(|r| r["room"] == room.as_str())?.clone();
        // b reports each second: wait for the report after both its joins.
        (r["platforms"][1]["waiting"] == 2).then_some(r)
    })
    .await;
    assert_eq!(
        (board["platforms"][0]["thisPlatform"].as_bool(), board["platforms"][0]["joined"].as_i64()),
        (Some(true), Some(8)),
        "{board}"
    );
    assert_eq!(
        (board["platforms"][1]["platform"].as_str(), board["platforms"][1]["waiting"].as_i64()),
        (Some("b"), Some(2)),
        "{board}"
    );
    assert_eq!(board["marketRatePerMinute"], 120);
    assert_eq!(a.as_buyer(reqwest::Method::GET, "/api/admin/queues", Some("a-0")).await.0, 403, "buyers see no board");

    tokio::time::sleep((opens - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let mut admitted_after: Vec<Option<f64>> = vec![None; line.len()];
    let started = std::time::Instant::now();
    while admitted_after.iter().any(Option::is_none) && started.elapsed() < WAIT {
        for (i, (p, buyer, ticket)) in line.iter().enumerate() {
            if admitted_after[i].is_none() && status(p, buyer, ticket).await.1["state"] == "admitted" {
                admitted_after[i] = Some(started.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = |platform: &str| {
        line.iter()
            .zip(&admitted_after)
            .filter(|((p, _, _), _)| p.env.platform_id == platform)
            .map(|(_, t)| t.unwrap_or_else(|| panic!("a buyer on {platform} never admitted: {admitted_after:?}")))
            .fold(0.0, f64::max)
    };
    let (a_done, b_done) = (last("a"), last("b"));
    // Shared in proportion (a 4/5 of the rate, b 1/5), both lines take
    // about 5 s; had each platform taken the whole rate, b's two buyers
    // would be in within a second and a's eight within four.
    assert!(b_done >= 2.5, "b's buyers came in too soon for a fifth of the rate: a {a_done:.1} s, b {b_done:.1} s");
    assert!(a_done >= 3.5, "the market let in more than its rate: a {a_done:.1} s, b {b_done:.1} s");
    assert!(a_done < 10.0, "a's line was held up (by the forged report?): a {a_done:.1} s, b {b_done:.1} s");
    a.stop().await;
    b.stop().await;
}
