//! Fault injection as a device wrapper: [`Faulty`] sits between a worker's device and the
//! stack and applies a [`FaultInjector`] to every frame, both ways. Received frames are
//! copied first (they may be held back, duplicated or altered).

use super::fault::FaultInjector;
use crate::phy::{Device, FrameSink, RxHandler, TxUser};
use crate::time::Instant;

/// A device whose traffic passes through a fault injector.
pub struct Faulty<'a, D> {
    pub inner: D,
    pub inj: &'a mut FaultInjector,
    /// Received frames the injector let through, for this pass (kept to reuse its space).
    pub passed: &'a mut Vec<Vec<u8>>,
}

impl<D: Device> Device for Faulty<'_, D> {
    fn receive<H: RxHandler>(&mut self, now: Instant, h: &mut H) -> usize {
        let received = self.inner.receive(now, &mut Collect { inj: &mut *self.inj, now, passed: &mut *self.passed });
        self.inj.rx_expired(now, |f| self.passed.push(f.to_vec()));
        self.inner.transmit(now, Deliver { inj: &mut *self.inj, now, passed: &mut *self.passed, h });
        received
    }

    fn transmit<U: TxUser>(&mut self, now: Instant, u: U) -> U::Out {
        self.inner.transmit(now, Through { inj: &mut *self.inj, now, u })
    }

    fn end_pass(&mut self, now: Instant) {
        self.inner.transmit(now, Expired { inj: &mut *self.inj, now });
        self.inner.end_pass(now)
    }

    fn holding(&self) -> bool {
        self.inj.holding() || self.inner.holding()
    }
}

/// Takes the received frames through the injector, keeping copies of what passes.
struct Collect<'a> {
    inj: &'a mut FaultInjector,
    now: Instant,
    passed: &'a mut Vec<Vec<u8>>,
}

impl RxHandler for Collect<'_> {
    fn frame<S: FrameSink>(&mut self, frame: &[u8], _tx: &mut S) {
        let passed = &mut *self.passed;
        self.inj.rx(self.now, frame, |f| passed.push(f.to_vec()));
    }
}

/// Hands what passed to the real handler, its replies through the injector.
struct Deliver<'a, H> {
    inj: &'a mut FaultInjector,
    now: Instant,
    passed: &'a mut Vec<Vec<u8>>,
    h: &'a mut H,
}

impl<H: RxHandler> TxUser for Deliver<'_, H> {
    type Out = ();
    fn run<S: FrameSink>(self, tx: &mut S) {
        for frame in self.passed.drain(..) {
            self.h.frame(&frame, &mut self.inj.tx(self.now, tx));
        }
    }
}

/// Runs other senders with the injector's sink.
struct Through<'a, U> {
    inj: &'a mut FaultInjector,
    now: Instant,
    u: U,
}

impl<U: TxUser> TxUser for Through<'_, U> {
    type Out = U::Out;
    fn run<S: FrameSink>(self, tx: &mut S) -> U::Out {
        self.u.run(&mut self.inj.tx(self.now, tx))
    }
}

/// Sends the outgoing frames held back whose time is up.
struct Expired<'a> {
    inj: &'a mut FaultInjector,
    now: Instant,
}

impl TxUser for Expired<'_> {
    type Out = ();
    fn run<S: FrameSink>(self, tx: &mut S) {
        self.inj.tx_expired(self.now, tx)
    }
}
