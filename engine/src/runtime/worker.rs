//! The worker: one thread, one core, one AF_XDP queue, one stack.
//!
//! Loop: reap TX completions, top up the fill ring, receive a batch and run each frame
//! through the stack (replies are written straight into UMEM frames), take frames handed
//! over by other workers, run due timers, submit the TX batch with one kick. With
//! `PollMode::Adaptive`, after ~1 ms without work the thread sleeps in poll() on the
//! socket until traffic arrives or the stack's next timer is due.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::fault::{FaultConfig, FaultCounters, FaultInjector};
use super::handoff::{HandoffKind, Mesh};
use crate::stack::{Stack, StackCounters, Verdict};
use crate::time::{Clock, Instant};
use crate::xsk::{sys, KernelStats, LedgerReport, QueueStats, XskQueue};

/// How a worker waits for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
/// Handed-over frames taken per loop iteration.
const INBOX_BATCH: usize = 64;
/// Passes between looks at the control socket's snapshot requests.
const CONTROL_EVERY: u64 = 64;

/// Everything a worker is started with.
pub struct WorkerSetup {
    pub index: usize,
    pub queue: XskQueue,
    pub stack: Stack,
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
    /// Applications running on this worker ([`crate::api::fast`]).
    pub apps: Vec<Box<dyn crate::api::Application>>,
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
pub fn spawn(setup: WorkerSetup) -> std::io::Result<WorkerHandle> {
    let index = setup.index;
    let thread = std::thread::Builder::new().name(format!("bypass-w{index}")).spawn(move || run(setup))?;
    Ok(WorkerHandle { index, thread })
}

fn run(s: WorkerSetup) -> WorkerReport {
    let WorkerSetup { index, mut queue, mut stack, core, shares_core, poll, mesh, stop, clock, fault, control, mut apps, reflect_udp } = s;
    let (mut reflected, mut reflect_dropped) = (0u64, 0u64);
    let mut fds = crate::api::fast::FdTable::default();
    let mut events = Vec::new();
    let mut faults = fault.map(|cfg| FaultInjector::new(cfg, index));
    let mut faulted: Vec<Vec<u8>> = Vec::new();
    let pinned = core.is_some_and(core_affinity::set_for_current);
    if core.is_some() && !pinned {
        tracing::warn!(worker = index, "could not pin to core {:?}", core.map(|c| c.id));
    }
    tracing::info!(worker = index, queue = queue.queue_id(), core = ?core.map(|c| c.id), zero_copy = queue.is_zero_copy(), "worker up");

    let (mut handoff_out, mut handoff_dropped, mut handoff_in, mut loops, mut sleeps) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut handoff_owned = 0u64;
    let workers = mesh.workers();
    let wakers = mesh.wakers();
    let mut last_work = clock.now();

    queue.refill();
    stack.start(clock.now(), &mut queue.writer());
    for (i, app) in apps.iter_mut().enumerate() {
        app.on_start(&mut crate::api::Io::new(&mut stack, &mut queue.writer(), &mut fds, i, clock.now()));
    }
    queue.flush();

    while !stop.load(Ordering::Relaxed) {
        loops += 1;
        let now = clock.now();
        queue.reap_completions();
        queue.refill();

        let mut share = |frame: &[u8], verdict: Verdict| match verdict {
            Verdict::Consumed => {}
            Verdict::ShareArp => {
                for other in (0..workers).filter(|&w| w != index) {
                    handoff_out += 1;
                    if !mesh.send(other, HandoffKind::ArpShare, frame) {
                        handoff_dropped += 1;
                    }
                }
            }
            Verdict::Handoff(owner) => {
                handoff_out += 1;
                handoff_owned += 1;
                if !mesh.send(owner, HandoffKind::Owned, frame) {
                    handoff_dropped += 1;
                }
            }
        };

        let received;
        let mut handed = 0;
        match faults.as_mut() {
            None => {
                stack.begin_rx_batch();
                received = queue.recv(|frame, tx| {
                    if let Some(port) = reflect_udp {
                        let mut n = 0;
                        if crate::phy::FrameSink::send(tx, |out| {
                            n = crate::wire::reflect::reflect_udp(frame, port, out);
                            n
                        }) {
                            if n > 0 {
                                reflected += 1;
                                return;
                            }
                        } else if crate::wire::reflect::is_udp_to(frame, port) {
                            reflect_dropped += 1;
                            return;
                        }
                    }
                    share(frame, stack.receive(now, frame, tx))
                });
                while workers > 1 && handed < INBOX_BATCH {
                    let Some(h) = mesh.recv(index) else { break };
                    handed += 1;
                    stack.receive_handoff(now, &h.frame, h.kind == HandoffKind::ArpShare, &mut queue.writer());
                }
                stack.end_rx_batch(now, &mut queue.writer());
                if stack.needs_poll(now) {
                    stack.poll(now, &mut queue.writer());
                }
                if !apps.is_empty() {
                    run_apps(&mut stack, &mut queue.writer(), &mut fds, &mut apps, now, &mut events);
                }
            }
            Some(inj) => {
                // Faults need owned copies: frames may be held, duplicated or altered.
                stack.begin_rx_batch();
                received = queue.recv(|frame, _| inj.rx(now, frame, |f| faulted.push(f.to_vec())));
                inj.rx_expired(now, |f| faulted.push(f.to_vec()));
                for frame in faulted.drain(..) {
                    let v = stack.receive(now, &frame, &mut inj.tx(now, &mut queue.writer()));
                    share(&frame, v);
                }
                while workers > 1 && handed < INBOX_BATCH {
                    let Some(h) = mesh.recv(index) else { break };
                    handed += 1;
                    stack.receive_handoff(now, &h.frame, h.kind == HandoffKind::ArpShare, &mut inj.tx(now, &mut queue.writer()));
                }
                stack.end_rx_batch(now, &mut inj.tx(now, &mut queue.writer()));
                if stack.needs_poll(now) {
                    stack.poll(now, &mut inj.tx(now, &mut queue.writer()));
                }
                if !apps.is_empty() {
                    run_apps(&mut stack, &mut inj.tx(now, &mut queue.writer()), &mut fds, &mut apps, now, &mut events);
                }
                inj.tx_expired(now, &mut queue.writer());
            }
        }
        handoff_in += handed as u64;
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
            let r = report(index, &queue, &stack, core, pinned, [handoff_out, handoff_dropped, handoff_in, handoff_owned, loops, sleeps, reflected, reflect_dropped], faults.as_ref());
            let _ = req.send((r, stack.sockets()));
        }
        let holding = faults.as_ref().is_some_and(|f| f.holding());
        if busy || queue.tx_unsent() > 0 || holding {
            last_work = now;
        } else if shares_core && (poll == PollMode::Busy || now.saturating_since(last_work) < IDLE_BEFORE_SLEEP) {
            // Spinning here would keep the other worker on this core (and the traffic
            // waiting for it) off the CPU until the scheduler's tick.
            std::thread::yield_now();
        } else if poll == PollMode::Adaptive && now.saturating_since(last_work) >= IDLE_BEFORE_SLEEP {
            let timeout = sleep_ms(now, stack.poll_timeout());
            if timeout > 0 {
                let wake = &wakers[index];
                wake.sleep_begins();
                // Work queued before the flag went up did not wake us: look once more.
                if mesh.pending(index) == 0 && !apps.iter().any(|a| a.has_queued_work()) {
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

    report(index, &queue, &stack, core, pinned, [handoff_out, handoff_dropped, handoff_in, handoff_owned, loops, sleeps, reflected, reflect_dropped], faults.as_ref())
}

fn report(
    index: usize,
    queue: &XskQueue,
    stack: &Stack,
    core: Option<core_affinity::CoreId>,
    pinned: bool,
    n: [u64; 8],
    faults: Option<&FaultInjector>,
) -> WorkerReport {
    let [handoff_out, handoff_dropped, handoff_in, handoff_owned, loops, sleeps, reflected, reflect_dropped] = n;
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
        handoff_out,
        handoff_dropped,
        handoff_in,
        handoff_owned,
        loops,
        sleeps,
        reflected,
        reflect_dropped,
        faults: faults.map(|f| f.counters()),
    }
}

/// Gives applications their per-pass poll, then their events.
fn run_apps(
    stack: &mut Stack,
    tx: &mut dyn crate::phy::DynSink,
    fds: &mut crate::api::fast::FdTable,
    apps: &mut [Box<dyn crate::api::Application>],
    now: Instant,
    events: &mut Vec<crate::stack::StackEvent>,
) {
    for (i, app) in apps.iter_mut().enumerate() {
        app.on_poll(&mut crate::api::Io::new(stack, tx, fds, i, now));
    }
    crate::api::fast::dispatch(stack, tx, fds, apps, now, events);
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
