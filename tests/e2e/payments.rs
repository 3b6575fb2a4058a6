//! The purchase end to end, on the real Stripe client against the Stripe
//! stand-in and a real SMTP sink: hold → pay → webhook → CONFIRMED →
//! tickets by e-mail whose QR codes the gate admits once → sold on every
//! platform; declined cards, forged and repeated webhooks, lost webhooks,
//! payments after the hold ended, refunds, a dead SMTP server, and other
//! buyers' payments.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use ticktak_kit::auth::Role;
use ticktak_tests::checkout::{self, Payments, CARD_3DS, CARD_DECLINED, CARD_OK};
use ticktak_tests::*;

const WAIT: Duration = Duration::from_secs(30);

async fn market(names: &[&str], hold_ttl: Duration) -> Vec<Platform> {
    let topic_env = unique("pay");
    let envs: Vec<PlatformEnv> = names.iter().map(|n| PlatformEnv::new(n, &topic_env)).collect();
    ensure_topics(&envs[0].topics()).await;
    publish_masterlist(&envs[0].topics(), &masterlist_match_1_in_future(2, 10)).await;
    let mut platforms = Vec::new();
    for env in envs {
        platforms.push(Platform::start_with_hold_ttl(env, hold_ttl).await);
    }
    for p in &platforms {
        eventually(WAIT, "the master list", || async {
            let (_, a) = p.get("/api/matches/3/availability").await;
            (a["categories"][0]["capacity"] == 10).then_some(())
        })
        .await;
    }
    platforms
}

/// A held reservation of `quantity` tickets of match `m`, category 1.
async fn hold(p: &Platform, buyer: &str, m: u8, quantity: u8) -> String {
    let (status, r) = p.reserve(buyer, m, 1, quantity, None).await;
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_string()
}

async fn sold(p: &Platform, m: u8, expected: u64) {
    eventually(WAIT, &format!("sold = {expected} on {}", p.env.platform_id), || async {
        let (_, a) = p.get(&format!("/api/matches/{m}/availability")).await;
        (a["categories"][0]["sold"] == expected && a["categories"][0]["held"] == 0).then_some(())
    })
    .await;
}

async fn reservation(p: &Platform, buyer: &str, id: &str) -> Value {
    p.as_buyer(Method::GET, &format!("/api/reservations/{id}"), Some(buyer)).await.1
}

