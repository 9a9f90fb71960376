//! A hashed timing wheel (Varghese & Lauck) for per-connection timers: O(1) arm and
//! cancel, ticks of one millisecond.
//!
//! Cancellation is lazy: each entry carries the generation its owner had when it was
//! armed, and the owner bumps its generation to cancel; stale entries are skipped when
//! their slot comes round. Entries beyond one revolution stay in their slot until their
//! tick comes.

use crate::time::Instant;

const SLOTS: usize = 1024;
const TICK_US: u64 = 1000;

#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u32,
    gen: u32,
    tick: u64,
}

/// The wheel. `id`s are small integers (socket slots).
#[derive(Debug)]
pub struct TimerWheel {
    slots: Vec<Vec<Entry>>,
    /// The next tick not yet processed.
    current: u64,
    len: usize,
}

impl TimerWheel {
    pub fn new(now: Instant) -> Self {
        TimerWheel { slots: vec![Vec::new(); SLOTS], current: tick_of(now), len: 0 }
    }

    /// Arms a timer for `id` (generation `gen`) at `at`, rounded up to the next tick.
    pub fn arm(&mut self, id: u32, gen: u32, at: Instant) {
        let tick = tick_of_ceil(at).max(self.current);
        self.slots[(tick % SLOTS as u64) as usize].push(Entry { id, gen, tick });
        self.len += 1;
    }

    /// No entries at all, stale ones included.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `fire(id, gen)` for every entry due by `now`. Stale entries are passed too;
    /// the caller compares generations.
    pub fn expire<F: FnMut(u32, u32)>(&mut self, now: Instant, mut fire: F) {
        let target = tick_of(now);
        // After a long sleep, one revolution visits every slot.
        let end = target.min(self.current + SLOTS as u64 - 1);
        while self.current <= end {
            let idx = (self.current % SLOTS as u64) as usize;
            if !self.slots[idx].is_empty() {
                let mut i = 0;
                while i < self.slots[idx].len() {
                    if self.slots[idx][i].tick <= target {
                        let e = self.slots[idx].swap_remove(i);
                        self.len -= 1;
                        fire(e.id, e.gen);
                    } else {
                        i += 1;
                    }
                }
            }
            self.current += 1;
        }
        self.current = self.current.max(target + 1);
    }

    /// Whether `expire(now)` could fire anything: entries exist and a tick has passed
    /// since the last expiry. O(1), for the poll loop; `next_deadline` scans and is for
    /// deciding how long to sleep.
    pub fn is_due(&self, now: Instant) -> bool {
        self.len > 0 && tick_of(now) >= self.current
    }

    /// An instant by which something may be due (the earliest non-empty slot's tick), or
    /// None if the wheel is empty. Conservative: never later than the real next expiry.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let mut best: Option<u64> = None;
        for off in 0..SLOTS as u64 {
            let idx = ((self.current + off) % SLOTS as u64) as usize;
            if let Some(min) = self.slots[idx].iter().map(|e| e.tick).min() {
                best = Some(best.map_or(min, |b| b.min(min)));
                if min <= self.current + off {
                    break;
                }
            }
        }
        best.map(|t| Instant::from_micros(t.max(self.current) * TICK_US))
    }
}

fn tick_of(t: Instant) -> u64 {
    t.total_micros() / TICK_US
}

fn tick_of_ceil(t: Instant) -> u64 {
    t.total_micros().div_ceil(TICK_US)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn fires_in_order_of_ticks_and_skips_nothing() {
        let t0 = Instant::from_secs(10);
        let mut w = TimerWheel::new(t0);
        w.arm(1, 0, t0 + Duration::from_millis(5));
        w.arm(2, 0, t0 + Duration::from_millis(2));
        w.arm(3, 0, t0 + Duration::from_secs(3)); // beyond one revolution
        let mut fired = Vec::new();
        assert!(w.is_due(t0 + Duration::from_millis(1)));
        w.expire(t0 + Duration::from_millis(1), |id, _| fired.push(id));
        assert!(fired.is_empty());
        assert!(!w.is_due(t0 + Duration::from_millis(1)), "nothing more until the next tick");
        w.expire(t0 + Duration::from_millis(5), |id, _| fired.push(id));
        assert_eq!(fired, vec![2, 1]);
        assert_eq!(w.next_deadline(), Some(t0 + Duration::from_secs(3)));
        w.expire(t0 + Duration::from_millis(2999), |id, _| fired.push(id));
        assert_eq!(fired.len(), 2, "the far timer waits its turn");
        w.expire(t0 + Duration::from_secs(3), |id, _| fired.push(id));
        assert_eq!(fired, vec![2, 1, 3]);
        assert!(w.is_empty());
    }

    #[test]
    fn long_sleep_and_past_deadlines() {
        let t0 = Instant::from_secs(1);
        let mut w = TimerWheel::new(t0);
        w.arm(7, 3, t0 + Duration::from_millis(1500));
        w.arm(8, 1, t0 - Duration::from_millis(10)); // already due
        let mut fired = Vec::new();
        w.expire(t0 + Duration::from_secs(60), |id, gen| fired.push((id, gen)));
        fired.sort();
        assert_eq!(fired, vec![(7, 3), (8, 1)]);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn rounds_up_never_early() {
        let t0 = Instant::from_micros(1_000_500);
        let mut w = TimerWheel::new(t0);
        let at = Instant::from_micros(1_002_100);
        w.arm(1, 0, at);
        let mut fired = 0;
        w.expire(Instant::from_micros(1_002_999), |_, _| fired += 1);
        assert_eq!(fired, 0, "due at tick 1003, not before");
        w.expire(Instant::from_micros(1_003_000), |_, _| fired += 1);
        assert_eq!(fired, 1);
        assert!(w.next_deadline().is_none());
    }
}
