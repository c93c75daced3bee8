//! The checks that keep a scenario's steps out of external accounts (`external = "URL"`):
//! sharesim holds no state, no REST API and no transport of an account outside the
//! process, so a step may link to one (invite it, share with it, break, hold or drop the
//! messages sent to it) but never act inside it or read its copies.

use super::{Checked, Checker, Invalid, invalid};
use crate::core::directory::ExternalUrl;
use crate::core::network::NetworkKind;
use crate::drivers::scenario::format::{Account, Ref, Scenario};

/// An `[accounts.X]` table with `external`: a usable sharing URL, always there, and a
/// world on the loopback network.
impl Checker<'_> {
    /// An `[accounts.X]` table with `external`: see [`check_account`].
    pub(super) fn external_account(&self, scenario: &Scenario, account: &Account) -> Checked {
        check_account(scenario, account)
    }
}

fn check_account(scenario: &Scenario, account: &Account) -> Checked {
    let Some(url) = &account.external else {
        return Ok(());
    };
    let at = |message: String| {
        Err(Invalid {
            span: url.span(),
            message,
        })
    };
    if let Err(why) = ExternalUrl::parse(url.get_ref()) {
        return at(format!(
            "`external` must be the partner's sharing URL: {why}"
        ));
    }
    if !account.start {
        return at(
            "an external account lives outside sharesim and is there from the start; \
             remove `start = false`"
                .to_string(),
        );
    }
    if scenario.network == Some(NetworkKind::Simulated) {
        return at(
            "an external account is reached over real sockets, but this file sets \
             `network = \"simulated\"`; remove it (a scenario with an external account \
             runs on the loopback network)"
                .to_string(),
        );
    }
    Ok(())
}

impl Checker<'_> {
    /// An account a step acts inside (its REST API, its state, its listener): declared,
    /// and not external.
    pub(super) fn inside(&self, reference: &Ref, action: &str) -> Checked {
        self.account(reference)?;
        let name = reference.get_ref();
        if self.externals.contains(&name.as_str()) {
            return invalid(
                reference,
                format!(
                    "`{name}` is an external account: sharesim cannot {action} inside it, \
                     because it lives outside sharesim (that happens on its own side). \
                     Steps may invite it, share with it, and fault, hold, duplicate or \
                     drop the messages sent to it"
                ),
            );
        }
        Ok(())
    }

    pub(super) fn optional_inside(&self, reference: Option<&Ref>, action: &str) -> Checked {
        reference.map_or(Ok(()), |reference| self.inside(reference, action))
    }

    /// A link whose messages sharesim sends (`hold`, `release`, `duplicate`,
    /// `lose_reply`, `in_flight`): its sender must be an account of this world.
    pub(super) fn sent_link(&self, from: &Ref, to: &Ref) -> Checked {
        self.link(from, to)?;
        let name = from.get_ref();
        if self.externals.contains(&name.as_str()) {
            return invalid(
                from,
                format!(
                    "`{name}` is an external account: sharesim does not send its messages, \
                     so it cannot hold, release, duplicate or drop them; act on the link \
                     to it instead (`from = \"{}\", to = \"{name}\"`)",
                    to.get_ref()
                ),
            );
        }
        Ok(())
    }

    /// A check that compares both copies of an agreement: neither may live outside.
    pub(super) fn both_copies_seen(&self, handle: &Ref) -> Checked {
        match self.links.get(handle.get_ref()) {
            Some((sender, receiver)) if self.externals.contains(&receiver.as_str()) => invalid(
                handle,
                format!(
                    "agreement `{name}` was sent to the external account `{receiver}`, whose \
                     copy sharesim cannot see; check the sender's copy instead, e.g. \
                     `expect = {{ account = \"{sender}\", agreement = \"{name}\", status = \"accepted\" }}`",
                    name = handle.get_ref(),
                ),
            ),
            _ => Ok(()),
        }
    }
}
