//! What a slot of the world holds: one of the world's own accounts, or the relay that is
//! the world's end of the link to an account outside the process. Both listen on a port
//! of the world, present a certificate in a mode, take faults and stop and start the same
//! way; only what their listener serves differs.

use super::{AccountSpec, External, World, WorldError};
use crate::core::account::{Account, AccountConfig, WorldServices};
use crate::core::directory::ExternalUrl;
use std::net::SocketAddr;
use std::sync::Arc;

/// One account of the world, in or out of the process.
#[derive(Clone, Debug)]
pub(super) enum Occupant {
    /// An account of this process, with its state and both surfaces.
    Account(Arc<Account>),
    /// An account outside the process, reached through its relay.
    External(Arc<External>),
}

impl Occupant {
    pub(super) fn subdomain(&self) -> &str {
        match self {
            Occupant::Account(account) => account.subdomain(),
            Occupant::External(relay) => relay.subdomain(),
        }
    }

    pub(super) fn display_name(&self) -> &str {
        match self {
            Occupant::Account(account) => account.display_name(),
            Occupant::External(relay) => relay.display_name(),
        }
    }

    pub(super) fn addr(&self) -> Option<SocketAddr> {
        match self {
            Occupant::Account(account) => account.addr(),
            Occupant::External(relay) => relay.addr(),
        }
    }

    pub(super) fn set_listening(&self, addr: SocketAddr, tls: bool) {
        match self {
            Occupant::Account(account) => account.set_listening(addr, tls),
            Occupant::External(relay) => relay.set_listening(addr),
        }
    }

    pub(super) fn account(&self) -> Option<&Arc<Account>> {
        match self {
            Occupant::Account(account) => Some(account),
            Occupant::External(_) => None,
        }
    }

    pub(super) fn external(&self) -> Option<&ExternalUrl> {
        match self {
            Occupant::Account(_) => None,
            Occupant::External(relay) => Some(relay.url()),
        }
    }

    /// What its listener serves: the account's surfaces, or the relay.
    pub(super) fn router(
        &self,
        services: &WorldServices,
        hook: super::WriteHookSlot,
    ) -> super::surfaces::Served {
        match self {
            Occupant::Account(account) => super::account_router(account.clone(), hook),
            Occupant::External(relay) => super::surfaces::Served::Relay(
                super::externals::relay_router(relay.clone(), services).layer(
                    axum::middleware::from_fn_with_state(hook, super::after_write),
                ),
            ),
        }
    }
}

impl World {
    /// What a new slot holds: an account of this process, or the relay of an external one.
    pub(super) fn occupant(&self, spec: &AccountSpec) -> Result<Occupant, WorldError> {
        Ok(match &spec.external {
            None => Occupant::Account(Arc::new(Account::new(
                AccountConfig {
                    subdomain: spec.subdomain.clone(),
                    display_name: spec.display_name.clone(),
                    api_token: self.config.api_token.clone(),
                    rate_limit: self.config.rate_limit,
                    settings: spec.settings,
                },
                self.config.https,
                self.services.clone(),
            ))),
            Some(url) => {
                check_external(&spec.subdomain, spec.start, self.network.kind())?;
                let display_name = spec
                    .display_name
                    .clone()
                    .unwrap_or_else(|| crate::core::model::default_display_name(&spec.subdomain));
                Occupant::External(Arc::new(External::new(
                    &spec.subdomain,
                    &display_name,
                    url.clone(),
                    self.relay_client.clone(),
                    self.services.trace.clone(),
                    self.config.timeout,
                )))
            }
        })
    }
}

/// Refuses what cannot work with an external account before the world starts: a world
/// on the simulated network (the account is reached over real sockets) and an external
/// account that would not start with the world.
pub(super) fn check_external(
    subdomain: &str,
    start: bool,
    network: crate::core::network::NetworkKind,
) -> Result<(), WorldError> {
    let reason = if network != crate::core::network::NetworkKind::Loopback {
        "it lives outside the process, so the world must run on the loopback network"
    } else if !start {
        "it lives outside the process and is there from the start; `start = false` cannot apply"
    } else {
        return Ok(());
    };
    Err(WorldError::External {
        subdomain: subdomain.to_string(),
        reason: reason.to_string(),
    })
}
