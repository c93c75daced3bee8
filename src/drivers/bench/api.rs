//! API throughput, measured the way wrk measures it: a real `sharesim serve` process
//! loaded from outside by the benchmark's own generator (another process, pinned to a
//! core where there are several), beside a bare hyper server (a third process) that
//! answers the same bytes. Three figures: the one-item agreement list, the ten-item
//! list, and a write mix (create, accept, delete). Baseline and sharesim alternate in
//! pairs of rounds, so noise from other processes falls on both, and each ratio is the
//! median of the pairs' (see [`super::paired`]). When wrk is installed, the one-item list
//! is also measured with wrk in the same pairs, side by side, so the two methods can be
//! compared in one run.

use super::baseline::{Answer, BaselineProcess};
use super::generator::{self, LoadReport, Plan, Step};
use super::paired::Paired;
use super::served::{Served, ServedAccount};
use super::{BenchError, BenchOptions, TargetCheck, wrk};
use serde::Serialize;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How many agreements the ten-item list holds.
pub(crate) const AGREEMENTS: usize = 10;
/// The rounds of a pair (baseline, sharesim): each lasts this part of the duration.
const ROUNDS_PER_PAIR: u32 = 2;
const LIST: &str = "/api/v2/sharing_agreements.json";

/// One server's measured rate for one figure.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Rate {
    /// Answers with the expected status.
    pub requests: u64,
    /// Complete cycles (one request each for the lists; create, accept, delete for the
    /// write mix).
    pub cycles: u64,
    /// Wrong statuses and failed exchanges.
    pub errors: u64,
    /// Seconds under load.
    pub seconds: f64,
    /// Requests per second.
    pub per_second: f64,
    /// Cycles per second.
    pub cycles_per_second: f64,
    /// Median latency, ms (mean of the rounds' medians).
    pub p50_ms: f64,
    /// 99th percentile latency, ms (mean of the rounds').
    pub p99_ms: f64,
    /// CPU seconds the generator used, which the server did not have.
    pub generator_cpu_seconds: f64,
    /// The first error the generator saw, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// One figure: sharesim and the baseline under the same load.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Figure {
    /// `list_1`, `list_10` or `write_mix`.
    pub key: &'static str,
    /// What was loaded, in words.
    pub name: String,
    /// Bytes of the (first) answer's body.
    pub body_bytes: usize,
    /// `sharesim serve`.
    pub sharesim: Rate,
    /// The bare hyper server with the same answers.
    pub baseline: Rate,
    /// sharesim's request rate over the baseline's: the median of the pairs' ratios.
    pub ratio: f64,
    /// Each pair's ratio, in the order they ran.
    pub pair_ratios: Vec<f64>,
    /// All of sharesim's requests over all of the baseline's (the same time each).
    pub overall_ratio: f64,
}

/// The same one-item list loaded by wrk.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct WrkFigure {
    /// The command, to repeat by hand.
    pub command: String,
    /// wrk against `sharesim serve`.
    pub sharesim: wrk::WrkRun,
    /// wrk against the bare hyper server.
    pub baseline: wrk::WrkRun,
    /// sharesim's rate over the baseline's: the median of the pairs' ratios.
    pub ratio: f64,
    /// Each pair's ratio, in the order they ran.
    pub pair_ratios: Vec<f64>,
    /// The mean of sharesim's rounds over the mean of the baseline's.
    pub overall_ratio: f64,
    /// The generator's one-item figure for sharesim over wrk's (1.0: they agree): the
    /// median over the pairs, each pair's generator round over its wrk round, which ran
    /// moments apart.
    pub generator_over_wrk: f64,
    /// The generator's figure over wrk's, pair by pair.
    pub generator_over_wrk_pairs: Vec<f64>,
}

/// The API throughput measurement.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ApiResult {
    /// Concurrent keep-alive connections of every load.
    pub connections: usize,
    /// The core the generator was pinned to (None: it floated).
    pub generator_cpu: Option<usize>,
    /// The figures, one-item list first.
    pub figures: Vec<Figure>,
    /// wrk's figure, when wrk is installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrk: Option<WrkFigure>,
}

