//! sharesim: simulated Zendesk accounts that share tickets over real HTTP(S).
//!
//! A [`world::World`] runs several [`account::Account`]s in one process, each on its
//! own loopback listener with the Sharing Agreements REST API ([`api`]) and the
//! account-to-account protocol ([`partner`]). The lifecycle rules live in [`model`];
//! everything that happens is recorded in a [`trace::Trace`].

pub mod account;
pub(crate) mod api;
pub(crate) mod atomic_file;
pub(crate) mod bench;
pub mod cli;
pub mod clock;
pub(crate) mod conform;
pub(crate) mod consistency;
pub(crate) mod control;
pub mod directory;
pub(crate) mod durable;
pub mod explore;
pub(crate) mod external;
pub mod faults;
pub(crate) mod host;
pub mod learn;
pub mod limits;
pub mod listener;
pub mod model;
pub mod network;
pub mod openapi;
pub(crate) mod partner;
pub(crate) mod rate_limit;
pub mod report;
pub mod scenario;
pub(crate) mod snapshot;
pub(crate) mod spelling;
pub mod tls;
pub mod trace;
pub mod transport;
pub mod world;
