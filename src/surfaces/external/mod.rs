//! Accounts outside this process: another `serve`, a helpdesk bridge, the endpoint
//! `sharesim conform` grades. Each is a name and a sharing URL in the world's directory.
//!
//! - **To it:** messages go to the world's relay for it ([`relay`]), a listener of the
//!   world like any account's, so faults, certificate modes, holds, duplicates and lost
//!   replies act on the link to it exactly as on a link to an account of the world. The
//!   relay forwards what reaches it to the configured URL, and to nothing else.
//! - **From it:** the account that receives its message recognises it ([`inbound`]) by
//!   the agreement behind its token, or by an invitation's `sender_url`, and records the
//!   message and its answer in the trace, as the world's own transport does for its own.

pub(crate) mod inbound;
pub(crate) mod relay;

pub(crate) use relay::Relay;
