//! The one integration test binary: real worlds on ephemeral loopback ports, real HTTP.

// Shared harness: start a world, call its REST API and partner protocol.
mod support;
// The invitation handshake end to end: accept, decline, deactivate, delete, re-send.
mod handshake;
// Every REST error with its exact body; agents vs admins; `.json` and bare paths.
mod rest_errors;
// Every partner-protocol answer: 400, 401, 403, 404, 405, 412, 422, idempotent invitations.
mod partner_protocol;
// Scenario files that must be refused, each with its exact one-line error.
mod malformed;
// Scenario files that must be accepted.
mod valid;
// The scenario runner: the bundled library, determinism, failures as data, golden reports.
mod scenarios;
// The built binary: exit codes, output and files, with NO_COLOR.
mod cli;
// Real Zendesk API clients (node-zendesk, zenpy), unmodified, against `sharesim serve`.
mod real_clients;
// Every certificate mode over real HTTPS, and certificates switched mid-run.
mod tls_modes;
// Every fault on the wire over real sockets, crash points and divergence, retries.
mod faults;
// Tickets on both surfaces: share, sync, terms, unshare, deactivation, chains, failures.
mod tickets;
// `sharesim bench --quick`: runs and writes its JSON (timings are never asserted).
mod bench;
// SVG diagrams and the HTML report: goldens, and every bundled scenario renders.
mod drawn_reports;
// Races: concurrently, held, released, duplicated and lost messages, under 64 seeds.
mod races;
// The HTML report in headless Chromium: its DOM, its console, screenshots.
mod browser;
