//! What a draw's applicants are told: a winner (or one whom tickets passed
//! on to) that their hold is placed and how long they have to pay; the
//! others their place on the list. Each mail once per application and
//! event (its dedupe key).

use ticktak_core::draw::DrawTerms;
use ticktak_kit::mail::Mail;
use uuid::Uuid;

use super::store::Own;

fn ticket_type(own: &Own) -> String {
    format!("match {} category {}", own.ticket_type.match_number, own.ticket_type.category)
}

/// Tickets allocated: the hold is placed, pay within the window.
pub fn won(own: &Own, quantity: u8, terms: &DrawTerms, reservation: Uuid, second_chance: bool) -> Mail {
    let (subject, how) = match second_chance {
        false => ("You won the ticket draw", "The draw allocated you"),
        true => ("Tickets passed on to you in the ticket draw", "Tickets a winner did not pay for passed on to you:"),
    };
    Mail {
        dedupe_key: format!("draw-won:{}", own.id),
        to: own.email.clone(),
        subject: format!("{subject} — {}", ticket_type(own)),
        body: format!(
            "{how} {} ticket(s) for {} (draw {}).\n\n\
             They are held for you as reservation {reservation}: pay for it under My tickets within {} minutes \
             of the hold being granted, or the tickets pass to the next applicant in the draw's order.\n",
            quantity,
            ticket_type(own),
            own.draw,
            terms.payment_window_minutes
        ),
        attachments: vec![],
    }
}

/// Not allocated (yet): the place on the list.
pub fn waitlisted(own: &Own, place: i64) -> Mail {
    Mail {
        dedupe_key: format!("draw-waitlisted:{}", own.id),
        to: own.email.clone(),
        subject: format!("The ticket draw's result — {}", ticket_type(own)),
        body: format!(
            "The draw {} did not allocate you tickets for {} this time.\n\n\
             You are number {place} on its list: tickets a winner does not pay for pass down the list in \
             the draw's order, and we will write again if they reach you.\n",
            own.draw,
            ticket_type(own)
        ),
        attachments: vec![],
    }
}
