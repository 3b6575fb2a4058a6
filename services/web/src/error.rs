//! What a page shows when it cannot be served: the visitor is sent to sign
//! in, or gets an error page with the status and a plain explanation —
//! never a stack trace, never a 5xx for their own mistake.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use crate::apis::Reply;

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

    /// What a service's refusal means for the page.
    pub fn from_reply(reply: &Reply) -> Self {
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
        match reply.status {
            401 => WebError::SignIn,
            403 => WebError::Forbidden(reply.message()),
            404 => WebError::NotFound(reply.message()),
            400..=499 => WebError::Refused { status, message: reply.message() },
            _ => {
                tracing::warn!(status = reply.status, message = %reply.message(), "a service the pages need failed");
                WebError::Unavailable
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            WebError::SignIn => return Redirect::to("/signin").into_response(),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            WebError::Refused { status, message } => (status, "That did not work", message),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Part of the shop is not answering right now. Please try again in a moment.".to_string(),
            ),
        };
        let body = html! {
            h1 { (title) }
            p.notice.error role="alert" { (message) }
            p { a href="/" { "Back to the matches" } }
        };
        (status, crate::layout::page(None, title, body)).into_response()
    }
}
