//! `sharesim serve`: start accounts for real API clients and run until Ctrl-C or SIGTERM.

use super::stdout::noticeln;
use super::{EXIT_PASSED, EXIT_USAGE};
use crate::core::directory::ExternalUrl;
use crate::core::model::is_valid_subdomain;
use crate::drivers::scenario::Scenario;
use crate::surfaces::listener::connection_limits::ConnectionLimits;
use crate::world::{AccountSpec, DEFAULT_API_TOKEN, World, WorldConfig};
use clap::Args;
use serde_json::json;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Events a served world's trace keeps (the newest).
const SERVE_TRACE_CAPACITY: usize = 100_000;

/// Options of `sharesim serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sharesim serve\n  sharesim serve acme globex --port 8700 --api-token secret\n  sharesim serve --tls --ready-file ready.json   # then REQUESTS_CA_BUNDLE=sharesim-ca.pem\n  sharesim serve --scenario customer.toml --state world.json --ready-file ready.json\n  sharesim serve acme --partner globex=http://127.0.0.1:8701/sharing   # globex runs elsewhere\n  sharesim ctl --ready ready.json step '{\"certificate\":{\"account\":\"globex\",\"mode\":\"expired\"}}'"
)]
pub struct ServeArgs {
    /// Subdomains of the accounts to start.
    #[arg(default_values_t = ["acme".to_string(), "globex".to_string()])]
    pub subdomains: Vec<String>,
    /// Port of the first account; the next get PORT+1, PORT+2… (default: ephemeral).
    #[arg(long)]
    pub port: Option<u16>,
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// API token of every account.
    #[arg(long, default_value = DEFAULT_API_TOKEN)]
    pub api_token: String,
    /// Seed for access keys and every other random draw, for reproducible runs. It makes
    /// keys and agreement uuids predictable: without it (the default) they come from the
    /// OS RNG, so no stranger on the host can forge partner messages.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Serve HTTPS with certificates from a CA made at start.
    #[arg(long)]
    pub tls: bool,
    /// Where `--tls` writes the CA certificate (PEM).
    #[arg(long, default_value = "sharesim-ca.pem")]
    pub ca_cert: PathBuf,
    /// Write a JSON file describing every account once all listeners are up.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// REST calls each account allows per minute before answering 429 with Retry-After
    /// (default: no limit; the rate-limit headers then report 700).
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Timeout of each partner message, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Connections each account serves at once; more wait in the kernel's backlog.
    #[arg(long, default_value_t = crate::core::limits::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Milliseconds a client has to send a request's head (and then its body); also how
    /// long an idle keep-alive connection stays open.
    #[arg(long, default_value_t = crate::core::limits::DEFAULT_HEADER_TIMEOUT.as_millis() as u64)]
    pub header_timeout_ms: u64,
    /// Milliseconds a connection may stay open with no request in progress and no byte
    /// moving (HTTP/2 connections, answers the client does not read).
    #[arg(long, default_value_t = crate::core::limits::DEFAULT_IDLE_TIMEOUT.as_millis() as u64)]
    pub idle_timeout_ms: u64,
    /// Milliseconds a client has to complete the TLS handshake (with --tls).
    #[arg(long, default_value_t = crate::core::limits::DEFAULT_TLS_HANDSHAKE_TIMEOUT.as_millis() as u64)]
    pub tls_handshake_timeout_ms: u64,
    /// Port of the control API (default: ephemeral); the ready file gives its URL.
    #[arg(long)]
    pub control_port: Option<u16>,
    /// Bearer token of the control API (default: random, from the OS; see the ready file).
    #[arg(long)]
    pub control_token: Option<String>,
    /// Start the scenario file's accounts, run its steps, then keep serving that world.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Restore the world from this JSON file at start, and keep it current after every
    /// change: a snapshot in FILE, changes appended to FILE.journal before each answer,
    /// FILE.lock held while serving. Nothing is written without it.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// An account outside this process (another `sharesim serve`, your own endpoint):
    /// SUBDOMAIN=SHARING_URL, e.g. globex=http://127.0.0.1:8701/sharing. Its messages
    /// are recognised by that URL, and messages to it are sent there and nowhere else.
    /// Repeatable.
    #[arg(long = "partner", value_name = "SUBDOMAIN=SHARING_URL", value_parser = parse_partner)]
    pub partners: Vec<(String, ExternalUrl)>,
    /// A CA certificate (PEM) to trust for HTTPS partners, e.g. another `serve --tls`'s
    /// sharesim-ca.pem. Repeatable. Without it only this world's own CA is trusted.
    #[arg(long = "partner-ca", value_name = "FILE")]
    pub partner_ca: Vec<PathBuf>,
}

