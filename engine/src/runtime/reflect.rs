//! `--reflect-udp PORT` as a device wrapper: UDP datagrams to PORT are answered straight
//! from the RX ring to the TX ring (see [`crate::wire::reflect`]) and never reach the
//! stack; every other frame passes through.

use crate::phy::{Device, FrameSink, RxHandler, TxUser};
use crate::time::Instant;
use crate::wire::reflect::{is_udp_to, reflect_udp};

/// What reflection did: frames answered, and those dropped for want of a TX frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReflectCounters {
    pub reflected: u64,
    pub dropped: u64,
}

/// A device that reflects UDP to `port` (when set) before anything else sees it.
pub struct Reflect<'a, D> {
    pub inner: D,
    pub port: Option<u16>,
    pub counters: &'a mut ReflectCounters,
}

impl<D: Device> Device for Reflect<'_, D> {
    #[inline]
    fn receive<H: RxHandler>(&mut self, now: Instant, h: &mut H) -> usize {
        match self.port {
            None => self.inner.receive(now, h),
            Some(port) => self.inner.receive(now, &mut ReflectRx { port, counters: &mut *self.counters, h }),
        }
    }
    #[inline]
    fn transmit<U: TxUser>(&mut self, now: Instant, u: U) -> U::Out {
        self.inner.transmit(now, u)
    }
    fn end_pass(&mut self, now: Instant) {
        self.inner.end_pass(now)
    }
    fn holding(&self) -> bool {
        self.inner.holding()
    }
}

struct ReflectRx<'a, H> {
    port: u16,
    counters: &'a mut ReflectCounters,
    h: &'a mut H,
}

impl<H: RxHandler> RxHandler for ReflectRx<'_, H> {
    #[inline]
    fn frame<S: FrameSink>(&mut self, frame: &[u8], tx: &mut S) {
        let mut n = 0;
        if tx.send(|out| {
            n = reflect_udp(frame, self.port, out);
            n
        }) {
            if n > 0 {
                self.counters.reflected += 1;
                return;
            }
        } else if is_udp_to(frame, self.port) {
            self.counters.dropped += 1;
            return;
        }
        self.h.frame(frame, tx)
    }
}
