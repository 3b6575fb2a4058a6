//! The matches: the home page (recommendations, filters, search as you
//! type, all 64 matches) and a match's page (its three categories, live,
//! and the form that places a hold).

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use ticktak_contracts::catalogue::{
    availability_path, match_path, CategoryView, MatchPage, MatchView, Recommendations,
};

use crate::error::WebError;
use crate::layout::{self, csrf_field, dollars, kickoff, status_badge};
use crate::session::Visitor;
use crate::AppState;

/// The home page's filters, as the form sends them (empty = any).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub round: String,
    #[serde(default)]
    pub venue: String,
    /// A day, `YYYY-MM-DD`.
    #[serde(default)]
    pub date: String,
}

impl Filters {
    /// The shop's query for these filters; a malformed field is a 400.
    fn shop_query(&self) -> Result<Vec<(&'static str, String)>, WebError> {
        let mut q = vec![("limit", "100".to_string())];
        for (name, value) in [("q", &self.q), ("team", &self.team), ("group", &self.group), ("venue", &self.venue)] {
            let value = value.trim();
            if value.chars().count() > 100 {
                return Err(WebError::bad_request(format!("The {name} filter is too long.")));
            }
            if !value.is_empty() {
                q.push((name, value.to_string()));
            }
        }
        if !self.round.is_empty() {
            let round: u8 = self
                .round
                .parse()
                .ok()
                .filter(|r| (1..=7).contains(r))
                .ok_or_else(|| WebError::bad_request("Pick a stage from the list."))?;
            q.push(("round", round.to_string()));
        }
        if !self.date.is_empty() {
            let day = chrono::NaiveDate::parse_from_str(self.date.trim(), "%Y-%m-%d")
                .map_err(|_| WebError::bad_request("A date looks like 2022-11-20."))?;
            let start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            q.push(("from", start.to_rfc3339()));
            q.push(("to", (start + chrono::Duration::days(1)).to_rfc3339()));
        }
        Ok(q)
    }
}

const STAGES: [(u8, &str); 7] = [
    (1, "Group stage, round 1"),
    (2, "Group stage, round 2"),
    (3, "Group stage, round 3"),
    (4, "Round of 16"),
    (5, "Quarter-finals"),
    (6, "Semi-finals"),
    (7, "Final and third place"),
];

async fn matches(state: &AppState, visitor: &Visitor, query: &[(&str, String)]) -> Result<Vec<MatchView>, WebError> {
    let url = reqwest::Url::parse_with_params(&format!("{}/api/matches", state.config.shop), query)
        .map_err(|_| WebError::bad_request("That search cannot be made."))?;
    Ok(state.apis.get_as::<MatchPage>(url.to_string(), visitor.who()).await?.matches)
}

