//! `sharesim conform SHARING_URL`: grades a partner-protocol endpoint (see
//! [`crate::drivers::conform`]) and reports as text, JSON or JUnit.

use super::format::Format;
use super::stdout::out;
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_USAGE};
use crate::core::directory::ExternalUrl;
use crate::core::model::is_valid_subdomain;
use crate::drivers::conform::{Settings, run as conform};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `sharesim conform`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sharesim conform http://127.0.0.1:9000/sharing\n  sharesim conform http://127.0.0.1:9000/sharing --as acme --format json --junit conform.xml\n\nExit codes: 0 every check that ran passed, 1 a check failed, 2 usage error."
)]
pub struct ConformArgs {
    /// The sharing URL of the endpoint under test (messages go to paths under it).
    pub sharing_url: String,
    /// The subdomain sharesim plays (its account's name in invitations' names).
    #[arg(long = "as", value_name = "SUBDOMAIN", default_value = "conform")]
    pub subdomain: String,
    /// The console report's shape.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Also write JUnit XML: one testcase per check.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// How long to wait for the endpoint's own answer to the invitation, and for its own
    /// comment on the shared ticket.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub answer_timeout_secs: u64,
    /// The loopback port sharesim's own account listens on (default: ephemeral), for an
    /// endpoint that must know sharesim's sharing URL (`http://127.0.0.1:PORT/sharing`)
    /// before the run.
    #[arg(long)]
    pub port: Option<u16>,
    /// A CA certificate (PEM) to trust for an HTTPS endpoint. Repeatable.
    #[arg(long = "partner-ca", value_name = "FILE")]
    pub partner_ca: Vec<PathBuf>,
}

/// Runs `conform` and returns the exit code.
pub(super) async fn run(args: ConformArgs) -> u8 {
    let url = match ExternalUrl::parse(&args.sharing_url) {
        Ok(url) => url,
        Err(why) => {
            eprintln!("sharesim: SHARING_URL: {why}");
            return EXIT_USAGE;
        }
    };
    let subdomain = args.subdomain.trim().to_ascii_lowercase();
    if !is_valid_subdomain(&subdomain) {
        eprintln!(
            "sharesim: --as {:?} is not a valid subdomain: use 1 to 63 of a-z, 0-9 and -",
            args.subdomain
        );
        return EXIT_USAGE;
    }
    let mut partner_ca_pem = Vec::new();
    for path in &args.partner_ca {
        match std::fs::read_to_string(path) {
            Ok(pem) => partner_ca_pem.push(pem),
            Err(error) => {
                eprintln!(
                    "sharesim: could not read --partner-ca {}: {error}",
                    path.display()
                );
                return EXIT_USAGE;
            }
        }
    }
    let answer_timeout = Duration::from_secs(args.answer_timeout_secs);
    let settings = Settings {
        url,
        subdomain,
        answer_timeout,
        message_timeout: answer_timeout.min(Duration::from_secs(10)),
        port: args.port,
        partner_ca_pem,
    };
    let report = match conform(settings).await {
        Ok(report) => report,
        Err(message) => {
            eprintln!("sharesim: {message}");
            return EXIT_USAGE;
        }
    };
    match args.format {
        Format::Human => out!("{}", crate::drivers::report::conform::human(&report)),
        Format::Json => out!("{}", crate::drivers::report::conform::json(&report)),
    }
    if let Some(path) = &args.junit {
        let written = crate::drivers::report::conform::junit(&report)
            .map_err(|e| e.to_string())
            .and_then(|xml| std::fs::write(path, xml).map_err(|e| e.to_string()));
        if let Err(error) = written {
            eprintln!("sharesim: could not write {}: {error}", path.display());
            return EXIT_USAGE;
        }
    }
    if report.all_passed() {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}
