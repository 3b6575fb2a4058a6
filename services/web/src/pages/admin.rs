//! The admin dashboard: analytics' market statistics (sales per minute,
//! sell-through of every ticket type, market share, revenue, top matches),
//! the waiting rooms of on-sales (every platform's line) and the security
//! service's latest events. Role `admin` only; the APIs check the role
//! again.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use ticktak_contracts::analytics::Stats;
use ticktak_contracts::queue::QueueBoard;
use ticktak_contracts::screening::Events;
use ticktak_kit::auth::Role;

use crate::charts;
use crate::error::WebError;
use crate::layout::{self, dollars};
use crate::session::Visitor;
use crate::AppState;

/// `GET /admin`.
pub async fn dashboard(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    let url = format!("{}/api/admin/stats?window=60&top=10", state.config.analytics);
    let stats = state.apis.get_as::<Stats>(url, visitor.who()).await?;
    let url = format!("{}/api/admin/security/events?limit=15", state.config.security);
    let events = state.apis.get_as::<Events>(url, visitor.who()).await?.events;
    let url = format!("{}/api/admin/queues", state.config.reservations);
    let queues = state.apis.get_as::<QueueBoard>(url, visitor.who()).await?;
    let totals = &stats.totals;
    let per_minute: Vec<(String, f64)> =
        stats.sales_per_minute.iter().map(|m| (m.minute.format("%H:%M").to_string(), m.tickets as f64)).collect();
    let cells: Vec<(u8, u8, f64)> =
        stats.types.iter().map(|t| (t.match_number, t.category, t.sell_through / 100.0)).collect();
    let shares: Vec<(String, f64)> =
        stats.platforms.iter().map(|p| (format!("platform {}", p.platform), p.share / 100.0)).collect();
    let kpi = |label: &str, value: String| {
        html! { div.card.kpi { div.value data-kpi=(label) { (value) } div.label { (label) } } }
    };
    let body = html! {
        h1 { "Dashboard" }
        p { a href="/admin/orders" { "Order desk" } " · " a href="/admin/audit" { "Audit trail" } }
        div.kpis {
            (kpi("tickets sold", totals.sold.to_string()))
            (kpi("tickets held", totals.held.to_string()))
            (kpi("revenue", dollars(totals.revenue)))
            (kpi("sell-through", format!("{:.1} %", totals.sell_through)))
        }
        section.card aria-labelledby="spm" {
            h2 #spm { "Tickets sold per minute, last hour (all platforms)" }
            (charts::bars("Tickets sold per minute over the last hour", &per_minute, 10))
        }
        section.card aria-labelledby="queues" {
            h2 #queues { "Waiting rooms" }
            @let rooms = &queues.rooms;
            @if rooms.is_empty() {
                p { "No on-sale with a waiting room is scheduled." }
            } @else {
                p.meta { "This platform admits up to " (format!("{:.0}", queues.pace_per_minute)) " buyers a minute, by its health." }
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { "On-sale" } th scope="col" { "Opens" } th scope="col" { "Platform" }
                            th scope="col" { "Waiting" } th scope="col" { "Admitted" } th scope="col" { "Admitting / min" } th scope="col" { "Expected wait" }
                        } }
                        tbody {
                            @for r in rooms {
                                @for p in &r.platforms {
                                    tr data-room=(r.room) data-platform=(p.platform) {
                                        td { (r.room) }
                                        td { (r.opens_at.format("%Y-%m-%d %H:%M")) " UTC" }
                                        td { (p.platform) @if p.this_platform { " (this one)" } }
                                        td data-waiting { (p.waiting) }
                                        td { (p.admitted) }
                                        @if p.this_platform {
                                            td { (format!("{:.0}", r.rate_per_minute))
                                                @if let Some(m) = r.market_rate_per_minute { " of " (m) " market-wide" } }
                                            td { @match r.expected_wait_seconds { Some(w) => { (w) " s" } None => { "–" } } }
                                        } @else {
                                            td { "–" } td { "–" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="heat" {
            h2 #heat { "Sell-through of every match and category" }
            (charts::heat_map("Sell-through of the 64 matches (columns) in categories 1 to 3 (rows)", &cells))
        }
        div.two {
            section.card aria-labelledby="top" {
                h2 #top { "Top matches" }
                div.scroll {
                    table {
                        thead { tr { th scope="col" { "Match" } th scope="col" { "Sold" } th scope="col" { "Revenue" } th scope="col" { "Sell-through" } } }
                        tbody {
                            @for m in &stats.top_matches {
                                tr {
                                    td { (m.match_number) ". " (m.home_team) " – " (m.away_team) }
                                    td { (m.sold) }
                                    td { (dollars(m.revenue)) }
                                    td { (format!("{:.1} %", m.sell_through)) }
                                }
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="share" {
                h2 #share { "Market share" }
                (charts::shares("Share of tickets sold per platform", &shares))
            }
        }
        section.card aria-labelledby="events" {
            h2 #events { "Security events" }
            div.scroll {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Who" } th scope="col" { "Why" } } }
                    tbody {
                        @for e in &events {
                            tr {
                                td { (e.at.format("%Y-%m-%dT%H:%M:%S")) }
                                td { (e.kind) }
                                td { (e.ip.as_deref().unwrap_or_default()) " " (e.account.as_deref().unwrap_or_default()) }
                                td { (e.detail) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(Some(&visitor), "Dashboard", body).into_response())
}
