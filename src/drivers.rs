//! What a user runs on top of a world: the scenario runner, explore, serve's control API
//! and durable state, conformance probes, reports, the bench and the command line. Drivers
//! read the world through the same surfaces its users do.

pub(crate) mod bench;
pub mod cli;
pub(crate) mod conform;
pub(crate) mod control;
pub(crate) mod durable;
pub mod explore;
pub mod learn;
pub mod openapi;
pub mod report;
pub mod scenario;
pub(crate) mod snapshot;
