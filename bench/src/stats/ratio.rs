//! Engine/kernel ratios, oriented so that an advantage above 1 always means
//! the engine did better, whichever direction the metric improves in.

use serde::{Deserialize, Serialize};

/// The comparison of one engine figure with the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Plain `engine / kernel`.
    pub engine_over_kernel: f64,
    /// How many times better the engine is: `engine / kernel` when higher is
    /// better, `kernel / engine` when lower is better. Above 1: engine better.
    pub advantage: f64,
}

/// Compares `engine` with `kernel`; `None` when either is zero, negative or
/// not finite (no meaningful ratio).
pub fn ratio(engine: f64, kernel: f64, higher_is_better: bool) -> Option<Ratio> {
    let ok = |v: f64| v.is_finite() && v > 0.0;
    if !ok(engine) || !ok(kernel) {
        return None;
    }
    let r = engine / kernel;
    Some(Ratio { engine_over_kernel: r, advantage: if higher_is_better { r } else { 1.0 / r } })
}

impl Ratio {
    /// `"2.10x better"`, `"0.80x (worse)"`, or `"1.00x (same)"` within ±0.5 %.
    pub fn label(&self) -> String {
        let a = self.advantage;
        if a >= 1.005 {
            format!("{a:.2}x better")
        } else if a <= 0.995 {
            format!("{a:.2}x (worse)")
        } else {
            format!("{a:.2}x (same)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_is_better() {
        let r = ratio(210_000.0, 100_000.0, true).unwrap();
        assert!((r.engine_over_kernel - 2.1).abs() < 1e-12);
        assert!((r.advantage - 2.1).abs() < 1e-12);
        assert_eq!(r.label(), "2.10x better");
        assert_eq!(ratio(8.0, 10.0, true).unwrap().label(), "0.80x (worse)");
    }

    #[test]
    fn lower_is_better_inverts() {
        // Engine p50 20 us vs kernel 42 us: 2.1x better, though engine/kernel < 1.
        let r = ratio(20.0, 42.0, false).unwrap();
        assert!((r.engine_over_kernel - 20.0 / 42.0).abs() < 1e-12);
        assert_eq!(r.label(), "2.10x better");
        assert_eq!(ratio(50.0, 40.0, false).unwrap().label(), "0.80x (worse)");
        assert_eq!(ratio(100.0, 100.2, false).unwrap().label(), "1.00x (same)");
    }

    #[test]
    fn no_ratio_for_zero_or_nan() {
        assert_eq!(ratio(0.0, 1.0, true), None);
        assert_eq!(ratio(1.0, 0.0, true), None);
        assert_eq!(ratio(f64::NAN, 1.0, false), None);
        assert_eq!(ratio(1.0, f64::INFINITY, false), None);
    }
}
