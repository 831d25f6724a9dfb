//! Keeping to the server's rate, so that the server never has to tell us `TooFast`.
//!
//! The server counts `Say` and `ListUsers` frames with a token bucket whose size and refill rate it
//! announces in `Welcome` ([`wire::Limits`]). [`Pacer`] is our copy of that bucket, one frame per
//! token, with one difference: ours holds only half the server's burst. The server's bucket ticks
//! when our frames *arrive*, ours when they leave; the network can bunch frames sent apart (a
//! delayed packet, then two at once), which looks faster at the server than it was here. Frames
//! that leave at no more than the rate with a burst of `B/2` arrive within the rate with a burst of
//! `B` as long as no frame is delayed by more than `B/2` rate periods relative to the others: a
//! second at the default limits (20/s, burst 40), ten seconds at 2/s. The sustained rate is the
//! server's own, so a long paste takes no longer than the server allows.

use std::time::{Duration, Instant};

/// Our side of the server's token bucket.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    /// Tokens per second; `None` when the server has no rate limit.
    per_sec: Option<f64>,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// A full bucket at `now` for the server's `limits`.
    pub(crate) fn new(limits: &wire::Limits, now: Instant) -> Self {
        let burst = f64::from((limits.burst / 2).max(1));
        Self {
            per_sec: (limits.lines_per_sec > 0).then(|| f64::from(limits.lines_per_sec)),
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token if there is one; otherwise how long until there is.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let Some(per_sec) = self.per_sec else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_sec))
        }
    }

    /// The server said `TooFast` anyway (a clock or a network worse than we allowed for): start
    /// again from an empty bucket, which is what the server's is.
    pub(crate) fn empty(&mut self, now: Instant) {
        self.tokens = 0.0;
        self.last = now;
    }

    /// How long `lines` frames take at the sustained rate (zero without a rate limit).
    pub(crate) fn time_for(&self, lines: usize) -> Duration {
        match self.per_sec {
            Some(per_sec) => Duration::from_secs_f64(lines as f64 / per_sec),
            None => Duration::ZERO,
        }
    }

    /// The time between two frames at the sustained rate (zero without a rate limit).
    pub(crate) fn period(&self) -> Duration {
        self.time_for(1)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Limits as a server with default settings but for its rate tells them, for the crate's tests.
    pub(crate) fn limits(lines_per_sec: u32, burst: u32) -> wire::Limits {
        wire::Limits {
            lines_per_sec,
            burst,
            max_line_bytes: 4096,
            max_frame_bytes: 65536,
            strikes_allowed: 20,
            max_rooms_per_user: 50,
            max_topic_bytes: 300,
        }
    }

    #[test]
    fn half_the_burst_goes_at_once_then_the_rate() {
        let start = Instant::now();
        let mut pacer = Pacer::new(&limits(20, 40), start);
        let at_once = (0..100).take_while(|_| pacer.take(start).is_ok()).count();
        assert_eq!(at_once, 20);
        let wait = pacer.take(start).expect_err("empty");
        assert_eq!(wait, Duration::from_millis(50));
        assert!(pacer.take(start + wait).is_ok(), "refilled after the wait");
        assert!(pacer.take(start + wait).is_err());
    }

    /// Whatever the client's frames look like after our pacing, the server's own bucket (the
    /// rule in `server/src/limits.rs`) never runs dry when they arrive with bounded jitter.
    #[test]
    fn paced_frames_pass_the_servers_bucket_despite_jitter() {
        for (rate, burst) in [(20, 40), (2, 40), (2, 4), (5, 10)] {
            let start = Instant::now();
            let mut pacer = Pacer::new(&limits(rate, burst), start);
            let period = Duration::from_secs_f64(1.0 / f64::from(rate));
            // Jitter up to half the burst's worth of periods, less a hair.
            let jitter = period.mul_f64(f64::from(burst / 2)) - Duration::from_millis(1);
            let (mut server_tokens, mut server_last) = (f64::from(burst), start);
            let mut now = start;
            for i in 0..300u32 {
                match pacer.take(now) {
                    Ok(()) => {}
                    Err(wait) => {
                        now += wait;
                        pacer.take(now).expect("a token after the wait");
                    }
                }
                // Every third frame is held up by the whole jitter, the others not at all: the
                // worst case for bunching.
                let arrival = if i % 3 == 0 { now + jitter } else { now };
                let arrival = arrival.max(server_last);
                let elapsed = arrival.duration_since(server_last).as_secs_f64();
                server_last = arrival;
                server_tokens = (server_tokens + elapsed * f64::from(rate)).min(f64::from(burst));
                assert!(
                    server_tokens >= 1.0 - 1e-9,
                    "rate {rate} burst {burst}: frame {i} would be TooFast"
                );
                server_tokens -= 1.0;
            }
        }
    }

    #[test]
    fn no_rate_limit_never_waits() {
        let start = Instant::now();
        let mut pacer = Pacer::new(&limits(0, 0), start);
        assert!((0..10_000).all(|_| pacer.take(start).is_ok()));
        assert_eq!(pacer.time_for(1000), Duration::ZERO);
    }
}
