//! `sharesim learn`: a course of short lessons about one-way agreements, served in the
//! browser. Each lesson is two files in the repository: a scenario (usually one of the
//! bundled library's) and its lesson file (`lessons/NN-name.toml`): a title, a goal,
//! narration for the steps, and questions the learner answers before the player lets
//! them see what a step did — predicting a status, choosing the next action (a wrong
//! choice is run for real, so the learner sees what the API answers), or choosing the
//! order in which held messages are delivered. Adding a lesson needs no code.
//!
//! Everything a page shows comes from a real run of the scenario in a fresh world, with
//! the learner's choices: the answers to predictions are read from that run's state,
//! never written in the lesson file.

mod format;
pub(crate) mod page;
mod run;
pub mod server;

pub use format::{Choice, Lesson, LessonError, Predict, Question, QuestionKind, load_course};
pub use run::{LessonRun, Variant, prediction, run_lesson};

/// Where lessons live when `--lessons` is not given.
pub const DEFAULT_LESSONS: &str = "lessons";
