//! The measurement window shared by the time-based generators: warmup, then
//! the measured period.

use std::time::{Duration, Instant};

/// Start of measurement and end of the run, fixed when the generator starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub measure_from: Instant,
    pub end: Instant,
    pub duration: Duration,
}

impl Window {
    pub fn start(duration: Duration, warmup: Duration) -> Self {
        let measure_from = Instant::now() + warmup;
        Window { measure_from, end: measure_from + duration, duration }
    }

    /// Whether an operation that started at `started` and finished at `done`
    /// falls inside the measured period.
    pub fn counts(&self, started: Instant, done: Instant) -> bool {
        started >= self.measure_from && done <= self.end
    }

    pub fn over(&self, now: Instant) -> bool {
        now >= self.end
    }

    pub fn seconds(&self) -> f64 {
        self.duration.as_secs_f64()
    }
}