/// `GET /`: recommendations, filters and the matches they select.
pub async fn home(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Response, WebError> {
    let all = matches(&state, &visitor, &[("limit", "100".into())]).await?;
    let query = filters.shop_query()?;
    let selected = if query.len() == 1 { all.clone() } else { matches(&state, &visitor, &query).await? };
    let recommended = recommendations(&state, &visitor).await;
    let body = html! {
        h1 { "FIFA World Cup Qatar 2022 tickets" }
        @if !recommended.is_empty() {
            section aria-labelledby="for-you" {
                h2 #for-you { "Recommended for you" }
                div.grid { @for (m, reason) in &recommended { (match_card(m, Some(reason))) } }
            }
        }
        section aria-labelledby="all" {
            h2 #all { "All matches" }
            (filter_form(&filters, &all))
            div #results aria-live="polite" { (results_markup(&selected)) }
        }
    };
    Ok(layout::page(Some(&visitor), "Matches", body).into_response())
}

/// `GET /matches/results`: the result list alone, for search as you type.
pub async fn results(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, WebError> {
    let selected = matches(&state, &visitor, &filters.shop_query()?).await?;
    Ok(Html(results_markup(&selected).into_string()))
}

fn results_markup(selected: &[MatchView]) -> Markup {
    html! {
        p.count { (selected.len()) " of 64 matches" }
        @if selected.is_empty() {
            p { "No match fits. Try fewer filters, or another spelling." }
        }
        div.grid { @for m in selected { (match_card(m, None)) } }
    }
}

fn filter_form(f: &Filters, all: &[MatchView]) -> Markup {
    let mut teams: Vec<&str> = all.iter().flat_map(|m| [m.home_team.as_str(), m.away_team.as_str()]).collect();
    teams.sort_unstable();
    teams.dedup();
    let mut venues: Vec<&str> = all.iter().map(|m| m.location.as_str()).collect();
    venues.sort_unstable();
    venues.dedup();
    let mut days: Vec<String> = all.iter().map(|m| m.date_utc.format("%Y-%m-%d").to_string()).collect();
    days.dedup();
    html! {
        form.filters method="get" action="/" role="search" data-search="results" {
            div {
                label for="q" { "Search teams and venues" }
                input #q type="search" name="q" value=(f.q) placeholder="e.g. Brasil, Deutschland, Lusail" autocomplete="off";
            }
            (select("team", "Team", &teams.iter().map(|t| (t.to_string(), t.to_string())).collect::<Vec<_>>(), &f.team))
            (select("group", "Group", &('A'..='H').map(|g| (g.to_string(), format!("Group {g}"))).collect::<Vec<_>>(), &f.group))
            (select("round", "Stage", &STAGES.iter().map(|(r, n)| (r.to_string(), n.to_string())).collect::<Vec<_>>(), &f.round))
            (select("venue", "Venue", &venues.iter().map(|v| (v.to_string(), v.to_string())).collect::<Vec<_>>(), &f.venue))
            (select("date", "Day", &days.iter().map(|d| (d.clone(), d.clone())).collect::<Vec<_>>(), &f.date))
            div { button type="submit" { "Show matches" } }
        }
    }
}

fn select(name: &str, label: &str, options: &[(String, String)], chosen: &str) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                option value="" { "Any" }
                @for (value, text) in options {
                    option value=(value) selected[value == chosen] { (text) }
                }
            }
        }
    }
}

fn title(m: &MatchView) -> String {
    format!("{} – {}", m.home_team, m.away_team)
}

fn match_card(m: &MatchView, reason: Option<&String>) -> Markup {
    html! {
        article.card.match data-live-match=(m.match_number) {
            h3 { a href={ "/matches/" (m.match_number) } { (title(m)) } }
            p.meta {
                "Match " (m.match_number)
                @if let Some(g) = &m.group { " · Group " (g) }
                " · " (kickoff(&m.date_utc)) " · " (m.location)
            }
            @if let Some(r) = reason { p.reason { (r) } }
            ul.cats {
                @for c in &m.categories {
                    li data-category=(c.category) {
                        span { "Category " (c.category) " · " (dollars(c.price.into())) }
                        (status_badge(c.status.as_str()))
                    }
                }
            }
        }
    }
}

async fn recommendations(state: &AppState, visitor: &Visitor) -> Vec<(MatchView, String)> {
    let url = format!("{}/api/recommendations?limit=3", state.config.shop);
    // Without recommendations the page still shows every match.
    let Ok(list) = state.apis.get_as::<Recommendations>(url, visitor.who()).await else { return Vec::new() };
    list.recommendations.into_iter().map(|r| (r.match_view, r.reason)).collect()
}

/// Most tickets the hold form offers for one ticket type (the usual cap
/// of tickets per match); more than two are held as an order of one line.
pub const MAX_LINE_TICKETS: u8 = 4;

/// The hold form's fields.
#[derive(Debug, Deserialize)]
pub struct HoldForm {
    pub csrf: String,
    pub category: u8,
    pub quantity: u8,
    /// One per rendered form: a double submit places one hold.
    pub key: String,
    /// A solved puzzle, when reservations asked for one.
    #[serde(default)]
    pub challenge: String,
    /// The waiting room's admission, when the buyer's turn brought them here.
    #[serde(default)]
    pub admission: String,
}

