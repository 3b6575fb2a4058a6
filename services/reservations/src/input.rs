//! What the public API reads from a request body, checked the same way by
//! every route that takes it (holds, waiting-room joins).

use ticktak_core::{Category, MatchNumber, TicketType};
use ticktak_kit::{ApiError, ApiResult};

/// A ticket type from a request body (422 when out of range).
pub fn ticket_type(match_number: i64, category: i64) -> ApiResult<TicketType> {
    let m = MatchNumber::new(match_number).map_err(|e| ApiError::Unprocessable(e.0))?;
    let c = Category::new(category).map_err(|e| ApiError::Unprocessable(e.0))?;
    Ok(TicketType::new(m, c))
}
