//! CUBIC (RFC 9438): after a loss the window follows
//! `W_cubic(t) = C * (t - K)^3 + W_max` (C = 0.4, beta = 0.7, fast convergence), never
//! below the Reno-friendly estimate `W_est` (§4.3); slow start as in RFC 5681 with byte
//! counting. Windows are tracked in segments as `f64` and reported in bytes.

use super::{slow_start_increase, CongestionControl, MAX_CWND};
use crate::time::{Duration, Instant};

const C: f64 = 0.4;
const BETA: f64 = 0.7;
/// RTT assumed before the first sample.
const DEFAULT_RTT: f64 = 0.1;

#[derive(Clone, Debug)]
pub struct Cubic {
    /// Window in bytes, fractional growth kept.
    cwnd: f64,
    ssthresh: usize,
    /// Window (segments) before the last reduction.
    w_max: f64,
    /// Window (segments) just before the last reduction, for the alpha switch (§4.3).
    cwnd_prior: f64,
    /// Congestion-avoidance epoch: start time, K (seconds), Reno estimate (segments).
    epoch: Option<Epoch>,
}

#[derive(Clone, Copy, Debug)]
struct Epoch {
    start: Instant,
    k: f64,
    w_est: f64,
}

impl Cubic {
    pub fn new(initial_window: usize) -> Self {
        Cubic { cwnd: initial_window as f64, ssthresh: usize::MAX, w_max: 0.0, cwnd_prior: 0.0, epoch: None }
    }

    /// W_max after a reduction (segments), for tests and diagnostics.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    fn reduce(&mut self, mss: usize) {
        let seg = self.cwnd / mss as f64;
        // Fast convergence (§4.7): release bandwidth to newer flows.
        self.w_max = if seg < self.w_max { seg * (1.0 + BETA) / 2.0 } else { seg };
        self.cwnd_prior = seg;
        self.ssthresh = ((self.cwnd * BETA) as usize).max(2 * mss);
        self.epoch = None;
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> usize {
        self.cwnd as usize
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, srtt: Option<Duration>) {
        let mssf = mss as f64;
        if (self.cwnd as usize) < self.ssthresh {
            self.cwnd += slow_start_increase(acked, mss) as f64;
            self.cwnd = self.cwnd.min(MAX_CWND as f64);
            return;
        }
        let cwnd_seg = self.cwnd / mssf;
        let epoch = *self.epoch.get_or_insert_with(|| {
            // §4.2: K from the window at the start of the epoch.
            let k = if self.w_max > cwnd_seg { ((self.w_max - cwnd_seg) / C).cbrt() } else { 0.0 };
            Epoch { start: now, k, w_est: cwnd_seg }
        });
        if self.w_max < cwnd_seg {
            self.w_max = cwnd_seg;
        }
        let t = (now - epoch.start).as_secs_f64();
        let rtt = srtt.map(|d| d.as_secs_f64()).unwrap_or(DEFAULT_RTT);
        let w_cubic = |t: f64| C * (t - epoch.k).powi(3) + self.w_max;
        // Reno-friendly estimate (§4.3).
        let alpha = if epoch.w_est >= self.cwnd_prior { 1.0 } else { 3.0 * (1.0 - BETA) / (1.0 + BETA) };
        let acked_seg = acked as f64 / mssf;
        let w_est = epoch.w_est + alpha * acked_seg / cwnd_seg;
        if let Some(e) = self.epoch.as_mut() {
            e.w_est = w_est;
        }
        if w_cubic(t) < w_est {
            self.cwnd = self.cwnd.max(w_est * mssf);
        } else {
            // §4.4/4.5: approach W_cubic(t + RTT), growing at most 50% per RTT.
            let target = w_cubic(t + rtt).clamp(cwnd_seg, 1.5 * cwnd_seg);
            self.cwnd += (target - cwnd_seg) / cwnd_seg * acked_seg * mssf;
        }
        self.cwnd = self.cwnd.min(MAX_CWND as f64);
    }

    fn on_congestion_event(&mut self, _now: Instant, _flight: usize, mss: usize) {
        self.reduce(mss);
        self.cwnd = self.ssthresh as f64;
    }

    fn on_recovery_end(&mut self, _now: Instant, _flight: usize, _mss: usize) {
        self.cwnd = self.cwnd.min(self.ssthresh as f64);
    }

    fn on_rto(&mut self, _now: Instant, _flight: usize, mss: usize, first: bool) {
        if first {
            self.reduce(mss);
        }
        self.epoch = None;
        self.cwnd = mss as f64;
    }

    fn on_idle_restart(&mut self, _now: Instant, restart_window: usize) {
        self.cwnd = self.cwnd.min(restart_window as f64);
        self.epoch = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn reduction_by_beta_and_fast_convergence() {
        let t = Instant::ZERO;
        let mut c = Cubic::new(100 * MSS);
        c.on_congestion_event(t, 100 * MSS, MSS);
        assert_eq!(c.cwnd(), 70 * MSS);
        assert_eq!(c.ssthresh(), 70 * MSS);
        assert!((c.w_max() - 100.0).abs() < 1e-9);
        // A second loss below W_max: fast convergence lowers W_max further.
        c.on_congestion_event(t, 70 * MSS, MSS);
        assert!((c.w_max() - 70.0 * 1.7 / 2.0).abs() < 1e-9);
        assert_eq!(c.cwnd(), 49 * MSS);
    }

    #[test]
    fn concave_then_convex_growth() {
        let mut c = Cubic::new(100 * MSS);
        c.on_congestion_event(Instant::ZERO, 100 * MSS, MSS);
        let rtt = Duration::from_millis(100);
        // K = cbrt(30 / 0.4) = 4.217 s. Ack a window per RTT for 10 s.
        let mut now = Instant::ZERO;
        let mut at_k = 0;
        for i in 1..=100 {
            now = Instant::from_millis(i * 100);
            let w = c.cwnd();
            for _ in 0..w / MSS {
                c.on_ack(now, MSS, MSS, Some(rtt));
            }
            if i == 42 {
                at_k = c.cwnd();
            }
        }
        // Plateau near W_max around K, then beyond it.
        assert!((95 * MSS..=105 * MSS).contains(&at_k), "cwnd at K: {at_k}");
        assert!(c.cwnd() > 120 * MSS, "cwnd after 10 s: {}", c.cwnd());
        let _ = now;
    }

    #[test]
    fn timeout_resets_to_one_segment() {
        let mut c = Cubic::new(10 * MSS);
        c.on_rto(Instant::ZERO, 10 * MSS, MSS, true);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), 7 * MSS);
        // Slow start from there.
        c.on_ack(Instant::ZERO, MSS, MSS, None);
        assert_eq!(c.cwnd(), 2 * MSS);
    }
}
