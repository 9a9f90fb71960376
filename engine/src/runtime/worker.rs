//! The worker: one thread, one core, one AF_XDP queue, one stack.
//!
//! Loop: reap TX completions, top up the fill ring, receive a batch and run each frame
//! through the stack (replies are written straight into UMEM frames), take frames handed
//! over by other workers, run due timers, submit the TX batch with one kick. With
//! `PollMode::Adaptive`, after ~1 ms without work the thread sleeps in poll() on the
//! socket until traffic arrives or the stack's next timer is due. The pass itself is the
//! body's ([`WorkerBody::run_pass`]); the worker composes the device it runs over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::fault::{FaultConfig, FaultCounters, FaultInjector};
use super::faulty::Faulty;
use super::handoff::{Handoff, HandoffKind, Mesh};
use super::pass::{Exchange, PassStats, WorkerBody};
use super::reflect::{Reflect, ReflectCounters};
use crate::pcap::{Capture, PcapTap};
use crate::phy::Device;
use crate::stack::{Stack, StackCounters, Verdict};
use crate::time::{Clock, Instant};
use crate::sys;
use crate::xsk::{KernelStats, LedgerReport, QueueStats, XskQueue};

/// How a worker waits for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMode {
    /// Spin on the rings: lowest latency, one core at 100%.
    Busy,
    /// Spin while busy; after ~1 ms idle, sleep in poll() until traffic or a timer.
    Adaptive,
}

/// Idle time after which an adaptive worker sleeps.
const IDLE_BEFORE_SLEEP: Duration = Duration::from_millis(1);
/// Longest single sleep. Hand-offs and blocking-API commands wake a sleeping worker
/// through its eventfd; the cap is a safety net should a wake ever be missed.
const MAX_SLEEP_MS: i32 = 5;
/// Passes between looks at the control socket's snapshot requests.
const CONTROL_EVERY: u64 = 64;

/// Everything a worker is started with.
pub struct WorkerSetup<B> {
    pub index: usize,
    pub queue: XskQueue,
    /// What runs on each pass (the stack and what sits on it).
    pub body: B,
    pub core: Option<core_affinity::CoreId>,
    /// Another worker is pinned to the same core: an idle pass yields the core to it
    /// instead of spinning out the scheduler's time slice.
    pub shares_core: bool,
    pub poll: PollMode,
    pub mesh: Mesh,
    pub stop: Arc<AtomicBool>,
    pub clock: Clock,
    /// Fault injection between the rings and the stack (testing only).
    pub fault: Option<FaultConfig>,
    /// Reflect UDP datagrams to this port at the frame level, before the stack (the
    /// benchmark's raw AF_XDP baseline; see `wire::reflect`).
    pub reflect_udp: Option<u16>,
    /// Snapshot requests from the control socket.
    pub control: Option<crossbeam::channel::Receiver<SnapshotRequest>>,
    /// Copies of every frame received and sent (`--pcap`).
    pub pcap: Option<PcapTap>,
}

/// A request for a worker's state; the worker answers on the channel at its next loop.
pub type SnapshotRequest = crossbeam::channel::Sender<(WorkerReport, Vec<crate::stack::SocketInfo>)>;

/// What a worker did, returned when it stops.
#[derive(Debug, Clone)]
pub struct WorkerReport {
    pub index: usize,
    pub queue_id: u32,
    pub core: Option<usize>,
    pub pinned: bool,
    pub stack: StackCounters,
    pub tcp: crate::tcp::TcpCounters,
    pub queue: QueueStats,
    pub kernel: KernelStats,
    pub ledger: LedgerReport,
    /// Frames this worker handed to others, and how many of those were dropped (inbox full).
    pub handoff_out: u64,
    pub handoff_dropped: u64,
    /// Frames other workers handed to this one.
    pub handoff_in: u64,
    /// Of `handoff_out`, frames of flows another worker owns (TCP).
    pub handoff_owned: u64,
    pub loops: u64,
    pub sleeps: u64,
    /// Frames answered by `--reflect-udp` without the stack, and those dropped there
    /// for want of a TX frame.
    pub reflected: u64,
    pub reflect_dropped: u64,
    pub faults: Option<FaultCounters>,
}

