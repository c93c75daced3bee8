//! Starts real worlds on port 0 and talks to them over HTTP, as an API client would.

use serde_json::Value;
use sharesim::core::account::Account;
use sharesim::core::trace::{Event, EventKind, Surface};
use sharesim::world::{AccountSpec, DEFAULT_API_TOKEN, World, WorldConfig};
use std::sync::Arc;
use std::time::Duration;

/// A running world plus an HTTP client; the world's listeners stop when it is dropped.
pub struct TestWorld {
    pub world: World,
    pub http: reqwest::Client,
}

/// A world of plain-HTTP accounts with a short partner timeout.
pub async fn start(subdomains: &[&str]) -> TestWorld {
    start_with(
        WorldConfig {
            timeout: Duration::from_millis(2_000),
            ..WorldConfig::default()
        },
        subdomains.iter().map(|s| AccountSpec::new(s)).collect(),
    )
    .await
}

/// An HTTP client for a test that talks to a `serve` process: the process-wide crypto
/// provider is installed first, so the test does not depend on another having done it.
pub fn plain_client() -> reqwest::Client {
    sharesim::core::tls::install_crypto_provider();
    reqwest::Client::new()
}

/// A world with explicit configuration.
pub async fn start_with(config: WorldConfig, specs: Vec<AccountSpec>) -> TestWorld {
    let world = World::start(config, specs).await.expect("world starts");
    // This client plays the admin's API client, not a partner: it must reach accounts
    // whatever certificate they present, so it does not verify them. The world's own
    // transport, which is what the tests check, trusts only the world's CA.
    let http = reqwest::Client::builder()
        .no_proxy()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("client builds");
    TestWorld { world, http }
}

