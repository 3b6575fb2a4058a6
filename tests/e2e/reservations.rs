//! Reservations: holds decided by the shared log, zero oversell across
//! platforms, confirm/cancel/expiry converging everywhere, idempotency keys,
//! and buyers confined to their own reservations.

use std::time::Duration;

use reqwest::Method;
use ticktak_tests::*;

/// Wait until a reservation leaves REQUESTED; returns its final view.
async fn decided(p: &Platform, buyer: &str, id: &str) -> serde_json::Value {
    eventually(Duration::from_secs(60), "a decision", || async {
        let (_, r) = p.as_buyer(Method::GET, &format!("/api/reservations/{id}"), Some(buyer)).await;
        (r["status"] != "REQUESTED").then_some(r)
    })
    .await
}

/// Counters of one ticket type on one platform, once `check` holds.
async fn counts_when(
    p: &Platform,
    category: usize,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    eventually(Duration::from_secs(60), what, || async {
        let (_, a) = p.get("/api/matches/1/availability").await;
        let c = a["categories"][category - 1].clone();
        check(&c).then_some(c)
    })
    .await
}

async fn start_market(names: &[&str], capacity: u32, hold_ttl: Duration) -> Vec<Platform> {
    let topic_env = unique("res");
    let envs: Vec<PlatformEnv> = names.iter().map(|n| PlatformEnv::new(n, &topic_env)).collect();
    ensure_topics(&envs[0].topics()).await;
    publish_masterlist(&envs[0].topics(), &masterlist_with_capacity(2, capacity)).await;
    let mut platforms = Vec::new();
    for env in envs {
        platforms.push(Platform::start_with_hold_ttl(env, hold_ttl).await);
    }
    for p in &platforms {
        counts_when(p, 1, "master list", |c| c["capacity"] == capacity).await;
    }
    platforms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_platforms_300_buyers_capacity_5_exactly_5_held_then_all_converge() {
    let platforms = std::sync::Arc::new(start_market(&["a", "b", "c"], 5, Duration::from_secs(600)).await);
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let platforms = platforms.clone();
        tasks.push(tokio::spawn(async move {
            let p = &platforms[i % 3];
            let buyer = format!("buyer-{i}");
            let (status, body) = p.reserve(&buyer, 1, 1, 1, None).await;
            (i % 3, buyer, status, body)
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        let (pi, buyer, status, body) = t.await.unwrap();
        assert!([201, 202, 409].contains(&status), "{status}: {body}");
        let body =
            if status == 202 { decided(&platforms[pi], &buyer, body["id"].as_str().unwrap()).await } else { body };
        if body["status"] == "HELD" {
            assert!(body["expiresAt"].is_string());
            assert_eq!((body["unitPrice"].as_u64(), body["total"].as_u64()), (Some(75), Some(75)));
            held.push((pi, buyer, body["id"].as_str().unwrap().to_string()));
        } else {
            assert_eq!(body["status"], "REJECTED", "{body}");
        }
    }
    assert_eq!(held.len(), 5, "exactly the capacity is held across the market");
    for p in platforms.iter() {
        let c = counts_when(p, 1, "5 held everywhere", |c| c["held"] == 5).await;
        assert_eq!(
            (c["sold"].as_u64(), c["sellable"].as_u64(), c["status"].as_str()),
            (Some(0), Some(0), Some("TEMPORARILY_UNAVAILABLE"))
        );
    }
    // Once every platform has applied the same log (the rejected holds
    // arrive after the fifth grant), the ledgers are equal.
    eventually(Duration::from_secs(60), "equal ledgers at equal offsets", || async {
        let mut ledgers = Vec::new();
        for p in platforms.iter() {
            let l = p.ledger().await;
            ledgers.push((l["offsets"].clone(), l["digest"].clone()));
        }
        ledgers.windows(2).all(|w| w[0] == w[1]).then_some(())
    })
    .await;

    // Two are paid, three cancelled: every platform converges.
    for (pi, buyer, id) in &held[..2] {
        let (status, body) = platforms[*pi].confirm(id).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("CONFIRMED")), "{buyer}");
        let (status, _) =
            platforms[*pi].as_buyer(Method::DELETE, &format!("/api/reservations/{id}"), Some(buyer)).await;
        assert_eq!(status, 409, "a paid reservation cannot be cancelled");
    }
    for (pi, buyer, id) in &held[2..] {
        let (status, body) =
            platforms[*pi].as_buyer(Method::DELETE, &format!("/api/reservations/{id}"), Some(buyer)).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("CANCELLED")));
        let (status, _) = platforms[*pi].confirm(id).await;
        assert_eq!(status, 409, "a cancelled hold cannot be paid");
    }
    for p in platforms.iter() {
        let c = counts_when(p, 1, "2 sold, 0 held everywhere", |c| c["sold"] == 2 && c["held"] == 0).await;
        assert_eq!((c["sellable"].as_u64(), c["available"].as_u64()), (Some(3), Some(3)));
    }
    let platforms = std::sync::Arc::try_unwrap(platforms).ok().expect("no other owner");
    for p in platforms {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_holds_return_their_tickets_on_every_platform() {
    let platforms = start_market(&["a", "b"], 3, Duration::from_secs(2)).await;
    let (status, body) = platforms[0].reserve("alice", 1, 2, 2, None).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    counts_when(&platforms[1], 2, "the hold seen on b", |c| c["held"] == 2 && c["sellable"] == 1).await;
    // A second buyer cannot take more than what is left.
    let (status, body) = platforms[1].reserve("bob", 1, 2, 2, None).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("REJECTED")), "{body}");

    let expired = eventually(Duration::from_secs(30), "expiry", || async {
        let (_, r) = platforms[0].as_buyer(Method::GET, &format!("/api/reservations/{id}"), Some("alice")).await;
        (r["status"] == "EXPIRED").then_some(r)
    })
    .await;
    assert!(expired["expiresAt"].is_string());
    for p in &platforms {
        counts_when(p, 2, "tickets back on sale", |c| c["held"] == 0 && c["sellable"] == 3).await;
    }
    let (status, _) = platforms[0].confirm(&id).await;
    assert_eq!(status, 409, "paying an expired hold is refused");
    for p in platforms {
        p.stop().await;
    }
}

