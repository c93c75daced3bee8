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
use futures_util::future::BoxFuture;
use std::convert::Infallible;
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
    /// The steps, outermost first; each passes requests that are not its concern
    /// straight to the next.
    async fn handle(&self, request: Request) -> Response {
        let routes = |request: Request| async move {
            match self.routes.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        };
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

impl tower::Service<Request> for Served {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self {
            Served::Account(surfaces) => surfaces.call(request),
            Served::Relay(router) => Box::pin(router.call(request)),
        }
    }
}

impl tower::Service<Request> for AccountSurfaces {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let steps = self.inner.clone();
        Box::pin(async move { Ok(steps.handle(request).await) })
    }
}