/// Runs the API throughput measurement.
pub(crate) async fn measure(options: &BenchOptions) -> Result<ApiResult, BenchError> {
    let connections = options.connections;
    let mut names: Vec<String> = ["acme", "globex", "initech", "writer", "sample"]
        .map(String::from)
        .to_vec();
    // The write mix gives each connection a receiver of its own, so the n-th invitation
    // a connection sends is its receiver's agreement n.
    names.extend((0..connections).map(|i| format!("r{i}")));
    let served = Served::start(&names, &[]).await?;
    let result = measure_served(options, &served).await;
    served.stop().await;
    result
}

async fn measure_served(options: &BenchOptions, served: &Served) -> Result<ApiResult, BenchError> {
    let http = client()?;
    let (acme, initech) = (served.account("acme")?, served.account("initech")?);
    create(&http, acme, "globex", 201).await?;
    for _ in 0..AGREEMENTS {
        create(&http, initech, "globex", 201).await?;
    }
    let one = sample(&http, "GET", acme, LIST, None).await?;
    let ten = sample(&http, "GET", initech, LIST, None).await?;
    let list_plan = |account: &ServedAccount| -> Result<Plan, BenchError> {
        Ok(Plan {
            targets: vec![account.addr()?],
            connections: options.connections,
            duration_secs: 0.0,
            steps: vec![list_step(&account.basic_auth())],
            first_n: Vec::new(),
        })
    };
    let mut figures = Vec::new();
    let mut pinned = None;
    let mut wrk_figure = None;
    for (key, name, account, answer) in [
        ("list_1", "GET of a one-item agreement list", acme, &one),
        ("list_10", "GET of a ten-item agreement list", initech, &ten),
    ] {
        let plan = list_plan(account)?;
        let baseline = BaselineProcess::start(std::slice::from_ref(answer)).await?;
        let wrk = match key {
            "list_1" => WrkSide::find(options, account, baseline.addr)?,
            _ => None,
        };
        let measured = figure(
            key,
            name,
            answer.body.len(),
            &plan,
            baseline.addr,
            options,
            wrk.as_ref(),
        )
        .await?;
        pinned = pinned.or(measured.pinned);
        wrk_figure = wrk_figure.or(measured.wrk);
        baseline.stop().await;
        figures.push(measured.figure);
    }
    let (mix_plan, mix_answers) = write_mix(&http, served, options.connections).await?;
    let baseline = BaselineProcess::start(&mix_answers).await?;
    let body_bytes = mix_answers[0].body.len();
    let name = "write mix: create, accept (on the receiver), delete";
    let mix = figure(
        "write_mix",
        name,
        body_bytes,
        &mix_plan,
        baseline.addr,
        options,
        None,
    )
    .await?;
    baseline.stop().await;
    figures.push(mix.figure);
    Ok(ApiResult {
        connections: options.connections,
        generator_cpu: pinned,
        figures,
        wrk: wrk_figure,
    })
}

/// A figure as measured, with wrk's when it ran in the same pairs.
struct Measured {
    figure: Figure,
    /// The core the generator was pinned to.
    pinned: Option<usize>,
    wrk: Option<WrkFigure>,
}

/// Loads the baseline and sharesim in alternating pairs of rounds with `plan`
/// (sharesim's targets; the baseline's are the same count, all at `baseline`), and with
/// `wrk` after the generator in each pair when given.
async fn figure(
    key: &'static str,
    name: &str,
    body_bytes: usize,
    plan: &Plan,
    baseline: SocketAddr,
    options: &BenchOptions,
    wrk: Option<&WrkSide>,
) -> Result<Measured, BenchError> {
    let round = options.duration.as_secs_f64() / f64::from(ROUNDS_PER_PAIR);
    let sharesim_plan = Plan {
        duration_secs: round,
        ..plan.clone()
    };
    let baseline_plan = Plan {
        targets: vec![baseline; plan.targets.len()],
        ..sharesim_plan.clone()
    };
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    let (mut wrk_ours, mut wrk_bare) = (Vec::new(), Vec::new());
    let mut sharesim_plan = sharesim_plan;
    for _ in 0..options.pairs.max(1) {
        bare.push(generator::spawn(&baseline_plan).await?);
        let run = generator::spawn(&sharesim_plan).await?;
        // The write mix's receivers keep their ids: the next round counts on.
        sharesim_plan.first_n = run.captured.clone();
        ours.push(run);
        if let Some(wrk) = wrk {
            wrk_bare.push(wrk.run(wrk.baseline).await?);
            wrk_ours.push(wrk.run(wrk.sharesim).await?);
        }
    }
    let pinned = ours.first().and_then(|r| r.pinned_cpu);
    let rates = |runs: &[LoadReport]| -> Vec<f64> {
        runs.iter()
            .map(|r| r.requests as f64 / r.seconds.max(1e-9))
            .collect()
    };
    let paired = Paired::of(&rates(&ours), &rates(&bare));
    let wrk = wrk.map(|wrk| wrk.figure(&wrk_ours, &wrk_bare, &rates(&ours)));
    let (sharesim, baseline) = (combine(&ours), combine(&bare));
    Ok(Measured {
        figure: Figure {
            key,
            name: name.to_string(),
            body_bytes,
            ratio: paired.median,
            pair_ratios: paired.pair_ratios,
            overall_ratio: sharesim.per_second / baseline.per_second.max(1e-9),
            sharesim,
            baseline,
        },
        pinned,
        wrk,
    })
}

