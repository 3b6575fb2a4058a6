//! Small pieces the pages' forms share.

use serde::Deserialize;

/// Only ids that look like ids reach another service's URL.
pub fn uuid_like(id: &str) -> Option<&str> {
    (id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then_some(id)
}

/// A query value, percent-encoded (an address may hold `+` or `&`).
pub fn query_value(value: &str) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").expect("a URL");
    url.query_pairs_mut().append_pair("v", value);
    url.query().unwrap_or_default().trim_start_matches("v=").to_string()
}

/// A form that carries nothing but its CSRF value (a button).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}
