//! `sharesim ctl`: the command-line client of a served world's control API. It finds the
//! API through the ready file `serve --ready-file` wrote (or `--url` and `--token`),
//! prints answers as JSON on stdout, and exits 0 (passed), 1 (a step or verification
//! failed) or 2 (refused: bad input, wrong token, unreachable).

use super::stdout::outln;
use super::{EXIT_FAILED, EXIT_PASSED, EXIT_USAGE};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Options of `sharesim ctl`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sharesim ctl --ready ready.json accounts\n  sharesim ctl --ready ready.json step '{\"certificate\":{\"account\":\"globex\",\"mode\":\"expired\"}}'\n  sharesim ctl --ready ready.json journal --follow --surface partner\n  sharesim ctl --ready ready.json verify '{\"surface\":\"partner\",\"method\":\"POST\",\"count\":1}'\n  sharesim ctl --ready ready.json snapshot > s.json\n  sharesim ctl --ready ready.json snapshot --put s.json\n  sharesim ctl --ready ready.json reset\n\nExit codes: 0 passed, 1 a step or verification failed, 2 refused or unreachable."
)]
pub struct CtlArgs {
    /// The ready file `sharesim serve --ready-file` wrote (gives the URL and token).
    #[arg(long, required_unless_present = "url")]
    pub ready: Option<PathBuf>,
    /// The control API's URL, instead of the ready file's.
    #[arg(long, requires = "token")]
    pub url: Option<String>,
    /// The control API's bearer token, instead of the ready file's.
    #[arg(long)]
    pub token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The control API's calls.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Run steps (one JSON step object or an array of them; `-` reads stdin).
    Step {
        /// The step(s), in the scenario language as JSON.
        steps: String,
    },
    /// Every account: URLs, credentials, and state.
    Accounts,
    /// Print journal events as JSON lines (all kept ones, or follow new ones live).
    Journal {
        /// Keep printing events as they happen (server-sent events) until interrupted.
        #[arg(long)]
        follow: bool,
        /// Only events after this sequence number.
        #[arg(long)]
        since: Option<u64>,
        /// Only events from or to this account.
        #[arg(long)]
        account: Option<String>,
        /// Only this surface: `rest` or `partner`.
        #[arg(long)]
        surface: Option<String>,
        /// Only this kind: `request`, `response`, `decision`, `world` or `note`.
        #[arg(long)]
        kind: Option<String>,
    },
    /// Count journal events matching a JSON filter (exit 1 if `count`/`at_least` fail).
    Verify {
        /// The filter, e.g. '{"surface":"partner","method":"POST","count":1}'.
        filter: String,
    },
    /// Print the world's whole state as JSON, or restore one with --put.
    Snapshot {
        /// Restore the world from this snapshot file instead.
        #[arg(long)]
        put: Option<PathBuf>,
    },
    /// Empty every account, heal every fault, make certificates valid, forget handles.
    Reset,
}

/// Runs `ctl` and returns the exit code.
pub(super) async fn run(args: CtlArgs) -> u8 {
    match ctl(args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("sharesim: {message}");
            EXIT_USAGE
        }
    }
}

struct Endpoint {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Endpoint {
    fn new(args: &CtlArgs) -> Result<Endpoint, String> {
        let (url, token) = match (&args.url, &args.token, &args.ready) {
            (Some(url), Some(token), _) => (url.clone(), token.clone()),
            (_, token, Some(ready)) => {
                let text = std::fs::read_to_string(ready).map_err(|e| {
                    format!("could not read the ready file {}: {e}", ready.display())
                })?;
                let value: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("the ready file {} is not JSON: {e}", ready.display()))?;
                let url = value["control_url"].as_str().ok_or_else(|| {
                    format!(
                        "the ready file {} has no `control_url` (was it written by this version of `sharesim serve`?)",
                        ready.display()
                    )
                })?;
                let file_token = value["control_token"].as_str().unwrap_or_default();
                (
                    url.to_string(),
                    token.clone().unwrap_or_else(|| file_token.to_string()),
                )
            }
            _ => return Err("give --ready FILE, or --url and --token".into()),
        };
        crate::core::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Endpoint {
            url: url.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request_with(method, path, &[])
    }

