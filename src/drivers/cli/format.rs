//! The console report's shape, one option that `run`, `explore` and `conform` share.

use clap::ValueEnum;

/// The console report's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per scenario, details for failures, a summary line.
    #[default]
    Human,
    /// One JSON document.
    Json,
}
