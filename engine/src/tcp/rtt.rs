//! Round-trip time estimation and the retransmission timeout (RFC 6298): SRTT and
//! RTTVAR from samples, RTO = SRTT + max(G, 4 * RTTVAR) clamped to a configured range,
//! exponential backoff on expiry. Karn's algorithm (no samples from retransmitted
//! segments unless timestamps disambiguate) is applied by the caller, which decides
//! what is a valid sample.

use crate::time::Duration;

/// Clock granularity G (our timestamps tick in milliseconds).
const GRANULARITY_US: u64 = 1000;
/// Backoff stops doubling past this many expiries (the maximum RTO caps it anyway).
const MAX_BACKOFF: u32 = 16;

#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    /// Smoothed RTT and variance, microseconds; `None` before the first sample.
    srtt: Option<u64>,
    rttvar: u64,
    /// RTO before backoff, microseconds.
    base: u64,
    backoff: u32,
    min: u64,
    max: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl RttEstimator {
    pub fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        let (min, max) = (micros(min), micros(max).max(micros(min)));
        RttEstimator { srtt: None, rttvar: 0, base: micros(initial).clamp(min, max), backoff: 0, min, max }
    }

    /// Feeds a valid RTT sample (RFC 6298 §2.2, §2.3); clears the backoff (§5.7 as
    /// applied by Karn: a fresh sample ends the backoff).
    pub fn sample(&mut self, rtt: Duration) {
        let r = micros(rtt);
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                // beta = 1/4, alpha = 1/8
                let err = srtt.abs_diff(r);
                self.rttvar = (3 * self.rttvar + err) / 4;
                self.srtt = Some((7 * srtt + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.base = srtt.saturating_add(GRANULARITY_US.max(4 * self.rttvar)).clamp(self.min, self.max);
        self.backoff = 0;
    }

    /// The current RTO, backoff applied.
    pub fn rto(&self) -> Duration {
        let v = self.base.checked_shl(self.backoff).unwrap_or(u64::MAX);
        let v = if v >> self.backoff != self.base { u64::MAX } else { v };
        Duration::from_micros(v.clamp(self.min, self.max))
    }

    /// The RTO without backoff.
    pub fn rto_unbacked(&self) -> Duration {
        Duration::from_micros(self.base)
    }

    /// Doubles the RTO (§5.5).
    pub fn back_off(&mut self) {
        self.backoff = (self.backoff + 1).min(MAX_BACKOFF);
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt.map(Duration::from_micros)
    }

    #[cfg(test)]
    pub fn rttvar(&self) -> Duration {
        Duration::from_micros(self.rttvar)
    }

    /// RFC 6298 §5.7: after the SYN was retransmitted and no sample was taken, data
    /// transmission starts with an RTO of 3 s.
    pub fn reset_after_syn_loss(&mut self) {
        if self.srtt.is_none() {
            self.base = 3_000_000u64.clamp(self.min, self.max);
            self.backoff = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(Duration::from_secs(1), Duration::from_millis(200), Duration::from_secs(120))
    }

    #[test]
    fn initial_and_first_sample() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        // SRTT 100 ms, RTTVAR 50 ms: RTO = 100 + 200 = 300 ms.
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rto(), Duration::from_millis(300));
    }

    #[test]
    fn smoothing_and_min_clamp() {
        let mut e = est();
        e.sample(Duration::from_millis(100));
        e.sample(Duration::from_millis(200));
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
        for _ in 0..50 {
            e.sample(Duration::from_micros(50));
        }
        assert_eq!(e.rto(), Duration::from_millis(200));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut e = est();
        e.back_off();
        assert_eq!(e.rto(), Duration::from_secs(2));
        for _ in 0..40 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.rto(), Duration::from_millis(300));
    }

    #[test]
    fn syn_loss_rule() {
        let mut e = est();
        e.back_off();
        e.reset_after_syn_loss();
        assert_eq!(e.rto(), Duration::from_secs(3));
    }
}
