//! Benchmarks of ticktak on the real broker and PostgreSQL: each run starts
//! its own platforms (release binaries as processes) on fresh topics and
//! databases and publishes its own master list.
//!
//! - `market`: start and stop P platforms sharing one broker.
//! - `draw`: a random selection draw of 100,000 applications on two
//!   platforms: the same winners everywhere, `draw verify`, uniformity,
//!   winners paying and unpaid tickets passed on, no oversell.
//! - `queue`: an on-sale through the waiting rooms of two platforms:
//!   latency, fairness, holds only with an admission.
//! - `onsale`: scenario 6, every ticket type of the market on sale at once
//!   to buyers whose choices follow a Zipf law.
//! - `race`: scenario 1 (hot category race) with the propagation and
//!   memory measurements that ride along.
//! - `backlog`: how fast one platform applies a backlog of the sales log.
//! - `reads`: scenario 3, the read path under wrk.
//! - `broker`: the broker alone, the baseline of the race's latency.
//! - `login`: sign-in costs the same for unknown and known e-mail addresses.
//! - `screening`: the read path on a screened port against an unscreened one.
//! - `fuzz`: schemathesis against every service's OpenAPI description.
//! - `jepsen`: clients' histories under seeded kills and pauses, checked
//!   against the log and every ledger.
//! - `attack`: the hot category under a flooder, a credential stuffer and a botnet.
//! - `recommend`: the recommendation model on simulated bookings against popularity.

pub mod attack;
pub mod backlog;
pub mod broker;
pub mod draw;
pub mod fuzz;
pub mod jepsen;
pub mod login;
pub mod market;
pub mod onsale;
pub mod queue;
pub mod race;
pub mod reads;
pub mod recommend;
pub mod screening;
pub mod stats;
pub mod trust;