/// Reads `--partner SUBDOMAIN=SHARING_URL`.
fn parse_partner(text: &str) -> Result<(String, ExternalUrl), String> {
    let (subdomain, url) = text.split_once('=').ok_or_else(|| {
        format!("{text:?} is not SUBDOMAIN=SHARING_URL, e.g. globex=http://127.0.0.1:8701/sharing")
    })?;
    let subdomain = subdomain.trim().to_ascii_lowercase();
    if !is_valid_subdomain(&subdomain) {
        return Err(format!(
            "{subdomain:?} is not a valid subdomain: use 1 to 63 of a-z, 0-9 and -"
        ));
    }
    Ok((subdomain, ExternalUrl::parse(url)?))
}

impl ServeArgs {
    /// The accounts `serve` starts when none are named.
    fn default_subdomains() -> Vec<String> {
        vec!["acme".to_string(), "globex".to_string()]
    }
}

/// Runs `serve` and returns the exit code.
pub(super) async fn run(args: ServeArgs) -> u8 {
    match serve(args).await {
        Ok(()) => EXIT_PASSED,
        Err(message) => {
            eprintln!("sharesim: {message}");
            EXIT_USAGE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    check_connection_limits(&args)?;
    let scenario = load_scenario(&args)?;
    let specs = account_specs(&args, scenario.as_ref())?;
    let config = world_config(&args, scenario.as_ref())?;
    let world = std::sync::Arc::new(
        World::start(config, specs)
            .await
            .map_err(|e| e.to_string())?,
    );
    // A served world runs for as long as clients keep calling it: keep the newest events
    // only, so memory does not grow with the load, and keep them without their wire,
    // which no surface of `serve` shows (the journal carries summaries).
    world.trace().set_capacity(Some(SERVE_TRACE_CAPACITY));
    world.trace().keep_wires(false);
    world
        .trace()
        .set_byte_budget(Some(crate::core::limits::SERVE_TRACE_BYTES));
    let ca_cert = write_ca_cert(&args, &world)?;
    let limits = world.config().connection_limits;
    let control = super::controlled::start(
        world.clone(),
        super::controlled::ControlOptions {
            bind: args.bind,
            port: args.control_port,
            token: args.control_token.clone(),
            scenario: scenario.as_ref(),
            state: args.state.clone(),
            limits,
        },
    )
    .await?;
    let accounts = account_rows(&world);
    print_table(&accounts);
    let partners = print_partners(&world);
    print_how_to_reach(&args, &accounts, ca_cert.as_deref(), &control);
    if let Some(path) = &args.ready_file {
        write_ready_file(path, &args, accounts, partners, ca_cert, &control)?;
    }
    wait_for_signal().await;
    eprintln!("sharesim: shutting down");
    control.stop().await;
    world.shutdown().await;
    Ok(())
}

/// Refuses a connection cap or deadline of zero, which would serve nobody.
fn check_connection_limits(args: &ServeArgs) -> Result<(), String> {
    if args.max_connections == 0 {
        return Err("--max-connections must be at least 1".to_string());
    }
    for (flag, value) in [
        ("--header-timeout-ms", args.header_timeout_ms),
        ("--idle-timeout-ms", args.idle_timeout_ms),
        ("--tls-handshake-timeout-ms", args.tls_handshake_timeout_ms),
    ] {
        if value == 0 {
            return Err(format!("{flag} must be at least 1 millisecond"));
        }
    }
    Ok(())
}

/// The `--scenario` file, if given: its accounts replace the subdomains, and its `seed`
/// is not used (a warning says so).
fn load_scenario(args: &ServeArgs) -> Result<Option<Scenario>, String> {
    let scenario = match &args.scenario {
        Some(path) => Some(crate::drivers::scenario::load(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let defaults = ServeArgs::default_subdomains();
    if scenario.is_some() && args.subdomains != defaults {
        return Err(
            "give either subdomains or --scenario: with --scenario the accounts are the scenario's"
                .into(),
        );
    }
    if let (Some(scenario), None) = (&scenario, args.seed)
        && let Some(seed) = scenario.seed
    {
        eprintln!(
            "sharesim: {}: its `seed = {seed}` is not used by serve: keys come from the OS so no one can predict them (give --seed {seed} to reproduce a run, keys and all)",
            scenario.file()
        );
    }
    Ok(scenario)
}

/// Every account to start: this process's (the scenario's or the subdomains, on ports
/// from `--port` up) and then the external ones.
fn account_specs(
    args: &ServeArgs,
    scenario: Option<&Scenario>,
) -> Result<Vec<AccountSpec>, String> {
    let declared = match scenario {
        Some(scenario) => crate::drivers::scenario::run::account_specs(scenario)?,
        None => Vec::new(),
    };
    let subdomains: Vec<String> = match scenario {
        Some(_) => declared
            .iter()
            .filter(|spec| spec.external.is_none())
            .map(|spec| spec.subdomain.clone())
            .collect(),
        None => args.subdomains.clone(),
    };
    let mut specs = Vec::new();
    for (index, subdomain) in subdomains.iter().enumerate() {
        if !is_valid_subdomain(subdomain) {
            return Err(format!(
                "{subdomain:?} is not a valid subdomain: use 1 to 63 of a-z, 0-9 and -"
            ));
        }
        let port = match args.port {
            Some(first) => Some(
                u16::try_from(u32::from(first) + index as u32)
                    .map_err(|_| format!("port {first}+{index} is beyond 65535"))?,
            ),
            None => None,
        };
        let declared = declared.iter().find(|spec| &spec.subdomain == subdomain);
        specs.push(AccountSpec {
            port,
            ..declared
                .cloned()
                .unwrap_or_else(|| AccountSpec::new(subdomain))
        });
    }
    specs.extend(partner_specs(args, &declared, &subdomains)?);
    Ok(specs)
}

/// The served world's settings, from the flags (and the scenario's `tls` and `rate_limit`).
fn world_config(args: &ServeArgs, scenario: Option<&Scenario>) -> Result<WorldConfig, String> {
    Ok(WorldConfig {
        // Only `--seed` makes keys predictable: a scenario's `seed` (meant for `run`)
        // would let anyone who reads the file forge partner messages.
        seed: args.seed,
        https: args.tls || scenario.is_some_and(|s| s.tls),
        timeout: Duration::from_millis(args.timeout_ms),
        logical_clock: false,
        bind: args.bind,
        api_token: args.api_token.clone(),
        extra_cert_names: vec!["localhost".to_string(), args.bind.to_string()],
        partner_ca_pem: partner_roots(args)?,
        rate_limit: args.rate_limit.or(scenario.and_then(|s| s.rate_limit)),
        connection_limits: ConnectionLimits {
            max_connections: args.max_connections,
            header_timeout: Duration::from_millis(args.header_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            tls_handshake_timeout: Duration::from_millis(args.tls_handshake_timeout_ms),
        },
        ..WorldConfig::default()
    })
}

/// Writes the world's CA certificate to `--ca-cert` when it serves HTTPS; returns the
/// file's name for clients.
fn write_ca_cert(args: &ServeArgs, world: &World) -> Result<Option<String>, String> {
    match world.ca_cert_pem() {
        Some(pem) => {
            std::fs::write(&args.ca_cert, pem).map_err(|e| {
                format!(
                    "could not write the CA certificate to {}: {e}",
                    args.ca_cert.display()
                )
            })?;
            Ok(Some(args.ca_cert.display().to_string()))
        }
        None => Ok(None),
    }
}

/// What a client needs of each account, for the table and the ready file.
fn account_rows(world: &World) -> Vec<serde_json::Value> {
    world
        .accounts()
        .iter()
        .map(|account| {
            json!({
                "subdomain": account.subdomain(),
                "api_url": account.api_url(),
                "sharing_url": account.loopback_sharing_url(),
                "admin_email": account.admin_email(),
                "agent_email": account.agent_email(),
                "api_token": account.api_token(),
            })
        })
        .collect()
}

/// Prints the CA to trust, a first call to try, and where the control API and live
/// view are.
fn print_how_to_reach(
    args: &ServeArgs,
    accounts: &[serde_json::Value],
    ca_cert: Option<&str>,
    control: &super::controlled::Controlled,
) {
    if let Some(ca) = ca_cert {
        noticeln!(
            "\nCA certificate: {ca}  (e.g. REQUESTS_CA_BUNDLE={ca}, NODE_EXTRA_CA_CERTS={ca})"
        );
    }
    noticeln!(
        "\nServing until Ctrl-C. Try:\n  curl -u {}/token:{} {}/sharing_agreements.json",
        accounts[0]["admin_email"].as_str().unwrap_or_default(),
        args.api_token,
        accounts[0]["api_url"].as_str().unwrap_or_default(),
    );
    // The token is a secret: printed at most once, and not at all when the ready file
    // (readable by its owner only) holds it.
    match &args.ready_file {
        Some(path) => noticeln!(
            "\nControl API: {}  (Authorization: Bearer <control_token from {}>)\nLive view:   {}/ui?token=<control_token>",
            control.url,
            path.display(),
            control.url
        ),
        None => noticeln!(
            "\nControl API: {}  (Authorization: Bearer {})\nLive view:   {}/ui?token=<the same token>",
            control.url,
            control.token,
            control.url
        ),
    }
}

/// Writes `--ready-file`: the accounts, partners, CA and control API, once all listen.
fn write_ready_file(
    path: &std::path::Path,
    args: &ServeArgs,
    accounts: Vec<serde_json::Value>,
    partners: Vec<serde_json::Value>,
    ca_cert: Option<String>,
    control: &super::controlled::Controlled,
) -> Result<(), String> {
    // `seed` is null when keys came from the OS RNG (no `--seed`): it is always the
    // seed the keys came from, since nothing else seeds a served world.
    let mut ready = json!({ "accounts": accounts, "seed": args.seed });
    if !partners.is_empty() {
        ready["partners"] = json!(partners);
    }
    if let Some(ca) = &ca_cert {
        ready["ca_cert"] = json!(ca);
    }
    ready["control_url"] = json!(control.url);
    ready["control_token"] = json!(control.token);
    // Written whole (temporary file, then rename): a client polling for it never
    // reads half a file.
    crate::core::atomic_file::write(path, format!("{ready}\n").as_bytes())
        .map_err(|e| format!("could not write the ready file {}: {e}", path.display()))
}

/// The CA certificates `--partner-ca` names, as PEM text.
fn partner_roots(args: &ServeArgs) -> Result<Vec<String>, String> {
    args.partner_ca
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("could not read --partner-ca {}: {e}", path.display()))
        })
        .collect()
}

/// Prints the external accounts and returns them for the ready file.
fn print_partners(world: &World) -> Vec<serde_json::Value> {
    let partners: Vec<serde_json::Value> = world
        .externals()
        .iter()
        .map(|(subdomain, url)| json!({ "subdomain": subdomain, "sharing_url": url.as_str() }))
        .collect();
    if !partners.is_empty() {
        noticeln!("\nExternal partners (reached only at these URLs):");
        for partner in &partners {
            noticeln!(
                "  {}  {}",
                partner["subdomain"].as_str().unwrap_or_default(),
                partner["sharing_url"].as_str().unwrap_or_default()
            );
        }
    }
    partners
}

/// The external accounts: the scenario's and `--partner`'s, none named twice and none
/// named like an account of this process.
fn partner_specs(
    args: &ServeArgs,
    declared: &[AccountSpec],
    local: &[String],
) -> Result<Vec<AccountSpec>, String> {
    let mut specs: Vec<AccountSpec> = declared
        .iter()
        .filter(|spec| spec.external.is_some())
        .cloned()
        .collect();
    for (subdomain, url) in &args.partners {
        if local.contains(subdomain) {
            return Err(format!(
                "--partner {subdomain}: {subdomain} is an account of this process; name the partner's account another way"
            ));
        }
        if specs.iter().any(|spec| &spec.subdomain == subdomain) {
            return Err(format!(
                "--partner {subdomain}: {subdomain} is named twice; give each external account once"
            ));
        }
        specs.push(AccountSpec::external(subdomain, url.clone()));
    }
    Ok(specs)
}

fn print_table(accounts: &[serde_json::Value]) {
    let columns = [
        "subdomain",
        "api_url",
        "sharing_url",
        "admin_email",
        "agent_email",
        "api_token",
    ];
    let cell =
        |row: &serde_json::Value, column: &str| row[column].as_str().unwrap_or("").to_string();
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            accounts
                .iter()
                .map(|row| cell(row, c).len())
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    noticeln!("{}", line(columns.iter().map(|c| c.to_string()).collect()));
    for row in accounts {
        noticeln!("{}", line(columns.iter().map(|c| cell(row, c)).collect()));
    }
}

/// Returns at Ctrl-C or SIGTERM.
pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
