//! NewReno window sizing (RFC 5681 §3.1): slow start below `ssthresh` (byte counting,
//! RFC 3465), one segment per window of acknowledged data in congestion avoidance,
//! `ssthresh = max(FlightSize / 2, 2 * SMSS)` on loss, a one-segment loss window after
//! a timeout. Recovery exit deflates to `min(ssthresh, max(FlightSize, SMSS) + SMSS)`
//! (RFC 6582 §3.2 step 3, first option).

use super::{slow_start_increase, CongestionControl, MAX_CWND};
use crate::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged toward the next congestion-avoidance increase.
    bytes_acked: usize,
}

impl NewReno {
    pub fn new(initial_window: usize) -> Self {
        NewReno { cwnd: initial_window, ssthresh: usize::MAX, bytes_acked: 0 }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, acked: usize, mss: usize, _srtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            self.cwnd += slow_start_increase(acked, mss);
        } else {
            self.bytes_acked += acked;
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd += mss;
            }
        }
        self.cwnd = self.cwnd.min(MAX_CWND);
    }

    fn on_congestion_event(&mut self, _now: Instant, flight: usize, mss: usize) {
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_recovery_end(&mut self, _now: Instant, flight: usize, mss: usize) {
        self.cwnd = self.ssthresh.min(flight.max(mss) + mss);
        self.bytes_acked = 0;
    }

    fn on_rto(&mut self, _now: Instant, flight: usize, mss: usize, first: bool) {
        if first {
            self.ssthresh = (flight / 2).max(2 * mss);
        }
        self.cwnd = mss;
        self.bytes_acked = 0;
    }

    fn on_idle_restart(&mut self, _now: Instant, restart_window: usize) {
        self.cwnd = self.cwnd.min(restart_window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn slow_start_then_avoidance() {
        let t = Instant::ZERO;
        let mut c = NewReno::new(10 * MSS);
        // Delayed ACKs covering two segments grow the window by two segments.
        c.on_ack(t, 2 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 12 * MSS);
        // A stretch ACK counts at most two segments (L = 2).
        c.on_ack(t, 8 * MSS, MSS, None);
        assert_eq!(c.cwnd(), 14 * MSS);
        c.on_congestion_event(t, 14 * MSS, MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (7 * MSS, 7 * MSS));
        // Congestion avoidance: one segment per cwnd of acknowledged bytes.
        for _ in 0..6 {
            c.on_ack(t, MSS, MSS, None);
        }
        assert_eq!(c.cwnd(), 7 * MSS);
        c.on_ack(t, MSS, MSS, None);
        assert_eq!(c.cwnd(), 8 * MSS);
    }

    #[test]
    fn loss_floor_rto_and_recovery_end() {
        let t = Instant::ZERO;
        let mut c = NewReno::new(10 * MSS);
        c.on_congestion_event(t, 2 * MSS, MSS);
        assert_eq!(c.ssthresh(), 2 * MSS);
        c.on_rto(t, 10 * MSS, MSS, true);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 5 * MSS));
        c.on_rto(t, MSS, MSS, false);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 5 * MSS));
        c.on_congestion_event(t, 10 * MSS, MSS);
        c.on_recovery_end(t, MSS, MSS);
        assert_eq!(c.cwnd(), 2 * MSS);
        c.on_idle_restart(t, MSS);
        assert_eq!(c.cwnd(), MSS);
    }
}
