//! ICMP logic (RFC 792, RFC 1122 §3.2.2): echo replies and the rate limit on the error
//! messages the engine generates (destination/protocol/port unreachable), as Linux does
//! with `icmp_ratelimit` (RFC 1812 §4.3.2.8 recommends limiting them).
//!
//! Sans-IO: the token bucket is refilled from the `now` it is given.

use crate::time::{Duration, Instant};

/// A token bucket: `burst` tokens, one more every `interval`.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    burst: u32,
    interval: Duration,
    tokens: u32,
    last: Instant,
}

impl RateLimiter {
    /// A bucket that starts full.
    pub fn new(burst: u32, interval: Duration) -> Self {
        RateLimiter { burst: burst.max(1), interval: interval.max(Duration::from_micros(1)), tokens: burst.max(1), last: Instant::ZERO }
    }

    /// Linux's defaults: a burst of 50, then one message per millisecond.
    pub fn icmp_default() -> Self {
        Self::new(50, Duration::from_millis(1))
    }

    /// Takes a token if one is available at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_since(self.last);
        let new = (elapsed.as_micros() / self.interval.as_micros().max(1)) as u64;
        if new > 0 {
            self.tokens = (self.tokens as u64 + new).min(self.burst as u64) as u32;
            // Advance by whole intervals only, so fractional progress is kept.
            self.last = if self.tokens == self.burst { now } else { self.last + self.interval * new as u32 };
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// How many bytes of the offending datagram an ICMP error quotes: its IP header plus the
/// first 8 bytes of its payload (RFC 792).
pub fn quote_len(ip_header_len: usize, datagram_len: usize) -> usize {
    (ip_header_len + 8).min(datagram_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let mut r = RateLimiter::new(3, Duration::from_millis(10));
        let t0 = Instant::from_secs(5);
        assert!(r.allow(t0) && r.allow(t0) && r.allow(t0));
        assert!(!r.allow(t0), "burst spent");
        assert!(!r.allow(t0 + Duration::from_millis(9)));
        assert!(r.allow(t0 + Duration::from_millis(10)));
        assert!(!r.allow(t0 + Duration::from_millis(15)));
        assert!(r.allow(t0 + Duration::from_millis(20)), "fractional progress kept");
        // A long pause refills to the burst, no further.
        let later = t0 + Duration::from_secs(60);
        assert!(r.allow(later) && r.allow(later) && r.allow(later));
        assert!(!r.allow(later));
    }

    #[test]
    fn quote_is_header_plus_eight() {
        assert_eq!(quote_len(20, 100), 28);
        assert_eq!(quote_len(24, 26), 26);
    }
}
