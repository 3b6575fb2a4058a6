//! Small pieces the pages' forms share.

use serde::Deserialize;

/// Only ids that look like ids reach another service's URL.
pub fn uuid_like(id: &str) -> Option<&str> {
    (id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then_some(id)
}

/// A form that carries nothing but its CSRF value (a button).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}