fn combine(runs: &[LoadReport]) -> Rate {
    let sum = |f: fn(&LoadReport) -> u64| runs.iter().map(f).sum::<u64>();
    let sumf = |f: fn(&LoadReport) -> f64| runs.iter().map(f).sum::<f64>();
    let (requests, cycles, seconds) = (sum(|r| r.requests), sum(|r| r.cycles), sumf(|r| r.seconds));
    let rounds = runs.len().max(1) as f64;
    Rate {
        requests,
        cycles,
        errors: sum(|r| r.errors),
        seconds,
        per_second: requests as f64 / seconds.max(1e-9),
        cycles_per_second: cycles as f64 / seconds.max(1e-9),
        p50_ms: sumf(|r| r.p50_ms) / rounds,
        p99_ms: sumf(|r| r.p99_ms) / rounds,
        generator_cpu_seconds: sumf(|r| r.cpu_seconds),
        first_error: runs.iter().find_map(|r| r.first_error.clone()),
    }
}

/// wrk on the one-item list, when it is installed: in each pair, right after the
/// generator's rounds, a wrk round against the baseline and one against sharesim, so a
/// load that comes and goes on the machine falls on both (one run of each moved the
/// ratio from 0.70x to 0.86x between quiet runs), and on the generator's figure and
/// wrk's alike.
struct WrkSide {
    binary: PathBuf,
    authorization: String,
    sharesim: SocketAddr,
    baseline: SocketAddr,
    connections: usize,
    /// Whole seconds, at least 1 (wrk's `-d`).
    round: Duration,
}

impl WrkSide {
    fn find(
        options: &BenchOptions,
        acme: &ServedAccount,
        baseline: SocketAddr,
    ) -> Result<Option<WrkSide>, BenchError> {
        let Some(binary) = wrk::find() else {
            return Ok(None);
        };
        Ok(Some(WrkSide {
            binary,
            authorization: acme.basic_auth(),
            sharesim: acme.addr()?,
            baseline,
            connections: options.connections,
            round: (options.duration / ROUNDS_PER_PAIR).max(Duration::from_secs(1)),
        }))
    }

    async fn run(&self, addr: SocketAddr) -> Result<wrk::WrkRun, BenchError> {
        wrk::run(
            &self.binary,
            addr,
            &self.authorization,
            self.connections,
            self.round,
        )
        .await
    }

    /// The figure of its rounds (`generated`: the generator's sharesim rates, pair by pair).
    fn figure(&self, ours: &[wrk::WrkRun], bare: &[wrk::WrkRun], generated: &[f64]) -> WrkFigure {
        let rate = |runs: &[wrk::WrkRun]| runs.iter().map(|r| r.per_second).collect::<Vec<_>>();
        let paired = Paired::of(&rate(ours), &rate(bare));
        let generator_over_wrk = Paired::of(generated, &rate(ours));
        let (ours, bare) = (wrk::WrkRun::mean(ours), wrk::WrkRun::mean(bare));
        WrkFigure {
            command: wrk::command_line(self.connections, self.round),
            ratio: paired.median,
            pair_ratios: paired.pair_ratios,
            overall_ratio: ours.per_second / bare.per_second.max(1e-9),
            generator_over_wrk: generator_over_wrk.median,
            generator_over_wrk_pairs: generator_over_wrk.pair_ratios,
            sharesim: ours,
            baseline: bare,
        }
    }
}

fn list_step(authorization: &str) -> Step {
    Step {
        target: 0,
        per_connection: false,
        method: "GET".to_string(),
        path: LIST.to_string(),
        headers: vec![("Authorization".to_string(), authorization.to_string())],
        connection_headers: Vec::new(),
        body: String::new(),
        expect: 200,
        capture_id: false,
    }
}

