//! Plumbing every ticktak service shares, so no service repeats it:
//! configuration, telemetry, the HTTP error type and extractors, Postgres with
//! one schema per service, Kafka clients and topics, operational endpoints,
//! and graceful shutdown.

pub mod audit;
pub mod auth;
pub mod buyer;
pub mod config;
pub mod db;
pub mod env;
pub mod error;
pub mod http;
pub mod internal;
pub mod kafka;
pub mod link_token;
pub mod mail;
pub mod openapi;
pub mod screen;
// Screening's puzzles and client addresses, by their short paths.
pub use screen::{challenge, client_ip};
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use config::{ConfigError, Service, Settings};
pub use error::{ApiError, ApiResult};