/// The answer to a call: status, parsed JSON body (Null when empty or not JSON), raw text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl TestWorld {
    pub fn account(&self, subdomain: &str) -> Arc<Account> {
        self.world.account(subdomain).expect("account exists")
    }

    /// A REST call as `admin` or `agent` of `subdomain`; `path` is relative to the host
    /// (e.g. `/api/v2/sharing_agreements.json`).
    pub async fn rest(
        &self,
        subdomain: &str,
        user: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let email = format!("{user}@{subdomain}.test");
        self.rest_as(
            subdomain,
            Some((email.as_str(), DEFAULT_API_TOKEN)),
            method,
            path,
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// A REST call with explicit credentials (None: no Authorization header) and a raw body.
    pub async fn rest_as(
        &self,
        subdomain: &str,
        credentials: Option<(&str, &str)>,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Answer {
        let account = self.account(subdomain);
        let base = account.api_url();
        let origin = base.trim_end_matches("/api/v2");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = self.http.request(method, format!("{origin}{path}"));
        if let Some((email, token)) = credentials {
            request = request.basic_auth(format!("{email}/token"), Some(token));
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        answer(request.send().await.expect("request is answered")).await
    }

    /// A raw partner-protocol call to `subdomain` (`path` under `/sharing`).
    pub async fn partner(
        &self,
        subdomain: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let account = self.account(subdomain);
        let url = format!("{}{path}", account.loopback_sharing_url());
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = self.http.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        answer(request.send().await.expect("request is answered")).await
    }

    /// GETs `path` as the agent (agents read tickets); asserts 200 and returns the body.
    pub async fn read(&self, subdomain: &str, path: &str) -> Value {
        let answer = self.rest(subdomain, "agent", "GET", path, None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        answer.body
    }

    /// Creates a ticket as admin; asserts 201 and returns the ticket object.
    pub async fn create_ticket(&self, subdomain: &str, ticket: Value) -> Value {
        let answer = self
            .rest(
                subdomain,
                "admin",
                "POST",
                "/api/v2/tickets.json",
                Some(serde_json::json!({ "ticket": ticket })),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.body["ticket"].clone()
    }

    /// The details of every decision in the trace, oldest first.
    pub fn decisions(&self) -> Vec<String> {
        self.world
            .trace()
            .events()
            .into_iter()
            .filter(|e| e.kind == EventKind::Decision)
            .map(|e| e.detail)
            .collect()
    }

    /// Creates an agreement from `from` to `to` as admin and returns the sender's copy.
    pub async fn invite(&self, from: &str, to: &str) -> Value {
        let answer = self
            .rest(
                from,
                "admin",
                "POST",
                "/api/v2/sharing_agreements.json",
                Some(serde_json::json!({"sharing_agreement": {"remote_subdomain": to}})),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.body["sharing_agreement"].clone()
    }

    /// The only agreement copy on `subdomain` (panics unless there is exactly one).
    pub async fn only_agreement(&self, subdomain: &str) -> Value {
        let list = self
            .rest(
                subdomain,
                "admin",
                "GET",
                "/api/v2/sharing_agreements.json",
                None,
            )
            .await;
        assert_eq!(list.status, 200, "{}", list.text);
        let items = list.body["sharing_agreements"]
            .as_array()
            .expect("a list")
            .clone();
        assert_eq!(items.len(), 1, "{}: {}", subdomain, list.text);
        items[0].clone()
    }

    /// Accepts the only agreement copy on `subdomain` as its admin (the answer must be
    /// 200); the copy as it was listed before.
    pub async fn accept_only_agreement(&self, subdomain: &str) -> Value {
        let copy = self.only_agreement(subdomain).await;
        let answer = self.set_status(subdomain, &copy["id"], "accepted").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        copy
    }

    /// What `subdomain`'s admin lists under `/api/v2/{what}.json` (`sharing_agreements`,
    /// `tickets`).
    pub async fn listed(&self, subdomain: &str, what: &str) -> Vec<Value> {
        let list = self
            .rest(
                subdomain,
                "admin",
                "GET",
                &format!("/api/v2/{what}.json"),
                None,
            )
            .await;
        assert_eq!(list.status, 200, "{}", list.text);
        list.body[what].as_array().cloned().unwrap_or_default()
    }

    /// PUTs a status as admin of `subdomain` on agreement `id`.
    pub async fn set_status(&self, subdomain: &str, id: &Value, status: &str) -> Answer {
        self.rest(
            subdomain,
            "admin",
            "PUT",
            &format!("/api/v2/sharing_agreements/{id}.json"),
            Some(serde_json::json!({"sharing_agreement": {"status": status}})),
        )
        .await
    }
}

impl TestWorld {
    /// The cause recorded on the last partner response that failed (its trace detail).
    pub fn last_failure(&self) -> Event {
        self.world
            .trace()
            .events()
            .into_iter()
            .rev()
            .find(|e| e.kind == EventKind::Response && e.outcome.is_some())
            .expect("a failed partner response in the trace")
    }

    /// The details of every `world` event (faults, certificates, restarts).
    pub fn world_events(&self) -> Vec<String> {
        self.world
            .trace()
            .events()
            .into_iter()
            .filter(|e| e.kind == EventKind::World)
            .map(|e| e.detail)
            .collect()
    }

    /// The partner requests in the trace, as `from -> to METHOD path detail`.
    pub fn partner_requests(&self) -> Vec<String> {
        self.world
            .trace()
            .events()
            .into_iter()
            .filter(|e| e.kind == EventKind::Request && e.surface == Some(Surface::Partner))
            .map(|e| {
                format!(
                    "{} -> {} {} {}",
                    e.from,
                    e.to,
                    e.method.unwrap_or_default(),
                    e.detail
                )
            })
            .collect()
    }

    /// The statuses of the agreement copies `subdomain` holds, read in-process (works
    /// while its listener is closed).
    pub fn statuses(&self, subdomain: &str) -> Vec<String> {
        self.account(subdomain)
            .agreements()
            .iter()
            .map(|a| a.status.to_string())
            .collect()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body is readable");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        text,
        headers,
    }
}

/// A `sharesim serve` process in its own temporary folder, up once its ready file is
/// written. Killed when dropped unless [`Served::terminate`] stopped it first.
pub struct Served {
    child: Option<std::process::Child>,
    /// The ready file `serve` wrote.
    pub ready: std::path::PathBuf,
    /// The folder it runs in (files it writes, like the CA, land here).
    pub dir: tempfile::TempDir,
}

/// Starts `sharesim serve ARGS --ready-file …` and waits (up to 20 s) for the ready file.
pub fn serve_process(args: &[&str]) -> Served {
    serve_process_with(args, &[])
}

/// [`serve_process`] with extra environment variables.
pub fn serve_process_with(args: &[&str], env: &[(&str, &str)]) -> Served {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ready = dir.path().join("ready.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .arg("serve")
        .args(args)
        .arg("--ready-file")
        .arg(&ready)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    assert!(
        wait_for_file(&mut child, &ready, Duration::from_secs(20)),
        "serve wrote its ready file"
    );
    Served {
        child: Some(child),
        ready,
        dir,
    }
}

impl Served {
    /// The ready file, parsed.
    pub fn ready_json(&self) -> Value {
        let text = std::fs::read_to_string(&self.ready).expect("the ready file is readable");
        serde_json::from_str(&text).expect("the ready file is JSON")
    }

    /// Kills the process with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().ok()?.code()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A scenario file of acme and globex called `name`, then `steps` (TOML from the first
/// `[[steps]]`, which is on line 5): the preamble most scenarios in these tests share.
pub fn acme_and_globex(name: &str, steps: &str) -> String {
    format!("name = {name:?}\n[accounts.acme]\n[accounts.globex]\n\n{steps}")
}

/// Runs the built binary as a user would, in `dir`, without colour or log settings from
/// the environment.
pub fn sharesim(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sharesim"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

/// `127.0.0.1:41234` → `127.0.0.1:<port>`: ports are what legitimately differs between
/// two runs of the same scenario.
pub fn mask_ports(text: &str) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(HOST) {
        let (head, tail) = rest.split_at(at + HOST.len());
        out.push_str(head);
        out.push_str("<port>");
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// Waits for `child` to exit, at most `bound`: its exit status, or None if it still runs.
/// The wait ends on the child's exit itself, not on a polling interval.
pub fn exit_within(
    child: &mut std::process::Child,
    bound: Duration,
) -> Option<std::process::ExitStatus> {
    use wait_timeout::ChildExt;
    child
        .wait_timeout(bound)
        .expect("the child can be waited on")
}

/// Waits until `child` has written `path` (a ready file), at most `patience`, or until
/// the child exits first. The file is the condition: serve writes it once every
/// listener is up. The kernel offers no portable wait on a file appearing, so the
/// file is looked for every 20 ms; nothing is ordered by that interval.
pub fn wait_for_file(
    child: &mut std::process::Child,
    path: &std::path::Path,
    patience: Duration,
) -> bool {
    let deadline = std::time::Instant::now() + patience;
    while std::time::Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return path.exists();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    path.exists()
}

/// The next complete server-sent event of `stream` (keep-alive comments skipped), and
/// the text after it.
pub async fn next_event(stream: &mut reqwest::Response, text: &mut String) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if !event.starts_with(':') {
                return event;
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an event arrives")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}