/// The write mix's plan (writer invites connection i's receiver `r{i}`, the receiver
/// accepts, the writer deletes) and the baseline's answers, sampled from one cycle
/// between writer and `sample`.
async fn write_mix(
    http: &reqwest::Client,
    served: &Served,
    connections: usize,
) -> Result<(Plan, Vec<Answer>), BenchError> {
    let (writer, sample_account) = (served.account("writer")?, served.account("sample")?);
    let invite =
        |remote: &str| format!(r#"{{"sharing_agreement":{{"remote_subdomain":"{remote}"}}}}"#);
    let accept = r#"{"sharing_agreement":{"status":"accepted"}}"#;
    let created = sample(http, "POST", writer, LIST, Some(invite("sample"))).await?;
    let id = serde_json::from_str::<serde_json::Value>(&created.body)
        .ok()
        .and_then(|v| v["sharing_agreement"]["id"].as_u64())
        .ok_or_else(|| BenchError::Unexpected(format!("a create answered {}", created.body)))?;
    let one = "/api/v2/sharing_agreements/1.json";
    let accepted = sample(http, "PUT", sample_account, one, Some(accept.to_string())).await?;
    let record = format!("/api/v2/sharing_agreements/{id}.json");
    let deleted = sample(http, "DELETE", writer, &record, None).await?;
    let mut targets = vec![writer.addr()?];
    let mut receiver_auth = Vec::new();
    for i in 0..connections {
        let receiver = served.account(&format!("r{i}"))?;
        targets.push(receiver.addr()?);
        receiver_auth.push(("Authorization".to_string(), receiver.basic_auth()));
    }
    let json = ("Content-Type".to_string(), "application/json".to_string());
    let writer_auth = ("Authorization".to_string(), writer.basic_auth());
    let steps = vec![
        Step {
            target: 0,
            per_connection: false,
            method: "POST".to_string(),
            path: LIST.to_string(),
            headers: vec![writer_auth.clone(), json.clone()],
            connection_headers: Vec::new(),
            body: invite("r{connection}"),
            expect: 201,
            capture_id: true,
        },
        Step {
            target: 1,
            per_connection: true,
            method: "PUT".to_string(),
            path: "/api/v2/sharing_agreements/{n}.json".to_string(),
            headers: vec![json],
            connection_headers: receiver_auth,
            body: accept.to_string(),
            expect: 200,
            capture_id: false,
        },
        Step {
            target: 0,
            per_connection: false,
            method: "DELETE".to_string(),
            path: "/api/v2/sharing_agreements/{id}.json".to_string(),
            headers: vec![writer_auth],
            connection_headers: Vec::new(),
            body: String::new(),
            expect: 204,
            capture_id: false,
        },
    ];
    let plan = Plan {
        targets,
        connections,
        duration_secs: 0.0,
        steps,
        first_n: Vec::new(),
    };
    Ok((plan, vec![created, accepted, deleted]))
}

fn client() -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| BenchError::Setup(e.to_string()))
}

async fn create(
    http: &reqwest::Client,
    account: &ServedAccount,
    remote: &str,
    expect: u16,
) -> Result<(), BenchError> {
    let body = format!(r#"{{"sharing_agreement":{{"remote_subdomain":"{remote}"}}}}"#);
    sample(http, "POST", account, LIST, Some(body))
        .await
        .and_then(|answer| {
            if answer.status == expect {
                Ok(())
            } else {
                Err(BenchError::Unexpected(format!(
                    "creating an agreement answered {}",
                    answer.status
                )))
            }
        })
}

/// One admin call, returned as the baseline's answer for its method (its status,
/// headers and body exactly as sharesim sent them).
async fn sample(
    http: &reqwest::Client,
    method: &str,
    account: &ServedAccount,
    path: &str,
    body: Option<String>,
) -> Result<Answer, BenchError> {
    let url = format!("{}{path}", account.api_url.trim_end_matches("/api/v2"));
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut request = http
        .request(method.clone(), url)
        .header("Authorization", account.basic_auth());
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body);
    }
    let answer = request
        .send()
        .await
        .map_err(|e| BenchError::Unexpected(format!("{method} {path}: {e}")))?;
    let status = answer.status().as_u16();
    if !answer.status().is_success() {
        return Err(BenchError::Unexpected(format!(
            "{method} {path} on {} answered {status}",
            account.subdomain
        )));
    }
    let headers = answer
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date" && *name != "content-length")
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let body = answer
        .text()
        .await
        .map_err(|e| BenchError::Unexpected(e.to_string()))?;
    Ok(Answer {
        method: method.to_string(),
        status,
        headers,
        body,
    })
}

