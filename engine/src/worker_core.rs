//! One worker's core: the stack, the socket table and the applications, and the one pass
//! that drives them. The engine's workers (through [`WorkerBody`]) and the tests
//! (`crate::testkit`) all run this same [`WorkerCore::run_pass`]: received frames through
//! the stack as one batch, frames handed over by other workers, due timers, then each
//! application's poll and its socket events; everything sent goes out through the device.

use crate::api::fast::{dispatch, FdTable};
use crate::api::{Application, Io};
use crate::phy::{Device, FrameSink, RxHandler, TxUser};
use crate::runtime::{Exchange, HandoffKind, PassStats, WorkerBody};
use crate::stack::{Stack, StackEvent};
use crate::time::Instant;

/// Handed-over frames taken per pass.
const INBOX_BATCH: usize = 64;

/// A worker's stack, sockets and applications.
pub struct WorkerCore {
    pub stack: Stack,
    pub fds: FdTable,
    pub apps: Vec<Box<dyn Application>>,
    events: Vec<StackEvent>,
}

impl WorkerCore {
    pub fn new(stack: Stack, apps: Vec<Box<dyn Application>>) -> WorkerCore {
        WorkerCore { stack, fds: FdTable::default(), apps, events: Vec::new() }
    }

    /// One pass; see the module docs.
    #[inline]
    pub fn run_pass<D: Device, X: Exchange>(&mut self, now: Instant, dev: &mut D, x: &mut X) -> PassStats {
        self.stack.begin_rx_batch();
        let received = dev.receive(now, &mut Receive { stack: &mut self.stack, x: &mut *x, now });
        let handed = dev.transmit(now, Rest { core: self, x, now });
        dev.end_pass(now);
        PassStats { received, handed }
    }
}

impl WorkerBody for WorkerCore {
    fn start<D: Device>(&mut self, now: Instant, dev: &mut D) {
        dev.transmit(now, Start { core: self, now })
    }

    #[inline]
    fn run_pass<D: Device, X: Exchange>(&mut self, now: Instant, dev: &mut D, x: &mut X) -> PassStats {
        WorkerCore::run_pass(self, now, dev, x)
    }

    fn stack(&self) -> &Stack {
        &self.stack
    }

    fn has_queued_work(&self) -> bool {
        self.apps.iter().any(|a| a.has_queued_work())
    }
}

/// Each received frame through the stack; what it does not own goes to the exchange.
struct Receive<'a, X> {
    stack: &'a mut Stack,
    x: &'a mut X,
    now: Instant,
}

impl<X: Exchange> RxHandler for Receive<'_, X> {
    #[inline]
    fn frame<S: FrameSink>(&mut self, frame: &[u8], tx: &mut S) {
        let verdict = self.stack.receive(self.now, frame, tx);
        self.x.route(frame, verdict);
    }
}

/// The rest of the pass: hand-offs, the end of the RX batch, timers, applications.
struct Rest<'a, X> {
    core: &'a mut WorkerCore,
    x: &'a mut X,
    now: Instant,
}

impl<X: Exchange> TxUser for Rest<'_, X> {
    type Out = usize;
    #[inline]
    fn run<S: FrameSink>(self, tx: &mut S) -> usize {
        let (c, now) = (self.core, self.now);
        let mut handed = 0;
        while handed < INBOX_BATCH {
            let Some(h) = self.x.take() else { break };
            handed += 1;
            c.stack.receive_handoff(now, &h.frame, h.kind == HandoffKind::ArpShare, tx);
        }
        c.stack.end_rx_batch(now, tx);
        if c.stack.needs_poll(now) {
            c.stack.poll(now, tx);
        }
        if !c.apps.is_empty() {
            for (i, app) in c.apps.iter_mut().enumerate() {
                app.on_poll(&mut Io::new(&mut c.stack, tx, &mut c.fds, i, now));
            }
            dispatch(&mut c.stack, tx, &mut c.fds, &mut c.apps, now, &mut c.events);
        }
        handed
    }
}

/// The stack's start (gratuitous ARP), then each application's.
struct Start<'a> {
    core: &'a mut WorkerCore,
    now: Instant,
}

impl TxUser for Start<'_> {
    type Out = ();
    fn run<S: FrameSink>(self, tx: &mut S) {
        let (c, now) = (self.core, self.now);
        c.stack.start(now, tx);
        for (i, app) in c.apps.iter_mut().enumerate() {
            app.on_start(&mut Io::new(&mut c.stack, tx, &mut c.fds, i, now));
        }
    }
}
