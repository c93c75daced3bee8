//! wrk, when it is installed: the API part runs it beside its own generator with the
//! command a reader can repeat (`wrk -t1 -cN -dSs -H 'Authorization: …' URL`), so the
//! two methods are compared in one run.

use super::BenchError;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One wrk run's figures.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct WrkRun {
    /// `Requests/sec` as wrk prints it.
    pub per_second: f64,
    /// Answers that were not 2xx or 3xx.
    pub non_2xx: u64,
}

impl WrkRun {
    /// Runs of equal length as one: their mean rate, their non-2xx answers summed.
    pub(crate) fn mean(runs: &[WrkRun]) -> WrkRun {
        let count = runs.len().max(1) as f64;
        WrkRun {
            per_second: runs.iter().map(|r| r.per_second).sum::<f64>() / count,
            non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
        }
    }
}

/// The wrk binary, if installed (`/usr/bin/wrk` on Debian, else the PATH).
pub(crate) fn find() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/bin/wrk");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("wrk"))
            .find(|path| path.is_file())
    })
}

/// The command line, as the README and the table print it (credentials elided).
pub(crate) fn command_line(connections: usize, duration: Duration) -> String {
    format!(
        "wrk -t1 -c{connections} -d{}s -H 'Authorization: Basic …' http://ADDR/api/v2/sharing_agreements.json",
        whole_seconds(duration)
    )
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().round().max(1.0) as u64
}

/// Runs wrk against `addr` for `duration` (whole seconds, at least 1).
pub(crate) async fn run(
    wrk: &PathBuf,
    addr: SocketAddr,
    authorization: &str,
    connections: usize,
    duration: Duration,
) -> Result<WrkRun, BenchError> {
    let output = tokio::process::Command::new(wrk)
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", whole_seconds(duration)))
        .arg("-H")
        .arg(format!("Authorization: {authorization}"))
        .arg(format!("http://{addr}/api/v2/sharing_agreements.json"))
        .kill_on_drop(true)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(BenchError::Setup(format!(
            "wrk failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse(&text).ok_or_else(|| BenchError::Unexpected(format!("wrk printed no rate: {text}")))
}

/// Reads `Requests/sec:` and `Non-2xx or 3xx responses:` from wrk's output.
fn parse(text: &str) -> Option<WrkRun> {
    let field = |label: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label).map(str::trim))
    };
    Some(WrkRun {
        per_second: field("Requests/sec:")?.parse().ok()?,
        non_2xx: field("Non-2xx or 3xx responses:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 32 connections\n  58001 requests in 1.00s, 40.1MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:  57903.22\nTransfer/sec:     40.04MB\n";
        let run = parse(text).unwrap();
        assert_eq!(run.per_second, 57903.22);
        assert_eq!(run.non_2xx, 3);
        assert!(parse("nothing here").is_none());
    }

    #[test]
    fn rounds_of_equal_length_average_their_rates_and_add_their_errors() {
        let runs = [
            WrkRun {
                per_second: 100.0,
                non_2xx: 1,
            },
            WrkRun {
                per_second: 50.0,
                non_2xx: 2,
            },
        ];
        let mean = WrkRun::mean(&runs);
        assert_eq!((mean.per_second, mean.non_2xx), (75.0, 3));
    }
}
