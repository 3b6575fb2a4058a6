//! The cart: tickets of several matches and categories bought as one order.
//!
//! - `POST /matches/{n}/cart`: a match page's form adds a line (or changes
//!   the line of that category) to the cart, kept in a cookie until held.
//! - `GET /cart`: the lines, each removable (`POST /cart/remove`), and
//!   "Hold all" (`POST /cart/hold`): one order at reservations
//!   (`POST /api/orders`), each line held through the log on its own.
//! - `GET /carts/{id}`: the order. While lines are being decided it
//!   reloads; then the lines held and those the market refused, one card
//!   form for all held lines (checkout.js, as a single hold's), and "cancel
//!   all"; once paid, every line's tickets and the refund of the order.
//!   `POST /carts/{id}/pay|cancel|refund` do those.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use reqwest::Method;
use serde::Deserialize;
use ticktak_contracts::catalogue::{match_path, MatchView};
use ticktak_contracts::payments::{CreateOrderPayment, OrderPayment};
use ticktak_contracts::reservations::{CreateOrder, OrderLineRequest, OrderView, ReservationStatus, ReservationView};
use ticktak_contracts::tickets::TicketList;

use super::forms::{uuid_like, CsrfForm};
use super::matches::{HoldForm, MAX_LINE_TICKETS};
use super::pay::{self, Charge};
use crate::error::WebError;
use crate::layout::{self, csrf_field, dollars};
use crate::session::{self, Visitor};
use crate::AppState;

/// Most lines in a cart (reservations' limit per order).
pub const MAX_LINES: usize = 6;

/// One line of the cart: a ticket type and how many tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub match_number: u8,
    pub category: u8,
    pub quantity: u8,
}

impl Line {
    fn key(&self) -> String {
        format!("{}.{}", self.match_number, self.category)
    }
}

/// The cart as its cookie keeps it: `3.1.2-7.2.4` (match.category.quantity,
/// a line each). Whatever does not read as a line is dropped; reservations
/// checks the rest again when the lines are held.
pub fn parse(value: &str) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for part in value.split('-').take(MAX_LINES) {
        let mut numbers = part.split('.').map(|n| n.parse::<u8>().ok());
        if let (Some(Some(m)), Some(Some(c)), Some(Some(q)), None) =
            (numbers.next(), numbers.next(), numbers.next(), numbers.next())
        {
            let line = Line { match_number: m, category: c, quantity: q };
            let sane = (1..=64).contains(&m) && (1..=3).contains(&c) && (1..=MAX_LINE_TICKETS).contains(&q);
            if sane && !lines.iter().any(|l| l.key() == line.key()) {
                lines.push(line);
            }
        }
    }
    lines
}

pub fn encode(lines: &[Line]) -> String {
    lines.iter().map(|l| format!("{}.{}.{}", l.match_number, l.category, l.quantity)).collect::<Vec<_>>().join("-")
}

fn read(headers: &HeaderMap) -> Vec<Line> {
    session::cookie_value(headers, session::CART).map(|v| parse(&v)).unwrap_or_default()
}

fn keep(state: &AppState, mut res: Response, lines: &[Line]) -> Response {
    session::set(res.headers_mut(), &[session::site_cookie(session::CART, encode(lines), state.config.secure_cookies)]);
    res
}

/// `POST /matches/{n}/cart`: the match page's form, "Add to cart".
pub async fn add(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(n): Path<u8>,
    Form(form): Form<HoldForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let line = Line { match_number: n, category: form.category, quantity: form.quantity };
    if parse(&encode(&[line])).is_empty() {
        return Err(WebError::bad_request("Choose a category and 1 to 4 tickets."));
    }
    let mut lines = read(&headers);
    let full = lines.len() >= MAX_LINES;
    match lines.iter_mut().find(|l| l.key() == line.key()) {
        Some(same) => same.quantity = line.quantity,
        None if full => {
            return Err(WebError::bad_request(format!(
                "A cart holds at most {MAX_LINES} lines: hold these first, or remove one."
            )))
        }
        None => lines.push(line),
    }
    Ok(keep(&state, Redirect::to("/cart").into_response(), &lines))
}

/// The matches of `lines`, as the shop describes them (a line whose match
/// is unknown is shown by its number alone).
async fn matches_of(state: &AppState, visitor: &Visitor, lines: &[Line]) -> Vec<MatchView> {
    let mut found: Vec<MatchView> = Vec::new();
    for line in lines {
        if found.iter().any(|m| m.match_number == line.match_number) {
            continue;
        }
        let url = format!("{}{}", state.config.shop, match_path(line.match_number));
        if let Ok(reply) = state.apis.get(url, visitor.who()).await {
            if let Ok(m) = reply.parse::<MatchView>() {
                found.push(m);
            }
        }
    }
    found
}

