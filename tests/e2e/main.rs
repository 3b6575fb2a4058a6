//! End-to-end tests on the real broker and PostgreSQL (`make test` starts
//! both). Every test uses its own databases, topic names and consumer groups.

mod analytics;
mod config;
mod deploy;
mod draw;
mod fuzz;
mod identity;
mod interop;
mod ledger;
mod masterlist;
mod payments;
mod poison;
mod queue;
mod reservations;
mod schedule;
mod screening;
mod services;
mod shop_api;
mod sql;
mod topics;
mod web;
