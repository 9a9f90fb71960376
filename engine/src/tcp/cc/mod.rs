//! Congestion control behind a small trait: [`NewReno`] (RFC 5681 window growth, with
//! appropriate byte counting per RFC 3465, L = 2) and [`Cubic`] (RFC 9438).
//!
//! The algorithms only size the window. Loss detection and the recovery mechanics (RFC
//! 6582 NewReno window inflation, RFC 6675 pipe accounting) live in the connection,
//! which calls [`CongestionControl::on_congestion_event`] once per loss episode and
//! [`CongestionControl::on_recovery_end`] when the episode is repaired. The initial
//! window is ten segments (RFC 6928).

mod cubic;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use crate::time::{Duration, Instant};

/// Initial window in segments (RFC 6928).
pub const INITIAL_WINDOW_SEGMENTS: usize = 10;

/// Initial window for a given MSS (RFC 6928 §2: min(10*MSS, max(2*MSS, 14600))).
pub fn initial_window(mss: usize, segments: usize) -> usize {
    (segments * mss).min((2 * mss).max(14_600)).max(mss)
}

pub trait CongestionControl {
    /// Congestion window, bytes.
    fn cwnd(&self) -> usize;
    /// Slow-start threshold, bytes (`usize::MAX` before the first loss).
    fn ssthresh(&self) -> usize;
    /// `acked` bytes of new data were cumulatively acknowledged, outside loss recovery.
    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, srtt: Option<Duration>);
    /// Loss detected by duplicate ACKs or SACK: the window shrinks once per episode.
    /// `flight` is the data outstanding when the loss was detected.
    fn on_congestion_event(&mut self, now: Instant, flight: usize, mss: usize);
    /// The loss episode ended (a cumulative ACK covered the recovery point).
    fn on_recovery_end(&mut self, now: Instant, flight: usize, mss: usize);
    /// The retransmission timer expired. `first` when this is the first expiry for the
    /// oldest outstanding data: only then is `ssthresh` reduced (RFC 5681 §3.1).
    fn on_rto(&mut self, now: Instant, flight: usize, mss: usize, first: bool);
    /// Sending resumes after an idle period longer than an RTO (RFC 5681 §4.1):
    /// the window is reduced to the restart window.
    fn on_idle_restart(&mut self, now: Instant, restart_window: usize);
}

/// Which algorithm a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CcAlgorithm {
    NewReno,
    #[default]
    Cubic,
}

/// Static dispatch over the algorithms.
#[derive(Clone, Debug)]
pub enum Cc {
    NewReno(NewReno),
    Cubic(Cubic),
}

impl Cc {
    pub fn new(algorithm: CcAlgorithm, initial_window: usize) -> Self {
        match algorithm {
            CcAlgorithm::NewReno => Cc::NewReno(NewReno::new(initial_window)),
            CcAlgorithm::Cubic => Cc::Cubic(Cubic::new(initial_window)),
        }
    }

    fn inner(&mut self) -> &mut dyn CongestionControl {
        match self {
            Cc::NewReno(c) => c,
            Cc::Cubic(c) => c,
        }
    }

    fn inner_ref(&self) -> &dyn CongestionControl {
        match self {
            Cc::NewReno(c) => c,
            Cc::Cubic(c) => c,
        }
    }
}

impl CongestionControl for Cc {
    fn cwnd(&self) -> usize {
        self.inner_ref().cwnd()
    }
    fn ssthresh(&self) -> usize {
        self.inner_ref().ssthresh()
    }
    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, srtt: Option<Duration>) {
        self.inner().on_ack(now, acked, mss, srtt)
    }
    fn on_congestion_event(&mut self, now: Instant, flight: usize, mss: usize) {
        self.inner().on_congestion_event(now, flight, mss)
    }
    fn on_recovery_end(&mut self, now: Instant, flight: usize, mss: usize) {
        self.inner().on_recovery_end(now, flight, mss)
    }
    fn on_rto(&mut self, now: Instant, flight: usize, mss: usize, first: bool) {
        self.inner().on_rto(now, flight, mss, first)
    }
    fn on_idle_restart(&mut self, now: Instant, restart_window: usize) {
        self.inner().on_idle_restart(now, restart_window)
    }
}

/// Largest congestion window kept (bounds arithmetic; real windows are far smaller).
pub(crate) const MAX_CWND: usize = 1 << 30;

/// Slow-start increase with appropriate byte counting (RFC 3465, L = 2 segments).
pub(crate) fn slow_start_increase(acked: usize, mss: usize) -> usize {
    acked.min(2 * mss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_window_rfc6928() {
        assert_eq!(initial_window(1460, 10), 14_600);
        assert_eq!(initial_window(8960, 10), 17_920);
        assert_eq!(initial_window(536, 10), 5360);
        assert_eq!(initial_window(1460, 1), 1460);
    }
}
