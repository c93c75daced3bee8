//! The project's single integration test binary: one module per area, so the suite links once.

// Scenario files that must be refused, each with its exact one-line error.
mod malformed;
// Scenario files that must be accepted.
mod valid;
