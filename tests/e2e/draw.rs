//! Random selection draws on two platforms: the organisers open a draw
//! (`draw open`), buyers of both platforms apply, the organisers reveal the
//! seed (`draw reveal`), both platforms draw the same winners and `draw
//! verify` prints their digest from the topic alone; winners pay through
//! their holds, an unpaid allocation passes to the next applicant; a
//! tampered seed or application does not count, and `draw verify` says so.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use ticktak_core::draw::{Application, DrawMessage, SeedReveal};
use ticktak_core::headers::{CLIENT_ID, SIGNATURE};
use ticktak_core::{BuyerId, Category, MatchNumber, PlatformId};
use ticktak_kit::kafka::{self, trust, Record};
use ticktak_tests::*;

const WAIT: Duration = Duration::from_secs(30);

/// `method path` on `p`'s reservations as `buyer` (or with `token`).
async fn call(p: &Platform, method: Method, path: &str, token: Option<String>, body: Option<Value>) -> (u16, Value) {
    let mut req = p.http.request(method, format!("{}{path}", p.reservations.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("reservations answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn apply(p: &Platform, buyer: &str, category: u8, quantity: i64) -> (u16, Value) {
    let body = json!({"matchNumber": 1, "category": category, "quantity": quantity});
    call(p, Method::POST, "/api/draws/applications", Some(p.token(buyer)), Some(body)).await
}

async fn mine(p: &Platform, buyer: &str) -> Vec<Value> {
    let (status, body) = call(p, Method::GET, "/api/draws/applications", Some(p.token(buyer)), None).await;
    assert_eq!(status, 200, "{body}");
    body["applications"].as_array().cloned().unwrap_or_default()
}

async fn draw_view(p: &Platform, draw: &str) -> Value {
    call(p, Method::GET, &format!("/api/draws/{draw}"), None, None).await.1
}

fn secret_file(draw: &str) -> String {
    std::env::temp_dir().join(format!("{draw}.seed")).display().to_string()
}

/// Open draw `draw` of match 1 category 1 (`stock` tickets) for `secs`.
fn open_draw(env: &PlatformEnv, draw: &str, stock: u32, secs: i64) -> chrono::DateTime<chrono::Utc> {
    let closes = chrono::Utc::now() + chrono::Duration::seconds(secs);
    let closes_text = closes.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let stock = format!("1-1={stock}");
    let out = draw_tool(
        &env.topic_env,
        &[
            "open",
            "--draw",
            draw,
            "--stock",
            &stock,
            "--opens",
            "now",
            "--closes",
            &closes_text,
            "--payment-window-minutes",
            "5",
            "--secret-file",
            &secret_file(draw),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    closes
}

async fn until_closed(closes: chrono::DateTime<chrono::Utc>) {
    let left = closes - chrono::Utc::now();
    if let Ok(left) = left.to_std() {
        tokio::time::sleep(left + Duration::from_millis(300)).await;
    }
}

async fn drawn(p: &Platform, draw: &str) -> Value {
    eventually(WAIT, "the draw drawn", || async {
        let d = draw_view(p, draw).await;
        (d["state"] == "drawn").then_some(d)
    })
    .await
}

async fn start_two(topic_env: &str) -> (Vec<PlatformEnv>, Platform, Platform) {
    let envs = vec![PlatformEnv::new("a", topic_env), PlatformEnv::new("b", topic_env)];
    ensure_topics(&envs[0].topics()).await;
    publish_masterlist(&envs[0].topics(), &masterlist_match_1_in_future(2, 10)).await;
    let a = Platform::start(envs[0].clone()).await;
    let b = Platform::start(envs[1].clone()).await;
    for p in [&a, &b] {
        eventually(WAIT, "the master list", || async {
            (p.get("/api/matches/1/availability").await.1["categories"][0]["capacity"] == 10).then_some(())
        })
        .await;
    }
    (envs, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_platforms_draw_the_same_winners_who_pay_and_unpaid_tickets_pass_on() {
    let topic_env = unique("draw");
    let (envs, a, b) = start_two(&topic_env).await;
    let draw = unique("final");
    let closes = open_draw(&envs[0], &draw, 2, 20);
    for p in [&a, &b] {
        eventually(WAIT, "the draw open", || async { (draw_view(p, &draw).await["state"] == "open").then_some(()) })
            .await;
        eventually(WAIT, "the draw phase", || async {
            let c = p.get("/api/matches/1/availability").await.1["categories"][0].clone();
            (c["phase"] == "draw").then_some(())
        })
        .await;
    }
    // No first-come-first-served while the draw is open.
    let (status, body) = a.reserve(&unique("rusher"), 1, 1, 1, None).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("sale_closed")), "{body}");

    // Three buyers on each platform, one person on both (counted once).
    let mut buyers: Vec<(&Platform, String)> = Vec::new();
    for (p, name) in [(&a, "ana"), (&a, "ali"), (&a, "amy"), (&b, "bob"), (&b, "ben"), (&b, "bea")] {
        let buyer = unique(name);
        let (status, body) = apply(p, &buyer, 1, 1).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["state"], "open", "{body}");
        buyers.push((p, buyer));
    }
    let twice = &buyers[0].1;
    let (status, body) = apply(&b, twice, 1, 1).await;
    assert_eq!(status, 201, "another platform takes the same person's application: {body}");
    // Edit, then withdraw and apply again: one application, its latest version.
    let id = mine(&a, &buyers[1].1).await[0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/draws/applications/{id}");
    let (status, body) = call(&a, Method::PUT, &path, Some(a.token(&buyers[1].1)), Some(json!({"quantity": 2}))).await;
    assert_eq!((status, body["quantity"].as_u64()), (200, Some(2)), "{body}");
    let (status, body) = call(&a, Method::DELETE, &path, Some(a.token(&buyers[1].1)), None).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("withdrawn")), "{body}");
    let (status, body) = apply(&a, &buyers[1].1, 1, 1).await;
    assert_eq!((status, body["id"].as_str()), (201, Some(id.as_str())), "applying again revives it: {body}");
    for p in [&a, &b] {
        eventually(WAIT, "every application on every platform", || async {
            (draw_view(p, &draw).await["applications"] == 7).then_some(())
        })
        .await;
    }

    until_closed(closes).await;
    let (status, body) = apply(&a, &unique("late"), 1, 1).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("sale_closed")), "after the close: {body}");
    assert_eq!(mine(&b, &buyers[3].1).await[0]["state"], "closed");
    let out = draw_tool(&envs[0].topic_env, &["reveal", "--draw", &draw, "--secret-file", &secret_file(&draw)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (da, db) = (drawn(&a, &draw).await, drawn(&b, &draw).await);
    let digest = da["winnersDigest"].as_str().expect("a digest").to_string();
    assert_eq!(db["winnersDigest"], da["winnersDigest"], "both platforms drew the same winners");
    assert_eq!((da["winners"].as_i64(), da["duplicates"].as_i64()), (Some(2), Some(1)), "{da}");
    assert_eq!(da["seed"], db["seed"]);
    let out = draw_tool(&envs[1].topic_env, &["verify", "--draw", &draw, "--expect", &digest]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains(&format!("winners' digest: {digest}")), "{printed}");

    // Each buyer sees their result; two won, each with a hold to pay.
    let mut won = Vec::new();
    let mut waitlisted = Vec::new();
    let mut duplicates = 0;
    for (p, buyer) in buyers.iter().chain([(&b, twice.clone())].iter()) {
        let results = eventually(WAIT, "a result", || async {
            let mine = mine(p, buyer).await;
            mine.iter().all(|a| a["state"] != "won" || a["reservationId"].is_string()).then_some(mine)
        })
        .await;
        for r in results {
            match r["state"].as_str() {
                Some("won") => won.push((*p, buyer.clone(), r)),
                Some("waitlisted") => waitlisted.push((*p, buyer.clone(), r)),
                Some("duplicate") => {
                    assert_eq!(buyer, twice, "only the person who applied twice: {r}");
                    duplicates += 1;
                }
                other => panic!("{other:?}: {r}"),
            }
        }
    }
    let results: Vec<&Value> = won.iter().chain(&waitlisted).map(|(_, _, r)| r).collect();
    assert_eq!((won.len(), duplicates), (2, 1), "{results:?}");
    let mut places: Vec<i64> = waitlisted.iter().map(|(_, _, r)| r["place"].as_i64().unwrap()).collect();
    places.sort();
    assert_eq!(places, vec![1, 2, 3, 4], "one list in draw order across platforms");
    for (p, buyer, r) in &won {
        let id = r["reservationId"].as_str().unwrap();
        let held = eventually(WAIT, "the winner's hold granted", || async {
            let (_, body) = p.as_buyer(Method::GET, &format!("/api/reservations/{id}"), Some(buyer)).await;
            (body["status"] == "HELD").then_some(body)
        })
        .await;
        let expires: chrono::DateTime<chrono::Utc> = held["expiresAt"].as_str().unwrap().parse().unwrap();
        let window = expires - chrono::Utc::now();
        assert!(window > chrono::Duration::minutes(4) && window <= chrono::Duration::minutes(5), "{held}");
        let mails = mail::wait_for(&mail::maildev_url(), &format!("{buyer}@example.com"), 1, WAIT).await;
        assert!(mails.iter().any(|m| m.subject.starts_with("You won the ticket draw")), "{mails:?}");
    }
    let (_, told, _) = &waitlisted[0];
    let mails = mail::wait_for(&mail::maildev_url(), &format!("{told}@example.com"), 1, WAIT).await;
    assert!(mails.iter().any(|m| m.text.as_deref().is_some_and(|t| t.contains("You are number"))), "{mails:?}");

    // The first winner pays; the second lets the hold go: the first on the
    // list gets the tickets.
    let (p, _, r) = &won[0];
    let (status, body) = p.confirm(r["reservationId"].as_str().unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("CONFIRMED")), "{body}");
    let (p, buyer, r) = &won[1];
    let (status, _) = p
        .as_buyer(Method::DELETE, &format!("/api/reservations/{}", r["reservationId"].as_str().unwrap()), Some(buyer))
        .await;
    assert_eq!(status, 200);
    let (next_p, next, _) = waitlisted.iter().find(|(_, _, r)| r["place"] == 1).unwrap();
    let second = eventually(WAIT, "the tickets passed on", || async {
        let r = mine(next_p, next).await.remove(0);
        (r["state"] == "won" && r["reservationId"].is_string()).then_some(r)
    })
    .await;
    let mails = mail::wait_for(&mail::maildev_url(), &format!("{next}@example.com"), 2, WAIT).await;
    assert!(mails.iter().any(|m| m.subject.starts_with("Tickets passed on to you")), "{mails:?}");
    let id = second["reservationId"].as_str().unwrap();
    eventually(WAIT, "the second chance's hold granted", || async {
        let (_, body) = next_p.as_buyer(Method::GET, &format!("/api/reservations/{id}"), Some(next)).await;
        (body["status"] == "HELD").then_some(())
    })
    .await;
    let (status, _) = next_p.confirm(id).await;
    assert_eq!(status, 200);
    // The others stay on the list, moved up; both ledgers count two sold.
    for (p, buyer, _) in waitlisted.iter().filter(|(_, b, _)| b != next) {
        let r = mine(p, buyer).await.remove(0);
        assert_eq!(r["state"], "waitlisted", "{r}");
    }
    for p in [&a, &b] {
        eventually(WAIT, "two sold, none held", || async {
            let c = p.get("/api/matches/1/availability").await.1["categories"][0].clone();
            (c["sold"] == 2 && c["held"] == 0).then_some(())
        })
        .await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_applications_get_a_clear_4xx_and_a_tampered_seed_or_application_is_caught_by_draw_verify() {
    let topic_env = unique("draw-bad");
    let env = PlatformEnv::new("a", &topic_env);
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_match_1_in_future(2, 10)).await;
    let a = Platform::start(env.clone()).await;
    eventually(WAIT, "the master list", || async {
        (a.get("/api/matches/1/availability").await.1["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    let draw = unique("group");
    let (status, body) = apply(&a, "early", 1, 1).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("sale_closed")), "no draw yet: {body}");
    let closes = open_draw(&env, &draw, 1, 10);
    eventually(WAIT, "the draw open", || async { (draw_view(&a, &draw).await["state"] == "open").then_some(()) }).await;

    // Bad input: each a 4xx with a clear error.
    let fan = unique("fan");
    for (quantity, why) in [(0, "none"), (3, "over the cap"), (99, "far over")] {
        let (status, body) = apply(&a, &fan, 1, quantity).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("unprocessable")), "{why}: {body}");
    }
    let (status, body) = apply(&a, &fan, 2, 1).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("sale_closed")), "a ticket type not in the draw: {body}");
    let body = json!({"matchNumber": 9, "category": 1, "quantity": 1});
    let (status, _) = call(&a, Method::POST, "/api/draws/applications", Some(a.token(&fan)), Some(body)).await;
    assert_eq!(status, 404, "an unknown match");
    let body = json!({"matchNumber": 1, "category": "one", "quantity": 1});
    let (status, _) = call(&a, Method::POST, "/api/draws/applications", Some(a.token(&fan)), Some(body)).await;
    assert_eq!(status, 422, "a wrong type");
    let body = json!({"matchNumber": 1, "category": 1, "quantity": 1});
    let (status, _) = call(&a, Method::POST, "/api/draws/applications", None, Some(body.clone())).await;
    assert_eq!(status, 401, "no token");
    let forged = dev_token(&fan, "another-platform");
    let (status, _) = call(&a, Method::POST, "/api/draws/applications", Some(forged), Some(body)).await;
    assert_eq!(status, 401, "a token for another platform");
    assert_eq!(apply(&a, &fan, 1, 1).await.0, 201);
    let (status, body) = apply(&a, &fan, 1, 2).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")), "one application per ticket type: {body}");
    let id = mine(&a, &fan).await[0]["id"].as_str().unwrap().to_string();
    let (status, _) =
        call(&a, Method::DELETE, &format!("/api/draws/applications/{id}"), Some(a.token("someone-else")), None).await;
    assert_eq!(status, 404, "another buyer's application");

    // On the topic: an application claiming platform a, signed by b; a copy
    // of a's own application with its quantity changed; a seed signed by the
    // organisers that is not the committed one.
    let application = Application {
        draw: draw.clone(),
        platform: PlatformId::new("a").unwrap(),
        application: uuid::Uuid::now_v7(),
        version: 1,
        buyer: BuyerId::from_bytes([7; 16]),
        match_number: MatchNumber::new(1).unwrap(),
        category: Category::new(1).unwrap(),
        quantity: 1,
        at: chrono::Utc::now(),
    };
    let body = DrawMessage::Application(application.clone()).to_json();
    let signed_by = |platform: &str, body: &[u8]| {
        let key = trust::development_key(&PlatformId::new(platform).unwrap());
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign_bytes(&Application::signed_bytes(body)))
    };
    let topics = env.topics();
    let send = |body: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let topic = topics.draws.clone();
        let key = draw.clone();
        async move {
            kafka::send(&producer(), &Record { topic: &topic, key: &key, payload: &body, headers: &headers })
                .await
                .unwrap();
        }
    };
    send(body.clone(), vec![(CLIENT_ID, "a".into()), (SIGNATURE, signed_by("b", &body))]).await;
    let tampered = String::from_utf8(body.clone()).unwrap().replace("\"quantity\":1", "\"quantity\":2").into_bytes();
    send(tampered, vec![(CLIENT_ID, "a".into()), (SIGNATURE, signed_by("a", &body))]).await;
    until_closed(closes).await;
    let wrong_seed = DrawMessage::Seed(SeedReveal { draw: draw.clone(), seed: "ab".repeat(32) }).to_json();
    let headers =
        trust::sign_organisers(&trust::development_organisers_key(), ticktak_core::draw::SEED_LABEL, &wrong_seed);
    send(wrong_seed, headers).await;

    let out = draw_tool(&env.topic_env, &["verify", "--draw", &draw]);
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "no seed matching the commitment: {printed}");
    assert!(printed.contains("the seed does not match the draw's commitment"), "{printed}");
    assert!(printed.contains("the signature is not a's"), "{printed}");
    assert_eq!(printed.matches("the signature is not a's").count(), 2, "forged and tampered: {printed}");
    assert!(printed.contains("not drawn"), "{printed}");
    eventually(WAIT, "the platform's refusals recorded", || async {
        let refused = process::metric(&a.reservations.url(), "draw_messages_invalid_total").await;
        (refused >= 3.0).then_some(())
    })
    .await;
    assert_eq!(draw_view(&a, &draw).await["state"], "closed", "the platform did not draw with a wrong seed either");
    // A poison message (a NUL in a field name) is refused and recorded; the
    // platform goes on following the topic.
    send(b"{\"kind\":\"terms\",\"\\u0000\":1}".to_vec(), vec![]).await;
    eventually(WAIT, "the poison recorded", || async {
        let refused = process::metric(&a.reservations.url(), "draw_messages_invalid_total").await;
        (refused >= 4.0).then_some(())
    })
    .await;
    let (status, _) = call(&a, Method::GET, "/api/draws/%00", None, None).await;
    assert_eq!(status, 404, "a draw id no draw has");

    let out = draw_tool(&env.topic_env, &["reveal", "--draw", &draw, "--secret-file", &secret_file(&draw)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d = drawn(&a, &draw).await;
    assert_eq!((d["applications"].as_i64(), d["winners"].as_i64()), (Some(1), Some(1)), "forged ones not counted: {d}");
    let digest = d["winnersDigest"].as_str().unwrap();
    let out = draw_tool(&env.topic_env, &["verify", "--draw", &draw, "--expect", digest, "--winners"]);
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{printed}");
    assert_eq!(printed.matches("winner: 1-1").count(), 1, "{printed}");
    let out = draw_tool(&env.topic_env, &["verify", "--draw", &draw, "--expect", &"0".repeat(64)]);
    assert!(!out.status.success(), "another digest than the topic's is caught");
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH"));
    // Once drawn, applications no longer change.
    let (status, body) = call(
        &a,
        Method::PUT,
        &format!("/api/draws/applications/{id}"),
        Some(a.token(&fan)),
        Some(json!({"quantity": 2})),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("sale_closed")), "{body}");
    a.stop().await;
}
