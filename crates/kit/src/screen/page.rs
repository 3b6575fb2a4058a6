//! Puzzles handed out at `GET /api/challenge`, and the page that makes a
//! browser solve one.

use super::*;

/// 428 for a browser: a page whose script solves the puzzle and tries again.
pub(super) fn challenge_page(method: &axum::http::Method) -> Response {
    let again = if method == axum::http::Method::GET { "GET" } else { "POST" };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>One moment</title><script src=\"{SOLVER_PATH}\" defer></script></head>\
         <body><main data-challenge-page=\"{again}\"><h1>One moment…</h1>\
         <p>Unusual traffic came from your network, so your browser is solving a small puzzle to show it is not a bot.</p>\
         <p data-solved hidden>Solved: go back and send the form again.</p>\
         <noscript><p>This check needs JavaScript.</p></noscript></main></body></html>"
    );
    (
        axum::http::StatusCode::PRECONDITION_REQUIRED,
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Where every service hands out puzzles.
pub const CHALLENGE_PATH: &str = "/api/challenge";
/// The browser's solver (`assets/challenge.js`) and its web worker.
pub const SOLVER_PATH: &str = "/challenge.js";
pub const SOLVER_WORKER_PATH: &str = "/challenge-worker.js";

/// `GET /api/challenge`: a puzzle sized for the caller (larger for a more
/// suspect network).
pub fn challenge_router(screen: Arc<Screen>) -> axum::Router {
    let script = |body: &'static str| {
        axum::routing::get(move || async move {
            ([(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")], body)
        })
    };
    axum::Router::new()
        .route(SOLVER_PATH, script(include_str!("../../assets/challenge.js")))
        .route(SOLVER_WORKER_PATH, script(include_str!("../../assets/challenge-worker.js")))
        .route(
            CHALLENGE_PATH,
            axum::routing::get(move |req: Request| {
                let screen = screen.clone();
                async move {
                    let difficulty = req
                        .extensions()
                        .get::<Screened>()
                        .and_then(|s| screen.challenged(s.ip))
                        .unwrap_or(crate::challenge::DEFAULT_DIFFICULTY);
                    let puzzle = screen.challenges.issue(difficulty, Utc::now().timestamp());
                    ([(axum::http::header::CACHE_CONTROL, "no-store")], axum::Json(puzzle))
                }
            }),
        )
}
