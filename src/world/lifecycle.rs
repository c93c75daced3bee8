//! An account's lifecycle in the world: binding and listing its listener, spawning its
//! server, and starting, stopping (its port parked) and restarting it.

use super::{Occupant, World, WorldError};
use crate::core::directory::Listing;
use crate::core::network::Listener;
use crate::core::tls::server_config;
use crate::core::trace::lock;
use crate::surfaces::listener;
use std::net::SocketAddr;
use std::sync::Arc;

impl World {
    /// Binds the account's listener (its old port when it ran before) and records it.
    pub(super) async fn bind(&self, subdomain: &str) -> Result<Listener, WorldError> {
        let (port, occupant) = {
            let slots = lock(&self.slots);
            let slot = slots
                .get(subdomain)
                .ok_or_else(|| WorldError::UnknownAccount(subdomain.to_string()))?;
            (slot.port, slot.occupant.clone())
        };
        let addr = SocketAddr::new(self.config.bind, port);
        let listener = self.network.bind(addr).map_err(|source| WorldError::Bind {
            subdomain: subdomain.to_string(),
            addr,
            source,
        })?;
        let local = listener.local_addr().map_err(|source| WorldError::Bind {
            subdomain: subdomain.to_string(),
            addr,
            source,
        })?;
        if let Some(slot) = lock(&self.slots).get_mut(subdomain) {
            slot.port = local.port();
            occupant.set_listening(local, slot.certificate.is_some());
        }
        self.list(&occupant, Some(local));
        Ok(listener)
    }

    /// Puts an account in the directory, where partners find it.
    pub(super) fn list(&self, occupant: &Occupant, addr: Option<SocketAddr>) {
        self.services.directory.insert(
            occupant.subdomain(),
            Listing {
                display_name: occupant.display_name().to_string(),
                addr,
                https: self.config.https,
                external: occupant.external().cloned(),
            },
        );
    }

    pub(super) fn spawn(&self, subdomain: &str, listener: Listener) -> Result<(), WorldError> {
        let mut slots = lock(&self.slots);
        let slot = slots
            .get_mut(subdomain)
            .ok_or_else(|| WorldError::UnknownAccount(subdomain.to_string()))?;
        let token = self.cancel.child_token();
        slot.running = Some(token.clone());
        let gate = listener::host_gate::HostGate {
            bound: self.config.bind.to_string(),
            names: Arc::new(
                std::iter::once(crate::core::directory::DOMAIN.to_string())
                    .chain(self.config.extra_cert_names.iter().cloned())
                    .collect(),
            ),
        };
        let app = listener::host_gate::Gated::new(
            gate,
            slot.occupant
                .router(&self.services, self.after_write.clone()),
        );
        let tls = slot
            .certificate
            .clone()
            .map(|cert| server_config(cert, &self.clock));
        let control = listener::ListenerControl::new(tls, token.clone(), self.patience());
        slot.control = Some(control.clone());
        slot.listener_task = Some(self.tracker.spawn(listener::serve(
            listener,
            app,
            control,
            token,
            self.tracker.clone(),
            self.config.connection_limits,
        )));
        Ok(())
    }

    /// Starts an account that is not running (declared with `start = false`, or stopped).
    pub async fn start_account(&self, subdomain: &str) -> Result<(), WorldError> {
        if self.is_running(subdomain)? {
            return Ok(());
        }
        let (reservation, port) = {
            let mut slots = lock(&self.slots);
            let slot = slots
                .get_mut(subdomain)
                .ok_or_else(|| WorldError::UnknownAccount(subdomain.to_string()))?;
            (slot.reservation.take(), slot.port)
        };
        let listener = match reservation {
            // The port it kept: listen on the same socket again.
            Some(reservation) => {
                let addr = SocketAddr::new(self.config.bind, port);
                let listener =
                    self.network
                        .resume(reservation, addr)
                        .map_err(|source| WorldError::Bind {
                            subdomain: subdomain.to_string(),
                            addr,
                            source,
                        })?;
                self.relist(subdomain, addr)?;
                listener
            }
            None => self.bind(subdomain).await?,
        };
        self.spawn(subdomain, listener)?;
        self.services
            .trace
            .world(subdomain, format!("{subdomain} started listening"));
        self.retry_waiting_pushes().await;
        Ok(())
    }

    /// Lists a resumed account at its kept address again.
    pub(super) fn relist(&self, subdomain: &str, addr: SocketAddr) -> Result<(), WorldError> {
        let occupant = {
            let slots = lock(&self.slots);
            let slot = slots
                .get(subdomain)
                .ok_or_else(|| WorldError::UnknownAccount(subdomain.to_string()))?;
            slot.occupant
                .set_listening(addr, slot.certificate.is_some());
            slot.occupant.clone()
        };
        self.list(&occupant, Some(addr));
        Ok(())
    }

    /// Stops an account's listener: new connections are refused; its state is kept, and
    /// so is its port (parked: see [`Network::park`](crate::core::network::Network::park)), so no one else can take it.
    pub async fn stop_account(&self, subdomain: &str) -> Result<(), WorldError> {
        let (token, listener_task) = {
            let mut slots = lock(&self.slots);
            let slot = slots
                .get_mut(subdomain)
                .ok_or_else(|| WorldError::UnknownAccount(subdomain.to_string()))?;
            if slot.running.is_some() && slot.port != 0 {
                let addr = SocketAddr::new(self.config.bind, slot.port);
                slot.reservation = self.network.close_and_keep(addr);
            }
            let token = slot.running.take();
            let task = token.as_ref().and_then(|_| slot.listener_task.take());
            (token, task)
        };
        if let Some(token) = token {
            token.cancel();
            // The listening socket is handed back as soon as its task sees its token;
            // parked at once, later connections are refused rather than queued.
            if let Some(task) = listener_task
                && let Ok(listener) = task.await
            {
                let addr = listener.local_addr().ok();
                match self.network.park(listener) {
                    Ok(Some(reservation)) => {
                        if let Some(slot) = lock(&self.slots).get_mut(subdomain) {
                            slot.reservation = Some(reservation);
                        }
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(%error, ?addr, "could not keep a stopped account's port")
                    }
                }
            }
            // Pooled connections to the old listener are dead; make sure no message is
            // sent on one, and that the next HTTPS message makes a full handshake.
            self.forget_connections(subdomain);
            self.services.trace.world(
                subdomain,
                format!("{subdomain} stopped: connections are refused"),
            );
        }
        Ok(())
    }

    /// Stops and starts an account on the same port, keeping its state.
    pub async fn restart_account(&self, subdomain: &str) -> Result<(), WorldError> {
        self.stop_account(subdomain).await?;
        self.start_account(subdomain).await
    }

    /// Whether the account's listener is up (false while stopped or not yet started).
    pub fn is_running(&self, subdomain: &str) -> Result<bool, WorldError> {
        lock(&self.slots)
            .get(subdomain)
            .map(|slot| slot.running.is_some())
            .ok_or_else(|| WorldError::UnknownAccount(subdomain.to_string()))
    }
}
