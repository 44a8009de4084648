//! Capped exponential backoff with jitter between reconnect attempts.

use std::time::Duration;

/// Delays between reconnect attempts: each failure doubles the delay up to
/// `max`, and a stream that delivered a snapshot resets it to `initial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay ceiling after the first failure. Default 500 ms.
    pub initial: Duration,
    /// Largest delay ceiling. Default 30 s.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// The delay ceiling of the next attempt.
#[derive(Debug)]
pub(crate) struct BackoffState {
    config: Backoff,
    ceiling: Duration,
}

impl BackoffState {
    pub(crate) fn new(config: Backoff) -> Self {
        Self {
            config,
            ceiling: config.initial,
        }
    }

    /// Returns a delay between half the ceiling and the ceiling, so that
    /// replicas cut off together do not reconnect together, and doubles
    /// the ceiling.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling.min(self.config.max);
        self.ceiling = ceiling.saturating_mul(2).min(self.config.max);
        let half = ceiling / 2;
        let jitter_nanos = fastrand::u64(..=duration_nanos(half));
        half + Duration::from_nanos(jitter_nanos)
    }

    pub(crate) fn reset(&mut self) {
        self.ceiling = self.config.initial;
    }
}

fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let config = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(800),
        };
        let mut state = BackoffState::new(config);
        let ceilings = [100, 200, 400, 800, 800];
        for ceiling in ceilings {
            let delay = state.next_delay();
            let ceiling = Duration::from_millis(ceiling);
            assert!(delay >= ceiling / 2, "{delay:?} below half of {ceiling:?}");
            assert!(delay <= ceiling, "{delay:?} above {ceiling:?}");
        }
    }

    #[test]
    fn reset_returns_to_initial() {
        let config = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let mut state = BackoffState::new(config);
        for _ in 0..5 {
            state.next_delay();
        }
        state.reset();
        assert!(state.next_delay() <= Duration::from_millis(100));
    }
}
