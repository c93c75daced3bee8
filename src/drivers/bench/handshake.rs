//! Handshakes: complete invite → accept cycles between two accounts, driven through their
//! REST APIs as an admin would (POST on the sender, PUT `accepted` on the receiver), over
//! HTTP and HTTPS, with one or many concurrent senders. Each cycle is four HTTP
//! exchanges: two REST calls from the driver and the two partner messages they cause.
//! At the end both copies of every agreement must be `accepted`.

use super::load::{self, Connection, RequestTemplate, Target};
use super::paired::Paired;
use super::{BenchError, BenchOptions, percentile_ms};
use crate::core::account::Account;
use crate::core::consistency;
use crate::core::model::protocol_uuid;
use crate::core::model::{AgreementStatus, Direction};
use crate::core::network::NetworkKind;
use crate::core::text::Text;
use crate::world::{AccountSpec, World, WorldConfig};
use base64::Engine;
use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) const SENDER: &str = "acme";
pub(super) const RECEIVER: &str = "globex";

/// One handshake run's results.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct HandshakeResult {
    /// The network the accounts talked over.
    pub network: NetworkKind,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Concurrent driver tasks, each inviting and accepting in a loop.
    pub senders: usize,
    /// Completed invite → accept cycles.
    pub cycles: u64,
    /// Cycles that did not end with both copies accepted.
    pub errors: u64,
    /// Seconds under load.
    pub seconds: f64,
    /// Cycles per second.
    pub per_second: f64,
    /// CPU seconds the whole process used meanwhile (accounts and driver together).
    pub cpu_seconds: f64,
    /// Cycles per CPU second: how fast this would run with one idle core to itself.
    pub per_cpu_second: f64,
    /// Median cycle latency, ms.
    pub p50_ms: f64,
    /// 99th percentile cycle latency, ms.
    pub p99_ms: f64,
    /// Every agreement ended accepted on both sides, and the counts match.
    pub consistent: bool,
    /// Partner messages sent (two per cycle).
    pub partner_messages: u64,
    /// TCP connections the accounts opened to each other during the run (from the
    /// kernel's socket table); far fewer than messages means connections are reused.
    pub partner_connections: u64,
    /// The worlds these figures add up: one per round (each round starts its own).
    pub worlds: u64,
}

/// The bare exchange rate a handshake is held to: `senders` drivers, each sending four
/// sequential requests per cycle (a handshake's two REST calls and two partner
/// messages) on a keep-alive connection to a bare hyper server in this process, which
/// answers each with a fixed agreement body. Measured in the same run as the handshakes.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BareCycles {
    /// Concurrent drivers.
    pub senders: usize,
    /// Completed cycles of four exchanges.
    pub cycles: u64,
    /// Seconds under load.
    pub seconds: f64,
    /// Cycles per second.
    pub per_second: f64,
}