/// A scan at `p`'s gate for match `m`.
async fn check_in(p: &Platform, m: u8, code: &str) -> (u16, Value) {
    let res = p
        .http
        .post(format!("{}/api/tickets/check-in", p.reservations.url()))
        .bearer_auth(dev_token_as("gate-1", &p.env.platform_id, Role::Staff))
        .json(&json!({ "code": code, "matchNumber": m }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// The texts of the QR codes in a PNG.
fn qr_texts(png_bytes: &[u8]) -> Vec<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("sized")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[(y * w + x) * channels]);
    img.detect_grids().iter().map(|g| g.decode().expect("a readable QR code").1).collect()
}

async fn pay_and_wait(pay: &Payments, p: &Platform, buyer: &str, reservation_id: &str) -> Value {
    let (status, created) =
        pay.call(p, Method::POST, "/api/payments", buyer, Some(json!({ "reservationId": reservation_id }))).await;
    assert_eq!(status, 201, "{created}");
    checkout::pay(created["clientSecret"].as_str().unwrap(), CARD_OK).await;
    pay.wait_status(p, buyer, created["paymentId"].as_str().unwrap(), "SUCCEEDED", WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_pays_gets_tickets_by_mail_and_the_gate_admits_each_ticket_once() {
    let platforms = market(&["a", "b"], Duration::from_secs(600)).await;
    let (a, b) = (&platforms[0], &platforms[1]);
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("fan");
    let id = hold(a, &buyer, 3, 2).await;

    let (status, created) =
        pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
    assert_eq!(status, 201, "{created}");
    // Category 1 of match 3 costs 75 (whole dollars): 2 tickets = 15000 cents.
    assert_eq!((created["amount"].as_i64(), created["currency"].as_str()), (Some(15000), Some("usd")), "{created}");
    assert_eq!(created["status"], "OPEN");
    // A repeat gives the same payment back.
    let (again, same) = pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
    assert_eq!((again, &same["paymentId"]), (200, &created["paymentId"]));

    checkout::pay(created["clientSecret"].as_str().unwrap(), CARD_OK).await;
    let paid = pay.wait_status(a, &buyer, created["paymentId"].as_str().unwrap(), "SUCCEEDED", WAIT).await;
    assert_eq!(paid["status"], "SUCCEEDED", "{paid}");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "CONFIRMED");

    let (_, tickets) = a.as_buyer(Method::GET, &format!("/api/reservations/{id}/tickets"), Some(&buyer)).await;
    let tickets = tickets["tickets"].as_array().unwrap().clone();
    assert_eq!(tickets.len(), 2);
    let mut codes: Vec<String> = tickets.iter().map(|t| t["code"].as_str().unwrap().to_string()).collect();
    codes.sort();

    // The e-mail carries one QR code per ticket, and they decode to the codes.
    let to = format!("{buyer}@example.com");
    let mails = mail::wait_for(&mail::maildev_url(), &to, 1, WAIT).await;
    assert_eq!(mails.len(), 1, "one ticket e-mail");
    let attachments = mails[0].attachments.clone().unwrap_or_default();
    assert_eq!(attachments.len(), 2, "{:?}", mails[0]);
    let mut decoded = Vec::new();
    for a in &attachments {
        assert_eq!(a.content_type, "image/png");
        decoded.extend(qr_texts(&mail::attachment(&mail::maildev_url(), &mails[0], &a.generated_file_name).await));
    }
    decoded.sort();
    assert_eq!(decoded, codes);

    // The gate admits each ticket once.
    let (status, first) = check_in(a, 3, &codes[0]).await;
    assert_eq!((status, first["result"].as_str()), (200, Some("ADMITTED")), "{first}");
    let (status, second) = check_in(a, 3, &codes[0]).await;
    assert_eq!((status, second["result"].as_str()), (409, Some("ALREADY_USED")), "{second}");
    let mut forged = codes[1].clone();
    forged.replace_range(6..8, if &forged[6..8] == "AA" { "BB" } else { "AA" });
    let (status, bad) = check_in(a, 3, &forged).await;
    assert_eq!((status, bad["result"].as_str()), (404, Some("INVALID")), "{bad}");
    // Buyers cannot check tickets in.
    let res = a
        .http
        .post(format!("{}/api/tickets/check-in", a.reservations.url()))
        .bearer_auth(a.token(&buyer))
        .json(&json!({ "code": codes[1], "matchNumber": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);

    // The QR code is served to its owner only.
    let ticket = tickets[0]["id"].as_str().unwrap();
    let res = a
        .http
        .get(format!("{}/api/tickets/{ticket}/qr.png", a.reservations.url()))
        .bearer_auth(a.token(&buyer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(qr_texts(&res.bytes().await.unwrap()).len(), 1);
    let (status, _) = a.as_buyer(Method::GET, &format!("/api/tickets/{ticket}/qr.svg"), Some("someone-else")).await;
    assert_eq!(status, 404);

    // Every platform counts them sold.
    sold(a, 3, 2).await;
    sold(b, 3, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_leaves_the_hold_open_and_another_card_pays() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("fan");
    let id = hold(a, &buyer, 3, 1).await;
    let (_, created) = pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
    let payment = created["paymentId"].as_str().unwrap();
    checkout::pay(created["clientSecret"].as_str().unwrap(), CARD_DECLINED).await;
    let failed = eventually(WAIT, "the decline noted", || async {
        let (_, p) = pay.call(a, Method::GET, &format!("/api/payments/{payment}"), &buyer, None).await;
        p["lastError"].is_string().then_some(p)
    })
    .await;
    assert_eq!(failed["status"], "OPEN", "{failed}");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "HELD");

    checkout::pay(created["clientSecret"].as_str().unwrap(), CARD_OK).await;
    let paid = pay.wait_status(a, &buyer, payment, "SUCCEEDED", WAIT).await;
    assert_eq!(paid["status"], "SUCCEEDED", "{paid}");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "CONFIRMED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_that_asks_for_3d_secure_pays_once_the_buyer_authenticates() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    // No webhook and no reconciler in time: the buyer's return settles it.
    let pay = Payments::start(a, false, |c| c.reconcile_after = Duration::from_secs(3600)).await;
    let buyer = unique("fan");
    let id = hold(a, &buyer, 3, 1).await;
    let (_, created) = pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
    let payment = created["paymentId"].as_str().unwrap();
    let secret = created["clientSecret"].as_str().unwrap();
    let sync = format!("/api/payments/{payment}/sync");

    // The browser confirms with the card; its bank asks who it is.
    assert_eq!(checkout::confirm_in_browser(secret, CARD_3DS).await["status"], "requires_action");
    let (status, open) = pay.call(a, Method::POST, &sync, &buyer, None).await;
    assert_eq!((status, &open["status"], &open["nextAction"]), (200, &json!("OPEN"), &json!("authenticate")), "{open}");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "HELD");
    // Not the buyer: refused; the payment is theirs alone.
    let (status, _) = pay.call(a, Method::POST, &sync, &unique("stranger"), None).await;
    assert_eq!(status, 404);

    // The buyer fails the bank's check: nothing paid, told why, the card can be tried again.
    checkout::authenticate(secret, false).await;
    let (status, failed) = pay.call(a, Method::POST, &sync, &buyer, None).await;
    assert_eq!(status, 402, "{failed}");
    assert!(failed["message"].as_str().unwrap_or_default().contains("could not confirm it was you"), "{failed}");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "HELD");

    // Again, and this time the bank is satisfied: paid, the order confirmed.
    assert_eq!(checkout::confirm_in_browser(secret, CARD_3DS).await["status"], "requires_action");
    assert_eq!(checkout::authenticate(secret, true).await["status"], "succeeded");
    let (status, paid) = pay.call(a, Method::POST, &sync, &buyer, None).await;
    assert_eq!((status, &paid["status"], &paid["nextAction"]), (200, &json!("SUCCEEDED"), &Value::Null), "{paid}");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "CONFIRMED");
    let (status, _) = pay.call(a, Method::POST, &sync, &buyer, None).await;
    assert_eq!(status, 409, "a paid payment is not paid again");

    // An API client that confirms on the server hears that the buyer must authenticate.
    let second = hold(a, &buyer, 3, 1).await;
    let (_, created) =
        pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": second }))).await;
    let (secret, payment) = (created["clientSecret"].as_str().unwrap(), created["paymentId"].as_str().unwrap());
    let method = checkout::payment_method(CARD_3DS).await;
    let confirm = format!("/api/payments/{payment}/confirm");
    let (status, open) = pay.call(a, Method::POST, &confirm, &buyer, Some(json!({ "paymentMethod": method }))).await;
    assert_eq!((status, &open["status"], &open["nextAction"]), (200, &json!("OPEN"), &json!("authenticate")), "{open}");
    checkout::authenticate(secret, true).await;
    let (status, paid) = pay.call(a, Method::POST, &format!("/api/payments/{payment}/sync"), &buyer, None).await;
    assert_eq!((status, &paid["status"]), (200, &json!("SUCCEEDED")), "{paid}");
    assert_eq!(reservation(a, &buyer, &second).await["status"], "CONFIRMED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_checked_for_their_signature_and_applied_once() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    // No webhook registered: this test delivers them itself.
    let pay = Payments::start(a, false, |_| {}).await;
    let buyer = unique("fan");
    let id = hold(a, &buyer, 3, 1).await;
    let (_, created) = pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
    let payment = created["paymentId"].as_str().unwrap();
    let intent_id = checkout::intent_of(created["clientSecret"].as_str().unwrap());
    checkout::pay(created["clientSecret"].as_str().unwrap(), CARD_OK).await;
    let intent = checkout::intent(&intent_id).await;
    assert_eq!(intent["status"], "succeeded");
    let event = json!({"id": unique("evt"), "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": intent}, "created": 1, "livemode": false, "pending_webhooks": 1})
    .to_string();
    let post = |body: String, signature: String| {
        let http = pay.http.clone();
        let url = format!("{}/webhooks/stripe", pay.running.url());
        async move {
            let res = http.post(url).header("stripe-signature", signature).body(body).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let now = chrono::Utc::now().timestamp();

    // Forged (another secret), stale, or missing: 400 and nothing changes.
    let forged = payments::signature::sign(event.as_bytes(), b"whsec_guess", now);
    let stale = payments::signature::sign(event.as_bytes(), pay.webhook_secret.as_bytes(), now - 600);
    for (what, sig) in [("forged", forged), ("stale", stale), ("garbage", "t=1,v1=zz".into())] {
        let (status, body) = post(event.clone(), sig).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body["message"].is_string(), "{what}: {body}");
    }
    let res = pay.http.post(format!("{}/webhooks/stripe", pay.running.url())).body(event.clone()).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let (_, p) = pay.call(a, Method::GET, &format!("/api/payments/{payment}"), &buyer, None).await;
    assert_eq!(p["status"], "OPEN");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "HELD");

    // Signed: applied once; the same event again is a duplicate.
    let signed = payments::signature::sign(event.as_bytes(), pay.webhook_secret.as_bytes(), now);
    let (status, body) = post(event.clone(), signed.clone()).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let (status, body) = post(event.clone(), signed).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("duplicate")), "{body}");
    let (_, p) = pay.call(a, Method::GET, &format!("/api/payments/{payment}"), &buyer, None).await;
    assert_eq!(p["status"], "SUCCEEDED");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "CONFIRMED");
    sold(a, 3, 1).await;

    // Another platform's intent on a shared account: acknowledged, ignored.
    let mut theirs = intent.clone();
    theirs["metadata"]["platform_id"] = json!("elsewhere");
    let other =
        json!({"id": unique("evt"), "type": "payment_intent.succeeded", "data": {"object": theirs}}).to_string();
    let sig = payments::signature::sign(other.as_bytes(), pay.webhook_secret.as_bytes(), now);
    let (status, body) = post(other, sig).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_webhook_is_made_good_by_the_reconciler() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    let pay = Payments::start(a, false, |c| c.reconcile_after = Duration::from_secs(1)).await;
    let buyer = unique("fan");
    let id = hold(a, &buyer, 3, 1).await;
    let paid = pay_and_wait(&pay, a, &buyer, &id).await;
    assert_eq!(paid["status"], "SUCCEEDED", "{paid}");
    assert_eq!(reservation(a, &buyer, &id).await["status"], "CONFIRMED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_after_the_hold_expired_is_refunded_and_sells_nothing() {
    let platforms = market(&["a"], Duration::from_secs(3)).await;
    let a = &platforms[0];
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("late");
    let id = hold(a, &buyer, 3, 1).await;
    let unpaid = hold(a, &buyer, 3, 1).await;
    let (_, created) = pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
    eventually(WAIT, "the holds expired", || async {
        let both = [&id, &unpaid];
        let mut expired = 0;
        for r in both {
            expired += usize::from(reservation(a, &buyer, r).await["status"] == "EXPIRED");
        }
        (expired == 2).then_some(())
    })
    .await;
    // Paying an expired hold is refused up front…
    let (status, body) =
        pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": unpaid }))).await;
    assert_eq!(status, 409, "{body}");
    // …but a card confirmed in a browser tab left open still goes through.
    checkout::pay(created["clientSecret"].as_str().unwrap(), CARD_OK).await;
    let refunded = pay.wait_status(a, &buyer, created["paymentId"].as_str().unwrap(), "REFUNDED", WAIT).await;
    assert_eq!(
        (refunded["status"].as_str(), refunded["refundReason"].as_str()),
        (Some("REFUNDED"), Some("hold_ended"))
    );
    assert_eq!(reservation(a, &buyer, &id).await["status"], "EXPIRED");
    sold(a, 3, 0).await;
    let mails = mail::wait_for(&mail::maildev_url(), &format!("{buyer}@example.com"), 1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("refunded"), "{}", mails[0].subject);
}

/// Money that goes back outside our refunds — a full refund from the
/// provider's dashboard, a dispute — revokes the order's tickets, past the
/// cut-off and after the gate too; a partial refund leaves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_at_the_provider_or_a_dispute_revokes_the_tickets() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("fan");
    // Match 3 kicked off in 2022: past any refund of ours.
    let mut orders = Vec::new();
    for _ in 0..3 {
        let id = hold(a, &buyer, 3, 1).await;
        let (status, created) =
            pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
        assert_eq!(status, 201, "{created}");
        let secret = created["clientSecret"].as_str().unwrap();
        checkout::pay(secret, CARD_OK).await;
        let payment = created["paymentId"].as_str().unwrap().to_string();
        pay.wait_status(a, &buyer, &payment, "SUCCEEDED", WAIT).await;
        let (_, tickets) = a.as_buyer(Method::GET, &format!("/api/reservations/{id}/tickets"), Some(&buyer)).await;
        let code = tickets["tickets"][0]["code"].as_str().unwrap().to_string();
        orders.push((id, payment, checkout::intent_of(secret), code));
    }
    sold(a, 3, 3).await;
    // The disputed order's ticket went through the gate already.
    assert_eq!(check_in(a, 3, &orders[1].3).await.0, 200);

    let post = |kind: &str, object: Value| {
        let event = json!({"id": unique("evt"), "object": "event", "type": kind, "data": {"object": object}});
        let body = event.to_string();
        let signature =
            payments::signature::sign(body.as_bytes(), pay.webhook_secret.as_bytes(), chrono::Utc::now().timestamp());
        let (http, url) = (pay.http.clone(), format!("{}/webhooks/stripe", pay.running.url()));
        async move {
            let res = http.post(url).header("stripe-signature", signature).body(body).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let charge = |intent: &str, refunded: bool| json!({"id": unique("ch"), "object": "charge", "payment_intent": intent, "refunded": refunded});
    let payment_of = |id: String| {
        let (pay, buyer) = (&pay, buyer.clone());
        async move { pay.call(a, Method::GET, &format!("/api/payments/{id}"), &buyer, None).await.1 }
    };

    // Refunded in full at the provider.
    let (status, body) = post("charge.refunded", charge(&orders[0].2, true)).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let p = payment_of(orders[0].1.clone()).await;
    assert_eq!((p["status"].as_str(), p["refundReason"].as_str()), (Some("REFUNDED"), Some("provider")), "{p}");
    assert_eq!(reservation(a, &buyer, &orders[0].0).await["status"], "REFUNDED");
    let (status, scan) = check_in(a, 3, &orders[0].3).await;
    assert_eq!((status, scan["result"].as_str()), (409, Some("REVOKED")), "{scan}");

    // Disputed, although used: the money is gone, and so is the order.
    let dispute = json!({"id": unique("dp"), "object": "dispute", "payment_intent": orders[1].2, "charge": "ch_x"});
    let (status, body) = post("charge.dispute.created", dispute).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")), "{body}");
    let p = payment_of(orders[1].1.clone()).await;
    assert_eq!((p["status"].as_str(), p["refundReason"].as_str()), (Some("REFUNDED"), Some("disputed")), "{p}");
    assert_eq!(reservation(a, &buyer, &orders[1].0).await["status"], "REFUNDED");

    // A partial refund is an operator's call: the order stands.
    let (status, body) = post("charge.refunded", charge(&orders[2].2, false)).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")), "{body}");
    assert_eq!(payment_of(orders[2].1.clone()).await["status"], "SUCCEEDED");
    assert_eq!(check_in(a, 3, &orders[2].3).await.0, 200);
    // The two seats taken back are on sale again.
    sold(a, 3, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_revokes_the_tickets_and_puts_them_back_on_sale_on_every_platform() {
    let platforms = market(&["a", "b"], Duration::from_secs(600)).await;
    let (a, b) = (&platforms[0], &platforms[1]);
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("fan");
    // Match 1 kicks off years from now; match 3 in 2022 (past the cut-off).
    let open = hold(a, &buyer, 1, 2).await;
    let closed = hold(a, &buyer, 3, 1).await;
    let paid_open = pay_and_wait(&pay, a, &buyer, &open).await;
    let paid_closed = pay_and_wait(&pay, a, &buyer, &closed).await;
    sold(b, 1, 2).await;
    let (_, tickets) = a.as_buyer(Method::GET, &format!("/api/reservations/{open}/tickets"), Some(&buyer)).await;
    let code = tickets["tickets"][0]["code"].as_str().unwrap().to_string();

    let path = format!("/api/payments/{}/refund", paid_closed["paymentId"].as_str().unwrap());
    let (status, body) = pay.call(a, Method::POST, &path, &buyer, None).await;
    assert_eq!(status, 409, "past the cut-off: {body}");
    assert!(body["message"].as_str().unwrap().contains("before kick-off"), "{body}");
    // Someone else's payment is not theirs to refund.
    let path = format!("/api/payments/{}/refund", paid_open["paymentId"].as_str().unwrap());
    assert_eq!(pay.call(a, Method::POST, &path, "thief", None).await.0, 404);

    // An order with a ticket through the gate is not refunded.
    let used = hold(a, &buyer, 1, 1).await;
    let paid_used = pay_and_wait(&pay, a, &buyer, &used).await;
    let (_, used_tickets) = a.as_buyer(Method::GET, &format!("/api/reservations/{used}/tickets"), Some(&buyer)).await;
    assert_eq!(check_in(a, 1, used_tickets["tickets"][0]["code"].as_str().unwrap()).await.0, 200);
    let used_path = format!("/api/payments/{}/refund", paid_used["paymentId"].as_str().unwrap());
    let (status, body) = pay.call(a, Method::POST, &used_path, &buyer, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("used at the gate"), "{body}");
    assert_eq!(reservation(a, &buyer, &used).await["status"], "CONFIRMED");

    let (status, body) = pay.call(a, Method::POST, &path, &buyer, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("REFUNDED")), "{body}");
    assert_eq!(reservation(a, &buyer, &open).await["status"], "REFUNDED");
    let (status, scan) = check_in(a, 1, &code).await;
    assert_eq!((status, scan["result"].as_str()), (409, Some("REVOKED")), "{scan}");
    // Back on sale everywhere; the other reservations stay sold.
    sold(a, 1, 1).await;
    sold(b, 1, 1).await;
    sold(b, 3, 1).await;
    // Asking again changes nothing.
    let (status, body) = pay.call(a, Method::POST, &path, &buyer, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("REFUNDED")));
    let to = format!("{buyer}@example.com");
    // Three orders' tickets and one refund.
    let mails = mail::wait_for(&mail::maildev_url(), &to, 4, WAIT).await;
    assert_eq!(mails.iter().filter(|m| m.subject.starts_with("Refund")).count(), 1, "{mails:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_buyers_reservation_or_payment_is_not_found_and_bad_input_is_a_4xx() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("fan");
    let id = hold(a, &buyer, 3, 1).await;
    let (status, _) = pay.call(a, Method::POST, "/api/payments", "thief", Some(json!({ "reservationId": id }))).await;
    assert_eq!(status, 404);
    let (_, created) = pay.call(a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": id }))).await;
    let payment = created["paymentId"].as_str().unwrap();
    assert_eq!(pay.call(a, Method::GET, &format!("/api/payments/{payment}"), "thief", None).await.0, 404);
    assert_eq!(a.as_buyer(Method::GET, &format!("/api/reservations/{id}/tickets"), Some("thief")).await.0, 404);
    for (body, expected) in [
        (json!({ "reservationId": "not-a-uuid" }), 404),
        (json!({ "reservationId": 7 }), 422),
        (json!({ "reservationId": id, "amount": 1 }), 422),
        (json!({}), 422),
    ] {
        let (status, answer) = pay.call(a, Method::POST, "/api/payments", &buyer, Some(body.clone())).await;
        assert_eq!(status, expected, "{body} → {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    // Admins only.
    assert_eq!(pay.call(a, Method::GET, "/api/admin/payments", &buyer, None).await.0, 403);
    let res = pay
        .http
        .get(format!("{}/api/admin/payments?status=OPEN", pay.running.url()))
        .bearer_auth(dev_token_as("boss", &a.env.platform_id, Role::Admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let list: Value = res.json().await.unwrap();
    assert!(list["payments"].as_array().unwrap().iter().any(|p| p["paymentId"] == payment));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_smtp_server_down_the_ticket_mail_waits_and_arrives_once_it_is_up() {
    let (smtp, web) = (process::free_port(), process::free_port());
    let topic_env = unique("smtp");
    let env = PlatformEnv::new("a", &topic_env);
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_match_1_in_future(2, 10)).await;
    let a =
        Platform::start_configured(env, |o| o.reservations.mail = mail::settings(&format!("smtp://127.0.0.1:{smtp}")))
            .await;
    eventually(WAIT, "the master list", || async {
        let (_, m) = a.get("/api/matches/3/availability").await;
        (m["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    let buyer = unique("patient");
    let id = hold(&a, &buyer, 3, 1).await;
    // The sale goes through with no mail server.
    let (status, confirmed) = a.confirm(&id).await;
    assert_eq!((status, confirmed["status"].as_str()), (200, Some("CONFIRMED")), "{confirmed}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let bin = std::env::var("MAILDEV_BIN").expect("MAILDEV_BIN (make test sets it)");
    let dir = std::env::temp_dir().join(unique("maildev"));
    let mut sink = tokio::process::Command::new("node")
        .arg(bin)
        .args(["--ip", "127.0.0.1", "--smtp", &smtp.to_string(), "--web", &web.to_string()])
        .arg("--mail-directory")
        .arg(&dir)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("maildev starts");
    let base = format!("http://127.0.0.1:{web}");
    let to = format!("{buyer}@example.com");
    let mails = eventually(Duration::from_secs(60), "the delayed mail", || async {
        let found = match reqwest::get(format!("{base}/email")).await {
            Ok(_) => mail::messages_to(&base, &to).await,
            Err(_) => vec![],
        };
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(mails.len(), 1);
    // And only once, even as the outbox keeps running.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mail::messages_to(&base, &to).await.len(), 1);
    let _ = sink.kill().await;
}

/// A ticket's id and printed code.
async fn tickets_of(p: &Platform, buyer: &str, order: &str) -> Vec<(String, String)> {
    let (_, list) = p.as_buyer(Method::GET, &format!("/api/reservations/{order}/tickets"), Some(buyer)).await;
    list["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t["code"].as_str().unwrap().to_string()))
        .collect()
}

/// One gate for the whole market: a ticket sold on one platform is admitted
/// at another's gate, once, by its printed or its live code; two gates
/// scanning it at the same moment admit it once; a refund on the issuer
/// closes it at every gate; a gate knows its match; forged gate events
/// change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_sold_on_one_platform_is_admitted_once_at_any_gate_of_the_market() {
    use ticktak_core::gate::{GateAction, GateEvent};
    use ticktak_core::PlatformId;
    use ticktak_kit::kafka::trust::Trust;

    let platforms = market(&["a", "b"], Duration::from_secs(600)).await;
    let (a, b) = (&platforms[0], &platforms[1]);
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("fan");
    // Match 1 kicks off years from now: refunds are open.
    let pair = hold(a, &buyer, 1, 2).await;
    let single = hold(a, &buyer, 1, 1).await;
    pay_and_wait(&pay, a, &buyer, &pair).await;
    pay_and_wait(&pay, a, &buyer, &single).await;
    let two = tickets_of(a, &buyer, &pair).await;
    let one = tickets_of(a, &buyer, &single).await;
    assert!(two[0].1.starts_with("TT2.a."), "{}", two[0].1);

    // b's gate for another match turns it away; for match 1 it admits it,
    // and every gate of the market knows it was used.
    let (status, scan) = check_in(b, 2, &two[0].1).await;
    assert_eq!((status, scan["result"].as_str()), (409, Some("WRONG_MATCH")), "{scan}");
    let (status, scan) = check_in(b, 1, &two[0].1).await;
    assert_eq!(
        (status, scan["result"].as_str(), scan["issuer"].as_str()),
        (200, Some("ADMITTED"), Some("a")),
        "{scan}"
    );
    for gate in [a, b] {
        let (status, again) = check_in(gate, 1, &two[0].1).await;
        assert_eq!((status, again["result"].as_str()), (409, Some("ALREADY_USED")), "{again}");
        assert_eq!(again["usedAtGate"], "b", "{again}");
    }
    let (_, used) = a.as_buyer(Method::GET, &format!("/api/tickets/{}/live", two[0].0), Some(&buyer)).await;
    assert!(used["message"].as_str().unwrap_or_default().contains("USED"), "a used ticket has no live code: {used}");

    // The live code admits too, at the other platform's gate; it is the
    // holder's alone.
    let (status, live) = a.as_buyer(Method::GET, &format!("/api/tickets/{}/live", two[1].0), Some(&buyer)).await;
    assert_eq!(status, 200, "{live}");
    let live_code = live["code"].as_str().unwrap();
    assert!(live_code.starts_with("TL2.a."), "{live}");
    assert!(live["refreshInSeconds"].as_i64().unwrap() <= 30, "{live}");
    let (status, _) = a.as_buyer(Method::GET, &format!("/api/tickets/{}/live", two[1].0), Some("someone-else")).await;
    assert_eq!(status, 404);
    let (status, scan) = check_in(b, 1, live_code).await;
    assert_eq!((status, scan["result"].as_str()), (200, Some("ADMITTED")), "{scan}");

    // Forged gate events, before the next ticket's first scan: a
    // revocation by a platform that did not sell it, one whose client-id
    // names the issuer but whose signature is b's, and garbage.
    let topics = a.env.topics();
    let ticket = uuid::Uuid::parse_str(&one[0].0).unwrap();
    let event = |action| GateEvent {
        action,
        event_id: uuid::Uuid::now_v7(),
        ticket_id: ticket,
        issuer: PlatformId::new("a").unwrap(),
        match_number: 1,
        category: 1,
        gate: PlatformId::new("b").unwrap(),
        at: chrono::Utc::now(),
    };
    let by_b = Trust::development(&PlatformId::new("b").unwrap());
    let revoke = serde_json::to_vec(&event(GateAction::Revoke)).unwrap();
    let b_signature = by_b.sign_bytes(&GateEvent::signed_bytes(&revoke)).unwrap();
    let producer = producer();
    let key = ticket.to_string();
    for (payload, client) in [(revoke.clone(), "b"), (revoke.clone(), "a"), (b"{\"action\":\"ADMIT\"".to_vec(), "b")] {
        let headers = [("client-id", client.to_string()), ("signature", b_signature.clone())];
        let record =
            ticktak_kit::kafka::Record { topic: &topics.admissions, key: &key, payload: &payload, headers: &headers };
        ticktak_kit::kafka::send(&producer, &record).await.unwrap();
    }
    // Both gates scan it at the same moment: one admits, the other says used.
    let (first, second) = tokio::join!(check_in(a, 1, &one[0].1), check_in(b, 1, &one[0].1));
    let mut results =
        [first.1["result"].as_str().unwrap().to_string(), second.1["result"].as_str().unwrap().to_string()];
    results.sort();
    assert_eq!(results, ["ADMITTED", "ALREADY_USED"], "{} / {}", first.1, second.1);
    eventually(WAIT, "a's ticket marked used by the gate log", || async {
        let (_, list) = a.as_buyer(Method::GET, &format!("/api/reservations/{single}/tickets"), Some(&buyer)).await;
        (list["tickets"][0]["status"] == "USED").then_some(())
    })
    .await;

    // A refund on a: once its revocation is in the gate log, b's gate
    // refuses the ticket.
    let third = hold(a, &buyer, 1, 1).await;
    let paid = pay_and_wait(&pay, a, &buyer, &third).await;
    let refunded = tickets_of(a, &buyer, &third).await;
    let path = format!("/api/payments/{}/refund", paid["paymentId"].as_str().unwrap());
    let (status, body) = pay.call(a, Method::POST, &path, &buyer, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("REFUNDED")), "{body}");
    eventually(WAIT, "the revocation in the gate log", || async {
        let log = ticktak_tests::log::read_topic(&topics.admissions, 3).await;
        log.iter()
            .any(|m| {
                m.key.as_deref() == Some(refunded[0].0.as_str())
                    && String::from_utf8_lossy(&m.payload).contains("REVOKE")
            })
            .then_some(())
    })
    .await;
    let (status, scan) = check_in(b, 1, &refunded[0].1).await;
    assert_eq!((status, scan["result"].as_str()), (409, Some("REVOKED")), "{scan}");
}

/// A refund and a scan of the same ticket at the same moment, at another
/// platform's gate: the gate log's order decides, one goes through and
/// never both (a refund decided on the issuer's own records gave the money
/// back for tickets a gate had let in — found by a Jepsen run,
/// RELIABILITY.md). A refund that lost leaves the order paid, its other
/// ticket issued anew, valid at the gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_and_a_scan_at_the_same_moment_never_both_go_through() {
    let platforms = market(&["a", "b"], Duration::from_secs(600)).await;
    let (a, b) = (&platforms[0], &platforms[1]);
    let (mut refunds_won, mut scans_won) = (0, 0);
    // Five pairs: the ten tickets of match 1's category 1.
    for round in 0..5u64 {
        let buyer = unique("fan");
        let order = hold(a, &buyer, 1, 2).await;
        let (status, body) = a.confirm(&order).await;
        assert_eq!(status, 200, "{body}");
        let tickets = tickets_of(a, &buyer, &order).await;
        // The scan a little later each round, so that either may come first.
        let late_scan = async {
            tokio::time::sleep(Duration::from_millis(150 * round)).await;
            check_in(b, 1, &tickets[0].1).await
        };
        let (scan, refunded) = tokio::join!(late_scan, a.refund(&order));
        match (scan.0, refunded.0) {
            (409, 200) => {
                refunds_won += 1;
                assert_eq!(scan.1["result"], "REVOKED", "{}", scan.1);
            }
            (200, 409) => {
                scans_won += 1;
                assert!(
                    refunded.1["message"].as_str().unwrap_or_default().contains("used at the gate"),
                    "{}",
                    refunded.1
                );
                assert_eq!(reservation(a, &buyer, &order).await["status"], "CONFIRMED");
                let (_, list) =
                    a.as_buyer(Method::GET, &format!("/api/reservations/{order}/tickets"), Some(&buyer)).await;
                let valid: Vec<&Value> =
                    list["tickets"].as_array().unwrap().iter().filter(|t| t["status"] == "VALID").collect();
                assert_eq!(valid.len(), 1, "the other seat, issued anew: {list}");
                assert_ne!(valid[0]["id"].as_str(), Some(tickets[1].0.as_str()), "{list}");
                let (status, old) = check_in(b, 1, &tickets[1].1).await;
                assert_eq!((status, old["result"].as_str()), (409, Some("REVOKED")), "{old}");
                let (status, new) = check_in(b, 1, valid[0]["code"].as_str().unwrap()).await;
                assert_eq!((status, new["result"].as_str()), (200, Some("ADMITTED")), "{new}");
            }
            other => panic!("one of the two, never both nor neither: {other:?} {} {}", scan.1, refunded.1),
        }
    }
    eprintln!("refunds first: {refunds_won}, scans first: {scans_won}");
}

/// A refund revokes its tickets in the gate log before it commits: one
/// killed in between leaves the order paid and its ticket refused at every
/// gate. The sweeper issues such a ticket anew, valid at the gate, and the
/// order stays paid (its buyer may ask for the refund again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_revoked_by_a_refund_that_died_is_issued_anew() {
    use ticktak_core::gate::{GateAction, GateEvent};
    use ticktak_core::PlatformId;
    use ticktak_kit::kafka::trust::Trust;

    let env = PlatformEnv::new("a", &unique("orphan"));
    ensure_topics(&env.topics()).await;
    publish_masterlist(&env.topics(), &masterlist_match_1_in_future(1, 10)).await;
    // Its REVOKE applied three seconds ago is a dead refund's here (two
    // minutes by default).
    let a = &Platform::start_configured(env, |o| o.reservations.orphaned_after = Duration::from_secs(3)).await;
    eventually(WAIT, "the master list", || async {
        let (_, m) = a.get("/api/matches/1/availability").await;
        (m["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    let buyer = unique("fan");
    let order = hold(a, &buyer, 1, 1).await;
    let (status, body) = a.confirm(&order).await;
    assert_eq!(status, 200, "{body}");
    let old = tickets_of(a, &buyer, &order).await.remove(0);
    // What the refund published before it died.
    let event = GateEvent {
        action: GateAction::Revoke,
        event_id: uuid::Uuid::now_v7(),
        ticket_id: uuid::Uuid::parse_str(&old.0).unwrap(),
        issuer: PlatformId::new("a").unwrap(),
        match_number: 1,
        category: 1,
        gate: PlatformId::new("a").unwrap(),
        at: chrono::Utc::now(),
    };
    let body = serde_json::to_vec(&event).unwrap();
    let signature =
        Trust::development(&PlatformId::new("a").unwrap()).sign_bytes(&GateEvent::signed_bytes(&body)).unwrap();
    let headers = [("client-id", "a".to_string()), ("signature", signature)];
    let topic = a.env.topics().admissions;
    let record = ticktak_kit::kafka::Record { topic: &topic, key: &old.0, payload: &body, headers: &headers };
    ticktak_kit::kafka::send(&producer(), &record).await.unwrap();

    let new = eventually(WAIT, "the ticket issued anew", || async {
        let (_, list) = a.as_buyer(Method::GET, &format!("/api/reservations/{order}/tickets"), Some(&buyer)).await;
        let tickets = list["tickets"].as_array()?.clone();
        let valid: Vec<&Value> = tickets.iter().filter(|t| t["status"] == "VALID").collect();
        (valid.len() == 1 && valid[0]["id"] != old.0.as_str()).then(|| valid[0]["code"].as_str().unwrap().to_string())
    })
    .await;
    assert_eq!(reservation(a, &buyer, &order).await["status"], "CONFIRMED");
    let (status, scan) = check_in(a, 1, &old.1).await;
    assert_eq!((status, scan["result"].as_str()), (409, Some("REVOKED")), "{scan}");
    let (status, scan) = check_in(a, 1, &new).await;
    assert_eq!((status, scan["result"].as_str()), (200, Some("ADMITTED")), "{scan}");
}

/// Named tickets: the buyer says who each seat is for (and may send it to
/// them by mail) until a day before kick-off; the gate shows the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_names_who_each_ticket_is_for_and_the_gate_shows_the_name() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    let pay = Payments::start(a, true, |_| {}).await;
    let buyer = unique("family");
    // Match 1 kicks off years from now.
    let order = hold(a, &buyer, 1, 2).await;
    pay_and_wait(&pay, a, &buyer, &order).await;
    let tickets = eventually(WAIT, "the tickets", || async {
        let t = tickets_of(a, &buyer, &order).await;
        (t.len() == 2).then_some(t)
    })
    .await;
    let name = |who: &str, ticket: &str, body: Value| {
        let url = format!("{}/api/tickets/{ticket}/holder", a.reservations.url());
        let req = a.http.put(url).bearer_auth(a.token(who)).json(&body);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or_default())
        }
    };
    let (first, second) = (&tickets[0].0, &tickets[1].0);
    let friend = format!("{}@example.com", unique("friend"));
    let (status, named) = name(&buyer, first, json!({"name": "  Lionel Andrés Messi ", "email": friend})).await;
    assert_eq!((status, named["holderName"].as_str()), (200, Some("Lionel Andrés Messi")), "{named}");
    assert_eq!(named["holderEmail"], friend.as_str());
    let (status, named) = name(&buyer, second, json!({"name": "Antonela Roccuzzo"})).await;
    assert_eq!((status, named["holderEmail"].clone()), (200, Value::Null), "{named}");
    // The friend gets the ticket, with its QR code.
    let mails = mail::wait_for(&mail::maildev_url(), &friend, 1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.starts_with("A ticket for you"), "{}", mails[0].subject);
    let png = &mails[0].attachments.as_ref().unwrap()[0].generated_file_name;
    assert_eq!(qr_texts(&mail::attachment(&mail::maildev_url(), &mails[0], png).await), [tickets[0].1.clone()]);
    // Naming again with the same address sends nothing more.
    name(&buyer, first, json!({"name": "Lionel Messi", "email": friend})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mail::messages_to(&mail::maildev_url(), &friend).await.len(), 1);
    // Our sender is nobody's relay: three people per ticket, no web
    // addresses in names.
    for i in 2..=3 {
        let other = format!("{}@example.com", unique(&format!("friend{i}")));
        assert_eq!(name(&buyer, first, json!({"name": "Lionel Messi", "email": other})).await.0, 200);
    }
    let (status, body) = name(&buyer, first, json!({"name": "Lionel Messi", "email": "fourth@example.com"})).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = name(&buyer, second, json!({"name": "Prize at https://evil.example", "email": friend})).await;
    assert_eq!(status, 422);

    // Bad input, someone else's ticket.
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "a\u{0}b"}),
        json!({"name": "Ok", "email": "not an address"}),
        json!({"name": "Ok", "seat": 3}),
    ] {
        assert_eq!(name(&buyer, first, bad.clone()).await.0, 422, "{bad}");
    }
    assert_eq!(name("someone-else", first, json!({"name": "Thief"})).await.0, 404);
    assert_eq!(name(&buyer, "not-a-ticket", json!({"name": "Nobody"})).await.0, 404);

    // The gate shows the name; a used ticket keeps it.
    let (status, scan) = check_in(a, 1, &tickets[0].1).await;
    assert_eq!((status, scan["result"].as_str()), (200, Some("ADMITTED")), "{scan}");
    assert_eq!(scan["ticket"]["holderName"], "Lionel Messi", "{scan}");
    assert_eq!(name(&buyer, first, json!({"name": "Someone Else"})).await.0, 409);

    // A match a day away or less (match 3 kicked off in 2022): too late.
    let late = hold(a, &buyer, 3, 1).await;
    pay_and_wait(&pay, a, &buyer, &late).await;
    let late_ticket = eventually(WAIT, "the late ticket", || async { tickets_of(a, &buyer, &late).await.pop() }).await;
    let (status, body) = name(&buyer, &late_ticket.0, json!({"name": "Too Late"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("before kick-off"), "{body}");
}

/// Holders hear of their match: a reminder the day before kick-off (not
/// earlier), and a notice when the organisers move it, saying what
/// changed — each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_are_reminded_the_day_before_and_told_when_their_match_moves() {
    let env = PlatformEnv::new("a", &unique("notices"));
    let topics = env.topics();
    ensure_topics(&topics).await;
    let now = chrono::Utc::now();
    let mut list = masterlist_with_capacity(2, 10);
    list[0].date_utc = now + chrono::Duration::hours(12);
    list[1].date_utc = now + chrono::Duration::hours(30);
    list[1].location = "Lusail Stadium".into();
    publish_masterlist(&topics, &list).await;
    let (soon, later) = (list[0].match_number.get(), list[1].match_number.get());
    let a = Platform::start(env).await;
    eventually(WAIT, "the master list", || async {
        let (_, m) = a.get(&format!("/api/matches/{later}/availability")).await;
        (m["categories"][0]["capacity"] == 10).then_some(())
    })
    .await;
    let pay = Payments::start(&a, true, |_| {}).await;
    let buyer = unique("holder");
    for m in [soon, later] {
        let order = hold(&a, &buyer, m, 1).await;
        pay_and_wait(&pay, &a, &buyer, &order).await;
    }
    let to = format!("{buyer}@example.com");
    let subjects = || async {
        mail::messages_to(&mail::maildev_url(), &to).await.into_iter().map(|m| m.subject).collect::<Vec<_>>()
    };
    let count = |all: &[String], prefix: &str| all.iter().filter(|s| s.starts_with(prefix)).count();
    let (remind_soon, remind_later) = (format!("Tomorrow: Match {soon}:"), format!("Tomorrow: Match {later}:"));
    eventually(WAIT, "the reminder of the match 12 h away", || async {
        (count(&subjects().await, &remind_soon) == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = subjects().await;
    assert_eq!((count(&all, &remind_soon), count(&all, &remind_later)), (1, 0), "{all:?}");

    // The organisers move the later match to another venue, 20 h from now.
    list[1].date_utc = now + chrono::Duration::hours(20);
    list[1].location = "Al Bayt Stadium".into();
    publish_masterlist(&topics, &list[1..]).await;
    let moved = eventually(WAIT, "the move notice and the reminder", || async {
        let messages = mail::messages_to(&mail::maildev_url(), &to).await;
        let moved = messages
            .iter()
            .find(|m| m.subject.starts_with(&format!("Match {later}:")) && m.subject.ends_with("has moved"))?;
        messages.iter().any(|m| m.subject.starts_with(&remind_later)).then(|| moved.clone())
    })
    .await;
    let text = moved.text.unwrap_or_default();
    assert!(text.contains("Venue: Al Bayt Stadium (was Lusail Stadium)"), "{text}");
    assert!(text.contains("Kick-off:"), "{text}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = subjects().await;
    assert_eq!(count(&all, &format!("Match {later}:")), 1, "one notice per move: {all:?}");
    assert_eq!((count(&all, &remind_soon), count(&all, &remind_later)), (1, 1), "{all:?}");
}

/// `method path` on `p`'s reservations API as `who`, with a JSON body.
async fn as_account(p: &Platform, who: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = p.http.request(method, format!("{}{path}", p.reservations.url())).bearer_auth(p.token(who));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// A ticket passed on while its giver scans it at another platform's gate:
/// the gate log decides, and never both the giver gets in and the
/// recipient holds a valid ticket for the seat (the acceptance revoked the
/// old ticket through the outbox, after the fact: the same race as a
/// refund's, RELIABILITY.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_passed_on_while_its_giver_scans_it_lets_one_of_them_in() {
    let platforms = market(&["a", "b"], Duration::from_secs(600)).await;
    let (a, b) = (&platforms[0], &platforms[1]);
    let (mut accepted, mut scanned) = (0, 0);
    for round in 0..3u64 {
        let (giver, taker) = (unique("giver"), unique("taker"));
        let taker_email = format!("{taker}@example.com");
        let order = hold(a, &giver, 1, 1).await;
        assert_eq!(a.confirm(&order).await.0, 200);
        let (ticket, code) = tickets_of(a, &giver, &order).await.remove(0);
        let offer_path = format!("/api/tickets/{ticket}/transfer");
        let (status, offer) =
            as_account(a, &giver, Method::POST, &offer_path, Some(json!({"email": taker_email}))).await;
        assert_eq!(status, 202, "{offer}");
        let mails = mail::wait_for(&mail::maildev_url(), &taker_email, 1, WAIT).await;
        let token = mails.iter().find_map(|m| mail::link_tokens(m).pop()).expect("the offer's link");
        let late_scan = async {
            tokio::time::sleep(Duration::from_millis(200 * round)).await;
            check_in(b, 1, &code).await
        };
        let taking = as_account(a, &taker, Method::POST, "/api/transfers/accept", Some(json!({"token": token})));
        let (scan, taken) = tokio::join!(late_scan, taking);
        match (scan.0, taken.0) {
            (200, 409) => {
                scanned += 1;
                assert!(taken.1["message"].as_str().unwrap_or_default().contains("used at a gate"), "{}", taken.1);
                let (_, received) = as_account(a, &taker, Method::GET, "/api/tickets/received", None).await;
                assert_eq!(received["tickets"].as_array().map(Vec::len), Some(0), "{received}");
            }
            (409, 200) => {
                accepted += 1;
                assert_eq!(scan.1["result"], "REVOKED", "{}", scan.1);
                let (status, new) = check_in(b, 1, taken.1["code"].as_str().unwrap()).await;
                assert_eq!((status, new["result"].as_str()), (200, Some("ADMITTED")), "{new}");
            }
            other => panic!("one of the two, never both nor neither: {other:?} {} {}", scan.1, taken.1),
        }
    }
    eprintln!("accepted first: {accepted}, scanned first: {scanned}");
}

/// A ticket passed on: offered to an address, accepted by the account of
/// that address within its cap; the old code stops at the gate and the new
/// one admits; the order is no longer refunded; offers are refused to
/// oneself, twice, after the cut-off, and a link works for its addressee
/// once; a withdrawn offer's link does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_passes_a_ticket_on_and_only_the_new_holders_code_admits() {
    let platforms = market(&["a"], Duration::from_secs(600)).await;
    let a = &platforms[0];
    let pay = Payments::start(a, true, |_| {}).await;
    let (giver, taker) = (unique("giver"), unique("taker"));
    let taker_email = format!("{taker}@example.com");
    // Match 1 kicks off years from now.
    let order = hold(a, &giver, 1, 2).await;
    let payment = pay_and_wait(&pay, a, &giver, &order).await;
    let tickets = eventually(WAIT, "the tickets", || async {
        let t = tickets_of(a, &giver, &order).await;
        (t.len() == 2).then_some(t)
    })
    .await;
    let (ticket, old_code) = tickets[0].clone();
    let offer_path = format!("/api/tickets/{ticket}/transfer");

    // Bad offers.
    for bad in [
        json!({"email": format!("{giver}@EXAMPLE.com")}),
        json!({"email": "not an address"}),
        json!({"email": taker_email, "price": 10}),
        json!({}),
    ] {
        let (status, body) = as_account(a, &giver, Method::POST, &offer_path, Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, _) =
        as_account(a, "someone-else", Method::POST, &offer_path, Some(json!({"email": taker_email}))).await;
    assert_eq!(status, 404, "another's ticket");

    // The offer, once.
    let (status, offer) = as_account(a, &giver, Method::POST, &offer_path, Some(json!({"email": taker_email}))).await;
    assert_eq!(status, 202, "{offer}");
    assert_eq!(offer["toEmail"], taker_email.as_str());
    let (status, _) = as_account(a, &giver, Method::POST, &offer_path, Some(json!({"email": "x@example.com"}))).await;
    assert_eq!(status, 409, "one open offer per ticket");
    let (_, mine) = as_account(a, &giver, Method::GET, &format!("/api/reservations/{order}/tickets"), None).await;
    assert_eq!(mine["tickets"][0]["offeredTo"], taker_email.as_str(), "{mine}");
    let mails = mail::wait_for(&mail::maildev_url(), &taker_email, 1, WAIT).await;
    let token = mails.iter().find_map(|m| mail::link_tokens(m).pop()).expect("the offer's link");

    // Only its addressee accepts it, within their cap.
    let accept = |who: String, token: String| async move {
        as_account(a, &who, Method::POST, "/api/transfers/accept", Some(json!({"token": token}))).await
    };
    assert_eq!(accept(unique("stranger"), token.clone()).await.0, 403, "another address");
    assert_eq!(accept(giver.clone(), token.clone()).await.0, 422, "one's own offer");
    assert_eq!(accept(taker.clone(), "x".repeat(43)).await.0, 404, "an unknown link");
    assert_eq!(accept(taker.clone(), "short".into()).await.0, 404, "a malformed link");
    let full = [hold(a, &taker, 1, 2).await, hold(a, &taker, 1, 2).await];
    let (status, body) = accept(taker.clone(), token.clone()).await;
    assert_eq!(status, 409, "over the cap of 4 per match: {body}");
    assert_eq!(as_account(a, &taker, Method::DELETE, &format!("/api/reservations/{}", full[1]), None).await.0, 200);
    let (status, new) = accept(taker.clone(), token.clone()).await;
    assert_eq!(status, 200, "{new}");
    let new_id = new["id"].as_str().unwrap().to_string();
    let new_code = new["code"].as_str().unwrap().to_string();
    assert!(new_id != ticket && new_code != old_code, "a new ticket: {new}");
    assert_eq!((new["seat"].as_u64(), new["holder"].as_str()), (Some(1), Some(taker_email.as_str())));
    assert_eq!(accept(taker.clone(), token.clone()).await.0, 409, "a link works once");

    // The taker holds it; the giver sees it passed on.
    let (_, received) = as_account(a, &taker, Method::GET, "/api/tickets/received", None).await;
    assert_eq!(received["tickets"][0]["id"], new_id.as_str(), "{received}");
    let (_, mine) = as_account(a, &giver, Method::GET, &format!("/api/reservations/{order}/tickets"), None).await;
    let old = mine["tickets"].as_array().unwrap().iter().find(|t| t["id"] == ticket.as_str()).unwrap().clone();
    assert_eq!((old["status"].as_str(), old["passedOn"].as_bool()), (Some("REVOKED"), Some(true)), "{mine}");
    assert!(mine["tickets"].as_array().unwrap().iter().all(|t| t["id"] != new_id.as_str()), "{mine}");
    assert_eq!(as_account(a, &giver, Method::GET, &format!("/api/tickets/{new_id}/qr.svg"), None).await.0, 404);
    assert_eq!(as_account(a, &taker, Method::GET, &format!("/api/tickets/{new_id}/live"), None).await.0, 200);

    // The gate: the old code is revoked everywhere, the new one admits once.
    eventually(WAIT, "the old code revoked at the gate", || async {
        let (_, scan) = check_in(a, 1, &old_code).await;
        (scan["result"] == "REVOKED").then_some(())
    })
    .await;
    let (_, scan) = check_in(a, 1, &new_code).await;
    assert_eq!(scan["result"], "ADMITTED", "{scan}");

    // Mail: the taker's ticket with its QR code, the giver's note.
    let mails = mail::wait_for(&mail::maildev_url(), &taker_email, 2, WAIT).await;
    let theirs = mails.iter().find(|m| m.subject.starts_with("Your ticket")).expect("the ticket mailed");
    let png = &theirs.attachments.as_ref().unwrap()[0].generated_file_name;
    assert_eq!(qr_texts(&mail::attachment(&mail::maildev_url(), theirs, png).await), std::slice::from_ref(&new_code));
    let notes = mail::wait_for(&mail::maildev_url(), &format!("{giver}@example.com"), 2, WAIT).await;
    assert!(notes.iter().any(|m| m.subject.starts_with("Your ticket was accepted")), "the giver told");

    // Passing a ticket on does not free the giver's cap (4 a match): two
    // more, then no more.
    let more = hold(a, &giver, 1, 2).await;
    let (status, body) = a.reserve(&giver, 1, 1, 1, None).await;
    assert_eq!(status, 409, "over the cap: {body}");
    assert_eq!(as_account(a, &giver, Method::DELETE, &format!("/api/reservations/{more}"), None).await.0, 200);
    // The giver's own records no longer carry the new holder's code.
    let res = a
        .http
        .get(format!("{}/internal/accounts/{giver}/export", a.reservations.internal_url()))
        .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
        .send()
        .await
        .unwrap();
    let export = res.text().await.unwrap();
    assert!(export.contains(&old_code) && !export.contains(&new_code), "the giver's export: {export}");

    // The order that gave a ticket away is not refunded.
    let payment_id = payment["paymentId"].as_str().unwrap();
    let (status, body) = pay.call(a, Method::POST, &format!("/api/payments/{payment_id}/refund"), &giver, None).await;
    assert_eq!(status, 409, "{body}");

    // A withdrawn offer's link does nothing.
    let second = format!("/api/tickets/{}/transfer", tickets[1].0);
    let other = format!("{}@example.com", unique("other"));
    assert_eq!(as_account(a, &giver, Method::POST, &second, Some(json!({"email": other}))).await.0, 202);
    let mails = mail::wait_for(&mail::maildev_url(), &other, 1, WAIT).await;
    let token = mails.iter().find_map(|m| mail::link_tokens(m).pop()).expect("the second offer's link");
    assert_eq!(as_account(a, &giver, Method::DELETE, &second, None).await.0, 204);
    assert_eq!(as_account(a, &giver, Method::DELETE, &second, None).await.0, 404);
    let other_account = other.trim_end_matches("@example.com").to_string();
    assert_eq!(accept(other_account, token).await.0, 409, "withdrawn");
    // A few offers of a ticket a day: each mails someone.
    for n in 2..=3 {
        let to = format!("{}@example.com", unique(&format!("other{n}")));
        assert_eq!(as_account(a, &giver, Method::POST, &second, Some(json!({"email": to}))).await.0, 202);
        assert_eq!(as_account(a, &giver, Method::DELETE, &second, None).await.0, 204);
    }
    let (status, body) = as_account(a, &giver, Method::POST, &second, Some(json!({"email": other}))).await;
    assert_eq!(status, 409, "a fourth offer in a day: {body}");

    // A match a day away or less (match 3 kicked off in 2022): too late.
    let late = hold(a, &giver, 3, 1).await;
    pay_and_wait(&pay, a, &giver, &late).await;
    let late_ticket = eventually(WAIT, "the late ticket", || async { tickets_of(a, &giver, &late).await.pop() }).await;
    let path = format!("/api/tickets/{}/transfer", late_ticket.0);
    let (status, body) = as_account(a, &giver, Method::POST, &path, Some(json!({"email": taker_email}))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("before kick-off"), "{body}");

    // A payment taken back (a dispute) revokes a ticket passed on too, and
    // its holder is told.
    let (seller, holder) = (unique("seller"), unique("holder"));
    let holder_email = format!("{holder}@example.com");
    let sold = hold(a, &seller, 1, 1).await;
    pay_and_wait(&pay, a, &seller, &sold).await;
    let sold_ticket = eventually(WAIT, "the sold ticket", || async { tickets_of(a, &seller, &sold).await.pop() }).await;
    let path = format!("/api/tickets/{}/transfer", sold_ticket.0);
    assert_eq!(as_account(a, &seller, Method::POST, &path, Some(json!({"email": holder_email}))).await.0, 202);
    let mails = mail::wait_for(&mail::maildev_url(), &holder_email, 1, WAIT).await;
    let token = mails.iter().find_map(|m| mail::link_tokens(m).pop()).expect("the link");
    let (status, theirs) = accept(holder.clone(), token).await;
    assert_eq!(status, 200, "{theirs}");
    let res = a
        .http
        .post(format!("{}/internal/reservations/{sold}/revoke", a.reservations.internal_url()))
        .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mails = mail::wait_for(&mail::maildev_url(), &holder_email, 3, WAIT).await;
    assert!(mails.iter().any(|m| m.subject.starts_with("Your ticket no longer admits")), "the holder told");
    let code = theirs["code"].as_str().unwrap().to_string();
    eventually(WAIT, "the passed-on ticket revoked at the gate", || async {
        let (_, scan) = check_in(a, 1, &code).await;
        (scan["result"] == "REVOKED").then_some(())
    })
    .await;
}

/// An order of several lines (a cart): each line held through the log on
/// its own (a line of four is two holds), one the market sold to another
/// platform's buyer first; one payment for what was held; refunds of one
/// line and then of the whole order; every platform counts the sales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_of_several_lines_is_held_line_by_line_paid_once_and_refunded_by_line_and_whole() {
    let topic_env = unique("cart");
    let envs = [PlatformEnv::new("a", &topic_env), PlatformEnv::new("b", &topic_env)];
    ensure_topics(&envs[0].topics()).await;
    let list = ticktak_core::masterlist::years_later(masterlist_with_capacity(2, 4), 6);
    let (one, three) = (list[0].match_number.get(), list[1].match_number.get());
    publish_masterlist(&envs[0].topics(), &list).await;
    let [ea, eb] = envs;
    let (a, b) = (Platform::start(ea).await, Platform::start(eb).await);
    for p in [&a, &b] {
        eventually(WAIT, "the master list", || async {
            let (_, m) = p.get(&format!("/api/matches/{three}/availability")).await;
            (m["categories"][0]["capacity"] == 4).then_some(())
        })
        .await;
    }
    let pay = Payments::start(&a, true, |_| {}).await;
    let buyer = unique("family");
    let order = |lines: Value| as_account(&a, &buyer, Method::POST, "/api/orders", Some(json!({ "lines": lines })));

    // Bad orders: a clear 4xx each, nothing placed.
    for (lines, status) in [
        (json!([]), 422),
        (
            json!([{"matchNumber": one, "category": 1, "quantity": 1}, {"matchNumber": one, "category": 1, "quantity": 2}]),
            422,
        ),
        (json!([{"matchNumber": one, "category": 1, "quantity": 9}]), 422),
        (json!([{"matchNumber": one, "category": 1, "quantity": 0}]), 422),
        (json!([{"matchNumber": 64, "category": 1, "quantity": 1}]), 404),
        // Six tickets of one match: over the cap of four, so no line is held.
        (
            json!([{"matchNumber": one, "category": 1, "quantity": 2}, {"matchNumber": one, "category": 2, "quantity": 2},
                {"matchNumber": one, "category": 3, "quantity": 2}]),
            409,
        ),
    ] {
        let (got, body) = order(lines.clone()).await;
        assert_eq!(got, status, "{lines} → {body}");
        assert!(body["message"].is_string(), "{body}");
    }
    let (_, mine) = as_account(&a, &buyer, Method::GET, "/api/reservations", None).await;
    assert_eq!(mine["reservations"], json!([]), "a refused order places nothing");

    // Another platform's buyer takes every ticket of one category first.
    for _ in 0..2 {
        let (status, r) = b.reserve("rival", three, 1, 2, None).await;
        assert_eq!(status, 201, "{r}");
    }
    // Four seats of match one (one line, two holds), two of match three,
    // and two of the category the rival took.
    let (status, placed) = order(json!([
        {"matchNumber": one, "category": 1, "quantity": 4},
        {"matchNumber": three, "category": 2, "quantity": 2},
        {"matchNumber": three, "category": 1, "quantity": 2},
    ]))
    .await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["status"], "HELD", "{placed}");
    let lines = placed["reservations"].as_array().unwrap().clone();
    let shape: Vec<(u64, u64, u64, &str)> = lines
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (n("matchNumber"), n("category"), n("quantity"), r["status"].as_str().unwrap())
        })
        .collect();
    let (one, three) = (u64::from(one), u64::from(three));
    assert_eq!(
        shape,
        [(one, 1, 2, "HELD"), (one, 1, 2, "HELD"), (three, 2, 2, "HELD"), (three, 1, 2, "REJECTED")],
        "{placed}"
    );
    let held_total: u64 = lines.iter().filter(|r| r["status"] == "HELD").map(|r| r["total"].as_u64().unwrap()).sum();
    assert_eq!(placed["total"], held_total);
    let id = placed["id"].as_str().unwrap();
    assert!(lines.iter().all(|r| r["orderId"] == id), "{placed}");

    // The order counts once against the cap of two unpaid holds.
    let (status, single) = a.reserve(&buyer, three as u8, 3, 1, None).await;
    assert_eq!(status, 201, "{single}");
    let (status, third) = a.reserve(&buyer, three as u8, 3, 1, None).await;
    assert_eq!(status, 409, "{third}");
    assert!(third["message"].as_str().unwrap().contains("2 unpaid holds"), "{third}");
    let single = single["id"].as_str().unwrap();
    assert_eq!(as_account(&a, &buyer, Method::DELETE, &format!("/api/reservations/{single}"), None).await.0, 200);

    // Not the buyer's: not found. A line is paid with its order, not alone.
    assert_eq!(as_account(&a, "stranger", Method::GET, &format!("/api/orders/{id}"), None).await.0, 404);
    let line = lines[0]["id"].as_str().unwrap();
    let (status, alone) =
        pay.call(&a, Method::POST, "/api/payments", &buyer, Some(json!({ "reservationId": line }))).await;
    assert_eq!(status, 409, "{alone}");
    let (status, _) =
        pay.call(&a, Method::POST, "/api/payments/orders", "stranger", Some(json!({ "orderId": id }))).await;
    assert_eq!(status, 404);

    // One payment for everything held.
    let (status, payment) =
        pay.call(&a, Method::POST, "/api/payments/orders", &buyer, Some(json!({ "orderId": id }))).await;
    assert_eq!(status, 201, "{payment}");
    assert_eq!(payment["amount"], json!(held_total * 100), "{payment}");
    assert_eq!(payment["payments"].as_array().unwrap().len(), 3, "a payment per held line: {payment}");
    let (status, again) =
        pay.call(&a, Method::POST, "/api/payments/orders", &buyer, Some(json!({ "orderId": id }))).await;
    assert_eq!((status, &again["clientSecret"]), (200, &payment["clientSecret"]), "the same payment again");
    let secret = payment["clientSecret"].as_str().unwrap();
    checkout::pay(secret, CARD_OK).await;
    let paid = eventually(WAIT, "the order paid", || async {
        let (_, o) = as_account(&a, &buyer, Method::GET, &format!("/api/orders/{id}"), None).await;
        (o["status"] == "CONFIRMED").then_some(o)
    })
    .await;
    let statuses: Vec<&str> =
        paid["reservations"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["CONFIRMED", "CONFIRMED", "CONFIRMED", "REJECTED"], "{paid}");
    for r in &lines[..3] {
        let (_, t) = as_account(
            &a,
            &buyer,
            Method::GET,
            &format!("/api/reservations/{}/tickets", r["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(t["tickets"].as_array().map(Vec::len), Some(2), "{t}");
    }
    // Paid, the order's unpaid hold is given back, once: two holds again.
    let (status, one_more) = a.reserve(&buyer, three as u8, 3, 1, None).await;
    let (status2, two_more) = a.reserve(&buyer, three as u8, 3, 1, None).await;
    assert_eq!((status, status2), (201, 201), "{one_more} {two_more}");
    for r in [&one_more, &two_more] {
        let id = r["id"].as_str().unwrap();
        assert_eq!(as_account(&a, &buyer, Method::DELETE, &format!("/api/reservations/{id}"), None).await.0, 200);
    }
    // Every platform counts the order's tickets sold.
    for p in [&a, &b] {
        eventually(WAIT, "match one's four tickets sold everywhere", || async {
            let (_, m) = p.get(&format!("/api/matches/{one}/availability")).await;
            (m["categories"][0]["sold"] == 4).then_some(())
        })
        .await;
    }

    // One line refunded: a part of the one charge goes back.
    let line_payment = payment["payments"][0]["paymentId"].as_str().unwrap();
    let (status, refunded) =
        pay.call(&a, Method::POST, &format!("/api/payments/{line_payment}/refund"), &buyer, None).await;
    assert_eq!((status, &refunded["status"]), (200, &json!("REFUNDED")), "{refunded}");
    let intent = checkout::intent(&checkout::intent_of(secret)).await;
    let line_amount = lines[0]["total"].as_i64().unwrap() * 100;
    assert_eq!(
        intent["latest_charge"]["amount_refunded"]
            .as_i64()
            .or(intent["charges"]["data"][0]["amount_refunded"].as_i64()),
        Some(line_amount),
        "{intent}"
    );
    let (_, o) = as_account(&a, &buyer, Method::GET, &format!("/api/orders/{id}"), None).await;
    assert_eq!(o["reservations"][0]["status"], "REFUNDED", "{o}");
    assert_eq!(o["status"], "CONFIRMED", "the rest stays paid: {o}");

    // Then the whole order.
    let (status, all) = pay.call(&a, Method::POST, &format!("/api/payments/orders/{id}/refund"), &buyer, None).await;
    assert_eq!((status, &all["status"]), (200, &json!("REFUNDED")), "{all}");
    let (_, o) = as_account(&a, &buyer, Method::GET, &format!("/api/orders/{id}"), None).await;
    assert_eq!(o["status"], "REFUNDED", "{o}");
    for p in [&a, &b] {
        eventually(WAIT, "the refunded tickets back on sale everywhere", || async {
            let (_, m) = p.get(&format!("/api/matches/{one}/availability")).await;
            (m["categories"][0]["sold"] == 0).then_some(())
        })
        .await;
    }

    // An order held and then cancelled whole releases its tickets.
    let (status, second) = order(json!([{"matchNumber": one, "category": 2, "quantity": 3}])).await;
    assert_eq!(status, 201, "{second}");
    let second = second["id"].as_str().unwrap();
    let (status, cancelled) = as_account(&a, &buyer, Method::DELETE, &format!("/api/orders/{second}"), None).await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("CANCELLED")), "{cancelled}");
}
