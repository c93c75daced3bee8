//! The simulator's core: the lifecycle model, the accounts that decide by it, and the
//! wire between them (transport, network, TLS, faults). Nothing here knows HTTP routes or
//! who drives the world, so the rules can be read and unit-tested on their own.

pub mod account;
pub(crate) mod atomic_file;
pub(crate) mod clock;
pub(crate) mod consistency;
pub mod directory;
pub mod faults;
pub(crate) mod host;
pub(crate) mod json;
pub mod limits;
pub mod model;
pub mod network;
pub(crate) mod rate_limit;
pub(crate) mod spelling;
pub mod text;
pub mod tls;
pub mod trace;
pub mod transport;
