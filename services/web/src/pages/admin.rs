//! The admin dashboard: analytics' market statistics (sales per minute,
//! sell-through of every ticket type, market share, revenue, top matches),
//! the waiting rooms of on-sales (every platform's line) and the security
//! service's latest events. Role `admin` only; the APIs check the role
//! again.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::Value;
use ticktak_kit::auth::Role;

use crate::charts;
use crate::error::WebError;
use crate::layout::{self, dollars, text};
use crate::session::Visitor;
use crate::AppState;

/// `GET /admin`.
pub async fn dashboard(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.with_role(&[Role::Admin])?;
    let url = format!("{}/api/admin/stats?window=60&top=10", state.config.analytics);
    let stats = state.apis.get(url, visitor.who()).await?.success()?;
    let url = format!("{}/api/admin/security/events?limit=15", state.config.security);
    let events = state.apis.get(url, visitor.who()).await?.success()?;
    let url = format!("{}/api/admin/queues", state.config.reservations);
    let queues = state.apis.get(url, visitor.who()).await?.success()?;
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let totals = &stats["totals"];
    let per_minute: Vec<(String, f64)> = list(&stats["salesPerMinute"])
        .iter()
        .map(|m| {
            let at = m["minute"].as_str().unwrap_or_default();
            (at.get(11..16).unwrap_or(at).to_string(), m["tickets"].as_f64().unwrap_or(0.0))
        })
        .collect();
    let cells: Vec<(u8, u8, f64)> = list(&stats["types"])
        .iter()
        .map(|t| {
            let n = |k: &str| t[k].as_u64().unwrap_or(0) as u8;
            (n("matchNumber"), n("category"), t["sellThrough"].as_f64().unwrap_or(0.0) / 100.0)
        })
        .collect();
    let shares: Vec<(String, f64)> = list(&stats["platforms"])
        .iter()
        .map(|p| (format!("platform {}", text(&p["platform"])), p["share"].as_f64().unwrap_or(0.0) / 100.0))
        .collect();
    let kpi = |label: &str, value: String| {
        html! { div.card.kpi { div.value data-kpi=(label) { (value) } div.label { (label) } } }
    };
    let body = html! {
        h1 { "Dashboard" }
        p { a href="/admin/orders" { "Order desk" } " · " a href="/admin/audit" { "Audit trail" } }
        div.kpis {
            (kpi("tickets sold", text(&totals["sold"])))
            (kpi("tickets held", text(&totals["held"])))
            (kpi("revenue", dollars(totals["revenue"].as_i64().unwrap_or(0))))
            (kpi("sell-through", format!("{:.1} %", totals["sellThrough"].as_f64().unwrap_or(0.0))))
        }
        section.card aria-labelledby="spm" {
            h2 #spm { "Tickets sold per minute, last hour (all platforms)" }
            (charts::bars("Tickets sold per minute over the last hour", &per_minute, 10))
        }
        section.card aria-labelledby="queues" {
            h2 #queues { "Waiting rooms" }
            @let rooms = list(&queues["rooms"]);
            @if rooms.is_empty() {
                p { "No on-sale with a waiting room is scheduled." }
            } @else {
                p.meta { "This platform admits up to " (format!("{:.0}", queues["pacePerMinute"].as_f64().unwrap_or(0.0))) " buyers a minute, by its health." }
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { "On-sale" } th scope="col" { "Opens" } th scope="col" { "Platform" }
                            th scope="col" { "Waiting" } th scope="col" { "Admitted" } th scope="col" { "Admitting / min" } th scope="col" { "Expected wait" }
                        } }
                        tbody {
                            @for r in &rooms {
                                @for p in list(&r["platforms"]) {
                                    tr data-room=(text(&r["room"])) data-platform=(text(&p["platform"])) {
                                        td { (text(&r["room"])) }
                                        td { (text(&r["opensAt"]).get(..16).unwrap_or_default().replace('T', " ")) " UTC" }
                                        td { (text(&p["platform"])) @if p["thisPlatform"] == true { " (this one)" } }
                                        td data-waiting { (text(&p["waiting"])) }
                                        td { (text(&p["admitted"])) }
                                        @if p["thisPlatform"] == true {
                                            td { (format!("{:.0}", r["ratePerMinute"].as_f64().unwrap_or(0.0)))
                                                @if let Some(m) = r["marketRatePerMinute"].as_i64() { " of " (m) " market-wide" } }
                                            td { @match r["expectedWaitSeconds"].as_i64() { Some(w) => { (w) " s" } None => { "–" } } }
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
                            @for m in list(&stats["topMatches"]) {
                                tr {
                                    td { (text(&m["matchNumber"])) ". " (text(&m["homeTeam"])) " – " (text(&m["awayTeam"])) }
                                    td { (text(&m["sold"])) }
                                    td { (dollars(m["revenue"].as_i64().unwrap_or(0))) }
                                    td { (format!("{:.1} %", m["sellThrough"].as_f64().unwrap_or(0.0))) }
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
                        @for e in list(&events["events"]) {
                            tr {
                                td { (text(&e["at"]).get(..19).unwrap_or_default()) }
                                td { (text(&e["kind"])) }
                                td { (text(&e["ip"])) " " (text(&e["account"])) }
                                td { (text(&e["detail"])) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(Some(&visitor), "Dashboard", body).into_response())
}
