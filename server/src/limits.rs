//! Per-client and per-address limits that are not transport settings.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

/// Messages per second for one client: a token bucket, so a short burst (pasting a few lines) passes
/// and a sustained flood does not.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket at `now`; `per_sec == 0` means unlimited.
    pub(crate) fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_sec: f64::from(per_sec),
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        if self.per_sec == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Connections per source address, counted while they live.
#[derive(Debug, Clone, Default)]
pub(crate) struct PerAddress {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Holds one connection's place in [`PerAddress`]; gives it back when dropped.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerAddress {
    /// A slot for `ip`, or `None` when it already has `max` connections. Loopback and `max == 0`
    /// are not limited.
    pub(crate) fn take(&self, ip: IpAddr, max: usize) -> Option<Option<AddressSlot>> {
        if max == 0 || ip.is_loopback() || ip.to_canonical().is_loopback() {
            return Some(None);
        }
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Some(AddressSlot {
            counts: self.counts.clone(),
            ip,
        }))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limit = RateLimit::new(10, 5, start);
        let allowed = (0..20).filter(|_| limit.allow(start)).count();
        assert_eq!(allowed, 5, "the burst");
        assert!(!limit.allow(start + Duration::from_millis(50)));
        assert!(limit.allow(start + Duration::from_millis(110)), "refilled");
        assert!(
            RateLimit::new(0, 0, start).allow(start),
            "0 means unlimited"
        );
    }

    #[test]
    fn addresses_are_counted_and_released() {
        let per = PerAddress::default();
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let a = per.take(ip, 2).expect("first");
        let b = per.take(ip, 2).expect("second");
        assert!(per.take(ip, 2).is_none(), "third refused");
        drop(a);
        assert!(per.take(ip, 2).is_some(), "a freed place is reusable");
        drop(b);
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(
            (0..100).all(|_| per.take(local, 1).is_some()),
            "loopback exempt"
        );
    }
}