/// Runs the bare cycles for `senders` drivers over the options' duration.
pub(crate) async fn measure_bare(
    options: &BenchOptions,
    senders: usize,
) -> Result<BareCycles, BenchError> {
    let record = r#"{"sharing_agreement":{"created_at":"2026-01-01T09:00:00Z","id":1,"name":"Acme","partner_name":null,"remote_subdomain":"globex","status":"pending","type":"outbound","updated_at":"2026-01-01T09:00:00Z","url":"http://127.0.0.1:1/api/v2/sharing_agreements/1.json"}}"#;
    let answer = |method: &str, status: u16| super::baseline::Answer {
        method: method.to_string(),
        status,
        headers: vec![(
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        )],
        body: record.to_string(),
    };
    let baseline =
        super::baseline::Baseline::start(&[answer("POST", 201), answer("PUT", 200)]).await?;
    let target = Target::http(baseline.addr);
    let request = |method: Method, body: &'static str| RequestTemplate {
        method,
        path: "/api/v2/sharing_agreements.json".to_string(),
        headers: vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body: Bytes::from_static(body.as_bytes()),
    };
    let exchanges = Arc::new([
        request(
            Method::POST,
            r#"{"sharing_agreement":{"remote_subdomain":"globex"}}"#,
        ),
        request(
            Method::POST,
            r#"{"uuid":"x","name":"Acme","sender_url":"http://a"}"#,
        ),
        request(
            Method::PUT,
            r#"{"sharing_agreement":{"status":"accepted"}}"#,
        ),
        request(Method::PUT, r#"{"uuid":"x","status":"accepted"}"#),
    ]);
    let mut connections = Vec::new();
    for _ in 0..senders.max(1) {
        connections.push(target.connect().await?);
    }
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut tasks = Vec::new();
    for mut connection in connections {
        let (exchanges, host) = (exchanges.clone(), target.host.clone());
        tasks.push(tokio::spawn(async move {
            let mut cycles = 0u64;
            'cycles: while Instant::now() < deadline {
                for template in exchanges.iter() {
                    let Ok(request) = template.build(&host) else {
                        break 'cycles;
                    };
                    if load::exchange(&mut connection, request).await.is_err() {
                        break 'cycles;
                    }
                }
                cycles += 1;
            }
            cycles
        }));
    }
    let mut cycles = 0;
    for task in tasks {
        cycles += task.await.unwrap_or(0);
    }
    let seconds = started.elapsed().as_secs_f64();
    baseline.stop().await;
    Ok(BareCycles {
        senders,
        cycles,
        seconds,
        per_second: cycles as f64 / seconds.max(1e-9),
    })
}

/// The rounds of a pair (bare, handshakes): each lasts this part of the duration.
const ROUNDS_PER_PAIR: u32 = 2;

/// The HTTP handshakes' cycle rate over the bare exchanges', with the same senders,
/// measured in alternating pairs of rounds (see [`super::paired`]).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct HandshakeRatio {
    /// Concurrent drivers on both sides.
    pub senders: usize,
    /// The median of the pairs' ratios: what the target judges.
    pub ratio: f64,
    /// Each pair's ratio, in the order they ran.
    pub pair_ratios: Vec<f64>,
    /// All the handshakes' cycles over all the bare cycles, per second of each.
    pub overall_ratio: f64,
}

