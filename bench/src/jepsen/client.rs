//! A client of a Jepsen run: a buyer's whole life on the platforms, every
//! step recorded in the history.
//!
//! Each round it holds one or two tickets of a ticket type on a platform it
//! draws, as a buyer it draws; of the holds granted, it cancels some, lets
//! some expire, and pays for the others a moment later (some too late: the
//! hold has expired). Of the paid orders it refunds some at once; for
//! others it fetches the tickets and has staff scan them at a gate, some
//! at both platforms' gates at the same moment (one ticket, two gates), some
//! while the buyer asks for a refund at that moment, and then asks for a
//! refund of some of those (refused for a ticket used).
//! Payment is what the payments service asks of reservations once the
//! provider took the money (`POST /internal/reservations/{id}/confirm`).

use std::time::{Duration, Instant};

use ticktak_contracts::tickets::{CheckIn, CheckInResult, Ticket, TicketList};
use ticktak_core::{HoldId, TicketType};
use ticktak_kit::auth::Role;
use ticktak_tests::log::Rng;

use super::history::{Answer, History, Request};

/// People the clients act for (the market's cap per person and match holds).
pub const BUYERS: u64 = 60;

/// One platform as the clients reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub platform: String,
    /// The reservations service's public base URL.
    pub api: String,
    /// Its internal base URL (what payments calls).
    pub internal: String,
}

/// How long a client may wait before paying: up to a little past the hold's
/// time, so that some payments come too late.
fn pay_delay(rng: &mut Rng, hold_ttl: Duration) -> Duration {
    Duration::from_millis(rng.below(hold_ttl.as_millis() as u64 * 6 / 5))
}

/// One client until `deadline`.
pub async fn act(
    client: usize,
    seed: u64,
    platforms: &[Endpoint],
    types: &[TicketType],
    hold_ttl: Duration,
    history: &History,
    deadline: Instant,
) {
    let mut rng = Rng::new(seed);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("an HTTP client");
    let c = Client { client, http: &http, history };
    while Instant::now() < deadline {
        let at = &platforms[rng.below(platforms.len() as u64) as usize];
        let buyer = format!("jepsen-buyer-{}", rng.below(BUYERS));
        let token = ticktak_tests::dev_token(&buyer, &at.platform);
        let ticket_type = types[rng.below(types.len() as u64) as usize];
        let quantity = 1 + rng.below(2) as u8;
        if let Answer::Held { hold } = c.hold(at, &buyer, &token, ticket_type, quantity).await {
            match rng.below(100) {
                0..35 => {
                    tokio::time::sleep(Duration::from_millis(rng.below(1000))).await;
                    c.cancel(at, &buyer, &token, hold).await;
                }
                35..75 => {
                    tokio::time::sleep(pay_delay(&mut rng, hold_ttl)).await;
                    if c.simple(at, &buyer, Request::Pay { hold }).await == Answer::Paid {
                        c.after_payment(&mut rng, platforms, at, &buyer, &token, hold, ticket_type).await;
                    }
                }
                // The rest expire.
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(20 + rng.below(60))).await;
    }
}

struct Client<'a> {
    client: usize,
    http: &'a reqwest::Client,
    history: &'a History,
}

