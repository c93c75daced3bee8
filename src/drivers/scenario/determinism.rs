//! Whether two runs of one scenario and seed wrote the same trace, and where they first
//! differ (`run --check-determinism`, and explore's rerun of each finding).
//!
//! On the simulated network the comparison is byte for byte: ports are handed out in
//! order and every clock reading, TLS error text included, comes from the world's
//! paused clock. On loopback the kernel picks ports and rustls reads the wall clock, so
//! those two things are masked there, and only there.

use super::outcome::Outcome;
use crate::core::network::NetworkKind;

/// None when `first` and `second` are the same run; otherwise where and how they differ.
pub fn first_difference(first: &Outcome, second: &Outcome) -> Option<String> {
    let render = |outcome: &Outcome| {
        let mut text = String::new();
        for event in &outcome.trace {
            text.push_str(&serde_json::to_string(event).unwrap_or_default());
            text.push('\n');
        }
        match outcome.network {
            NetworkKind::Simulated => text,
            NetworkKind::Loopback => mask_clock_readings(&mask_ports(&text)),
        }
    };
    let (a, b) = (render(first), render(second));
    if a != b {
        let (line, (left, right)) = a
            .lines()
            .chain(std::iter::repeat(""))
            .zip(b.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (left, right))| left != right)
            .unwrap_or((0, ("", "")));
        return Some(format!(
            "two runs of seed {} wrote different traces; the first difference is on line {} of the trace:\n  first run:  {}\n  second run: {}",
            first.seed,
            line + 1,
            if left.is_empty() {
                "(the trace ended)"
            } else {
                left
            },
            if right.is_empty() {
                "(the trace ended)"
            } else {
                right
            },
        ));
    }
    if first.passed() != second.passed() {
        return Some(format!(
            "two runs of seed {} wrote the same trace but one passed and one failed",
            first.seed
        ));
    }
    None
}

/// `127.0.0.1:41234` → `127.0.0.1:<port>`.
pub fn mask_ports(text: &str) -> String {
    const HOST: &str = "127.0.0.1:";
    let mut out = String::with_capacity(text.len());
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

/// The wall-clock readings TLS validity errors quote: Unix times (runs of nine or more
/// digits) and the `(N seconds ago)` between them become `<N>`.
pub fn mask_clock_readings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let after = &tail[digits..];
        if digits >= 9 || (out.ends_with('(') && after.starts_with(" seconds")) {
            out.push_str("<N>");
        } else {
            out.push_str(&tail[..digits]);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_clock_readings_are_masked() {
        assert_eq!(
            mask_ports("http://127.0.0.1:41234/api and 127.0.0.1:8"),
            "http://127.0.0.1:<port>/api and 127.0.0.1:<port>"
        );
        assert_eq!(
            mask_clock_readings("time 1796005850 (86400 seconds ago) at 12:30"),
            "time <N> (<N> seconds ago) at 12:30"
        );
    }
}
