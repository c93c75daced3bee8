//! The HTTP faces an account serves on its listener: the Sharing Agreements REST API, the
//! account-to-account partner protocol, and the relay to partners outside the world. Each
//! turns requests into calls on the core's accounts and answers in Zendesk's shapes.

pub(crate) mod api;
pub(crate) mod external;
pub mod listener;
pub(crate) mod partner;
