//! Latency percentiles and CDF points from a nanosecond histogram, reported
//! in microseconds.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency summary in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    /// Samples in the histogram.
    pub count: u64,
}

impl Percentiles {
    /// Reads the summary from a histogram of nanoseconds; `None` if empty.
    /// Values are the upper edges of hdrhistogram buckets (3 significant digits).
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(Percentiles {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
            count: h.len(),
        })
    }
}

/// One point of a latency CDF: `fraction` of operations took at most `latency_us`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CdfPoint {
    pub latency_us: f64,
    pub fraction: f64,
}

/// Quantiles at which [`cdf`] samples: dense in the body, then the tail.
pub const CDF_QUANTILES: &[f64] = &[
    0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995,
    0.999, 0.9995, 0.9999, 1.0,
];

/// The CDF of a nanosecond histogram at [`CDF_QUANTILES`], in microseconds
/// (empty for an empty histogram). Compact enough for `results.json`.
pub fn cdf(h: &Histogram<u64>) -> Vec<CdfPoint> {
    if h.is_empty() {
        return Vec::new();
    }
    CDF_QUANTILES
        .iter()
        .map(|&q| CdfPoint { latency_us: h.value_at_quantile(q) as f64 / 1000.0, fraction: q })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = crate::load::new_histogram();
        for v in values_us {
            h.record(v * 1000).unwrap();
        }
        h
    }

    #[test]
    fn percentiles_of_1_to_1000_us() {
        let p = Percentiles::from_histogram(&hist(1..=1000)).unwrap();
        let near = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 0.001;
        assert!(near(p.p50, 500.0), "{p:?}");
        assert!(near(p.p90, 900.0), "{p:?}");
        assert!(near(p.p99, 990.0), "{p:?}");
        assert!(near(p.p999, 999.0), "{p:?}");
        assert!(near(p.max, 1000.0), "{p:?}");
        assert!(near(p.mean, 500.5), "{p:?}");
        assert_eq!(p.count, 1000);
    }

    #[test]
    fn empty_histogram_has_no_percentiles() {
        assert_eq!(Percentiles::from_histogram(&hist([])), None);
        assert!(cdf(&hist([])).is_empty());
    }

    #[test]
    fn cdf_is_monotone_and_spans_the_range() {
        let c = cdf(&hist((1..=100).chain([5000])));
        assert_eq!(c.len(), CDF_QUANTILES.len());
        assert!(c.windows(2).all(|w| w[0].latency_us <= w[1].latency_us && w[0].fraction < w[1].fraction));
        assert!((c[0].latency_us - 1.0).abs() < 0.01);
        assert!((c.last().unwrap().latency_us - 5000.0).abs() < 5.0);
    }
}
