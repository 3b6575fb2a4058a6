//! Route classes: requests grouped by what abusing them costs us.

use super::*;

/// Requests grouped by what abusing them costs us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// GET and HEAD: catalogue, availability, one's own reservations.
    Reads,
    /// Sign-up, sign-in, token refresh (`POST /api/auth/…`).
    Auth,
    /// New holds (`POST /api/reservations`, `POST /api/orders`).
    Holds,
    /// Payments and refunds (`POST /api/payments…`).
    Payments,
    /// Every other write.
    Writes,
}

impl RouteClass {
    pub const ALL: [RouteClass; 5] =
        [RouteClass::Reads, RouteClass::Auth, RouteClass::Holds, RouteClass::Payments, RouteClass::Writes];

    pub fn of(method: &Method, path: &str) -> Self {
        // What tries a password (a change, a deletion) or gathers an
        // account's every record counts as a sign-in.
        let sensitive =
            path == "/api/me/password" || path == "/api/me/export" || (method == Method::DELETE && path == "/api/me");
        if sensitive || (path.starts_with("/api/auth/") && method != Method::GET && method != Method::HEAD) {
            RouteClass::Auth
        } else if method == Method::GET || method == Method::HEAD {
            RouteClass::Reads
        } else if path == "/api/reservations" || path == "/api/orders" {
            RouteClass::Holds
        } else if path.starts_with("/api/payments") {
            RouteClass::Payments
        } else {
            RouteClass::Writes
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RouteClass::Reads => "reads",
            RouteClass::Auth => "auth",
            RouteClass::Holds => "holds",
            RouteClass::Payments => "payments",
            RouteClass::Writes => "writes",
        }
    }

    /// Default requests per minute: per client address, per account.
    pub(super) fn defaults(self) -> (u32, u32) {
        match self {
            RouteClass::Reads => (6000, 6000),
            RouteClass::Auth => (30, 0),
            RouteClass::Holds => (60, 20),
            RouteClass::Payments => (60, 30),
            RouteClass::Writes => (300, 120),
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}
