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
mod ticket_protocol;
mod ticket_sync;
mod tickets;
// Zendesk fidelity: the ticket_sharing gem, custom fields, closed tickets, safe_update, pages.
mod fidelity;
// The control API of `serve`: token, steps, journal, stream, verify, snapshot, reset.
mod control;
mod control_cli;
// `serve --state`: SIGKILL mid-burst loses no answered call; the file is never torn.
mod durable;
// `serve` on a shared host: squatted ports, private secrets, seeds, quotas, Host checks.
mod shared_host;
// The control API's connection cap, deadlines, shutdown and bounded waits.
mod control_limits;
// `serve --state` when the disk fails, a second serve, planted files, refused requests.
mod durable_failures;
// Edge inputs: huge seed ranges, FIFOs, byte order marks, huge Content-Length, snapshots.
mod edge_inputs;
// `sharesim bench --quick`: runs and writes its JSON (timings are never asserted).
mod bench;
// SVG diagrams and the HTML report: goldens, and every bundled scenario renders.
mod drawn_reports;
// Races: concurrently, held, released, duplicated and lost messages, under 64 seeds.
mod races;
// The HTML report in headless Chromium: its DOM, its console, screenshots.
mod browser;
// Headless Chromium driven over the DevTools protocol (shared by the tests below).
mod devtools;
// The live view of `serve` in headless Chromium over the DevTools protocol; its token.
mod live_view;
// The report's step-through player in headless Chromium: steps, exchanges, the grid.
mod player;
// `sharesim learn`: the bundled course, choices of held messages, refusals, Chromium.
mod lessons;
// Goldens for every output a user reads or parses (SHARESIM_BLESS=1 rewrites them).
mod goldens;
// The house: imports between top-level modules flow one way, down the layers of docs/design.md.
mod house;
// Hostile clients: forged tokens, squatted uuids, redirects, floods and slow connections.
mod hostile;
// Slow and silent clients, stalled bodies, exhausted descriptors: cut off or survived.
mod slow_clients;
// Endless, oversized and very long scenario files: refused with exit 2, or run linearly.
mod large_inputs;
// Generated input (proptest) for the scenario parser, REST bodies and partner bodies.
mod generated_input;
// The two networks: every bundled scenario the same on both; simulated reruns byte for byte.
mod networks;
// `sharesim explore`: a planted bug found and shrunk, shards, findings rerun with `run`.
mod explore;
// External partners: accounts in other worlds and processes, named by their sharing URL.
mod external;
// Federation across processes: two serve processes; serve and an endpoint from the README.
mod federation;
// `sharesim conform` against endpoints in other processes: honest, broken, the gem, sharesim.
mod conform;
// The pytest plugin and the node:test module, with zenpy and node-zendesk, against serve.
mod fixtures_kits;