pub struct WorkerHandle {
    pub index: usize,
    thread: JoinHandle<WorkerReport>,
}

impl WorkerHandle {
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the worker to stop (set the stop flag first).
    pub fn join(self) -> Result<WorkerReport, String> {
        self.thread.join().map_err(|e| {
            let msg = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            format!("worker {} panicked: {}", self.index, msg.unwrap_or_default())
        })
    }
}

/// Starts a worker thread.
pub fn spawn<B: WorkerBody + 'static>(setup: WorkerSetup<B>) -> std::io::Result<WorkerHandle> {
    let index = setup.index;
    let thread = std::thread::Builder::new().name(format!("bypass-w{index}")).spawn(move || run(setup))?;
    Ok(WorkerHandle { index, thread })
}

fn run<B: WorkerBody>(s: WorkerSetup<B>) -> WorkerReport {
    let WorkerSetup { index, mut queue, mut body, core, shares_core, poll, mesh, stop, clock, fault, control, reflect_udp, pcap } = s;
    let mut reflect = ReflectCounters::default();
    let mut faults = fault.map(|cfg| FaultInjector::new(cfg, index));
    let mut faulted: Vec<Vec<u8>> = Vec::new();
    let tap = pcap.as_ref();
    let pinned = core.is_some_and(core_affinity::set_for_current);
    if core.is_some() && !pinned {
        tracing::warn!(worker = index, "could not pin to core {:?}", core.map(|c| c.id));
    }
    tracing::info!(worker = index, queue = queue.queue_id(), core = ?core.map(|c| c.id), zero_copy = queue.is_zero_copy(), "worker up");

    let mut hand = HandoffCounts::default();
    let (mut loops, mut sleeps) = (0u64, 0u64);
    let workers = mesh.workers();
    let wakers = mesh.wakers();
    let mut last_work = clock.now();

    queue.refill();
    body.start(clock.now(), &mut Capture { inner: &mut queue, tap });
    queue.flush();

    while !stop.load(Ordering::Relaxed) {
        loops += 1;
        let now = clock.now();
        queue.reap_completions();
        queue.refill();

        // The device the pass sees: the queue, captured, reflecting, and (for testing)
        // through the fault injector. One pass either way.
        let mut x = MeshExchange { mesh: &mesh, index, workers, counts: &mut hand };
        let dev = Reflect { inner: Capture { inner: &mut queue, tap }, port: reflect_udp, counters: &mut reflect };
        let (pass, holding) = match faults.as_mut() {
            None => one_pass(&mut body, now, dev, &mut x),
            Some(inj) => one_pass(&mut body, now, Faulty { inner: dev, inj, passed: &mut faulted }, &mut x),
        };
        let (received, handed) = (pass.received, pass.handed);
        hand.handed_in += handed as u64;
        let sent = queue.flush();
        if received == 0 {
            // Preferred busy polling: the driver's interrupts are off, so an empty pass
            // runs its NAPI from here (a no-op otherwise).
            queue.drive_napi();
        }

        // Snapshot requests are rare: a busy pass looks only every CONTROL_EVERY passes,
        // an idle one always.
        let busy = received + handed + sent > 0;
        let req = if !busy || loops % CONTROL_EVERY == 0 { control.as_ref().and_then(|c| c.try_recv().ok()) } else { None };
        if let Some(req) = req {
            let r = report(index, &queue, body.stack(), core, pinned, &hand, [loops, sleeps], reflect, faults.as_ref());
            let _ = req.send((r, body.stack().sockets()));
        }
        if busy || queue.tx_unsent() > 0 || holding {
            last_work = now;
        } else if shares_core && (poll == PollMode::Busy || now.saturating_since(last_work) < IDLE_BEFORE_SLEEP) {
            // Spinning here would keep the other worker on this core (and the traffic
            // waiting for it) off the CPU until the scheduler's tick.
            std::thread::yield_now();
        } else if poll == PollMode::Adaptive && now.saturating_since(last_work) >= IDLE_BEFORE_SLEEP {
            let timeout = sleep_ms(now, body.stack().poll_timeout());
            if timeout > 0 {
                let wake = &wakers[index];
                wake.sleep_begins();
                // Work queued before the flag went up did not wake us: look once more.
                if mesh.pending(index) == 0 && !body.has_queued_work() {
                    sleeps += 1;
                    let _ = match wake.fd() {
                        Some(efd) => sys::poll_either(queue.fd(), efd, timeout),
                        None => sys::poll_readable(queue.fd(), timeout),
                    };
                }
                wake.sleep_ends();
            }
        }
    }

    // Give the kernel a moment to complete what we sent, so the ledger shows a clean pool.
    queue.flush();
    let deadline = clock.now() + Duration::from_millis(200);
    while queue.ledger().tx > 0 && clock.now() < deadline {
        queue.kick();
        queue.reap_completions();
        std::thread::sleep(Duration::from_millis(1));
    }
    queue.reap_completions();

    report(index, &queue, body.stack(), core, pinned, &hand, [loops, sleeps], reflect, faults.as_ref())
}

