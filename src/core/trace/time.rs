//! Where a trace's timestamps come from, and their text, cached per second.

use super::Text;
use crate::core::clock::WorldClock;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where timestamps come from: the wall clock for `serve`, a logical clock for scenarios
/// so that timestamps (and therefore traces) are the same on every run.
#[derive(Debug)]
pub enum Clock {
    /// Real UTC time.
    Wall,
    /// Starts at a fixed instant and advances one second per reading, plus the time the
    /// world has waited on its own clock (on the simulated network a 30 s timeout shows
    /// as 30 s; on loopback, whose waits are not reproducible, nothing is added).
    Logical {
        /// The first instant it reports.
        start: DateTime<Utc>,
        /// Readings taken so far.
        ticks: AtomicU64,
        /// The world's clock, whose waited time is added.
        world: WorldClock,
    },
}

impl Clock {
    /// A logical clock starting at 2026-01-01T09:00:00Z, the scenarios' epoch, that
    /// adds nothing for waits.
    pub fn logical() -> Clock {
        Clock::logical_on(WorldClock::Wall)
    }

    /// A logical clock that also moves with `world` (see [`Clock::Logical`]).
    pub fn logical_on(world: WorldClock) -> Clock {
        Clock::Logical {
            start: DateTime::<Utc>::from(crate::core::clock::scenario_epoch()),
            ticks: AtomicU64::new(0),
            world,
        }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Wall => Utc::now(),
            Clock::Logical {
                start,
                ticks,
                world,
            } => {
                let tick = ticks.fetch_add(1, Ordering::SeqCst);
                let waited = chrono::Duration::from_std(world.elapsed()).unwrap_or_default();
                *start + chrono::Duration::seconds(tick as i64) + waited
            }
        }
    }

    /// [`Clock::timestamp`], reusing `cache`'s text while the wall clock stays within
    /// the same second (a logical clock moves on every reading, so it never does).
    pub(super) fn timestamp_cached(&self, cache: &mut Option<(i64, Text)>) -> Text {
        if !matches!(self, Clock::Wall) {
            return self.timestamp().into();
        }
        // The second alone first: only a new second needs the calendar date.
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_secs()).ok());
        if let (Some(second), Some((cached, text))) = (second, &*cache)
            && *cached == second
        {
            return text.clone();
        }
        let now = Utc::now();
        let second = now.timestamp();
        match cache {
            Some((cached, text)) if *cached == second => text.clone(),
            _ => {
                let text: Text = now
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    .into();
                *cache = Some((second, text.clone()));
                text
            }
        }
    }

    /// The current instant as the REST API spells it (`2012-02-20T22:55:29Z`).
    pub fn timestamp(&self) -> String {
        // Same text as the strftime pattern `%Y-%m-%dT%H:%M:%SZ`, without parsing a
        // pattern on every event.
        self.now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}