impl Client<'_> {
    async fn hold(&self, at: &Endpoint, buyer: &str, token: &str, ticket_type: TicketType, quantity: u8) -> Answer {
        let i = self.history.invoke(self.client, &at.platform, buyer, Request::Hold { ticket_type, quantity });
        let sent = self
            .http
            .post(format!("{}/api/reservations", at.api))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "matchNumber": ticket_type.match_number.get(),
                "category": ticket_type.category.get(),
                "quantity": quantity,
            }))
            .send()
            .await;
        let answer = match sent {
            Err(e) => Answer::Indeterminate { error: e.to_string() },
            Ok(res) => {
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.unwrap_or_default();
                let hold = body["id"].as_str().and_then(|id| HoldId::parse(id).ok());
                match (status, hold) {
                    (201, Some(hold)) => Answer::Held { hold },
                    (202, Some(hold)) => Answer::Requested { hold },
                    (409, Some(hold)) => Answer::RejectedByLog { hold },
                    (status, _) => Answer::Refused { status },
                }
            }
        };
        self.history.complete(i, answer.clone());
        answer
    }

    async fn cancel(&self, at: &Endpoint, buyer: &str, token: &str, hold: HoldId) -> Answer {
        let i = self.history.invoke(self.client, &at.platform, buyer, Request::Cancel { hold });
        let sent = self.http.delete(format!("{}/api/reservations/{}", at.api, hold.0)).bearer_auth(token).send().await;
        let answer = match sent {
            Err(e) => Answer::Indeterminate { error: e.to_string() },
            Ok(res) if res.status() == 200 => Answer::Cancelled,
            Ok(res) => Answer::Other { status: res.status().as_u16() },
        };
        self.history.complete(i, answer.clone());
        answer
    }

    /// A payment or a refund, as payments asks reservations for it.
    async fn simple(&self, at: &Endpoint, buyer: &str, request: Request) -> Answer {
        let (path, done) = match &request {
            Request::Pay { hold } => (format!("{}/confirm", hold.0), Answer::Paid),
            Request::Refund { hold } => (format!("{}/refund", hold.0), Answer::Refunded),
            other => unreachable!("not a payment: {other:?}"),
        };
        let i = self.history.invoke(self.client, &at.platform, buyer, request);
        let sent = self
            .http
            .post(format!("{}/internal/reservations/{path}", at.internal))
            .header("authorization", ticktak_kit::internal::bearer(ticktak_kit::config::DEV_INTERNAL_TOKEN))
            .send()
            .await;
        let answer = match sent {
            Err(e) => Answer::Indeterminate { error: e.to_string() },
            Ok(res) if res.status() == 200 => done,
            Ok(res) => Answer::Other { status: res.status().as_u16() },
        };
        self.history.complete(i, answer.clone());
        answer
    }

    /// A paid order: refunded at once, or its tickets scanned (some at two
    /// gates at once) and then, for some, a refund asked.
    #[allow(clippy::too_many_arguments)]
    async fn after_payment(
        &self,
        rng: &mut Rng,
        platforms: &[Endpoint],
        at: &Endpoint,
        buyer: &str,
        token: &str,
        hold: HoldId,
        ticket_type: TicketType,
    ) {
        match rng.below(100) {
            0..25 => {
                self.simple(at, buyer, Request::Refund { hold }).await;
            }
            25..85 => {
                let Some(tickets) = self.tickets(at, token, hold).await else { return };
                // A refund asked while a gate scans the first ticket: one of
                // the two must lose.
                let refund_while_scanning = rng.below(100) < 20;
                for (n, ticket) in tickets.tickets.iter().enumerate() {
                    let first = &platforms[rng.below(platforms.len() as u64) as usize];
                    if refund_while_scanning && n == 0 {
                        tokio::join!(
                            self.check_in(first, buyer, hold, ticket, ticket_type),
                            self.simple(at, buyer, Request::Refund { hold })
                        );
                    } else if rng.below(100) < 30 {
                        let second = &platforms[rng.below(platforms.len() as u64) as usize];
                        tokio::join!(
                            self.check_in(first, buyer, hold, ticket, ticket_type),
                            self.check_in(second, buyer, hold, ticket, ticket_type)
                        );
                    } else {
                        self.check_in(first, buyer, hold, ticket, ticket_type).await;
                    }
                }
                if !refund_while_scanning && rng.below(100) < 20 {
                    self.simple(at, buyer, Request::Refund { hold }).await;
                }
            }
            _ => {}
        }
    }

    /// The paid order's tickets, as its buyer reads them (not an operation
    /// of the history: it changes nothing).
    async fn tickets(&self, at: &Endpoint, token: &str, hold: HoldId) -> Option<TicketList> {
        let url = format!("{}/api/reservations/{}/tickets", at.api, hold.0);
        let res = self.http.get(url).bearer_auth(token).send().await.ok()?;
        if res.status() != 200 {
            return None;
        }
        res.json().await.ok()
    }

    async fn check_in(&self, gate: &Endpoint, buyer: &str, hold: HoldId, ticket: &Ticket, tt: TicketType) -> Answer {
        let staff = ticktak_tests::dev_token_as("jepsen-staff", &gate.platform, Role::Staff);
        let request = Request::CheckIn { hold, ticket: ticket.id, gate: gate.platform.clone() };
        let i = self.history.invoke(self.client, &gate.platform, buyer, request);
        let body = CheckIn { code: ticket.code.clone(), match_number: tt.match_number.get() };
        let sent =
            self.http.post(format!("{}/api/tickets/check-in", gate.api)).bearer_auth(staff).json(&body).send().await;
        let answer = match sent {
            Err(e) => Answer::Indeterminate { error: e.to_string() },
            Ok(res) => {
                let status = res.status().as_u16();
                match res.json::<CheckInResult>().await {
                    Ok(r) if status == 200 && r.result == "ADMITTED" => Answer::Admitted,
                    Ok(r) => Answer::NotAdmitted { status, result: r.result },
                    Err(_) => Answer::Other { status },
                }
            }
        };
        self.history.complete(i, answer.clone());
        answer
    }
}