/// Runs one pass of `body` over `dev`; also says whether the device holds frames back.
#[inline]
fn one_pass<B: WorkerBody, D: Device, X: Exchange>(body: &mut B, now: Instant, mut dev: D, x: &mut X) -> (PassStats, bool) {
    let pass = body.run_pass(now, &mut dev, x);
    (pass, dev.holding())
}

/// Frames between this worker and the others.
#[derive(Debug, Default)]
struct HandoffCounts {
    out: u64,
    dropped: u64,
    owned: u64,
    handed_in: u64,
}

/// The mesh as a pass's [`Exchange`].
struct MeshExchange<'a> {
    mesh: &'a Mesh,
    index: usize,
    workers: usize,
    counts: &'a mut HandoffCounts,
}

impl Exchange for MeshExchange<'_> {
    #[inline]
    fn take(&mut self) -> Option<Handoff> {
        if self.workers > 1 { self.mesh.recv(self.index) } else { None }
    }

    #[inline]
    fn route(&mut self, frame: &[u8], verdict: Verdict) {
        match verdict {
            Verdict::Consumed => {}
            Verdict::ShareArp => {
                for other in (0..self.workers).filter(|&w| w != self.index) {
                    self.counts.out += 1;
                    if !self.mesh.send(other, HandoffKind::ArpShare, frame) {
                        self.counts.dropped += 1;
                    }
                }
            }
            Verdict::Handoff(owner) => {
                self.counts.out += 1;
                self.counts.owned += 1;
                if !self.mesh.send(owner, HandoffKind::Owned, frame) {
                    self.counts.dropped += 1;
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    index: usize,
    queue: &XskQueue,
    stack: &Stack,
    core: Option<core_affinity::CoreId>,
    pinned: bool,
    hand: &HandoffCounts,
    [loops, sleeps]: [u64; 2],
    reflect: ReflectCounters,
    faults: Option<&FaultInjector>,
) -> WorkerReport {
    WorkerReport {
        index,
        queue_id: queue.queue_id(),
        core: core.map(|c| c.id),
        pinned,
        stack: stack.counters(),
        tcp: stack.tcp_counters(),
        queue: queue.stats(),
        kernel: queue.kernel_stats(),
        ledger: queue.ledger(),
        handoff_out: hand.out,
        handoff_dropped: hand.dropped,
        handoff_in: hand.handed_in,
        handoff_owned: hand.owned,
        loops,
        sleeps,
        reflected: reflect.reflected,
        reflect_dropped: reflect.dropped,
        faults: faults.map(|f| f.counters()),
    }
}

/// Milliseconds to sleep until `deadline` (rounded up), capped at [`MAX_SLEEP_MS`].
fn sleep_ms(now: Instant, deadline: Option<Instant>) -> i32 {
    match deadline {
        None => MAX_SLEEP_MS,
        Some(t) => {
            let us = t.saturating_since(now).as_micros();
            (us.div_ceil(1000) as i32).min(MAX_SLEEP_MS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_is_bounded_by_timer_and_cap() {
        let now = Instant::from_secs(1);
        assert_eq!(sleep_ms(now, None), MAX_SLEEP_MS);
        assert_eq!(sleep_ms(now, Some(now)), 0);
        assert_eq!(sleep_ms(now, Some(now + Duration::from_micros(1500))), 2);
        assert_eq!(sleep_ms(now, Some(now + Duration::from_secs(9))), MAX_SLEEP_MS);
    }
}
