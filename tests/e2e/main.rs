//! End-to-end tests on the real broker and PostgreSQL (`make test` starts
//! both). Every test uses its own databases, topic names and consumer groups.

mod config;
mod masterlist;
mod interop;
mod ledger;
mod reservations;
mod shop_api;
mod services;
