//! sharesim: simulated Zendesk accounts that share tickets over real HTTP(S).
//!
//! A [`world::World`] runs several [`core::account::Account`]s in one process, each on
//! its own listener with the Sharing Agreements REST API (`surfaces::api`) and the
//! account-to-account protocol (`surfaces::partner`). The lifecycle rules live in
//! [`core::model`]; everything that happens is recorded in a [`core::trace::Trace`].
//!
//! The tree shows the layers, and imports flow down them only:
//! - [`drivers`]: what a user runs (scenarios, explore, serve's control API, reports,
//!   bench, the command line);
//! - [`world`]: one running set of accounts, their network, clock and trace;
//! - [`surfaces`]: the HTTP faces an account serves (REST API, partner protocol);
//! - [`core`]: the accounts' decisions, the lifecycle model and the simulated wire.

#![warn(unreachable_pub)]

pub mod core;
pub mod drivers;
pub mod surfaces;
pub mod world;
