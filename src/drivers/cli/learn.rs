//! `sharesim learn`: serve the course of lessons in the browser (`--list` prints them).

use super::stdout::{noticeln, outln};
use super::{EXIT_PASSED, EXIT_USAGE};
use crate::drivers::learn::{self, Lesson, QuestionKind};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `sharesim learn`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sharesim learn                  # serve the course on an ephemeral port and print its URL\n  sharesim learn --port 8900\n  sharesim learn --list           # the lessons, with their scenario and questions\n\nExit codes: 0 served until Ctrl-C (or listed), 2 a lesson file is invalid or the port cannot be used."
)]
pub struct LearnArgs {
    /// Loopback port to serve the course on (default: an ephemeral port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Print the lessons and exit.
    #[arg(long)]
    pub list: bool,
    /// The folder of lesson files.
    #[arg(long, default_value = learn::DEFAULT_LESSONS)]
    pub lessons: PathBuf,
}

fn kind(kind: QuestionKind) -> &'static str {
    match kind {
        QuestionKind::Predict => "predict a status",
        QuestionKind::Choose => "choose the next action",
        QuestionKind::Order => "choose the order of held messages",
    }
}

fn list(lessons: &[Lesson]) {
    for lesson in lessons {
        outln!("{:>2}. {}", lesson.number, lesson.title);
        outln!("    {}", lesson.file.display());
        outln!("    scenario: {}", lesson.scenario_file.display());
        for question in &lesson.questions {
            outln!(
                "    question at step {}: {}",
                question.step,
                kind(question.kind)
            );
        }
    }
    outln!("{} lesson(s)", lessons.len());
}

/// `sharesim learn`.
pub(super) async fn run(args: LearnArgs) -> u8 {
    let lessons = match learn::load_course(&args.lessons) {
        Ok(lessons) => lessons,
        Err(errors) => {
            for error in &errors {
                eprintln!("sharesim: {error}");
            }
            eprintln!(
                "sharesim: {} invalid lesson file(s); nothing was served",
                errors.len()
            );
            return EXIT_USAGE;
        }
    };
    if args.list {
        list(&lessons);
        return EXIT_PASSED;
    }
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], args.port.unwrap_or(0)));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("sharesim: cannot listen on {address}: {error}");
            return EXIT_USAGE;
        }
    };
    let port = listener.local_addr().map_or(0, |a| a.port());
    let count = lessons.len();
    let course = Arc::new(learn::server::Course::new(lessons, port));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(learn::server::serve(listener, course, shutdown.clone()));
    noticeln!(
        "sharesim learn: {count} lessons from {}",
        args.lessons.display()
    );
    noticeln!("Course: http://127.0.0.1:{port}/");
    noticeln!("Open it in a browser; Ctrl-C stops the course.");
    super::serve::wait_for_signal().await;
    shutdown.cancel();
    let _ = server.await;
    EXIT_PASSED
}