/// A hold's time runs by one clock, the database's (it sets `expiresAt`
/// and the sweeper expires by it): with the database's clock a minute
/// behind the service's, as on two machines that disagree, a hold paid for
/// within its time is confirmed. (The payment compared the database's
/// `expiresAt` with the service's clock: it was refused as expired and the
/// hold released seconds after it was granted — found by a Jepsen run with
/// a database's clock set off, RELIABILITY.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_is_paid_for_within_its_time_when_the_database_clock_is_behind_the_services() {
    let database = ticktak_tests::postgres::OwnedPostgres::start().await.expect("a PostgreSQL of the test's own");
    database.skew(-60).expect("its clock set a minute behind");
    let mut env = PlatformEnv::new("a", &unique("clock"));
    let url = format!("postgres://ticktak:ticktak@127.0.0.1:{}/{}", database.port, env.database);
    env.extra.insert("DATABASE_URL".into(), url);
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_with_capacity(1, 5)).await;
    let p = Platform::start_with_hold_ttl(env, Duration::from_secs(30)).await;
    counts_when(&p, 1, "master list", |c| c["capacity"] == 5).await;

    let (status, body) = p.reserve("alice", 1, 1, 1, None).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let (status, body) = p.confirm(&id).await;
    assert_eq!(status, 200, "paid within its 30 s: {body}");
    let (_, r) = p.as_buyer(Method::GET, &format!("/api/reservations/{id}"), Some("alice")).await;
    assert_eq!(r["status"], "CONFIRMED", "{r}");
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_gives_one_reservation_and_the_first_answer() {
    let platforms = start_market(&["a"], 20, Duration::from_secs(600)).await;
    let p = &platforms[0];
    let (s1, first) = p.reserve("carol", 1, 3, 1, Some("order-1")).await;
    let (s2, again) = p.reserve("carol", 1, 3, 1, Some("order-1")).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, again);
    let (status, body) = p.reserve("carol", 1, 3, 2, Some("order-1")).await;
    assert_eq!(status, 422, "same key, different body: {body}");
    // Another buyer's key space is separate.
    let (status, other) = p.reserve("dave", 1, 3, 1, Some("order-1")).await;
    assert_eq!(status, 201);
    assert_ne!(other["id"], first["id"]);

    // 50 concurrent requests with one key: one reservation, one answer.
    let mut tasks = Vec::new();
    let p = std::sync::Arc::new(platforms.into_iter().next().unwrap());
    for _ in 0..50 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move { p.reserve("erin", 1, 3, 1, Some("burst")).await }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(status == 201 || status == 202, "{status} {body}");
        ids.insert(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1);
    let (_, list) = p.as_buyer(Method::GET, "/api/reservations", Some("erin")).await;
    assert_eq!(list["reservations"].as_array().unwrap().len(), 1);
    counts_when(&p, 3, "3 tickets held", |c| c["held"] == 3).await;
    std::sync::Arc::try_unwrap(p).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_request_leaves_no_stuck_idempotency_key() {
    let platforms = start_market(&["a"], 20, Duration::from_secs(600)).await;
    let p = &platforms[0];
    // Without shop-consumer no decision comes back: a reservation waits the
    // whole decision wait (2 s) before it answers.
    p.consumer.shutdown.cancel();
    let url = format!("{}/api/reservations", p.reservations.url());
    let body = serde_json::json!({"matchNumber": 1, "category": 2, "quantity": 1});
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let gone = impatient
        .post(&url)
        .bearer_auth(p.token("frank"))
        .header("idempotency-key", "order-7")
        .json(&body)
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up before the answer");

    let started = std::time::Instant::now();
    let (status, again) = p.reserve("frank", 1, 2, 1, Some("order-7")).await;
    assert_eq!(status, 202, "the repeat gets the reservation the first request made: {again}");
    assert!(started.elapsed() < Duration::from_secs(5), "no wait for a key that never finishes");
    let (_, list) = p.as_buyer(Method::GET, "/api/reservations", Some("frank")).await;
    let list = list["reservations"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "one reservation for one key: {list:?}");
    assert_eq!(list[0]["id"], again["id"]);
    // Later repeats get the first request's own answer, stored once it ended.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, last) = p.reserve("frank", 1, 2, 1, Some("order-7")).await;
    assert_eq!((status, &last["id"]), (202, &again["id"]));
    platforms.into_iter().next().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_holds_at_most_4_tickets_per_match_and_2_unpaid_holds() {
    let platforms = start_market(&["a"], 20, Duration::from_secs(600)).await;
    let p = &platforms[0];
    eventually(Duration::from_secs(60), "match 3", || async {
        let (_, a) = p.get("/api/matches/3/availability").await;
        (a["categories"][0]["capacity"] == 20).then_some(())
    })
    .await;
    let (first, _) = p.reserve("greedy", 1, 1, 2, None).await;
    let (second, held) = p.reserve("greedy", 1, 2, 2, None).await;
    assert_eq!((first, second), (201, 201));
    // Two unpaid holds: a third waits until one is paid or cancelled.
    let (status, body) = p.reserve("greedy", 3, 1, 1, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("purchase_limit")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("2 unpaid holds"));
    assert_eq!(p.confirm(held["id"].as_str().unwrap()).await.0, 200);
    // Four tickets of match 1 already (held and paid): no fifth.
    let (status, body) = p.reserve("greedy", 1, 3, 1, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("purchase_limit")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("4 tickets per match"));
    // Another match is fine.
    assert_eq!(p.reserve("greedy", 3, 1, 1, None).await.0, 201);

    // Ten at once from one account: exactly two unpaid holds.
    let p = std::sync::Arc::new(platforms.into_iter().next().unwrap());
    let burst: Vec<_> = (0..10)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.reserve("burst", 3, 2, 1, None).await.0 })
        })
        .collect();
    let mut placed = 0;
    for b in burst {
        let status = b.await.unwrap();
        assert!(matches!(status, 201 | 202 | 409), "{status}");
        placed += usize::from(status != 409);
    }
    assert_eq!(placed, 2);
    let (_, list) = p.as_buyer(Method::GET, "/api/reservations", Some("burst")).await;
    assert_eq!(list["reservations"].as_array().unwrap().len(), 2);
    // A cancelled hold gives its place back.
    let id = list["reservations"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(p.as_buyer(Method::DELETE, &format!("/api/reservations/{id}"), Some("burst")).await.0, 200);
    assert_eq!(p.reserve("burst", 3, 2, 1, None).await.0, 201);
    std::sync::Arc::try_unwrap(p).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_see_only_their_own_reservations_and_bad_input_is_a_json_4xx() {
    let platforms = start_market(&["a"], 20, Duration::from_secs(600)).await;
    let p = &platforms[0];
    let (status, mine) = p.reserve("alice", 3, 1, 1, None).await;
    assert_eq!(status, 201);
    let id = mine["id"].as_str().unwrap();
    let path = format!("/api/reservations/{id}");
    assert_eq!(p.as_buyer(Method::GET, &path, Some("alice")).await.0, 200);
    assert_eq!(p.as_buyer(Method::GET, &path, Some("mallory")).await.0, 404);
    assert_eq!(p.as_buyer(Method::DELETE, &path, Some("mallory")).await.0, 404);
    let (_, list) = p.as_buyer(Method::GET, "/api/reservations", Some("mallory")).await;
    assert_eq!(list["reservations"].as_array().unwrap().len(), 0);
    let (_, list) = p.as_buyer(Method::GET, "/api/reservations", Some("alice")).await;
    assert_eq!(list["reservations"][0]["id"], id);

    // No token, a forged token, an expired token: 401 JSON.
    let (status, body) = p.as_buyer(Method::GET, "/api/reservations", None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")));
    let claims = |ttl: i64| {
        let subject = ticktak_kit::auth::Subject {
            sub: "alice".into(),
            email: "alice@example.com".into(),
            role: ticktak_kit::auth::Role::Buyer,
            country: "QA".into(),
            email_verified: true,
        };
        let mut c = ticktak_kit::auth::Claims::issue(subject, "ticktak-a", &["ticktak-a".into()], Duration::ZERO);
        c.exp = c.iat + ttl;
        c
    };
    let forged = ticktak_kit::auth::SigningKey::generate().sign(&claims(60));
    // exp in the past beyond the leeway
    let expired = ticktak_kit::auth::SigningKey::dev().sign(&claims(-60));
    let wrong_audience = {
        let mut c = claims(60);
        c.aud = vec!["ticktak-b".into()];
        ticktak_kit::auth::SigningKey::dev().sign(&c)
    };
    // HS256 keyed with the published public key, and an unsigned token.
    let kid = ticktak_kit::auth::SigningKey::dev().kid().to_string();
    let mut hs256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs256.kid = Some(kid.clone());
    let hs256 =
        jsonwebtoken::encode(&hs256, &claims(60), &jsonwebtoken::EncodingKey::from_secret(dev_jwks().as_bytes()))
            .unwrap();
    let valid = p.token("alice");
    let unsigned_header = base64_url(&format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let alg_none = format!("{unsigned_header}.{}.", valid.split('.').nth(1).unwrap());
    for token in [forged.as_str(), expired.as_str(), "garbage", &wrong_audience, &hs256, &alg_none] {
        let res =
            p.http.get(format!("{}/api/reservations", p.reservations.url())).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }

    // Bad bodies.
    let url = format!("{}/api/reservations", p.reservations.url());
    let token = p.token("alice");
    for (body, content_type, expected) in [
        (r#"{"matchNumber":1,"category":1,"quantity":0}"#, "application/json", 422),
        (r#"{"matchNumber":1,"category":1,"quantity":99}"#, "application/json", 422),
        (r#"{"matchNumber":65,"category":1,"quantity":1}"#, "application/json", 422),
        (r#"{"matchNumber":50,"category":1,"quantity":1}"#, "application/json", 404),
        (r#"{"matchNumber":1,"category":4,"quantity":1}"#, "application/json", 422),
        (r#"{"matchNumber":"1","category":1,"quantity":1}"#, "application/json", 422),
        (r#"{"matchNumber":1,"category":1,"quantity":1,"price":1}"#, "application/json", 422),
        (r#"{"matchNumber":1,"#, "application/json", 400),
        (r#"{"matchNumber":1,"category":1,"quantity":1}"#, "text/plain", 415),
    ] {
        let res =
            p.http.post(&url).bearer_auth(&token).header("content-type", content_type).body(body).send().await.unwrap();
        let status = res.status().as_u16();
        let json: serde_json::Value = res.json().await.unwrap_or_default();
        assert_eq!(status, expected, "{body}: {json}");
        assert!(json["message"].is_string(), "{body}: {json}");
    }
    let (status, doc) = p.as_buyer(Method::GET, "/api/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/api/reservations"]["post"].is_object(), "{doc}");
    assert!(doc["paths"]["/api/reservations/{id}"]["delete"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let huge = format!(r#"{{"matchNumber":1,"category":1,"quantity":1,"pad":"{}"}}"#, "x".repeat(100_000));
    let res = p
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    for p in platforms {
        p.stop().await;
    }
}

/// Platform `c` runs as processes so its relay (in reservations) and its
/// consumer can be SIGKILLed in the middle of the race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_race_survives_killing_one_platforms_relay_and_consumer() {
    use ticktak_tests::process::{free_port, spawn, terminate, wait_ready};

    let topic_env = unique("chaos");
    let env_c = PlatformEnv::new("c", &topic_env);
    let topics = env_c.topics();
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(2, 5)).await;
    let mut platforms = Vec::new();
    for name in ["a", "b"] {
        platforms.push(Platform::start(PlatformEnv::new(name, &topic_env)).await);
    }

    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let url = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
    let mut vars = env_c.vars();
    vars.insert("SHOP_INTERNAL_PORT".into(), ports[0].to_string());
    vars.insert("RESERVATIONS_INTERNAL_PORT".into(), ports[1].to_string());
    vars.insert("SHOP_CONSUMER_INTERNAL_PORT".into(), ports[2].to_string());
    vars.insert("SHOP_URL".into(), url(0));
    vars.insert("RESERVATIONS_URL".into(), url(1));
    vars.insert("SWEEP_INTERVAL_MS".into(), "200".into());
    let shop = spawn("shop", &vars);
    wait_ready(&format!("{}/ready", url(0))).await;
    let mut reservations = spawn("reservations", &vars);
    let mut consumer = spawn("shop-consumer", &vars);
    wait_ready(&format!("{}/ready", url(1))).await;
    wait_ready(&format!("{}/ready", url(2))).await;
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(60), "c has the master list", || async {
        let r = http.get(format!("{}/api/matches/1/availability", url(0))).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    let c_url = url(1);
    let platforms = std::sync::Arc::new(platforms);
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let platforms = platforms.clone();
        let c_url = c_url.clone();
        tasks.push(tokio::spawn(async move {
            let buyer = format!("buyer-{i}");
            if i % 3 == 2 {
                // Requests to c may fail while its processes are down.
                let _ = reqwest::Client::new()
                    .post(format!("{c_url}/api/reservations"))
                    .bearer_auth(ticktak_tests::dev_token(&buyer, "c"))
                    .json(&serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 1}))
                    .send()
                    .await;
            } else {
                platforms[i % 3].reserve(&buyer, 1, 1, 1, None).await;
            }
        }));
        if i == 100 {
            reservations.start_kill().unwrap();
            consumer.start_kill().unwrap();
        }
        if i == 200 {
            reservations.wait().await.unwrap();
            consumer.wait().await.unwrap();
            reservations = spawn("reservations", &vars);
            consumer = spawn("shop-consumer", &vars);
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    wait_ready(&format!("{}/ready", url(1))).await;
    wait_ready(&format!("{}/ready", url(2))).await;
    // The restarted processes are the ones answering: none exited (a port
    // taken meanwhile, a failed start), so what follows is theirs.
    for (name, child) in [("reservations", &mut reservations), ("shop-consumer", &mut consumer)] {
        assert!(child.try_wait().unwrap().is_none(), "c's restarted {name} exited");
    }

    // Once everything is back: nothing stuck in REQUESTED, exactly 5 held.
    let mut held = 0;
    for env in [&platforms[0].env, &platforms[1].env, &env_c] {
        let pool = sqlx::PgPool::connect(&database_url(&env.database)).await.unwrap();
        let waited = std::time::Instant::now();
        loop {
            let stuck: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
                "SELECT id, created_at::text, coalesce(republished_at::text, 'never') \
                 FROM reservations.reservations WHERE status = 'REQUESTED' ORDER BY created_at",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            if stuck.is_empty() {
                break;
            }
            if waited.elapsed() > Duration::from_secs(60) {
                // What the next reader of a failure needs: the rows, what
                // the platform's shop knows of them, and c's processes.
                let shop: Vec<(uuid::Uuid, String)> =
                    sqlx::query_as("SELECT hold_id, status FROM shop.holds WHERE hold_id = ANY($1)")
                        .bind(stuck.iter().map(|r| r.0).collect::<Vec<_>>())
                        .fetch_all(&pool)
                        .await
                        .unwrap_or_default();
                let alive = [reservations.try_wait().ok().flatten(), consumer.try_wait().ok().flatten()];
                panic!(
                    "{}: reservations left REQUESTED after 60 s (id, created, republished): {stuck:?}; \
                     the shop's holds of them: {shop:?}; now {:?}; c's reservations and shop-consumer exited: {alive:?}",
                    env.platform_id,
                    chrono::Utc::now()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let h: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations.reservations WHERE status = 'HELD'")
            .fetch_one(&pool)
            .await
            .unwrap();
        held += h;
        pool.close().await;
    }
    assert_eq!(held, 5, "no oversell across the market");
    for p in platforms.iter() {
        counts_when(p, 1, "5 held on a and b", |c| c["held"] == 5 && c["sold"] == 0).await;
    }
    eventually(Duration::from_secs(60), "5 held on c", || async {
        let a: serde_json::Value =
            http.get(format!("{}/api/matches/1/availability", url(0))).send().await.ok()?.json().await.ok()?;
        (a["categories"][0]["held"] == 5).then_some(())
    })
    .await;

    for child in [&consumer, &reservations, &shop] {
        terminate(child);
    }
    for mut child in [consumer, reservations, shop] {
        assert_eq!(child.wait().await.unwrap().code(), Some(0));
    }
    for p in std::sync::Arc::try_unwrap(platforms).ok().unwrap() {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_committed_but_never_published_is_published_by_the_relay() {
    use reservations::store::{self, Origin, Reservation, ReservationStatus as Status};
    use ticktak_core::{Category, MatchNumber, PlatformId, Price, Quantity, TicketType};

    let platforms = start_market(&["a"], 10, Duration::from_secs(600)).await;
    let p = &platforms[0];
    // What a crash between the commit and the publish leaves behind: the
    // reservation and its outbox row, and nothing in the log.
    let options: sqlx::postgres::PgConnectOptions = database_url(&p.env.database).parse().unwrap();
    let pool = sqlx::PgPool::connect_with(options.options([("search_path", "reservations")])).await.unwrap();
    let origin = Origin {
        topic: p.env.topics().sales,
        platform: PlatformId::new(p.env.platform_id.clone()).unwrap(),
        naive: false,
        buyers: ticktak_kit::buyer::BuyerKey::development(),
    };
    let tt = TicketType::new(MatchNumber::new(1).unwrap(), Category::new(3).unwrap());
    let r = Reservation::new("carol", tt, Quantity::new(2).unwrap(), Price::new(40).unwrap(), Status::Requested, None);
    let caps = store::Caps { tickets_per_match: 0, open_holds: 0 };
    store::insert_new(&pool, &origin, &r, None, caps).await.unwrap().expect("no caps");

    let view = decided(p, "carol", &r.id.to_string()).await;
    assert_eq!(view["status"], "HELD", "{view}");
    counts_when(p, 3, "the hold in the ledger", |c| c["held"] == 2).await;
    eventually(Duration::from_secs(30), "the outbox row marked sent", || async {
        let unsent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetch_one(&pool).await.ok()?;
        (unsent == 0).then_some(())
    })
    .await;
    pool.close().await;
    for p in platforms {
        p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_reach_buyers_through_the_poller_when_the_push_fails() {
    let topic_env = unique("poller");
    let env = PlatformEnv::new("a", &topic_env);
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_with_capacity(2, 20)).await;
    let p = std::sync::Arc::new(Platform::start_configured(env, |o| o.push_decisions = false).await);
    counts_when(&p, 1, "master list", |c| c["capacity"] == 20).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move { p.reserve(&format!("poll-{i}"), 1, 1, 1, None).await })
        })
        .collect();
    let mut ids = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        assert!(matches!(status, 201 | 202 | 409), "{status} {body}");
        if let Some(id) = body["id"].as_str() {
            ids.push((format!("poll-{i}"), id.to_string()));
        }
    }
    let mut held = 0;
    for (buyer, id) in &ids {
        let view = decided(&p, buyer, id).await;
        held += usize::from(view["status"] == "HELD");
    }
    assert_eq!(held, 20, "every ticket held once, every decision delivered by the poller");
    assert!(process::metric(&p.consumer.url(), "consumer_decisions_forward_errors_total").await >= 1.0);
    std::sync::Arc::try_unwrap(p).ok().unwrap().stop().await;
}

/// The platform's reservations database, as its service sees it.
async fn reservations_db(p: &Platform) -> sqlx::PgPool {
    let options: sqlx::postgres::PgConnectOptions = database_url(&p.env.database).parse().unwrap();
    sqlx::PgPool::connect_with(options.options([("search_path", "reservations")])).await.unwrap()
}

/// A REQUESTED reservation of `buyer` whose TICKET_PENDING was lost: in the
/// reservations table, nowhere in the outbox or the log.
async fn lost_request(p: &Platform, buyer: &str, category: u8) -> uuid::Uuid {
    let pool = reservations_db(p).await;
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO reservations (id, buyer_id, match_number, category, quantity, unit_price, status) \
         VALUES ($1, $2, 1, $3, 1, 40, 'REQUESTED')",
    )
    .bind(id)
    .bind(buyer)
    .bind(i16::from(category))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pending_is_published_again_until_the_log_decides() {
    let topic_env = unique("republish");
    let env = PlatformEnv::new("a", &topic_env);
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_with_capacity(2, 10)).await;
    let p = Platform::start_configured(env, |o| o.reservations.republish_after = Duration::from_secs(1)).await;
    counts_when(&p, 2, "master list", |c| c["capacity"] == 10).await;
    let id = lost_request(&p, "gina", 2).await;
    let view = decided(&p, "gina", &id.to_string()).await;
    assert_eq!(view["status"], "HELD", "{view}");
    counts_when(&p, 2, "the hold in the ledger", |c| c["held"] == 1).await;
    assert!(process::metric(&p.reservations.url(), "reservations_republished_total").await >= 1.0);
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_never_decided_is_rejected_and_its_late_pending_holds_nothing() {
    let topic_env = unique("timeout");
    let env = PlatformEnv::new("a", &topic_env);
    let topics = env.topics();
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(2, 10)).await;
    let p = Platform::start_configured(env, |o| {
        o.reservations.republish_after = Duration::from_secs(3600);
        o.reservations.request_timeout = Duration::from_secs(2);
    })
    .await;
    counts_when(&p, 2, "master list", |c| c["capacity"] == 10).await;
    let id = lost_request(&p, "hank", 2).await;
    let view = decided(&p, "hank", &id.to_string()).await;
    assert_eq!((view["status"].as_str(), view["reason"].as_str()), (Some("REJECTED"), Some("not decided in time")));
    assert!(process::metric(&p.reservations.url(), "reservations_timed_out_total").await >= 1.0);

    // The cancel reaches the ledger, which remembers the hold as refused…
    let hold_url = format!("{}/internal/holds/{id}", p.shop.internal_url());
    eventually(Duration::from_secs(60), "the cancel in the ledger", || async {
        let res = p
            .http
            .get(&hold_url)
            .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
            .send()
            .await
            .ok()?;
        let hold: serde_json::Value = res.json().await.ok()?;
        (hold["status"] == "REJECTED").then_some(())
    })
    .await;
    // …so the lost PENDING, turning up after all, holds nothing.
    let tt = ticktak_core::TicketType::new(
        ticktak_core::MatchNumber::new(1).unwrap(),
        ticktak_core::Category::new(2).unwrap(),
    );
    let pending = ticktak_core::SaleMessage::single(
        ticktak_core::Action::TicketPending,
        tt,
        ticktak_core::Quantity::new(1).unwrap(),
        ticktak_core::Price::new(40).unwrap(),
    );
    let platform = ticktak_core::PlatformId::new("a").unwrap();
    let headers = ticktak_core::headers::SaleHeaders::for_hold(&platform, ticktak_core::HoldId(id));
    let (partition, offset) = produce_sale(&producer(), &topics, &pending, Some(&headers)).await;
    let ledger = eventually(Duration::from_secs(60), "the late PENDING applied", || async {
        let l = p.ledger().await;
        let applied = l["offsets"].as_array()?.iter().any(|o| {
            o["topic"] == topics.sales.as_str()
                && o["partition"] == partition
                && o["lastOffset"].as_i64() >= Some(offset)
        });
        applied.then_some(l)
    })
    .await;
    let c = ledger["types"].as_array().unwrap().iter().find(|t| t["matchNumber"] == 1 && t["category"] == 2).unwrap();
    assert_eq!(c["held"], 0, "no ghost hold: {c}");
    p.stop().await;
}

/// Only an account whose owner confirmed the address buys: a valid token
/// without `email_verified` (an unconfirmed account, or a trusted peer's
/// token that does not say) neither holds nor joins a waiting room, and
/// still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_whose_address_is_not_confirmed_neither_holds_nor_queues() {
    let platforms = start_market(&["a"], 20, Duration::from_secs(600)).await;
    let p = &platforms[0];
    let subject = ticktak_kit::auth::Subject {
        sub: unique("unconfirmed"),
        email: "unconfirmed@example.com".into(),
        role: ticktak_kit::auth::Role::Buyer,
        country: "QA".into(),
        email_verified: false,
    };
    let claims =
        ticktak_kit::auth::Claims::issue(subject, "ticktak-a", &["ticktak-a".into()], Duration::from_secs(600));
    let token = ticktak_kit::auth::SigningKey::dev().sign(&claims);
    let call = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let mut req = p.http.request(method, format!("{}{path}", p.reservations.url())).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let hold = serde_json::json!({"matchNumber": 1, "category": 1, "quantity": 1});
    let (status, body) = call(Method::POST, "/api/reservations", Some(hold)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("email_unverified")), "{body}");
    let join = serde_json::json!({"matchNumber": 1, "category": 1});
    let (status, body) = call(Method::POST, "/api/queue", Some(join)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("email_unverified")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("confirm your e-mail address"), "{body}");
    let (status, _) = call(Method::GET, "/api/reservations", None).await;
    assert_eq!(status, 200, "reading is fine");
    // Nothing was held.
    let (_, availability) = p.get("/api/matches/1/availability").await;
    assert_eq!(availability["categories"][0]["held"], 0, "{availability}");
    // The same buyer, confirmed, holds.
    let (status, body) = p.reserve("confirmed-buyer", 1, 1, 1, None).await;
    assert_eq!(status, 201, "{body}");
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// A hold costs the broker one record, its TICKET_PENDING: a request is no
/// booking event, and the status changes one statement makes (here an
/// expiry sweep of three holds) are one message on the bookings topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_events_leave_requests_out_and_travel_one_message_per_statement() {
    let topic_env = unique("bookings");
    let env = PlatformEnv::new("a", &topic_env);
    let topics = env.topics();
    ensure_topics(&topics).await;
    publish_masterlist(&topics, &masterlist_with_capacity(2, 10)).await;
    let p = Platform::start(env).await;
    counts_when(&p, 2, "master list", |c| c["capacity"] == 10).await;

    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, body) = p.reserve(&format!("fan{i}"), 1, 2, 1, None).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(p.confirm(&ids[0]).await.0, 200);
    // Three holds run out together: one statement moves their expiry (no
    // status changes, no event), one sweep expires all three.
    let pool = reservations_db(&p).await;
    let due: Vec<uuid::Uuid> = ids[2..].iter().map(|id| id.parse().unwrap()).collect();
    sqlx::query("UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = ANY($1)")
        .bind(&due)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    for (i, id) in ids.iter().enumerate().skip(2) {
        eventually(Duration::from_secs(30), "the expiry", || async {
            let (_, r) = p.as_buyer(Method::GET, &format!("/api/reservations/{id}"), Some(&format!("fan{i}"))).await;
            (r["status"] == "EXPIRED").then_some(())
        })
        .await;
    }

    // Five HELD, one CONFIRMED, three EXPIRED; read until all are there.
    let topic = topics.bookings("a");
    let (messages, events) = eventually(Duration::from_secs(30), "the booking events", || async {
        let messages = ticktak_tests::log::read_topic(&topic, 3).await;
        let mut events = Vec::new();
        for m in &messages {
            let batch: ticktak_contracts::analytics::BookingMessage = serde_json::from_slice(&m.payload).unwrap();
            let batch = batch.events().unwrap();
            assert!(matches!(serde_json::from_slice(&m.payload).unwrap(), serde_json::Value::Array(_)));
            events.extend(batch.into_iter().map(|e| ((m.partition, m.offset), e)));
        }
        (events.len() >= 9).then_some((messages, events))
    })
    .await;
    // One reservation's events may sit on different partitions (a message
    // is keyed by its first event): their times order them.
    let statuses = |id: &str| -> Vec<String> {
        let mut mine: Vec<_> = events.iter().map(|(_, e)| e).filter(|e| e.reservation_id == id).collect();
        mine.sort_by_key(|e| e.at);
        mine.into_iter().map(|e| e.status.clone()).collect()
    };
    assert_eq!(statuses(&ids[0]), ["HELD", "CONFIRMED"]);
    assert_eq!(statuses(&ids[1]), ["HELD"]);
    for id in &ids[2..] {
        assert_eq!(statuses(id), ["HELD", "EXPIRED"]);
    }
    assert_eq!(events.len(), 9, "no REQUESTED, nothing else: {events:?}");
    let expired: std::collections::BTreeSet<_> =
        events.iter().filter(|(_, e)| e.status == "EXPIRED").map(|(at, _)| *at).collect();
    assert_eq!(expired.len(), 1, "the sweep's three expiries are one message");
    assert!(messages.len() <= 7, "{} messages for 9 events", messages.len());
    for (_, e) in &events {
        assert_eq!((e.country.as_deref(), e.amount, e.match_number, e.category), (Some("QA"), 125, 1, 2));
        assert!(!e.buyer.contains("fan"), "the buyer is a pseudonym: {}", e.buyer);
    }
    p.stop().await;
}

/// Caps per person across the market: the same person (the same e-mail
/// address, a pseudonym on the wire) cannot pass the market's cap for a
/// match, over its categories, by using a second platform; every
/// platform's ledger decides alike; a released hold gives the tickets back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_cannot_pass_the_cap_of_a_match_by_using_two_platforms() {
    let platforms = start_market(&["a", "b"], 50, Duration::from_secs(600)).await;
    let (a, b) = (&platforms[0], &platforms[1]);
    let ana = unique("ana");
    // The market's cap for one match (4) reached on platform a, over two
    // categories.
    let (status, first) = a.reserve(&ana, 1, 1, 2, None).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = a.reserve(&ana, 1, 2, 2, None).await;
    assert_eq!(status, 201, "{second}");
    // On platform b her account is new, and its own caps let her ask, in a
    // category she holds nothing of; the log refuses her on every platform.
    let reserve_on_b = |category: u8, quantity: u8| {
        let ana = ana.clone();
        async move {
            let (status, hold) = b.reserve(&ana, 1, category, quantity, None).await;
            match status {
                202 => decided(b, &ana, hold["id"].as_str().unwrap()).await,
                _ => hold,
            }
        }
    };
    let over = reserve_on_b(3, 1).await;
    assert_eq!(over["status"], "REJECTED", "{over}");
    // Someone else on b is not held back by her, nor is she at another
    // match (the master list's second: match 3).
    assert_eq!(b.reserve(&unique("bea"), 1, 3, 2, None).await.0, 201);
    assert_eq!(b.reserve(&ana, 3, 1, 1, None).await.0, 201);
    // Both ledgers agree: her refused hold is not among the held.
    for p in [a, b] {
        counts_when(p, 1, "her 2 held of category 1", |c| c["held"] == 2).await;
        counts_when(p, 3, "only bea's 2 held of category 3", |c| c["held"] == 2).await;
    }
    // She lets her category-1 hold on a go: two tickets of the match fit
    // again, on b too (she has one unpaid hold there already, and may have two).
    let path = format!("/api/reservations/{}", first["id"].as_str().unwrap());
    assert_eq!(a.as_buyer(Method::DELETE, &path, Some(&ana)).await.0, 200);
    counts_when(b, 1, "nothing held of category 1", |c| c["held"] == 0).await;
    let again = reserve_on_b(3, 2).await;
    assert!(matches!(again["status"].as_str(), Some("HELD")), "{again}");
    eventually(Duration::from_secs(60), "equal ledgers on both platforms", || async {
        let (x, y) = (a.ledger().await, b.ledger().await);
        (x["digest"] == y["digest"] && x["holds"] == 6).then_some(())
    })
    .await;
}
