//! A real `sharesim serve` child process for the parts that load sharesim from outside
//! (the API figures, the soak): started with its ready file, read through its REST API,
//! killed when dropped.

use super::BenchError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The API token `serve` gives every account by default.
pub(crate) const TOKEN: &str = crate::world::DEFAULT_API_TOKEN;

/// One account of the served world, as its ready file describes it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct ServedAccount {
    /// Its subdomain.
    pub subdomain: String,
    /// `http://127.0.0.1:PORT/api/v2`.
    pub api_url: String,
    /// `http://127.0.0.1:PORT/sharing`.
    pub sharing_url: String,
    /// The admin's email.
    pub admin_email: String,
}

impl ServedAccount {
    /// The listener's address, from its API URL.
    pub(crate) fn addr(&self) -> Result<SocketAddr, BenchError> {
        self.api_url
            .trim_start_matches("http://")
            .trim_end_matches("/api/v2")
            .parse()
            .map_err(|e| BenchError::Setup(format!("{} is not an address: {e}", self.api_url)))
    }

    /// The admin's `Authorization` header value.
    pub(crate) fn basic_auth(&self) -> String {
        use base64::Engine;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}/token:{TOKEN}", self.admin_email));
        format!("Basic {credentials}")
    }
}

/// A running `sharesim serve`.
pub(crate) struct Served {
    /// Its accounts, in the order they were named.
    pub accounts: Vec<ServedAccount>,
    /// Its process id, for reading its memory.
    pub pid: u32,
    dir: PathBuf,
    child: tokio::process::Child,
}

impl Served {
    /// Starts `serve` with `subdomains` and the `extra` arguments, and waits for its
    /// ready file.
    pub(crate) async fn start(subdomains: &[String], extra: &[&str]) -> Result<Served, BenchError> {
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sharesim-bench-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let ready = dir.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let exe = std::env::current_exe()?;
        let mut child = tokio::process::Command::new(exe)
            .arg("serve")
            .args(subdomains)
            .args(extra)
            .arg("--ready-file")
            .arg(&ready)
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(BenchError::Setup(format!(
                    "serve ended at start ({status})"
                )));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Setup(
                    "serve did not write its ready file in 30 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        #[derive(Deserialize)]
        struct Ready {
            accounts: Vec<ServedAccount>,
        }
        let text = std::fs::read_to_string(&ready)?;
        let ready: Ready = serde_json::from_str(&text)
            .map_err(|e| BenchError::Setup(format!("serve's ready file: {e}")))?;
        Ok(Served {
            accounts: ready.accounts,
            pid,
            dir,
            child,
        })
    }

    /// The account `subdomain`.
    pub(crate) fn account(&self, subdomain: &str) -> Result<&ServedAccount, BenchError> {
        self.accounts
            .iter()
            .find(|a| a.subdomain == subdomain)
            .ok_or_else(|| BenchError::Setup(format!("serve has no account {subdomain}")))
    }

    /// Resident memory of the process now (`VmRSS`), KiB.
    pub(crate) fn resident_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmRSS:")
    }

    /// Peak resident memory of the process (`VmHWM`), KiB.
    pub(crate) fn peak_resident_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmHWM:")
    }

    /// Stops the process and removes its directory.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Resident memory (`VmRSS`) of process `pid` now, KiB (0 when unreadable).
pub(crate) fn resident_kib_of(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

/// A `kB` field of `/proc/{pid}/status`.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}