fn match_name(all: &[MatchView], n: u8) -> String {
    match all.iter().find(|m| m.match_number == n) {
        Some(m) => format!("Match {n} · {} v {}", m.home_team, m.away_team),
        None => format!("Match {n}"),
    }
}

fn unit_price(all: &[MatchView], line: &Line) -> Option<u32> {
    let m = all.iter().find(|m| m.match_number == line.match_number)?;
    m.categories.iter().find(|c| c.category == line.category).map(|c| c.price)
}

/// `GET /cart`.
pub async fn page(State(state): State<AppState>, visitor: Visitor, headers: HeaderMap) -> Result<Response, WebError> {
    visitor.account()?;
    cart_page(&state, &visitor, &read(&headers), None, None).await
}

/// The form of `POST /cart/hold`.
#[derive(Debug, Deserialize)]
pub struct HoldAll {
    pub csrf: String,
    /// One per rendered form: a double submit places one order.
    pub key: String,
    /// A solved puzzle, when reservations asked for one.
    #[serde(default)]
    pub challenge: String,
}

async fn cart_page(
    state: &AppState,
    visitor: &Visitor,
    lines: &[Line],
    error: Option<&str>,
    again: Option<&HoldAll>,
) -> Result<Response, WebError> {
    let all = matches_of(state, visitor, lines).await;
    let total: u64 = lines.iter().map(|l| u64::from(unit_price(&all, l).unwrap_or(0)) * u64::from(l.quantity)).sum();
    let body = html! {
        h1 { "Your cart" }
        @if let Some(e) = error { (layout::notice("error", e)) }
        @if lines.is_empty() {
            p { "Your cart is empty. Add tickets from a match's page: several matches and categories are held and paid together." }
            p { a.button href="/" { "Find matches" } }
        } @else {
            div.scroll { table {
                thead { tr { th { "Tickets for" } th { "Tickets" } th { "Price" } th { span.visually-hidden { "Remove" } } } }
                tbody {
                    @for l in lines {
                        tr data-line=(l.key()) {
                            td { a href={ "/matches/" (l.match_number) } { (match_name(&all, l.match_number)) } br; "Category " (l.category) }
                            td { (l.quantity) }
                            td { @if let Some(p) = unit_price(&all, l) { (dollars(i64::from(p) * i64::from(l.quantity))) } }
                            td {
                                form method="post" action="/cart/remove" {
                                    (csrf_field(visitor))
                                    input type="hidden" name="line" value=(l.key());
                                    button.secondary type="submit" aria-label={ "Remove " (match_name(&all, l.match_number)) ", category " (l.category) } { "Remove" }
                                }
                            }
                        }
                    }
                }
            } }
            p { "Total: " strong { (dollars(i64::try_from(total).unwrap_or(i64::MAX))) } }
            @if again.is_some() {
                (layout::notice("ok", "One moment: your browser is solving a small puzzle to show it is not a bot, then sends your order again."))
            }
            form #hold-all.stack method="post" action="/cart/hold" data-challenge[again.is_some()] {
                (csrf_field(visitor))
                input type="hidden" name="key" value=(again.map(|f| f.key.clone()).unwrap_or_else(session::random_token));
                input type="hidden" name="challenge" value="";
                button type="submit" { "Hold all these tickets" }
                p.meta { "Each line is held on its own: if one sells out meanwhile, you keep the others and pay only for what you hold, in one payment." }
            }
        }
    };
    Ok(layout::page(Some(visitor), "Your cart", body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RemoveLine {
    pub csrf: String,
    pub line: String,
}

/// `POST /cart/remove`.
pub async fn remove(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<RemoveLine>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let lines: Vec<Line> = read(&headers).into_iter().filter(|l| l.key() != form.line).collect();
    Ok(keep(&state, Redirect::to("/cart").into_response(), &lines))
}

/// Place `lines` as one order for the visitor: the order's id, or the
/// service's answer when it placed nothing.
pub async fn place(
    state: &AppState,
    visitor: &Visitor,
    lines: &[Line],
    key: &str,
    solution: Option<&str>,
) -> Result<Result<String, crate::apis::Reply>, WebError> {
    let body = CreateOrder {
        lines: lines
            .iter()
            .map(|l| OrderLineRequest {
                match_number: i64::from(l.match_number),
                category: i64::from(l.category),
                quantity: i64::from(l.quantity),
            })
            .collect(),
    };
    let url = format!("{}/api/orders", state.config.reservations);
    let who = crate::apis::As { solution, ..visitor.who() };
    let reply = state.apis.send(Method::POST, url, who, Some(&body), Some(key)).await?;
    Ok(match (reply.status, reply.read::<OrderView>()) {
        (200..=299 | 409, Some(o)) => Ok(o.id.to_string()),
        _ => Err(reply),
    })
}

/// `POST /cart/hold`: every line of the cart, as one order.
pub async fn hold(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<HoldAll>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    if form.key.is_empty() || form.key.len() > 64 {
        return Err(WebError::bad_request("This form has expired. Go back, reload the page and try again."));
    }
    let lines = read(&headers);
    if lines.is_empty() {
        return Ok(Redirect::to("/cart").into_response());
    }
    let solution = Some(form.challenge.as_str()).filter(|s| !s.is_empty() && s.len() <= 2048);
    match place(&state, &visitor, &lines, &form.key, solution).await? {
        Ok(id) => Ok(keep(&state, Redirect::to(&format!("/carts/{id}")).into_response(), &[])),
        // This account must solve a puzzle first: the page solves it and
        // sends the same order again.
        Err(reply) if reply.status == 428 && solution.is_none() => {
            let mut page = cart_page(&state, &visitor, &lines, None, Some(&form)).await?;
            *page.status_mut() = StatusCode::PRECONDITION_REQUIRED;
            Ok(page)
        }
        Err(reply) if matches!(reply.status, 400 | 403 | 404 | 409 | 422) => {
            let mut page = cart_page(&state, &visitor, &lines, Some(&reply.message()), None).await?;
            *page.status_mut() = StatusCode::CONFLICT;
            Ok(page)
        }
        Err(reply) => Err(WebError::from_reply(&reply)),
    }
}

async fn order(state: &AppState, visitor: &Visitor, id: &str) -> Result<OrderView, WebError> {
    if uuid_like(id).is_none() {
        return Err(WebError::NotFound("No such order.".into()));
    }
    let url = format!("{}/api/orders/{id}", state.config.reservations);
    state.apis.get_as(url, visitor.who()).await
}

/// `GET /carts/{id}`: whatever the order's status calls for.
pub async fn order_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    visitor.account()?;
    let o = order(&state, &visitor, &id).await?;
    show(&state, &visitor, &id, &o, None).await
}

async fn show(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    o: &OrderView,
    error: Option<&str>,
) -> Result<Response, WebError> {
    use ReservationStatus::*;
    let lines = &o.reservations;
    let numbers: Vec<Line> = lines
        .iter()
        .map(|r| Line { match_number: r.match_number, category: r.category, quantity: r.quantity })
        .collect();
    let all = matches_of(state, visitor, &numbers).await;
    let table = lines_table(lines, &all);
    let (title, body) = match o.status {
        Requested => (
            "Waiting for the market",
            html! {
                h1 { "Holding your tickets…" }
                (table)
                p data-reload-after="1000" { "Every platform is deciding who gets the last tickets. This page reloads by itself." }
                p { a href={ "/carts/" (id) } { "Reload" } }
            },
        ),
        Held => ("Checkout", checkout(state, visitor, id, o, table, error).await?),
        Confirmed => ("Payment received", paid(state, visitor, id, lines, table).await?),
        Rejected => (
            "Sold out",
            html! {
                h1 { "These tickets were sold out" }
                (table)
                p { "Other buyers were first. Nothing was charged." }
                p { a.button href="/" { "Find other matches" } }
            },
        ),
        Refunded => (
            "Refunded",
            html! {
                h1 { "Order refunded" }
                (table)
                p { "The money is on its way back and the tickets are no longer valid." }
            },
        ),
        Expired | Cancelled => (
            "Order cancelled",
            html! {
                h1 { "Order cancelled" }
                (layout::notice("ok", "Nothing was charged. The tickets you held are back on sale."))
                (table)
                p { a.button href="/" { "Back to the matches" } }
            },
        ),
    };
    let body = html! {
        @if let Some(e) = error.filter(|_| o.status != Held) { (layout::notice("error", e)) }
        (body)
    };
    Ok(layout::page(Some(visitor), title, body).into_response())
}

/// What each line came to: held, paid, or refused by the market and why.
fn lines_table(lines: &[ReservationView], all: &[MatchView]) -> Markup {
    html! {
        div.scroll { table.order-lines {
            thead { tr { th { "Tickets for" } th { "Tickets" } th { "Price" } th { "Status" } } }
            tbody {
                @for r in lines {
                    @let n = r.match_number;
                    @let status = r.status.as_str();
                    tr data-status=(status) {
                        td { a href={ "/matches/" (n) } { (match_name(all, n)) } br; "Category " (r.category) }
                        td { (r.quantity) }
                        td { (dollars(i64::from(r.total))) }
                        td {
                            (layout::status_badge(status))
                            @if r.status == ReservationStatus::Rejected {
                                " " span.reason { (r.reason.as_deref().unwrap_or("sold out")) ": not charged" }
                            }
                        }
                    }
                }
            }
        } }
    }
}

async fn checkout(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    o: &OrderView,
    table: Markup,
    error: Option<&str>,
) -> Result<Markup, WebError> {
    let url = format!("{}/api/payments/orders", state.config.payments);
    let body = CreateOrderPayment { order_id: id.to_string() };
    let payment = state.apis.post_as::<OrderPayment>(url, visitor.who(), &body).await?;
    let refused = o.reservations.iter().any(|r| r.status == ReservationStatus::Rejected);
    let expires = o.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap_or_default();
    Ok(html! {
        h1 { "Checkout" }
        (table)
        @if refused {
            (layout::notice("error", "Some of your tickets sold out before they could be held: they are not charged. Pay for the rest below, or cancel them all."))
        }
        p { "Your tickets are held for " strong.countdown data-expires=(expires) { "a few minutes" } " more." }
        @if let Some(e) = error { (layout::notice("error", e)) }
        (pay::pay_and_back_out(state, visitor, &format!("/carts/{id}"), &Charge::of_order(&payment), " for everything held", "Cancel them all and release the tickets"))
    })
}

async fn paid(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    lines: &[ReservationView],
    table: Markup,
) -> Result<Markup, WebError> {
    let mut tickets = Vec::new();
    for r in lines.iter().filter(|r| r.status == ReservationStatus::Confirmed) {
        let Some(line) = r.id else { continue };
        let url = format!("{}/api/reservations/{line}/tickets", state.config.reservations);
        tickets.push(state.apis.get_as::<TicketList>(url, visitor.who()).await?.tickets);
    }
    Ok(html! {
        h1 { "Payment received — enjoy the matches!" }
        (layout::notice("ok", "Your tickets are below and on their way to your e-mail."))
        (table)
        @for list in &tickets { (super::tickets::ticket_cards(list, Some(visitor))) }
        p { a href="/tickets" { "All my tickets" } }
        form method="post" action={ "/carts/" (id) "/refund" } {
            (csrf_field(visitor))
            button.secondary type="submit" { "Refund the whole order" }
        }
        p.meta { "One line alone can be refunded from My tickets." }
    })
}

/// `POST /carts/{id}/pay`: see [`pay::sync_payment`] (payments
/// settles every line the intent pays).
pub async fn pay(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<pay::PayForm>,
) -> Result<Response, WebError> {
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?.to_string();
    match pay::sync_payment(&state, &visitor, &form).await? {
        None => Ok(Redirect::to(&format!("/carts/{id}")).into_response()),
        Some(why) => {
            let o = order(&state, &visitor, &id).await?;
            let mut page = show(&state, &visitor, &id, &o, Some(&why)).await?;
            *page.status_mut() = StatusCode::PAYMENT_REQUIRED;
            Ok(page)
        }
    }
}

/// `POST /carts/{id}/cancel`: every held line released.
pub async fn cancel(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    let url = format!("{}/api/orders/{id}", state.config.reservations);
    let reply = state.apis.delete(url, visitor.who()).await?;
    match reply.status {
        200..=299 | 409 => Ok(Redirect::to(&format!("/carts/{id}")).into_response()),
        _ => Err(WebError::from_reply(&reply)),
    }
}

/// `POST /carts/{id}/refund`: every paid line refunded.
pub async fn refund(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.account()?;
    visitor.check_csrf(&form.csrf)?;
    let id = uuid_like(&id).ok_or_else(|| WebError::NotFound("No such order.".into()))?;
    let url = format!("{}/api/payments/orders/{id}/refund", state.config.payments);
    let reply = state.apis.post(url, visitor.who(), &serde_json::json!({})).await?;
    match reply.status {
        200..=299 => Ok(Redirect::to(&format!("/carts/{id}")).into_response()),
        409 => {
            let o = order(&state, &visitor, id).await?;
            let mut page = show(&state, &visitor, id, &o, Some(&reply.message())).await?;
            *page.status_mut() = StatusCode::CONFLICT;
            Ok(page)
        }
        _ => Err(WebError::from_reply(&reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cart_cookie_keeps_sane_lines_once_each_and_drops_the_rest() {
        let lines = parse("3.1.2-7.2.4-3.1.1-65.1.1-7.4.1-7.3.5-x.1.1-1.1-1.1.1.1-");
        assert_eq!(encode(&lines), "3.1.2-7.2.4");
        assert_eq!(parse(&encode(&lines)), lines);
        assert!(parse("").is_empty());
        assert_eq!(parse(&["1.1.1"; 10].join("-")).len(), 1);
    }
}
