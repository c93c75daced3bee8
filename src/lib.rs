//! sharesim: simulated Zendesk accounts that share tickets over real HTTP(S).
//!
//! A [`world::World`] runs several [`account::Account`]s in one process, each on its
//! own loopback listener with the Sharing Agreements REST API ([`api`]) and the
//! account-to-account protocol ([`partner`]). The lifecycle rules live in [`model`];
//! everything that happens is recorded in a [`trace::Trace`].

pub mod account;
pub mod api;
pub mod bench;
pub mod cli;
pub mod consistency;
pub mod control;
pub mod directory;
pub mod durable;
pub mod faults;
pub mod model;
pub mod openapi;
pub mod partner;
pub mod rate_limit;
pub mod report;
pub mod scenario;
pub mod snapshot;
pub mod tls;
pub mod trace;
pub mod transport;
pub mod world;