/// The bare exchanges and the HTTP handshakes with `senders` drivers, measured in
/// alternating pairs of rounds (bare, handshakes, bare, handshakes…; each round half the
/// options' duration): the bare server's rate moves with what else the machine does,
/// and a ratio of two figures taken minutes apart would carry that move.
pub(crate) async fn measure_alternating(
    options: &BenchOptions,
    senders: usize,
) -> Result<(BareCycles, HandshakeResult, HandshakeRatio), BenchError> {
    let round = BenchOptions {
        duration: options.duration / ROUNDS_PER_PAIR,
        ..options.clone()
    };
    let (mut bare, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..options.pairs.max(1) {
        bare.push(measure_bare(&round, senders).await?);
        ours.push(measure(&round, false, senders).await?);
    }
    let paired = Paired::of(
        &ours.iter().map(|r| r.per_second).collect::<Vec<_>>(),
        &bare.iter().map(|r| r.per_second).collect::<Vec<_>>(),
    );
    let (bare, ours) = (
        BareCycles::combined(&bare),
        HandshakeResult::combined(&ours),
    );
    let ratio = HandshakeRatio {
        senders,
        ratio: paired.median,
        pair_ratios: paired.pair_ratios,
        overall_ratio: ours.per_second / bare.per_second.max(1e-9),
    };
    Ok((bare, ours, ratio))
}

impl BareCycles {
    /// Rounds of one measurement as one figure: their cycles over their time.
    fn combined(rounds: &[BareCycles]) -> BareCycles {
        let cycles = rounds.iter().map(|r| r.cycles).sum();
        let seconds = rounds.iter().map(|r| r.seconds).sum::<f64>();
        BareCycles {
            senders: rounds.first().map_or(0, |r| r.senders),
            cycles,
            seconds,
            per_second: cycles as f64 / seconds.max(1e-9),
        }
    }
}

impl HandshakeResult {
    /// Rounds of one measurement as one figure: sums, the rounds' latencies averaged,
    /// consistent only when every round was.
    fn combined(rounds: &[HandshakeResult]) -> HandshakeResult {
        let sum = |f: fn(&HandshakeResult) -> u64| rounds.iter().map(f).sum::<u64>();
        let sumf = |f: fn(&HandshakeResult) -> f64| rounds.iter().map(f).sum::<f64>();
        let count = rounds.len().max(1) as f64;
        let (cycles, seconds, cpu_seconds) = (
            sum(|r| r.cycles),
            sumf(|r| r.seconds),
            sumf(|r| r.cpu_seconds),
        );
        HandshakeResult {
            network: rounds.first().map_or(NetworkKind::Loopback, |r| r.network),
            scheme: rounds.first().map_or("http", |r| r.scheme),
            senders: rounds.first().map_or(0, |r| r.senders),
            cycles,
            errors: sum(|r| r.errors),
            seconds,
            per_second: cycles as f64 / seconds.max(1e-9),
            cpu_seconds,
            per_cpu_second: cycles as f64 / cpu_seconds.max(1e-9),
            p50_ms: sumf(|r| r.p50_ms) / count,
            p99_ms: sumf(|r| r.p99_ms) / count,
            consistent: !rounds.is_empty() && rounds.iter().all(|r| r.consistent),
            partner_messages: sum(|r| r.partner_messages),
            partner_connections: sum(|r| r.partner_connections),
            worlds: sum(|r| r.worlds),
        }
    }
}

/// Runs the handshake measurement for `https` with `senders` concurrent drivers.
pub(crate) async fn measure(
    options: &BenchOptions,
    https: bool,
    senders: usize,
) -> Result<HandshakeResult, BenchError> {
    let world = World::start(
        WorldConfig {
            https,
            timeout: Duration::from_secs(10),
            ..WorldConfig::default()
        },
        vec![AccountSpec::new(SENDER), AccountSpec::new(RECEIVER)],
    )
    .await?;
    world.trace().set_capacity(Some(super::TRACE_CAPACITY));
    // As `serve` keeps it: summaries, no wires.
    world.trace().keep_wires(false);
    let sender = account(&world, SENDER)?;
    let receiver = account(&world, RECEIVER)?;
    let tls = match world.ca_cert_pem() {
        Some(pem) => Some(driver_tls(&pem)?),
        None => None,
    };
    let target = |account: &Account| -> Result<Target, BenchError> {
        let addr = account.addr().ok_or_else(|| {
            BenchError::Setup(format!("{} is not listening", account.subdomain()))
        })?;
        let host = crate::core::directory::host_name(account.subdomain());
        let tls = match &tls {
            Some(config) => Some((
                config.clone(),
                ServerName::try_from(host.clone()).map_err(|e| BenchError::Setup(e.to_string()))?,
            )),
            None => None,
        };
        Ok(Target { addr, host, tls })
    };
    let ports = [addr_port(&sender)?, addr_port(&receiver)?];
    let driver = Arc::new(Driver {
        sender_target: target(&sender)?,
        receiver_target: target(&receiver)?,
        sender_auth: basic(&sender),
        receiver_auth: basic(&receiver),
        sender: sender.clone(),
        receiver: receiver.clone(),
    });
    let mut connections = Vec::new();
    let mut driver_ports = HashSet::new();
    for _ in 0..senders.max(1) {
        let (to_sender, sender_port) = driver.sender_target.connect_from().await?;
        let (to_receiver, receiver_port) = driver.receiver_target.connect_from().await?;
        driver_ports.extend([sender_port, receiver_port]);
        connections.push((to_sender, to_receiver));
    }
    let cpu_before = super::process_cpu_seconds();
    let started = Instant::now();
    let deadline = started + options.duration;
    let watcher = tokio::spawn(watch_partner_connections(
        ports,
        driver_ports,
        started,
        deadline,
    ));
    let mut tasks = Vec::new();
    for (mut to_sender, mut to_receiver) in connections {
        let driver = driver.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = load::new_histogram();
            let (mut cycles, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let began = Instant::now();
                match driver.cycle(&mut to_sender, &mut to_receiver).await {
                    Ok(()) => {
                        cycles += 1;
                        load::record(&mut latency, began.elapsed());
                    }
                    Err(_) => errors += 1,
                }
            }
            (cycles, errors, latency)
        }));
    }
    let mut latency = load::new_histogram();
    let (mut cycles, mut errors) = (0u64, 0u64);
    for task in tasks {
        let (c, e, l) = task
            .await
            .map_err(|e| BenchError::Setup(format!("a driver task failed: {e}")))?;
        cycles += c;
        errors += e;
        let _ = latency.add(&l);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = super::process_cpu_seconds() - cpu_before;
    let partner_connections = watcher
        .await
        .map_err(|e| BenchError::Setup(format!("the connection watcher failed: {e}")))?;
    let consistent = both_accepted(&sender, &receiver, cycles);
    world.shutdown().await;
    Ok(HandshakeResult {
        network: NetworkKind::Loopback,
        scheme: if https { "https" } else { "http" },
        senders,
        cycles,
        errors,
        seconds,
        per_second: cycles as f64 / seconds.max(1e-9),
        cpu_seconds,
        per_cpu_second: cycles as f64 / cpu_seconds.max(1e-9),
        p50_ms: percentile_ms(&latency, 50.0),
        p99_ms: percentile_ms(&latency, 99.0),
        consistent,
        partner_messages: 2 * (cycles + errors),
        partner_connections,
        worlds: 1,
    })
}