/// The API part's targets.
pub(crate) fn targets(api: &ApiResult) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    if let Some(one) = api.figures.iter().find(|f| f.key == "list_1") {
        checks.push(TargetCheck {
            name: "one-item list >= 0.85x bare hyper (out-of-process generator)".to_string(),
            measured: format!(
                "{:.2}x, median of {} pairs",
                one.ratio,
                one.pair_ratios.len()
            ),
            pass: one.ratio >= 0.85 && one.sharesim.errors == 0,
        });
    }
    for figure in &api.figures {
        checks.push(TargetCheck {
            name: format!("{}: every answer as expected", figure.key),
            measured: format!(
                "{} errors{}",
                figure.sharesim.errors + figure.baseline.errors,
                figure
                    .sharesim
                    .first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" ({e})"))
            ),
            pass: figure.sharesim.errors == 0 && figure.baseline.errors == 0,
        });
    }
    if let Some(wrk) = &api.wrk {
        checks.push(TargetCheck {
            name: "one-item list >= 0.85x bare hyper (wrk)".to_string(),
            measured: format!(
                "{:.2}x, median of {} pairs",
                wrk.ratio,
                wrk.pair_ratios.len()
            ),
            pass: wrk.ratio >= 0.85,
        });
        checks.push(TargetCheck {
            name: "generator's one-item figure within 10% of wrk's".to_string(),
            measured: format!(
                "{:.2}, median of {} pairs",
                wrk.generator_over_wrk,
                wrk.generator_over_wrk_pairs.len()
            ),
            pass: (wrk.generator_over_wrk - 1.0).abs() <= 0.10,
        });
    }
    checks
}

/// The API part as table rows.
pub(crate) fn render(out: &mut String, api: &ApiResult) {
    let _ = writeln!(
        out,
        "\nAPI throughput: sharesim serve and a bare hyper server, each loaded from another process ({} keep-alive connections, generator {})",
        api.connections,
        api.generator_cpu
            .map_or("not pinned".to_string(), |c| format!("pinned to CPU {c}"))
    );
    let _ = writeln!(
        out,
        "  {:<50} {:>10} {:>10} {:>7} {:>8} {:>8} {:>7}",
        "figure", "bare req/s", "ours req/s", "ratio", "p50 ms", "p99 ms", "errors"
    );
    for f in &api.figures {
        let _ = writeln!(
            out,
            "  {:<50} {:>10.0} {:>10.0} {:>6.2}x {:>8.3} {:>8.3} {:>7}",
            format!("{} ({} B)", f.name, f.body_bytes),
            f.baseline.per_second,
            f.sharesim.per_second,
            f.ratio,
            f.sharesim.p50_ms,
            f.sharesim.p99_ms,
            f.sharesim.errors + f.baseline.errors
        );
    }
    if let Some(wrk) = &api.wrk {
        let _ = writeln!(
            out,
            "  {:<50} {:>10.0} {:>10.0} {:>6.2}x   (the generator's figure is {:.2}x wrk's)\n  wrk command: {}",
            "GET of a one-item agreement list, with wrk",
            wrk.baseline.per_second,
            wrk.sharesim.per_second,
            wrk.ratio,
            wrk.generator_over_wrk,
            wrk.command
        );
    }
    let pairs = api.figures.first().map_or(0, |f| f.pair_ratios.len());
    let _ = writeln!(
        out,
        "  ratio: the median of {pairs} pair(s) of rounds (baseline, then sharesim); each pair's, and all requests over all:"
    );
    for f in &api.figures {
        let _ = writeln!(
            out,
            "    {:<22} {}  (all: {:.2}x)",
            f.key,
            Paired::spell(&f.pair_ratios),
            f.overall_ratio
        );
    }
    if let Some(wrk) = &api.wrk {
        let _ = writeln!(
            out,
            "    {:<22} {}  (all: {:.2}x)\n    {:<22} {}",
            "list_1 with wrk",
            Paired::spell(&wrk.pair_ratios),
            wrk.overall_ratio,
            "generator over wrk",
            Paired::spell(&wrk.generator_over_wrk_pairs)
        );
    }
}
