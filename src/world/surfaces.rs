//! Both surfaces of one account as a single service: the write hook, the recording of
//! messages from external accounts, the world's faults on partner messages, and the REST
//! API's recording, each a plain async step around the shared routes. One service
//! instead of four middleware layers: each layer cloned its inner service and boxed a
//! future on every request, which a profile under load showed as a tenth of the
//! server's time. The steps and their order are those the layers had.

use super::WriteHookSlot;
use crate::core::account::Account;
use crate::surfaces::external::inbound::InboundGate;
use crate::surfaces::listener::faults::FaultGate;
use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use futures_util::future::{BoxFuture, Either};
use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::ServiceExt;

/// The account's surfaces; cheap to clone (one reference count).
#[derive(Clone)]
pub(super) struct AccountSurfaces {
    inner: Arc<Steps>,
}

struct Steps {
    account: Arc<Account>,
    hook: WriteHookSlot,
    inbound: InboundGate,
    faults: FaultGate,
    routes: Router,
}

impl AccountSurfaces {
    /// The surfaces of `account`, serving `routes` (the shared routes with its state).
    pub(super) fn new(account: Arc<Account>, hook: WriteHookSlot, routes: Router) -> Self {
        let faults = FaultGate {
            target: account.subdomain().to_string(),
            faults: account.services().faults.clone(),
            trace: account.trace().clone(),
        };
        let inbound = InboundGate {
            account: account.clone(),
        };
        AccountSurfaces {
            inner: Arc::new(Steps {
                account,
                hook,
                inbound,
                faults,
                routes,
            }),
        }
    }
}

impl Steps {
    /// The account's routes, for one request.
    async fn route(&self, request: Request) -> Response {
        match self.routes.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// [`Steps::route`] boxed, as the router boxes a route's future: handshake writes
    /// and partner messages are answered without the routes, so a call's future need
    /// not hold room for them.
    fn boxed_route(&self, request: Request) -> BoxFuture<'_, Response> {
        Box::pin(self.route(request))
    }

    /// Whether every step but the REST API's recording passes `request` on untouched: a
    /// read (no write hook runs) off the partner surface (no recording of external
    /// messages, no fault). Such requests take [`Steps::read`].
    fn is_plain_read(request: &Request) -> bool {
        use axum::http::Method;
        matches!(*request.method(), Method::GET | Method::HEAD)
            && !request.uri().path().starts_with("/sharing")
    }

    /// What [`Steps::handle`] does with a plain read (see [`Steps::is_plain_read`]) once
    /// [`crate::surfaces::api::begin_call`] has begun it and it needs more (a route, a
    /// refusal to record), without the steps that would pass it on: a REST poll's
    /// future is a fraction of the size, and the routes' future is boxed only when a
    /// route is called.
    async fn read(&self, begun: crate::surfaces::api::Begun) -> Response {
        use crate::surfaces::api::{Begun, finish_call};
        let step = match begun {
            Begun::Step(step) => step,
            Begun::Body(arrived) => arrived.read_and_record(&self.account).await,
        };
        finish_call(&self.account, step, |request| self.boxed_route(request)).await
    }

    /// Whether the two outer steps (the write hook, the recording of external messages)
    /// would pass `request` straight on: then [`Steps::rest`] or [`Steps::partner`]
    /// serve it, futures without room for those steps, which every move of the future
    /// would otherwise copy.
    fn passes_outer(&self, request: &Request) -> bool {
        super::write_hook_for(&self.hook, request).is_none()
            && crate::surfaces::external::inbound::passes(&self.inbound, request)
    }

    /// A REST call that [`Steps::passes_outer`]: the faults pass it too (they are
    /// partner messages' only), so it goes to the REST API's recording.
    async fn rest(&self, request: Request) -> Response {
        crate::surfaces::api::record_call(&self.account, request, |request| {
            self.boxed_route(request)
        })
        .await
    }

    /// A partner message that [`Steps::passes_outer`]: the faults, then the recording.
    async fn partner(&self, request: Request) -> Response {
        crate::surfaces::listener::faults::apply_with(&self.faults, request, |request| {
            crate::surfaces::api::record_call(&self.account, request, |request| {
                self.boxed_route(request)
            })
        })
        .await
    }

    /// The steps, outermost first; each passes requests that are not its concern
    /// straight to the next.
    async fn handle(&self, request: Request) -> Response {
        let routes = |request: Request| self.boxed_route(request);
        super::after_write_with(&self.hook, request, |request| {
            crate::surfaces::external::inbound::record(&self.inbound, request, |request| {
                crate::surfaces::listener::faults::apply_with(&self.faults, request, |request| {
                    crate::surfaces::api::record_call(&self.account, request, routes)
                })
            })
        })
        .await
    }
}

/// What an account's listener serves (behind its host gate): one of the world's own
/// accounts, or the relay of an external one.
#[derive(Clone)]
pub(super) enum Served {
    /// The account's surfaces, called directly: no router in front of them.
    Account(AccountSurfaces),
    /// The relay's router.
    Relay(Router),
}

/// What serving a request gives: an answer known when the request was taken (the
/// agreement list's, see [`AccountSurfaces`]), or a boxed future for the rest.
pub(super) type Answer =
    Either<Ready<Result<Response, Infallible>>, BoxFuture<'static, Result<Response, Infallible>>>;

impl tower::Service<Request> for Served {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self {
            Served::Account(surfaces) => surfaces.call(request),
            Served::Relay(router) => Either::Right(Box::pin(router.call(request))),
        }
    }
}

/// A plain read is begun in `call` itself (see [`crate::surfaces::api::begin_call`]):
/// the agreement list, the call polled the most, is answered there, with no future to
/// allocate and move.
impl tower::Service<Request> for AccountSurfaces {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use crate::surfaces::api::{Begun, Step, begin_call};
        if Steps::is_plain_read(&request) {
            match begin_call(&self.inner.account, request) {
                Begun::Step(Step::Answered(response)) => {
                    Either::Left(std::future::ready(Ok(response)))
                }
                begun => {
                    let steps = self.inner.clone();
                    Either::Right(Box::pin(async move { Ok(steps.read(begun).await) }))
                }
            }
        } else {
            let steps = self.inner.clone();
            if !steps.passes_outer(&request) {
                Either::Right(Box::pin(async move { Ok(steps.handle(request).await) }))
            } else if request.uri().path().starts_with("/sharing") {
                Either::Right(Box::pin(async move { Ok(steps.partner(request).await) }))
            } else {
                Either::Right(Box::pin(async move { Ok(steps.rest(request).await) }))
            }
        }
    }
}
