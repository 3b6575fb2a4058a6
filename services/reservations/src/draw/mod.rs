//! Random selection draws (`ticktak_core::draw`): buyers apply while a
//! draw is open; after the close the organisers reveal the seed they
//! committed to, every platform draws the same winners from the draw
//! topic, and each platform holds its own winners' tickets through the
//! ticket-sales log with the draw's payment window.
//!
//! - `api`: `/api/draws` (the draws, their commitment, seed and winners'
//!   digest) and `/api/draws/applications` (apply, change, withdraw, see
//!   results).
//! - `store`: the SQL of draws, entries and this platform's applications.
//! - `follow`: the draw topic applied with its offsets — every platform's
//!   applications, the organisers' terms and seeds, checked by signature
//!   and by the rule (`ticktak_core::draw::admit_*`); what does not count
//!   is recorded in `draw_invalid` and skipped.
//! - `allocate`: runs a draw once its seed is in, holds this platform's
//!   winners' tickets, and passes the tickets of lapsed allocations down
//!   the order as the log settles them.
//! - `mail`: what winners and the waitlisted are told.
//!
//! The organisers' side and the check anyone can run: `src/bin/draw.rs`.

pub mod allocate;
pub mod api;
pub mod follow;
pub mod mail;
pub mod store;

pub use api::router;
