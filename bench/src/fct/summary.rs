//! Transfer outcomes and their summary: exact nearest-rank percentiles of the completed
//! transfers (a group has tens of samples, not millions, so no histogram buckets).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What became of one transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Completed and verified, in this time.
    Done(Duration),
    /// The server closed (EOF) before all bytes arrived.
    EndedEarly(String),
    /// Anything else: connect failure, reset, timeout, wrong bytes, bad HTTP status.
    Error(String),
}

/// The outcomes of one group of transfers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcomes {
    /// Completion times of the transfers that completed, in run order.
    pub times: Vec<Duration>,
    /// Failed transfers, early ends included.
    pub errors: u64,
    /// Of `errors`, transfers the server ended early.
    pub ended_early: u64,
    pub first_error: Option<String>,
}

impl Outcomes {
    pub fn push(&mut self, o: Outcome) {
        match o {
            Outcome::Done(d) => self.times.push(d),
            Outcome::EndedEarly(e) => {
                self.ended_early += 1;
                self.fail(format!("ended early: {e}"));
            }
            Outcome::Error(e) => self.fail(e),
        }
    }

    /// Counts `n` transfers that were not attempted (after repeated timeouts) as errors.
    pub fn skipped(&mut self, n: usize, why: &str) {
        if n > 0 {
            self.errors += n as u64;
            self.first_error.get_or_insert_with(|| why.to_string());
        }
    }

    fn fail(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    pub fn stats(&self) -> Option<FctStats> {
        FctStats::of(&self.times)
    }
}

/// Summary of completion times, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FctStats {
    /// Completed transfers summarised.
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The nearest-rank `q`-quantile (0 < q <= 1) of sorted `v`: the smallest value with at
/// least `q` of the samples at or below it. With 20 samples p50 is the 10th and p99 the
/// 20th (the maximum).
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().clamp(1.0, sorted.len() as f64) as usize;
    Some(sorted[rank - 1])
}

impl FctStats {
    /// `None` when nothing completed.
    pub fn of(times: &[Duration]) -> Option<FctStats> {
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Some(FctStats {
            count: ms.len(),
            p50_ms: nearest_rank(&ms, 0.50)?,
            p99_ms: nearest_rank(&ms, 0.99)?,
            max_ms: *ms.last()?,
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        })
    }
}

/// `engine / kernel`, when both are positive and finite (above 1: the engine is slower).
pub fn time_ratio(engine: Option<f64>, kernel: Option<f64>) -> Option<f64> {
    let (e, k) = (engine?, kernel?);
    (e.is_finite() && k.is_finite() && e > 0.0 && k > 0.0).then(|| e / k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.5), Some(10.0));
        assert_eq!(nearest_rank(&v, 0.99), Some(20.0));
        assert_eq!(nearest_rank(&v, 0.05), Some(1.0));
        assert_eq!(nearest_rank(&v, 1.0), Some(20.0));
        let h: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(nearest_rank(&h, 0.99), Some(990.0));
        assert_eq!(nearest_rank(&h, 0.5), Some(500.0));
        assert_eq!(nearest_rank(&[7.0], 0.5), Some(7.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn stats_sort_and_summarise() {
        let s = FctStats::of(&ms(&[5, 1, 3, 200, 2])).unwrap();
        assert_eq!(s.count, 5);
        assert!((s.p50_ms - 3.0).abs() < 1e-9, "{s:?}");
        assert!((s.p99_ms - 200.0).abs() < 1e-9);
        assert!((s.max_ms - 200.0).abs() < 1e-9);
        assert!((s.mean_ms - 42.2).abs() < 1e-9);
        assert_eq!(FctStats::of(&[]), None);
    }

    #[test]
    fn outcomes_count_errors_and_early_ends() {
        let mut o = Outcomes::default();
        o.push(Outcome::Done(Duration::from_millis(4)));
        o.push(Outcome::EndedEarly("got 10 of 4096 bytes".into()));
        o.push(Outcome::Error("timed out".into()));
        o.push(Outcome::Done(Duration::from_millis(6)));
        o.skipped(3, "not run after 3 timeouts");
        assert_eq!((o.times.len(), o.errors, o.ended_early), (2, 5, 1));
        assert_eq!(o.first_error.as_deref(), Some("ended early: got 10 of 4096 bytes"));
        assert_eq!(o.stats().unwrap().count, 2);
        let mut none = Outcomes::default();
        none.skipped(0, "x");
        assert_eq!((none.errors, none.first_error), (0, None));
    }

    #[test]
    fn ratios() {
        assert_eq!(time_ratio(Some(2.0), Some(1.0)), Some(2.0));
        assert_eq!(time_ratio(Some(1.0), Some(4.0)), Some(0.25));
        assert_eq!(time_ratio(None, Some(1.0)), None);
        assert_eq!(time_ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(time_ratio(Some(f64::NAN), Some(1.0)), None);
    }
}
