//! The one integration test binary: real worlds on ephemeral loopback ports, real HTTP.

// Shared harness: start a world, call its REST API and partner protocol.
mod support;
// The invitation handshake end to end: accept, decline, deactivate, delete, re-send.
mod handshake;
// Every REST error with its exact body; agents vs admins; `.json` and bare paths.
mod rest_errors;
// Every partner-protocol answer: 400, 401, 403, 404, 405, 412, 422, idempotent invitations.
mod partner_protocol;
// Tickets on both surfaces: share, sync, terms, unshare, deactivation, chains, failures.
mod tickets;