/// Samples the socket table halfway through the run and at its end, and counts the
/// distinct connections to the accounts' listeners that the driver did not open: the
/// accounts' partner connections. Pooled connections live through the run and are seen
/// once; connections opened per message would leave thousands of TIME_WAIT entries.
/// (Sampling is sparse because reading the table costs CPU the run is measuring.)
async fn watch_partner_connections(
    ports: [u16; 2],
    driver_ports: HashSet<u16>,
    started: Instant,
    deadline: Instant,
) -> u64 {
    let mut seen = HashSet::new();
    let step = (deadline - started) / 2;
    for sample in 1..=2u32 {
        tokio::time::sleep_until((started + step * sample).into()).await;
        let ports = tokio::task::spawn_blocking(move || super::client_ports_to(&ports))
            .await
            .unwrap_or_default();
        seen.extend(
            ports
                .into_iter()
                .filter(|port| !driver_ports.contains(port)),
        );
    }
    seen.len() as u64
}

fn account(world: &World, subdomain: &str) -> Result<Arc<Account>, BenchError> {
    world
        .account(subdomain)
        .ok_or_else(|| BenchError::Setup(format!("{subdomain} is missing")))
}

fn addr_port(account: &Account) -> Result<u16, BenchError> {
    account
        .addr()
        .map(|addr| addr.port())
        .ok_or_else(|| BenchError::Setup(format!("{} is not listening", account.subdomain())))
}

fn basic(account: &Account) -> HeaderValue {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}/token:{}",
        account.admin_email(),
        account.api_token()
    ));
    HeaderValue::from_str(&format!("Basic {credentials}"))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The driver's TLS settings: trust the world's CA, as a partner does.
