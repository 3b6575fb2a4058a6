//! The contracts between a platform's own services, defined once and used by
//! both ends: every body and path of an internal call, and the request and
//! answer types of the public APIs, which the services write and the web
//! site (a client of those APIs like any other) reads.
//!
//! - `ledger`: shop-consumer → shop (the logs in batches, applied offsets,
//!   the ledger snapshot) and reservations → shop (the log's decisions on holds).
//! - `decisions`: shop-consumer → reservations (decisions on own holds).
//! - `catalogue`: the shop's matches, availability and recommendations,
//!   which reservations reads for its fast "sold out" answer, kick-off
//!   times and e-mails, and the web site for its pages.
//! - `reservations`: the reservations and orders buyers see (web site →
//!   reservations), and payments → reservations (read a reservation,
//!   confirm it once paid, refund it).
//! - `tickets`: tickets, their live codes, transfers and check-in (web site
//!   → reservations).
//! - `payments`: payments as buyers and admins see them (web site →
//!   payments).
//! - `queue`: the waiting rooms as buyers and operators see them (web site
//!   → reservations).
//! - `draws`: the random selection draws and buyers' applications (web
//!   site → reservations).
//! - `analytics`: reservations → analytics (booking events on the
//!   platform-internal bookings topic), analytics → shop (the
//!   recommendation model and how it ranks matches), the admins' statistics.
//! - `desk`: the operators' order desk (reservations → payments, and
//!   the answers the web site's desk pages read); the admins' audit trail.
//! - `accounts`: the identity API (sign-up, sign-in, tokens, the account;
//!   web site → security), and security → reservations, payments (an
//!   account's records for its owner's export, and the person's erasure).
//! - `screening`: security ↔ every service (the screening policy's replica,
//!   the signals reported back), and the security events admins see.
//!
//! The wire formats shared with other platforms (Kafka bodies and headers)
//! live in `ticktak_core`.

pub mod accounts;
pub mod analytics;
pub mod catalogue;
pub mod decisions;
pub mod desk;
pub mod draws;
pub mod ledger;
pub mod payments;
pub mod queue;
pub mod reservations;
pub mod screening;
pub mod tickets;
