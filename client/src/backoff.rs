//! How long to wait before reconnecting: capped exponential back-off with jitter, so that a thousand
//! clients of a restarted server do not all knock at the same instant.

use std::time::Duration;

/// Reconnection policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay; doubled after each failed attempt.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Whether to reconnect at all.
    pub enabled: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            enabled: true,
        }
    }
}

impl Backoff {
    /// No reconnection: a lost connection ends the session.
    pub fn never() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The wait before attempt `attempt` (from 1): between half and all of the capped exponential.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stay_under_the_cap() {
        let b = Backoff::default();
        for attempt in 1..40 {
            let d = b.delay(attempt);
            let exp = (b.initial * 2u32.pow((attempt - 1).min(16))).min(b.max);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?}");
        }
        assert!(b.delay(1) <= Duration::from_millis(250));
        assert!(b.delay(30) >= Duration::from_secs(5));
    }
}
