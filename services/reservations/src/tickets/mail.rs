//! The e-mails about a reservation's tickets: the tickets themselves on
//! confirmation (QR codes attached as PNG), the notice of a refund, a named
//! holder's ticket, and a ticket passed on (the offer, the new holder's
//! ticket, the note to the one who passed it).

use ticktak_contracts::catalogue::MatchView;
use ticktak_kit::mail::{Attachment, Mail};

use super::{qr, Ticket};
use crate::store::Reservation;

/// "Match 7: Brazil v Serbia, Lusail Stadium, 2022-11-24 19:00 UTC" when the
/// shop answered, else "Match 7".
fn describe(r: &Reservation, m: Option<&MatchView>) -> String {
    match m {
        Some(m) => format!(
            "Match {}: {} v {}, {}, {}",
            m.match_number,
            m.home_team,
            m.away_team,
            m.location,
            m.date_utc.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!("Match {}", r.ticket_type.match_number),
    }
}

fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// The tickets of a confirmed reservation; `None` when no address is known.
pub fn tickets(r: &Reservation, m: Option<&MatchView>, tickets: &[Ticket]) -> Option<Mail> {
    let to = r.buyer_email.clone()?;
    let what = describe(r, m);
    let mut body = format!(
        "Thank you for your order.\n\n{what}\nCategory {}, {} ticket(s) at {} each, total {}.\nReservation {}\n\n",
        r.ticket_type.category,
        r.quantity.get(),
        money(r.unit_price.minor_units()),
        money(r.amount()),
        r.id
    );
    match tickets.iter().all(|t| t.printed_code_admits) {
        true => body.push_str(
            "Show one QR code per person at the gate (attached), or the live code under My tickets. \
             Your ticket codes:\n",
        ),
        false => body.push_str(
            "At the gate, show each ticket's live code under My tickets (it changes every 30 seconds); \
             the codes below name your tickets but do not admit by themselves:\n",
        ),
    }
    for t in tickets {
        body.push_str(&format!("  Seat {}: {}\n", t.seat, t.code));
    }
    Some(Mail {
        dedupe_key: format!("tickets:{}", r.id),
        to,
        subject: format!("Your tickets — {what}"),
        body,
        attachments: tickets
            .iter()
            .map(|t| Attachment {
                filename: format!("ticket-{}-seat-{}.png", r.id, t.seat),
                content_type: "image/png".into(),
                data: qr::png(&t.code),
            })
            .collect(),
    })
}

/// "Match 7: Brazil v Serbia, Lusail Stadium, 2022-11-24 19:00 UTC".
fn match_line(m: &MatchView) -> String {
    format!(
        "Match {}: {} v {}, {}, {}",
        m.match_number,
        m.home_team,
        m.away_team,
        m.location,
        m.date_utc.format("%Y-%m-%d %H:%M UTC")
    )
}

/// A named ticket, to the person it is for.
pub fn named(ticket: &Ticket, to: &str, m: &MatchView) -> Mail {
    let what = match_line(m);
    let admits = match ticket.printed_code_admits {
        true => "Show the attached QR code at the gate.",
        false => "The code below names the ticket; at the gate the buyer's account shows its live code.",
    };
    Mail {
        dedupe_key: format!("holder:{}:{}", ticket.id, to.to_lowercase()),
        to: to.to_string(),
        subject: format!("A ticket for you — {what}"),
        body: format!(
            "Hello,\n\nA ticket bought on ticktak is for you ({}).\n\n{what}\nCategory {}, seat {}.\n\n{admits}\n\
             Ticket code: {}\n",
            ticket.holder_name.as_deref().unwrap_or_default(),
            ticket.category,
            ticket.seat,
            ticket.code
        ),
        attachments: vec![Attachment {
            filename: format!("ticket-{}.png", ticket.id),
            content_type: "image/png".into(),
            data: qr::png(&ticket.code),
        }],
    }
}

/// The notice that a confirmed reservation was refunded.
pub fn refunded(r: &Reservation, m: Option<&MatchView>) -> Option<Mail> {
    let to = r.buyer_email.clone()?;
    let what = describe(r, m);
    Some(Mail {
        dedupe_key: format!("refunded:{}", r.id),
        to,
        subject: format!("Refund of your tickets — {what}"),
        body: format!(
            "Your reservation {} ({what}, category {}, {} ticket(s)) was cancelled.\n\
             {} is on its way back to your card; its tickets no longer admit anyone.\n",
            r.id,
            r.ticket_type.category,
            r.quantity.get(),
            money(r.amount())
        ),
        attachments: vec![],
    })
}

/// The offer of a ticket, to the address it is passed to: the link accepts
/// it (signed in with that address).
pub fn offer(ticket: &Ticket, to: &str, link: &str, m: &MatchView, until: chrono::DateTime<chrono::Utc>) -> Mail {
    let what = match_line(m);
    Mail {
        dedupe_key: format!("transfer-offer:{}:{}", ticket.id, uuid::Uuid::now_v7()),
        to: to.to_string(),
        subject: format!("A ticket is offered to you — {what}"),
        body: format!(
            "Hello,\n\nA ticktak customer passes you a ticket:\n\n{what}\nCategory {}, seat {}.\n\n\
             To accept it, sign in to (or create) a ticktak account with this address and open:\n\n{link}\n\n\
             The offer stands until {}. Once you accept, the ticket is yours alone: a new code is issued to you \
             and the old one stops working. If you do not know the sender, ignore this message.\n",
            ticket.category,
            ticket.seat,
            until.format("%Y-%m-%d %H:%M UTC")
        ),
        attachments: vec![],
    }
}

/// The ticket issued to the person who accepted a transfer.
pub fn received(ticket: &Ticket, to: &str, m: &MatchView) -> Mail {
    let what = match_line(m);
    Mail {
        dedupe_key: format!("transfer-received:{}", ticket.id),
        to: to.to_string(),
        subject: format!("Your ticket — {what}"),
        body: format!(
            "Hello,\n\nThe ticket passed to you is yours:\n\n{what}\nCategory {}, seat {}.\n\n\
             Show the attached QR code at the gate, or the live code under My tickets.\nTicket code: {}\n",
            ticket.category, ticket.seat, ticket.code
        ),
        attachments: vec![Attachment {
            filename: format!("ticket-{}.png", ticket.id),
            content_type: "image/png".into(),
            data: qr::png(&ticket.code),
        }],
    }
}

/// The note to the one who passed a ticket on: accepted, their code is void.
pub fn passed_on(old: &Ticket, to: &str, m: &MatchView) -> Mail {
    let what = match_line(m);
    Mail {
        dedupe_key: format!("transfer-accepted:{}", old.id),
        to: to.to_string(),
        subject: format!("Your ticket was accepted — {what}"),
        body: format!(
            "Hello,\n\nThe ticket you passed on ({what}, category {}, seat {}) was accepted. \
             Its old code no longer admits anyone; the new holder has their own.\n",
            old.category, old.seat
        ),
        attachments: vec![],
    }
}

/// To the holder of a ticket passed to them, when the payment for its
/// order was taken back (a dispute, a refund at the provider): it no longer
/// admits. `None` without an address.
pub fn taken_back(held: &(Ticket, Option<String>), m: Option<&MatchView>) -> Option<Mail> {
    let ticket = &held.0;
    let to = Some(ticket.holder.clone()).filter(|h| h.contains('@'))?;
    let what = m.map(match_line).unwrap_or_else(|| format!("Match {}", ticket.match_number));
    Some(Mail {
        dedupe_key: format!("transfer-taken-back:{}", ticket.id),
        to,
        subject: format!("Your ticket no longer admits — {what}"),
        body: format!(
            "Hello,\n\nThe ticket passed to you ({what}, category {}, seat {}) was cancelled: the payment for \
             the order it came from was taken back. It no longer admits anyone. Please contact the person who \
             passed it to you.\n",
            ticket.category, ticket.seat
        ),
        attachments: vec![],
    })
}
