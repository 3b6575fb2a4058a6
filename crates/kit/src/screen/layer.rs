//! The tower layer that screens every request of a public listener.

use super::*;

/// The screening layer: `router.layer(ScreenLayer::new(screen))`. A plain
/// tower service rather than `from_fn`, so an admitted request costs no
/// allocation beyond its `Screened`.
#[derive(Clone)]
pub struct ScreenLayer(Arc<Screen>);

impl ScreenLayer {
    pub fn new(screen: Arc<Screen>) -> Self {
        Self(screen)
    }
}

impl<S> tower::Layer<S> for ScreenLayer {
    type Service = ScreenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScreenService { screen: self.0.clone(), inner }
    }
}

#[derive(Clone)]
pub struct ScreenService<S> {
    screen: Arc<Screen>,
    inner: S,
}

impl<S> tower::Service<Request> for ScreenService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<std::future::Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self.screen.admit(&mut req) {
            Ok(()) => Either::Right(self.inner.call(req)),
            Err(ApiError::ChallengeRequired(_)) if wants_html(&req) => {
                Either::Left(std::future::ready(Ok(challenge_page(req.method()))))
            }
            Err(refusal) => Either::Left(std::future::ready(Ok(refusal.into_response()))),
        }
    }
}

/// A browser's page load (it asks for HTML first).
pub(super) fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.starts_with("text/html"))
}
