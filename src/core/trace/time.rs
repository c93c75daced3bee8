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
        match self.logical_reading() {
            None => Utc::now(),
            Some((start, tick, waited)) => {
                let waited = chrono::Duration::from_std(waited).unwrap_or_default();
                start + chrono::Duration::seconds(tick) + waited
            }
        }
    }

    /// The current instant in whole seconds since 1970, all a timestamp shows: on a
    /// logical clock, without the calendar arithmetic of [`Clock::now`] (every event
    /// reads it).
    fn now_second(&self) -> i64 {
        match self.logical_reading() {
            None => wall_second(std::time::SystemTime::now()),
            Some((start, tick, waited)) => start
                .timestamp()
                .saturating_add(tick)
                .saturating_add(i64::try_from(waited.as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// One reading of a logical clock: its start, the readings taken before this one
    /// (each one second) and the time the world has waited, which [`Clock::now`] and
    /// [`Clock::now_second`] add up; None on the wall clock.
    fn logical_reading(&self) -> Option<(DateTime<Utc>, i64, std::time::Duration)> {
        match self {
            Clock::Wall => None,
            Clock::Logical {
                start,
                ticks,
                world,
            } => {
                let tick = ticks.fetch_add(1, Ordering::SeqCst);
                Some((*start, tick as i64, world.elapsed()))
            }
        }
    }

    /// [`Clock::timestamp`], reusing `cache`'s text while the wall clock stays within
    /// the same second (a logical clock moves on every reading, so it never does).
    pub(super) fn timestamp_cached(&self, cache: &mut Option<(i64, Text)>) -> Text {
        if !matches!(self, Clock::Wall) {
            return self.timestamp_text();
        }
        let second = self.now_second();
        match cache {
            Some((cached, text)) if *cached == second => text.clone(),
            _ => {
                let text = Text::from(spelled(second).as_str());
                *cache = Some((second, text.clone()));
                text
            }
        }
    }

    /// The current instant as the REST API spells it (`2012-02-20T22:55:29Z`).
    pub fn timestamp(&self) -> String {
        spelled(self.now_second()).as_str().to_owned()
    }

    /// [`Clock::timestamp`] as shared text, for a record that keeps it (an agreement's
    /// `created_at` and `updated_at` share one).
    pub fn timestamp_text(&self) -> Text {
        Text::from(spelled(self.now_second()).as_str())
    }
}

/// The whole seconds since 1970 of a wall-clock reading, rounded down as chrono's
/// `timestamp` rounds (every event on the wall clock reads one; chrono's conversion to a
/// calendar date and back cost more than the rest of the stamp).
pub(super) fn wall_second(now: std::time::SystemTime) -> i64 {
    match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(before.subsec_nanos() > 0)
        }
    }
}

/// An instant as the REST API spells it, on the stack: every event is stamped, and on
/// a logical clock every reading is a new second, so no text can be reused.
pub(super) struct Stamp {
    bytes: [u8; 20],
    /// Chrono's own text, for a year outside 0–9999 (never on the scenarios' clock).
    other: Option<String>,
}

impl Stamp {
    pub(super) fn as_str(&self) -> &str {
        match &self.other {
            Some(text) => text,
            // Only ASCII digits and separators are ever written.
            None => std::str::from_utf8(&self.bytes).unwrap_or_default(),
        }
    }
}

/// `2012-02-20T22:55:29Z`, the text of the strftime pattern `%Y-%m-%dT%H:%M:%SZ`,
/// computed from the seconds since 1970 and written digit by digit: chrono's RFC 3339
/// writer is general (offsets, fractions), and its calendar fields each convert the
/// instant again; together they cost most of the time it took to record an event.
pub(super) fn spelled(seconds: i64) -> Stamp {
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_date(days);
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        return Stamp {
            bytes: [0; 20],
            other: Some(
                DateTime::<Utc>::from_timestamp(seconds, 0)
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
            ),
        };
    };
    let mut bytes = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, value: u32| {
        let pair = (value % 100) as usize * 2;
        bytes[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    };
    let of_day = of_day as u32;
    put(0, year / 100);
    put(2, year);
    put(5, month);
    put(8, day);
    put(11, of_day / 3600);
    put(14, of_day / 60 % 60);
    put(17, of_day % 60);
    Stamp { bytes, other: None }
}

/// `00` to `99`, so that each two digits of a timestamp are one copy.
const DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut n = 0;
    while n < 100 {
        pairs[2 * n] = b'0' + (n / 10) as u8;
        pairs[2 * n + 1] = b'0' + (n % 10) as u8;
        n += 1;
    }
    pairs
};

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01:
/// the calendar counted in 400-year eras that start on March 1st, so that the leap
/// day falls at the end of each year.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let of_era = shifted.rem_euclid(146_097); // [0, 146096]
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
