//! The history of a run: every operation a client invoked, and how it
//! completed, in the order the clients saw them.
//!
//! An operation is recorded twice, as in Jepsen: when it is invoked and when
//! its answer arrives. An answer that never came (a refused connection, a
//! time-out while a process was killed or paused) leaves the operation
//! *indeterminate*: it may or may not have taken effect, and the checker
//! holds it to nothing but the log.

use std::sync::Mutex;
use std::time::Instant;

use ticktak_core::{HoldId, TicketType};

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `POST /api/reservations` for `quantity` tickets of `ticket_type`.
    Hold { ticket_type: TicketType, quantity: u8 },
    /// `DELETE /api/reservations/{hold}`: the buyer lets a held hold go.
    Cancel { hold: HoldId },
    /// `POST /internal/reservations/{hold}/confirm`: what payments asks once
    /// the provider took the buyer's money.
    Pay { hold: HoldId },
    /// `POST /internal/reservations/{hold}/refund`: the buyer's refund.
    Refund { hold: HoldId },
    /// `POST /api/tickets/check-in` at `gate`'s gate, by staff: a ticket of
    /// the paid `hold`.
    CheckIn { hold: HoldId, ticket: uuid::Uuid, gate: String },
}

/// How an operation completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 201: the log granted the hold.
    Held { hold: HoldId },
    /// 409 with an id: the log rejected the hold.
    RejectedByLog { hold: HoldId },
    /// 409 without an id, 429, 503: refused before anything was published.
    Refused { status: u16 },
    /// 202: accepted, not decided yet when the platform answered.
    Requested { hold: HoldId },
    /// 200 to a cancel: the hold is cancelled.
    Cancelled,
    /// 200 to a payment: the hold is confirmed, its tickets issued.
    Paid,
    /// 200 to a refund: the order is refunded, its tickets revoked.
    Refunded,
    /// 200 to a check-in: the gate let the ticket in.
    Admitted,
    /// A check-in refused (409: `ALREADY_USED`, `REVOKED`, …).
    NotAdmitted { status: u16, result: String },
    /// Any other status (a cancel of a hold that expired meanwhile, …).
    Other { status: u16 },
    /// No answer: the operation may or may not have taken effect.
    Indeterminate { error: String },
}

/// One operation: who asked what, where, when, and what came back.
#[derive(Debug, Clone)]
pub struct Op {
    /// Its place in the history (invocation order).
    pub index: usize,
    pub client: usize,
    /// The platform asked (`a`, `b`, …).
    pub platform: String,
    pub buyer: String,
    pub request: Request,
    /// Milliseconds from the run's start.
    pub invoked_ms: u64,
    pub completed_ms: Option<u64>,
    pub answer: Option<Answer>,
}

impl Op {
    /// The hold the operation names or was answered with.
    pub fn hold(&self) -> Option<HoldId> {
        match (&self.request, &self.answer) {
            (
                Request::Cancel { hold }
                | Request::Pay { hold }
                | Request::Refund { hold }
                | Request::CheckIn { hold, .. },
                _,
            ) => Some(*hold),
            (_, Some(Answer::Held { hold } | Answer::RejectedByLog { hold } | Answer::Requested { hold })) => {
                Some(*hold)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let request = match &self.request {
            Request::Hold { ticket_type, quantity } => {
                format!("hold {quantity} × match {} cat {}", ticket_type.match_number, ticket_type.category)
            }
            Request::Cancel { hold } => format!("cancel {hold}"),
            Request::Pay { hold } => format!("pay for {hold}"),
            Request::Refund { hold } => format!("refund {hold}"),
            Request::CheckIn { hold, ticket, gate } => format!("check in ticket {ticket} of {hold} at {gate}'s gate"),
        };
        let answer = match &self.answer {
            None => "no completion".to_string(),
            Some(a) => format!("{a:?}"),
        };
        write!(
            f,
            "#{} client {} on {} as {}: {request} at {} ms → {answer} at {} ms",
            self.index,
            self.client,
            self.platform,
            self.buyer,
            self.invoked_ms,
            self.completed_ms.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
        )
    }
}

/// The history clients append to concurrently.
pub struct History {
    start: Instant,
    /// The run's start on the machine's clock, in ms since the epoch (to
    /// set operations beside the log's timestamps).
    pub start_unix_ms: i64,
    ops: Mutex<Vec<Op>>,
}

impl History {
    pub fn new() -> Self {
        Self { start: Instant::now(), start_unix_ms: unix_ms(), ops: Mutex::new(Vec::new()) }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Record an invocation; returns its index for [`History::complete`].
    pub fn invoke(&self, client: usize, platform: &str, buyer: &str, request: Request) -> usize {
        let mut ops = self.ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = ops.len();
        ops.push(Op {
            index,
            client,
            platform: platform.to_string(),
            buyer: buyer.to_string(),
            request,
            invoked_ms: self.now_ms(),
            completed_ms: None,
            answer: None,
        });
        index
    }

    pub fn complete(&self, index: usize, answer: Answer) {
        let now = self.now_ms();
        let mut ops = self.ops.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ops[index].completed_ms = Some(now);
        ops[index].answer = Some(answer);
    }

    pub fn into_ops(self) -> Vec<Op> {
        self.ops.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The machine's clock, in ms since the epoch.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}
