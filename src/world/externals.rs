//! The world's accounts outside the process: which they are, adding one to a running
//! world, and the router of the relay that is the world's end of the link to each.

use super::{AccountSpec, External, World, WorldError};
use crate::core::account::WorldServices;
use crate::core::directory::ExternalUrl;
use crate::core::trace::lock;
use axum::Router;
use std::sync::Arc;

impl World {
    /// Every account outside the process, with its configured sharing URL, in the
    /// order they were declared.
    pub fn externals(&self) -> Vec<(String, ExternalUrl)> {
        lock(&self.slots)
            .iter()
            .filter_map(|(name, slot)| Some((name.clone(), slot.occupant.external()?.clone())))
            .collect()
    }

    /// Whether `subdomain` is an account outside the process.
    pub fn is_external(&self, subdomain: &str) -> bool {
        lock(&self.slots)
            .get(subdomain)
            .is_some_and(|slot| slot.occupant.external().is_some())
    }

    /// Adds an account outside the process to a running world: its relay starts at
    /// once, and partners find it in the directory from then on.
    pub async fn add_external(&self, spec: AccountSpec) -> Result<(), WorldError> {
        if spec.external.is_none() {
            return Err(WorldError::External {
                subdomain: spec.subdomain,
                reason: "it has no sharing URL".to_string(),
            });
        }
        self.add_account(&spec)?;
        let listener = self.bind(&spec.subdomain).await?;
        self.spawn(&spec.subdomain, listener)?;
        self.services.trace.world(
            &spec.subdomain,
            format!(
                "{} is an external account at {}",
                spec.subdomain,
                self.services
                    .directory
                    .sharing_url(&spec.subdomain)
                    .unwrap_or_default()
            ),
        );
        Ok(())
    }
}

/// The world's end of the link to an external account: the relay, with the world's
/// faults applied to every message on the link, as an account's listener applies them.
pub(super) fn relay_router(relay: Arc<External>, services: &WorldServices) -> Router {
    crate::surfaces::external::relay::router(relay.clone()).layer(
        axum::middleware::from_fn_with_state(
            crate::surfaces::listener::faults::FaultGate {
                target: relay.subdomain().to_string(),
                faults: services.faults.clone(),
                trace: services.trace.clone(),
            },
            crate::surfaces::listener::faults::apply,
        ),
    )
}
