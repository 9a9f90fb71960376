//! What the runtime drives: a worker's body, one pass at a time. The runtime owns the
//! rings, the hand-off mesh and sleeping; the body (the stack, sockets and applications,
//! `crate::worker_core::WorkerCore`) is defined above and implements [`WorkerBody`], so the
//! runtime knows nothing of applications.

use super::handoff::Handoff;
use crate::phy::Device;
use crate::stack::{Stack, Verdict};
use crate::time::Instant;

/// Frames between workers, as a pass sees them: those handed to this worker, and where
/// the frames it received but does not own go.
pub trait Exchange {
    /// The next frame another worker handed over.
    fn take(&mut self) -> Option<Handoff>;
    /// What the stack decided about a received frame (share it, hand it to its owner).
    fn route(&mut self, frame: &[u8], verdict: Verdict);
}

/// No other workers: nothing arrives, and frames for other owners are dropped.
#[derive(Debug, Default)]
pub struct Alone;

impl Exchange for Alone {
    fn take(&mut self) -> Option<Handoff> {
        None
    }
    fn route(&mut self, _frame: &[u8], _verdict: Verdict) {}
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassStats {
    /// Frames the device delivered.
    pub received: usize,
    /// Frames other workers handed over.
    pub handed: usize,
}

/// A worker's body: everything above the rings that runs on the worker's core.
pub trait WorkerBody: Send {
    /// Once, before the first pass.
    fn start<D: Device>(&mut self, now: Instant, dev: &mut D);
    /// One pass: the device's received frames and the hand-offs through the stack, due
    /// timers, then the applications; what they send goes out through `dev`.
    fn run_pass<D: Device, X: Exchange>(&mut self, now: Instant, dev: &mut D, x: &mut X) -> PassStats;
    /// The stack, for reports and snapshots.
    fn stack(&self) -> &Stack;
    /// Work queued from outside the worker (an adaptive worker asks before it sleeps).
    fn has_queued_work(&self) -> bool;
}
