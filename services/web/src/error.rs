//! Why a page cannot be served: the visitor must sign in, or gets an error
//! page with the status and a plain explanation — never a stack trace,
//! never a 5xx for their own mistake. A service's refusal becomes one in
//! `apis` (`WebError::from_reply`); the page is drawn in `layout`.

use axum::http::StatusCode;

#[derive(Debug)]
pub enum WebError {
    /// The page needs a signed-in visitor.
    SignIn,
    Forbidden(String),
    NotFound(String),
    /// The visitor's request cannot be done (a bad form, a refusal by a
    /// service: sold out, over a cap, a forged form).
    Refused {
        status: StatusCode,
        message: String,
    },
    /// A service the page needs is down.
    Unavailable,
}

impl WebError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        WebError::Refused { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}
