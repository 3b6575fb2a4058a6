//! The error every HTTP handler returns. Domain errors become precise 4xx
//! with a JSON body `{"error": code, "message": text}`; a database out of
//! reach or too busy is a 503 with `Retry-After`; anything unexpected is
//! logged and becomes an opaque 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type ApiResult<T, E = ApiError> = Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    /// Sign-in with a wrong e-mail or password: one answer for both.
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    /// The client's network is on the blocklist (403, code `blocked`).
    #[error("{0}")]
    Blocked(String),
    /// The client must solve a proof-of-work puzzle first (428, code
    /// `challenge_required`).
    #[error("{0}")]
    ChallengeRequired(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A buyer's purchase cap (409, code `purchase_limit`).
    #[error("{0}")]
    PurchaseLimit(String),
    /// The organisers' schedule has the ticket type off sale (409, code
    /// `sale_closed`).
    #[error("{0}")]
    SaleClosed(String),
    /// The ticket type sells through a waiting room and the hold came
    /// without a valid admission of the buyer's (403, code
    /// `admission_required`).
    #[error("{0}")]
    AdmissionRequired(String),
    /// Buying needs an account whose owner confirmed the address (403,
    /// code `email_unverified`).
    #[error("confirm your e-mail address first: follow the link mailed to it (or ask for a new one)")]
    EmailUnverified,
    #[error("{0}")]
    Unprocessable(String),
    /// The payment provider declined the card (402, code `payment_declined`).
    #[error("{0}")]
    PaymentDeclined(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// The error body of every 4xx and 5xx: `{"error": code, "message": text}`.
/// Every OpenAPI description names it `Error` (`crate::openapi`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// a stable code
    pub error: &'static str,
    /// for people
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_)
            | ApiError::Blocked(_)
            | ApiError::AdmissionRequired(_)
            | ApiError::EmailUnverified => StatusCode::FORBIDDEN,
            ApiError::ChallengeRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::PurchaseLimit(_) | ApiError::SaleClosed(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PaymentDeclined(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Blocked(_) => "blocked",
            ApiError::ChallengeRequired(_) => "challenge_required",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PurchaseLimit(_) => "purchase_limit",
            ApiError::SaleClosed(_) => "sale_closed",
            ApiError::AdmissionRequired(_) => "admission_required",
            ApiError::EmailUnverified => "email_unverified",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::PaymentDeclined(_) => "payment_declined",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// A database too busy to hand out a connection is an overload, and one
    /// out of reach (killed, restarting, cut off) an outage: both 503 with
    /// `Retry-After`, not faults of the request; anything else is internal.
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => {
                metrics::counter!("http_busy_total").increment(1);
                ApiError::Unavailable("busy: try again in a moment".into())
            }
            e if database_unreachable(&e) => unreachable_database(&e),
            e => ApiError::Internal(e.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    /// Unexpected, unless a database out of reach is behind it (see
    /// `From<sqlx::Error>`).
    fn from(e: anyhow::Error) -> Self {
        match e.chain().filter_map(|c| c.downcast_ref::<sqlx::Error>()).find(|e| database_unreachable(e)) {
            Some(db) => unreachable_database(db),
            None => ApiError::Internal(e),
        }
    }
}

/// The connection to the database failed, rather than the statement: the
/// server is down, restarting or recovering, or the network to it is cut
/// (SQLSTATE classes 08, connection exception, and 57P, operator
/// intervention: shut down, crashed, not accepting connections yet).
fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        // 08P01, a protocol violation, is a bug of ours, not an outage.
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| (c.starts_with("08") && c != "08P01") || c.starts_with("57P"))
        }
        _ => false,
    }
}

fn unreachable_database(e: &sqlx::Error) -> ApiError {
    metrics::counter!("http_database_unreachable_total").increment(1);
    tracing::warn!(error = %e, "the database is out of reach");
    // Whether a statement the connection carried took effect is unknown:
    // a retry with the same Idempotency-Key is answered as the first was.
    ApiError::Unavailable(
        "the database is out of reach: try again in a moment (with the same Idempotency-Key, a request that went \
         through is not repeated)"
            .into(),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "request failed");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut response = (self.status(), axum::Json(ErrorBody { error: self.code(), message })).into_response();
        match self {
            ApiError::Unauthorized => {
                response.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                response.headers_mut().insert("retry-after", axum::http::HeaderValue::from(retry_after_secs));
            }
            ApiError::Unavailable(_) => {
                response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_out_of_reach_is_a_503_with_retry_after_however_it_reached_the_handler() {
        let reset = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let direct = ApiError::from(reset());
        let wrapped = ApiError::from(anyhow::Error::from(reset()).context("cannot load the hold"));
        for e in [direct, wrapped, ApiError::from(sqlx::Error::PoolClosed)] {
            assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE, "{e}");
            assert_eq!(e.code(), "unavailable");
            let response = e.into_response();
            assert_eq!(response.headers()["retry-after"], "1");
        }
    }

    #[test]
    fn a_statement_the_database_refused_or_an_error_of_ours_stays_internal() {
        let ours = ApiError::from(anyhow::anyhow!("a bug"));
        assert_eq!(ours.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let decode = ApiError::from(sqlx::Error::ColumnNotFound("status".into()));
        assert_eq!(decode.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ApiError::from(sqlx::Error::PoolTimedOut).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
