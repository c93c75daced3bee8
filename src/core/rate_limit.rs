//! Zendesk's per-minute API rate limit, so clients can exercise their 429 handling.
//!
//! Off by default: the headers then report a constant allowance and nothing is refused
//! (our model: sharesim is a fake, not a throttle). With a limit set (`serve
//! --rate-limit N`, a scenario's `rate_limit = N`), each account counts its REST calls in
//! fixed one-minute windows and answers 429 with `Retry-After` once the window is spent.

use crate::core::trace::lock;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The allowance the headers report when no limit is enforced.
pub(crate) const UNENFORCED_LIMIT: u32 = 700;

/// The body of a 429, exactly as Zendesk sends it (plain text).
pub(crate) const EXCEEDED_BODY: &str = "Number of allowed API requests per minute exceeded";

/// The length of one counting window.
const WINDOW: Duration = Duration::from_secs(60);

/// What one call may do, and what its headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead; `remaining` calls are left in this window.
    Allowed {
        /// `X-Rate-Limit`.
        limit: u32,
        /// `X-Rate-Limit-Remaining`.
        remaining: u32,
    },
    /// Refuse with 429 and `Retry-After: retry_after_secs`.
    Exceeded {
        /// `X-Rate-Limit`.
        limit: u32,
        /// Whole seconds until the window resets (at least 1).
        retry_after_secs: u64,
    },
}

/// One account's rate limiter.
#[derive(Debug)]
pub struct RateLimiter {
    limit: Option<u32>,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    used: u32,
}

impl RateLimiter {
    /// A limiter allowing `limit` calls per minute; None never refuses.
    pub fn new(limit: Option<u32>) -> RateLimiter {
        RateLimiter {
            limit,
            window: Mutex::new(Window {
                started: Instant::now(),
                used: 0,
            }),
        }
    }

    /// What a call at `now` would be told, without counting it: for callers who are
    /// not authenticated, who must not spend the account's allowance.
    pub fn peek(&self, now: Instant) -> Verdict {
        let Some(limit) = self.limit else {
            return Verdict::Allowed {
                limit: UNENFORCED_LIMIT,
                remaining: UNENFORCED_LIMIT,
            };
        };
        let window = lock(&self.window);
        let used = if now.duration_since(window.started) >= WINDOW {
            0
        } else {
            window.used
        };
        if used >= limit {
            let left = WINDOW.saturating_sub(now.duration_since(window.started));
            Verdict::Exceeded {
                limit,
                retry_after_secs: left.as_secs_f64().ceil().max(1.0) as u64,
            }
        } else {
            Verdict::Allowed {
                limit,
                remaining: limit - used,
            }
        }
    }

    /// Counts one call made at `now` and says whether it may proceed.
    pub fn check(&self, now: Instant) -> Verdict {
        let Some(limit) = self.limit else {
            return Verdict::Allowed {
                limit: UNENFORCED_LIMIT,
                remaining: UNENFORCED_LIMIT - 1,
            };
        };
        let mut window = lock(&self.window);
        if now.duration_since(window.started) >= WINDOW {
            window.started = now;
            window.used = 0;
        }
        if window.used >= limit {
            let left = WINDOW.saturating_sub(now.duration_since(window.started));
            return Verdict::Exceeded {
                limit,
                retry_after_secs: left.as_secs_f64().ceil().max(1.0) as u64,
            };
        }
        window.used += 1;
        Verdict::Allowed {
            limit,
            remaining: limit - window.used,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unenforced_limiter_never_refuses() {
        let limiter = RateLimiter::new(None);
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(
                limiter.check(now),
                Verdict::Allowed {
                    limit: 700,
                    remaining: 699
                }
            );
        }
    }

    #[test]
    fn peeking_never_spends_the_allowance() {
        let limiter = RateLimiter::new(Some(1));
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(
                limiter.peek(now),
                Verdict::Allowed {
                    limit: 1,
                    remaining: 1
                }
            );
        }
        assert!(matches!(limiter.check(now), Verdict::Allowed { .. }));
        assert!(matches!(limiter.peek(now), Verdict::Exceeded { .. }));
    }

    #[test]
    fn a_spent_window_refuses_until_it_resets() {
        let limiter = RateLimiter::new(Some(2));
        let start = Instant::now();
        assert_eq!(
            limiter.check(start),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            limiter.check(start),
            Verdict::Allowed {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            limiter.check(start + Duration::from_millis(20_500)),
            Verdict::Exceeded {
                limit: 2,
                retry_after_secs: 40
            }
        );
        assert_eq!(
            limiter.check(start + Duration::from_secs(60)),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            }
        );
    }
}
