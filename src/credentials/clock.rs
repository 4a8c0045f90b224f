//! [`Clock`]: where the credentials layer reads wall-clock time.
//!
//! Expiry values are `SystemTime`s, but refresh tests must run on a paused tokio clock.
//! Everything in `credentials` therefore asks a [`Clock`] instead of calling
//! `SystemTime::now()`. [`SystemClock`] is the real one; [`TokioClock`] follows
//! `tokio::time::Instant`, so `tokio::time::pause()` / `advance()` move it too.

use std::fmt;
use std::time::SystemTime;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A wall clock that starts at a given time and then advances with
/// `tokio::time::Instant` (and therefore stands still while tokio's clock is paused).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: SystemTime,
    started: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start` now. Call inside a tokio runtime.
    pub fn starting_at(start: SystemTime) -> Self {
        Self {
            start,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.start + self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = TokioClock::starting_at(t0);
        assert_eq!(clock.now(), t0);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now(), t0 + Duration::from_secs(90));
    }
}
