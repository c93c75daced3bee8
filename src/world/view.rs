//! One account as every reader of a running world sees it at one moment. The control
//! API's `/accounts`, the live view and a scenario outcome's per-step tables all start
//! from this projection, each keeping its own JSON shape, so they cannot disagree about
//! what an account holds or how a copy is read.

use super::World;
use crate::core::account::Account;
use crate::core::faults::FaultRule;
use crate::core::model::Agreement;
use crate::core::model::ticket::Ticket;
use crate::core::tls::CertMode;
use std::sync::Arc;

/// An account at one moment: what it is, how it is reachable, and what it holds.
#[derive(Clone, Debug)]
pub struct AccountView {
    /// The account itself, for what a reader needs beyond its state (URLs, users).
    pub account: Arc<Account>,
    /// Whether its listener runs.
    pub running: bool,
    /// The certificate mode it presents.
    pub certificate: CertMode,
    /// The fault rules acting on links into it (a downed account's `down` included).
    pub faults: Vec<FaultRule>,
    /// Its agreement copies, by id.
    pub agreements: Vec<Agreement>,
    /// Its tickets, by id, without their comments' text.
    pub tickets: Vec<TicketView>,
}

/// A ticket copy as the readers of an account show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketView {
    /// The account-local id.
    pub id: u64,
    /// The copy's own uuid.
    pub uuid: String,
    /// The subject line.
    pub subject: String,
    /// Where the ticket stands, in its one spelling.
    pub status: String,
    /// The outbound agreement its sender shared it over, while the share lasts.
    pub shared_over: Option<u64>,
    /// Every live share's agreement (a re-shared copy travels over more than one).
    pub sharing_agreements: Vec<u64>,
    /// The inbound agreement it came over, on a receiver's copy.
    pub received_over: Option<u64>,
    /// The share's uuid a receiver's copy came with.
    pub received_share: Option<String>,
    /// How many comments it holds.
    pub comments: usize,
    /// Whether its sender unshared it, so it no longer syncs.
    pub orphan: bool,
}

impl TicketView {
    fn of(ticket: &Ticket) -> TicketView {
        TicketView {
            id: ticket.id,
            uuid: ticket.uuid.clone(),
            subject: ticket.subject.clone(),
            status: ticket.status.as_str().to_string(),
            shared_over: ticket.sent.as_ref().map(|share| share.agreement_id),
            sharing_agreements: ticket.sharing_agreement_ids(),
            received_over: ticket.received.as_ref().map(|r| r.share.agreement_id),
            received_share: ticket.received.as_ref().map(|r| r.share.uuid.clone()),
            comments: ticket.comments.len(),
            orphan: ticket.received.as_ref().is_some_and(|r| r.orphaned),
        }
    }
}

impl AccountView {
    /// The account's subdomain.
    pub fn subdomain(&self) -> &str {
        self.account.subdomain()
    }
}

impl World {
    /// Every account of this process as it stands now, in the world's order. Each
    /// account's copies and tickets are read under one look at its state.
    pub fn account_views(&self) -> Vec<AccountView> {
        let faults = self.faults();
        self.accounts()
            .into_iter()
            .map(|account| {
                let subdomain = account.subdomain().to_string();
                let (agreements, tickets) = account.read_state(|state| {
                    (
                        state.agreements().values().cloned().collect(),
                        state.tickets().all().map(TicketView::of).collect(),
                    )
                });
                AccountView {
                    running: self.is_running(&subdomain).unwrap_or(false),
                    certificate: self.cert_mode(&subdomain).unwrap_or(CertMode::Valid),
                    faults: faults
                        .iter()
                        .filter(|rule| rule.target == subdomain)
                        .cloned()
                        .collect(),
                    agreements,
                    tickets,
                    account,
                }
            })
            .collect()
    }
}
