//! Charts of the admin dashboard, drawn on the server as SVG (no script,
//! no library): a bar chart over time, horizontal bars for shares, and the
//! heat map of the 64 × 3 ticket types' sell-through.

use maud::{html, Markup};

/// Vertical bars, one per `(label, value)`, left to right; every `label_every`-th
/// label is written under its bar.
pub fn bars(title: &str, points: &[(String, f64)], label_every: usize) -> Markup {
    let (w, h, left, bottom) = (640.0, 200.0, 40.0, 24.0);
    let max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0);
    let step = (w - left) / points.len().max(1) as f64;
    html! {
        svg.chart viewBox={ "0 0 " (w) " " (h) } role="img" aria-label=(title) {
            title { (title) }
            line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#4a4a55" {}
            text x="0" y="12" { (fmt(max)) }
            text x="0" y=(h - bottom) { "0" }
            @for (i, (label, value)) in points.iter().enumerate() {
                @let bar = (value / max) * (h - bottom - 16.0);
                rect x=(left + i as f64 * step + 1.0) y=(h - bottom - bar) width=((step - 2.0).max(1.0)) height=(bar) fill="#7a1034" {
                    title { (label) ": " (fmt(*value)) }
                }
                @if label_every > 0 && i.is_multiple_of(label_every) {
                    text x=(left + i as f64 * step) y=(h - 6.0) { (label) }
                }
            }
        }
    }
}

/// Horizontal bars of shares (0–1), e.g. platforms' market share.
pub fn shares(title: &str, items: &[(String, f64)]) -> Markup {
    let row = 26.0;
    let h = row * items.len().max(1) as f64;
    html! {
        svg.chart viewBox={ "0 0 640 " (h) } role="img" aria-label=(title) {
            title { (title) }
            @for (i, (label, share)) in items.iter().enumerate() {
                @let y = i as f64 * row;
                text x="0" y=(y + 17.0) { (label) }
                rect x="120" y=(y + 4.0) width=(share.clamp(0.0, 1.0) * 440.0) height=(row - 8.0) fill="#7a1034" {}
                text x=(126.0 + share.clamp(0.0, 1.0) * 440.0) y=(y + 17.0) { (format!("{:.1} %", share * 100.0)) }
            }
        }
    }
}

/// One cell per match (columns 1–64) and category (rows 1–3), darker as
/// more of it is sold; `cells` are `(match, category, sell-through 0–1)`.
pub fn heat_map(title: &str, cells: &[(u8, u8, f64)]) -> Markup {
    let (cell, left, top) = (10.0, 28.0, 14.0);
    html! {
        svg.chart viewBox={ "0 0 " (left + 64.0 * cell + 4.0) " " (top + 3.0 * cell + 4.0) } role="img" aria-label=(title) {
            title { (title) }
            @for m in [1u8, 16, 32, 48, 64] {
                text x=(left + (m - 1) as f64 * cell) y="10" { (m) }
            }
            @for c in 1..=3u8 {
                text x="0" y=(top + c as f64 * cell - 2.0) { "C" (c) }
            }
            @for (m, c, share) in cells {
                rect x=(left + (*m as f64 - 1.0) * cell) y=(top + (*c as f64 - 1.0) * cell) width=(cell - 1.0) height=(cell - 1.0) fill=(shade(*share)) {
                    title { "Match " (m) ", category " (c) ": " (format!("{:.0} %", share * 100.0)) " sold" }
                }
            }
        }
    }
}

/// From pale (nothing sold) to the brand colour (sold out).
fn shade(share: f64) -> String {
    let s = share.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * s).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(240.0, 122.0), mix(238.0, 16.0), mix(242.0, 52.0))
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heat_map_has_a_cell_per_ticket_type_shaded_by_sales() {
        let cells: Vec<_> =
            (1..=64u8).flat_map(|m| (1..=3u8).map(move |c| (m, c, if m == 1 { 1.0 } else { 0.0 }))).collect();
        let svg = heat_map("sell-through", &cells).into_string();
        assert_eq!(svg.matches("<rect").count(), 192);
        assert!(svg.contains("fill=\"#7a1034\""), "sold out is the brand colour");
        assert!(svg.contains("Match 64, category 3: 0 % sold"));
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        let svg = bars("sales", &[("a".into(), 2.0), ("b".into(), 4.0)], 1).into_string();
        assert!(svg.contains("height=\"160\""), "{svg}");
        assert!(svg.contains("height=\"80\""), "{svg}");
    }
}