fn driver_tls(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, BenchError> {
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| BenchError::Setup(format!("the world's CA is not PEM: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca)
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| BenchError::Setup(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What every driver task shares.
struct Driver {
    sender: Arc<Account>,
    receiver: Arc<Account>,
    sender_target: Target,
    receiver_target: Target,
    sender_auth: HeaderValue,
    receiver_auth: HeaderValue,
}

impl Driver {
    /// One invite → accept cycle; Ok only when both REST calls answered as expected.
    async fn cycle(
        &self,
        to_sender: &mut Connection,
        to_receiver: &mut Connection,
    ) -> Result<(), BenchError> {
        let invite = RequestTemplate {
            method: Method::POST,
            path: "/api/v2/sharing_agreements.json".to_string(),
            headers: vec![
                (header::AUTHORIZATION, self.sender_auth.clone()),
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
            ],
            body: Bytes::from_static(br#"{"sharing_agreement":{"remote_subdomain":"globex"}}"#),
        };
        let (status, body) =
            load::exchange(to_sender, invite.build(&self.sender_target.host)?).await?;
        let created = expect_status(status, StatusCode::CREATED, &body, "pending")?;
        // The REST API does not show the protocol uuid, so the driver derives it as the
        // protocol does and asks the receiving account which local id its copy got.
        let uuid = protocol_uuid(&self.sender.sharing_url(), "agreements", created);
        let inbound = self
            .receiver
            .agreement_by_uuid(&uuid)
            .ok_or_else(|| BenchError::Unexpected(format!("{RECEIVER} holds no copy of {uuid}")))?;
        let accept = RequestTemplate {
            method: Method::PUT,
            path: format!("/api/v2/sharing_agreements/{}.json", inbound.id),
            headers: vec![
                (header::AUTHORIZATION, self.receiver_auth.clone()),
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
            ],
            body: Bytes::from_static(br#"{"sharing_agreement":{"status":"accepted"}}"#),
        };
        let (status, body) =
            load::exchange(to_receiver, accept.build(&self.receiver_target.host)?).await?;
        expect_status(status, StatusCode::OK, &body, "accepted")?;
        Ok(())
    }
}

/// Checks a REST answer's status and the agreement's status; returns its id. Reads
/// only the two fields it checks (serde skips the rest), so the driver's own cost per
/// cycle stays near the bare drivers', which read no answer at all.
fn expect_status(
    status: StatusCode,
    expected: StatusCode,
    body: &[u8],
    agreement_status: &str,
) -> Result<u64, BenchError> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        sharing_agreement: Record<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Record<'a> {
        id: Option<u64>,
        #[serde(borrow)]
        status: Option<std::borrow::Cow<'a, str>>,
    }
    let answer = crate::core::json::from_bytes::<Answer>(body).ok();
    let record = answer.as_ref().map(|a| &a.sharing_agreement);
    if status != expected || record.and_then(|r| r.status.as_deref()) != Some(agreement_status) {
        return Err(BenchError::Unexpected(format!(
            "expected {expected} with status {agreement_status}, got {status}: {}",
            String::from_utf8_lossy(body)
        )));
    }
    record
        .and_then(|r| r.id)
        .ok_or_else(|| BenchError::Unexpected("the answer carries no id".to_string()))
}

/// Both copies of every agreement are accepted (and agree by the model's rule), and
/// there are exactly `cycles` of them on each side.
pub(super) fn both_accepted(sender: &Account, receiver: &Account, cycles: u64) -> bool {
    let inbound: HashMap<Text, AgreementStatus> = receiver
        .agreements()
        .into_iter()
        .filter(|a| a.direction == Direction::Inbound)
        .map(|a| (a.uuid, a.status))
        .collect();
    let outbound = sender.agreements();
    let accepted = outbound
        .iter()
        .filter(|a| {
            a.direction == Direction::Outbound
                && a.status == AgreementStatus::Accepted
                && inbound.get(&a.uuid) == Some(&AgreementStatus::Accepted)
        })
        .count() as u64;
    let all_consistent = outbound
        .iter()
        .all(|a| consistency::check(Some(a.status), inbound.get(&a.uuid).copied()).is_ok());
    accepted == cycles && inbound.len() as u64 == cycles && all_consistent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drivers_check_reads_the_status_and_id_and_refuses_the_rest() {
        let created = br#"{"sharing_agreement":{"id":7,"name":"A \"quoted\" name","status":"pending","type":"outbound"}}"#;
        let check =
            |status, body: &[u8], wanted| expect_status(status, StatusCode::CREATED, body, wanted);
        assert_eq!(check(StatusCode::CREATED, created, "pending").ok(), Some(7));
        assert!(check(StatusCode::CREATED, created, "accepted").is_err());
        assert!(check(StatusCode::OK, created, "pending").is_err());
        let no_id = br#"{"sharing_agreement":{"status":"pending"}}"#;
        assert!(check(StatusCode::CREATED, no_id, "pending").is_err());
        assert!(check(StatusCode::CREATED, b"not json", "pending").is_err());
        let escaped = br#"{"sharing_agreement":{"id":1,"status":"pend\u0069ng"}}"#;
        assert_eq!(check(StatusCode::CREATED, escaped, "pending").ok(), Some(1));
    }
}
