//! The contracts between a platform's own services, defined once and used by
//! both ends: every body and path of an internal call.
//!
//! - `ledger`: shop-consumer → shop (the logs in batches, applied offsets,
//!   the ledger snapshot) and reservations → shop (the log's decisions on holds).
//! - `decisions`: shop-consumer → reservations (decisions on own holds).
//! - `catalogue`: the shop's match and availability views, which
//!   reservations reads for its fast "sold out" answer, kick-off times and
//!   e-mails.
//! - `reservations`: payments → reservations (read a reservation, confirm
//!   it once paid, refund it).
//! - `analytics`: reservations → analytics (booking events on the
//!   platform-internal bookings topic), analytics → shop (the
//!   recommendation model and how it ranks matches).
//! - `desk`: the operators' order desk (reservations → payments, and
//!   the answers the web site's desk pages read); the admins' audit trail.
//! - `accounts`: security → reservations, payments (an account's records for
//!   its owner's export, and the person's erasure).
//! - `screening`: security ↔ every service (the screening policy's replica,
//!   the signals reported back).
//!
//! The wire formats shared with other platforms (Kafka bodies and headers)
//! live in `ticktak_core`.

pub mod accounts;
pub mod analytics;
pub mod catalogue;
pub mod decisions;
pub mod desk;
pub mod ledger;
pub mod reservations;
pub mod screening;