/// What `GET /matches/{n}` reads from its query.
#[derive(Debug, Default, Deserialize)]
pub struct MatchQuery {
    /// The waiting room's admission (`queue::place` sends the buyer here
    /// with it when their turn comes).
    #[serde(default)]
    pub admission: Option<String>,
}

/// `GET /matches/{n}`.
pub async fn one(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(n): Path<u8>,
    Query(query): Query<MatchQuery>,
) -> Result<Response, WebError> {
    let admission = query.admission.as_deref().filter(|a| !a.is_empty() && a.len() <= 1024);
    page(&state, &visitor, n, None, None, admission).await
}

/// A match's page, with `error` above the form after a refused hold; with
/// `again`, the hold form filled in as sent, to be sent again with a solved
/// puzzle (the browser solves it and sends it by itself); with `admission`,
/// the categories of a waiting room in the form too (the buyer's turn).
pub async fn page(
    state: &AppState,
    visitor: &Visitor,
    n: u8,
    error: Option<&str>,
    again: Option<&HoldForm>,
    admission: Option<&str>,
) -> Result<Response, WebError> {
    let m: MatchView = state.apis.get_as(format!("{}{}", state.config.shop, match_path(n)), visitor.who()).await?;
    let now = chrono::Utc::now();
    let admission = admission.or(again.map(|f| f.admission.as_str()).filter(|a| !a.is_empty()));
    // In the form: what sells now, and what sells through a waiting room
    // only with the buyer's admission.
    let open: Vec<_> = m
        .categories
        .iter()
        .filter(|c| c.sellable > 0 && c.closed_at(now).is_none())
        .filter(|c| c.waiting_room_at(now).is_none() || admission.is_some())
        .collect();
    // Offered a place in line: a waiting room's categories, until the turn.
    let queues: Vec<_> =
        m.categories.iter().filter(|c| admission.is_none() && c.waiting_room.is_some() && c.sellable > 0).collect();
    let next_on_sale = m.categories.iter().filter_map(|c| c.next_on_sale_at).min();
    let body = html! {
        p { a href="/" { "← All matches" } }
        h1 { (title(&m)) }
        p.meta {
            "Match " (m.match_number)
            @if let Some(g) = &m.group { " · Group " (g) }
            " · " (kickoff(&m.date_utc)) " · " (m.location)
        }
        @if let Some(e) = error { (layout::notice("error", e)) }
        div.two {
            section.card aria-labelledby="cats" data-live-match=(m.match_number) {
                h2 #cats { "Categories" }
                div.scroll {
                    table {
                        thead { tr { th scope="col" { "Category" } th scope="col" { "Price" } th scope="col" { "Left" } th scope="col" { "Status" } th scope="col" { "Sale" } } }
                        tbody {
                            @for c in &m.categories {
                                tr data-category=(c.category) {
                                    td { "Category " (c.category) }
                                    td { (dollars(c.price.into())) }
                                    td data-sellable { (c.sellable) }
                                    td { (status_badge(c.status.as_str())) }
                                    td data-phase=(c.phase.as_str()) { (phase_text(c)) }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="buy" {
                h2 #buy { "Buy tickets" }
                @if visitor.claims.is_none() {
                    p { a href="/signin" { "Sign in" } " or " a href="/register" { "register" } " to buy tickets." }
                } @else if !queues.is_empty() && open.is_empty() {
                    (waiting_rooms(visitor, m.match_number, &queues, now))
                } @else if open.is_empty() {
                    p { "Nothing can be bought for this match right now." }
                    @if let Some(t) = next_on_sale {
                        p { "On sale from " (kickoff(&t)) "." }
                    }
                } @else {
                    @if again.is_some() {
                        (layout::notice("ok", "One moment: your browser is solving a small puzzle to show it is not a bot, then sends your order again."))
                    }
                    form.stack method="post" action={ "/matches/" (m.match_number) "/hold" } data-challenge[again.is_some()] {
                        (csrf_field(visitor))
                        input type="hidden" name="key" value=(again.map(|f| f.key.clone()).unwrap_or_else(crate::session::random_token));
                        input type="hidden" name="challenge" value="";
                        @if let Some(a) = admission {
                            (layout::notice("ok", "It is your turn: choose your tickets and hold them before your admission expires."))
                            input type="hidden" name="admission" value=(a);
                        }
                        div {
                            label for="category" { "Category" }
                            select #category name="category" {
                                @for c in &open {
                                    option value=(c.category) selected[again.is_some_and(|f| f.category == c.category)] { "Category " (c.category) " · " (dollars(c.price.into())) }
                                }
                            }
                        }
                        div {
                            label for="quantity" { "Tickets" }
                            select #quantity name="quantity" {
                                @for q in 1..=MAX_LINE_TICKETS { option value=(q) selected[again.is_some_and(|f| f.quantity == q)] { (q) } }
                            }
                        }
                        div.actions {
                            button type="submit" { "Hold tickets" }
                            button.secondary type="submit" formaction={ "/matches/" (m.match_number) "/cart" } { "Add to cart" }
                        }
                        p.meta { "A hold keeps the tickets for you for a few minutes while you pay. The cart gathers several matches and categories to hold and pay for together." }
                    }
                    @if !queues.is_empty() {
                        (waiting_rooms(visitor, m.match_number, &queues, now))
                    }
                }
            }
        }
    };
    Ok(layout::page(Some(visitor), &title(&m), body).into_response())
}

/// The join forms of the categories sold through a waiting room.
fn waiting_rooms(
    visitor: &Visitor,
    match_number: u8,
    queues: &[&CategoryView],
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    html! {
        @for c in queues {
            form.stack.queue method="post" action={ "/matches/" (match_number) "/queue" } {
                (csrf_field(visitor))
                input type="hidden" name="category" value=(c.category);
                @if let Some(room) = &c.waiting_room {
                    @if room.opens_at > now {
                        p { "Category " (c.category) " goes on sale at " (kickoff(&room.opens_at)) " through a waiting room. Join now: everyone in it then gets a place in line at random." }
                    } @else {
                        p { "Category " (c.category) " is on sale through a waiting room." }
                    }
                }
                button type="submit" { "Join the waiting room for category " (c.category) }
            }
        }
    }
}

/// A category's sale phase, as a buyer reads it.
fn phase_text(c: &CategoryView) -> String {
    use ticktak_core::schedule::Phase;
    match (c.phase, c.next_on_sale_at) {
        (Phase::Open, _) => "On sale".into(),
        (Phase::Queue, _) => "On sale (waiting room)".into(),
        (Phase::Draw, _) => "Ticket draw: applications open".into(),
        (Phase::Closed, Some(t)) => format!("Not on sale yet: from {}", kickoff(&t)),
        (Phase::Closed, None) => "Not on sale".into(),
    }
}

/// `GET /live/matches`: every match's categories in one answer, for the
/// lists' `live.js` (one request however many cards a page shows).
pub async fn live_all(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    let all = matches(&state, &visitor, &[("limit", "100".into())]).await?;
    let body: Vec<LiveMatch> =
        all.iter().map(|m| LiveMatch { match_number: m.match_number, categories: &m.categories }).collect();
    Ok(axum::Json(body).into_response())
}

/// One match in `GET /live/matches` (read by `static/live.js`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LiveMatch<'a> {
    match_number: u8,
    categories: &'a [CategoryView],
}

/// `GET /live/matches/{n}`: the shop's availability, for `live.js`.
pub async fn live(State(state): State<AppState>, visitor: Visitor, Path(n): Path<u8>) -> Result<Response, WebError> {
    let body =
        state.apis.get(format!("{}{}", state.config.shop, availability_path(n)), visitor.who()).await?.success()?;
    Ok(axum::Json(body).into_response())
}