    fn request_with(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
    ) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.url);
        let url = reqwest::Url::parse_with_params(&url, query)
            .map(String::from)
            .unwrap_or(url);
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// Sends, and returns the JSON answer of a 2xx; a refusal becomes its message.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let response = request
            .send()
            .await
            .map_err(|e| format!("could not reach the control API at {}: {e}", self.url))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(body);
        }
        let mut message = body["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        match (body["step"].as_u64(), body["field"].as_str()) {
            (Some(step), Some(field)) => {
                message = format!("step {step}, field `{field}`: {message}")
            }
            (Some(step), None) => message = format!("step {step}: {message}"),
            (None, Some(field)) => message = format!("field `{field}`: {message}"),
            (None, None) => {}
        }
        Err(format!(
            "the control API answered {}: {message}",
            status.as_u16()
        ))
    }
}

fn print_json(value: &Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn parse_json(what: &str, text: &str) -> Result<Value, String> {
    let text = if text == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
    } else {
        text.to_string()
    };
    serde_json::from_str(&text).map_err(|e| format!("the {what} is not JSON: {e}"))
}

async fn ctl(args: CtlArgs) -> Result<u8, String> {
    let endpoint = Endpoint::new(&args)?;
    use reqwest::Method;
    match args.command {
        CtlCommand::Step { steps } => {
            let steps = match parse_json("step", &steps)? {
                Value::Array(steps) => Value::Array(steps),
                step => json!([step]),
            };
            let outcome = endpoint
                .send(endpoint.request(Method::POST, "/steps").json(&steps))
                .await?;
            print_json(&outcome);
            Ok(passed(&outcome))
        }
        CtlCommand::Accounts => {
            print_json(
                &endpoint
                    .send(endpoint.request(Method::GET, "/accounts"))
                    .await?,
            );
            Ok(EXIT_PASSED)
        }
        CtlCommand::Verify { filter } => {
            let filter = parse_json("filter", &filter)?;
            let verdict = endpoint
                .send(endpoint.request(Method::POST, "/verify").json(&filter))
                .await?;
            print_json(&verdict);
            Ok(passed(&verdict))
        }
        CtlCommand::Snapshot { put: Some(file) } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("could not read {}: {e}", file.display()))?;
            let snapshot = parse_json("snapshot", &text)?;
            print_json(
                &endpoint
                    .send(endpoint.request(Method::PUT, "/snapshot").json(&snapshot))
                    .await?,
            );
            Ok(EXIT_PASSED)
        }
        CtlCommand::Snapshot { put: None } => {
            print_json(
                &endpoint
                    .send(endpoint.request(Method::GET, "/snapshot"))
                    .await?,
            );
            Ok(EXIT_PASSED)
        }
        CtlCommand::Reset => {
            print_json(
                &endpoint
                    .send(endpoint.request(Method::POST, "/reset"))
                    .await?,
            );
            Ok(EXIT_PASSED)
        }
        CtlCommand::Journal {
            follow,
            since,
            account,
            surface,
            kind,
        } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            for (key, value) in [("account", account), ("surface", surface), ("kind", kind)] {
                if let Some(value) = value {
                    query.push((key, value));
                }
            }
            if follow {
                if let Some(since) = since {
                    query.push(("since", since.to_string()));
                }
                follow_journal(&endpoint, &query).await
            } else {
                print_journal(&endpoint, &query, since.unwrap_or(0)).await
            }
        }
    }
}

fn passed(outcome: &Value) -> u8 {
    if outcome["passed"] == json!(true) {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    }
}

/// Pages through the kept journal, one event per line.
async fn print_journal(
    endpoint: &Endpoint,
    query: &[(&str, String)],
    mut since: u64,
) -> Result<u8, String> {
    loop {
        let mut with_since = query.to_vec();
        with_since.push(("since", since.to_string()));
        let page = endpoint
            .send(endpoint.request_with(reqwest::Method::GET, "/journal", &with_since))
            .await?;
        for event in page["events"].as_array().into_iter().flatten() {
            outln!("{event}");
        }
        since = page["next_since"].as_u64().unwrap_or(since);
        if page["more"] != json!(true) {
            return Ok(EXIT_PASSED);
        }
    }
}

/// Prints each event of the journal stream as it arrives, until the world or the user
/// stops it.
async fn follow_journal(endpoint: &Endpoint, query: &[(&str, String)]) -> Result<u8, String> {
    let mut response = endpoint
        .request_with(reqwest::Method::GET, "/journal/stream", query)
        .send()
        .await
        .map_err(|e| format!("could not reach the control API at {}: {e}", endpoint.url))?;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        return Err(format!("the control API answered {status}: {text}"));
    }
    let mut buffer = String::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk.map_err(|e| e.to_string())?,
            _ = tokio::signal::ctrl_c() => return Ok(EXIT_PASSED),
        };
        let Some(chunk) = chunk else {
            return Ok(EXIT_PASSED);
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            for line in message.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    outln!("{data}");
                }
            }
        }
    }
}
