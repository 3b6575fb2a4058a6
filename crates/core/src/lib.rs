//! Pure domain of ticktak: identifiers, prices, the wire messages every platform
//! exchanges over Kafka, and the ledger rule that decides every hold.
//!
//! Nothing here performs I/O, so the rule can be property-tested and every
//! service (and every platform) applies exactly the same code.

pub mod country;
pub mod draw;
pub mod gate;
pub mod headers;
pub mod ids;
pub mod ledger;
pub mod masterlist;
pub mod partition;
pub mod queue;
pub mod region;
pub mod sales;
pub mod schedule;
pub mod text;

pub use country::Country;
pub use ids::{BuyerId, Category, HoldId, MatchNumber, PlatformId, Price, Quantity, TicketType};
pub use ledger::{CategoryStatus, Decision, Hold, HoldStatus, Ledger, LedgerOp, LogPosition, Outcome, TicketCounts};
pub use masterlist::MasterListMatch;
pub use sales::{Action, SaleMessage, TicketLine};
