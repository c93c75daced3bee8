//! A real `sharesim serve` process for the soak parts, and the HTTP client they call it
//! with.

use super::super::BenchError;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// A `sharesim serve` process, killed when dropped.
pub(crate) struct Served {
    _child: tokio::process::Child,
    ready: Value,
}

impl Served {
    /// Starts `sharesim serve ARGS` in `dir` and waits for its ready file.
    pub(crate) async fn start(dir: &Path, args: &[&str]) -> Result<Served, BenchError> {
        std::fs::create_dir_all(dir)?;
        let ready = dir.join("ready.json");
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .args(args)
            .arg("--ready-file")
            .arg(&ready)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            if Instant::now() > deadline {
                return Err(BenchError::Setup(
                    "serve did not write its ready file".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let text = std::fs::read_to_string(&ready)?;
        let ready = serde_json::from_str(&text).map_err(|e| BenchError::Setup(e.to_string()))?;
        Ok(Served {
            _child: child,
            ready,
        })
    }

    /// CPU seconds (user + system) the `serve` process has used so far.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        self._child
            .id()
            .map_or(0.0, |pid| super::super::cpu_seconds_of(&pid.to_string()))
    }

    /// A text of the ready file, by JSON pointer (empty when absent).
    pub(crate) fn text(&self, pointer: &str) -> String {
        self.ready
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

/// A client that never goes through a proxy and gives up after 30 s.
pub(crate) fn client() -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| BenchError::Setup(e.to_string()))
}
