//! UMEM frame accounting: every frame is in exactly one place at any time.
//!
//! The queue moves frames between places and tells the [`FrameLedger`]; the ledger keeps
//! a per-frame place byte and per-place counts, and counts any move whose source is not
//! where the frame actually is (a double free, a lost frame, a frame handed out twice).
//! After a run `check()` proves the counts add up and no violation happened.

/// Where a UMEM frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Place {
    /// In the free pool, owned by the engine.
    Free = 0,
    /// Given to the kernel on the fill ring.
    Fill = 1,
    /// Received, being processed by the stack.
    Rx = 2,
    /// Written by the stack, waiting for or on the TX ring, until it comes back on the
    /// completion ring.
    Tx = 3,
}

const PLACES: usize = 4;

/// Per-frame place tracking for one UMEM.
#[derive(Debug)]
pub struct FrameLedger {
    place: Vec<Place>,
    counts: [u64; PLACES],
    violations: u64,
}

impl FrameLedger {
    /// A ledger for `frames` frames, all free.
    pub fn new(frames: usize) -> Self {
        FrameLedger { place: vec![Place::Free; frames], counts: [frames as u64, 0, 0, 0], violations: 0 }
    }

    /// Records that frame `idx` moved from `from` to `to`. A frame index out of range or
    /// a frame not at `from` is a violation: counted, and the ledger follows the frame
    /// from wherever it really was.
    #[inline]
    pub fn moved(&mut self, idx: usize, from: Place, to: Place) {
        let Some(p) = self.place.get_mut(idx) else {
            self.violations += 1;
            return;
        };
        if *p != from {
            self.violations += 1;
            debug_assert!(false, "frame {idx} moved from {from:?} but was in {:?}", *p);
        }
        self.counts[*p as usize] -= 1;
        self.counts[to as usize] += 1;
        *p = to;
    }

    pub fn count(&self, place: Place) -> u64 {
        self.counts[place as usize]
    }
    pub fn total(&self) -> u64 {
        self.place.len() as u64
    }
    pub fn violations(&self) -> u64 {
        self.violations
    }

    /// The accounting summary: counts per place, violations, and whether the counts add
    /// up to the frame total with nothing left in the stack (no leak).
    pub fn check(&self) -> LedgerReport {
        let sum: u64 = self.counts.iter().sum();
        LedgerReport {
            total: self.total(),
            free: self.count(Place::Free),
            fill: self.count(Place::Fill),
            rx: self.count(Place::Rx),
            tx: self.count(Place::Tx),
            violations: self.violations,
            balanced: sum == self.total() && self.violations == 0 && self.count(Place::Rx) == 0,
        }
    }
}

/// A snapshot of a [`FrameLedger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct LedgerReport {
    pub total: u64,
    pub free: u64,
    pub fill: u64,
    pub rx: u64,
    pub tx: u64,
    pub violations: u64,
    /// Counts add up, no violation, nothing stuck in the stack.
    pub balanced: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_keep_counts_and_balance() {
        let mut l = FrameLedger::new(4);
        l.moved(0, Place::Free, Place::Fill);
        l.moved(1, Place::Free, Place::Fill);
        l.moved(0, Place::Fill, Place::Rx);
        assert!(!l.check().balanced, "a frame in the stack is not balanced");
        l.moved(0, Place::Rx, Place::Free);
        l.moved(2, Place::Free, Place::Tx);
        let r = l.check();
        assert_eq!((r.free, r.fill, r.rx, r.tx), (2, 1, 0, 1));
        assert!(r.balanced);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn wrong_source_is_a_violation() {
        let mut l = FrameLedger::new(2);
        l.moved(0, Place::Fill, Place::Rx); // it was free
        l.moved(7, Place::Free, Place::Tx); // no such frame
        let r = l.check();
        assert_eq!(r.violations, 2);
        assert!(!r.balanced);
        assert_eq!(r.rx, 1);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "moved from")]
    fn wrong_source_asserts_in_debug() {
        let mut l = FrameLedger::new(2);
        l.moved(0, Place::Fill, Place::Rx);
    }
}
