//! Engine time for the sans-IO layers.
//!
//! Protocol code never reads a clock: the runtime samples one (`Clock::now`) and hands
//! the resulting [`Instant`] in. An `Instant` is a count of microseconds since an
//! arbitrary epoch (the runtime's start), which keeps it `Copy`, totally ordered,
//! cheap to compare and trivial to fake in tests (`Instant::from_millis(1500)`).

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
pub use core::time::Duration;

/// A point in engine time, in microseconds since the runtime's epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// Later than any real instant; a deadline of `FAR` means "none".
    pub const FAR: Instant = Instant { micros: u64::MAX };

    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }
    pub const fn from_millis(millis: u64) -> Self {
        Instant { micros: millis * 1000 }
    }
    pub const fn from_secs(secs: u64) -> Self {
        Instant { micros: secs * 1_000_000 }
    }
    pub const fn total_micros(self) -> u64 {
        self.micros
    }
    pub const fn total_millis(self) -> u64 {
        self.micros / 1000
    }
    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        let d = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant { micros: self.micros.saturating_add(d) }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        let d = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant { micros: self.micros.saturating_sub(d) }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Instant::FAR {
            return f.write_str("Instant(never)");
        }
        write!(f, "Instant({}.{:06}s)", self.micros / 1_000_000, self.micros % 1_000_000)
    }
}

/// The runtime's clock: the only place engine time is read from the OS.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: std::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock { epoch: std::time::Instant::now() }
    }
    pub fn now(&self) -> Instant {
        let d = self.epoch.elapsed();
        Instant::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(1500);
        assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
        assert_eq!(t - Duration::from_secs(10), Instant::ZERO);
        assert_eq!(Instant::from_secs(1) - t, Duration::ZERO);
        assert_eq!(t - Instant::from_secs(1), Duration::from_millis(500));
        assert_eq!(Instant::FAR + Duration::from_secs(1), Instant::FAR);
    }
}
