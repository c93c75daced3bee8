//! The world's clock: what every timer, timestamp and certificate date reads.
//!
//! On loopback it is the wall clock. On the simulated network it is tokio's clock,
//! paused on a current-thread runtime: time moves only when every task of the world
//! waits, and then straight to the next timer, so a 30 s partner timeout costs no wall
//! time and a rerun sees the same instants. Its calendar starts at the scenarios' epoch,
//! which is what certificates are issued against and what rustls verifies them at, so
//! even a TLS error's text is the same on every run.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2026-01-01T09:00:00Z: where scenario timestamps and the simulated calendar start.
pub(crate) const SCENARIO_EPOCH_SECS: u64 = 1_767_258_000;

/// The instant every simulated world starts at, on the calendar.
pub(crate) fn scenario_epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SCENARIO_EPOCH_SECS)
}

/// Which clock a world's timers and certificates read.
#[derive(Clone, Debug)]
pub enum WorldClock {
    /// Real time: `serve`, and worlds on the loopback network.
    Wall,
    /// Tokio's clock (paused on the simulated network), on a calendar that starts at
    /// [`scenario_epoch`] when the world starts.
    Simulated {
        /// The tokio instant the world started at.
        started: tokio::time::Instant,
    },
}

impl WorldClock {
    /// A simulated clock starting now (call it inside the world's runtime).
    pub fn simulated() -> WorldClock {
        WorldClock::Simulated {
            started: tokio::time::Instant::now(),
        }
    }

    /// Time the world has waited since it started (zero on the wall clock, whose
    /// readings are not reproducible and so never reach a trace).
    pub fn elapsed(&self) -> Duration {
        match self {
            WorldClock::Wall => Duration::ZERO,
            WorldClock::Simulated { started } => started.elapsed(),
        }
    }

    /// The calendar time now: what certificates are dated against and verified at.
    pub fn system_now(&self) -> SystemTime {
        match self {
            WorldClock::Wall => SystemTime::now(),
            WorldClock::Simulated { .. } => scenario_epoch() + self.elapsed(),
        }
    }

    /// The clock as rustls's time provider, for both ends of every handshake.
    pub fn time_provider(&self) -> Arc<dyn rustls::time_provider::TimeProvider> {
        Arc::new(self.clone())
    }
}

impl rustls::time_provider::TimeProvider for WorldClock {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        let since = self.system_now().duration_since(UNIX_EPOCH).ok()?;
        Some(rustls::pki_types::UnixTime::since_unix_epoch(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_is_the_scenarios_first_timestamp() {
        let text = chrono::DateTime::<chrono::Utc>::from(scenario_epoch())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(text, "2026-01-01T09:00:00Z");
    }

    #[tokio::test(start_paused = true)]
    async fn a_simulated_clock_moves_only_with_tokio_time() {
        let clock = WorldClock::simulated();
        assert_eq!(clock.system_now(), scenario_epoch());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(clock.elapsed(), Duration::from_secs(30));
        assert_eq!(
            clock.system_now(),
            scenario_epoch() + Duration::from_secs(30)
        );
        assert_eq!(WorldClock::Wall.elapsed(), Duration::ZERO);
    }
}
