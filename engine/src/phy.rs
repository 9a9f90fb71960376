//! The device boundary: how the stack hands frames to whatever transmits them.
//!
//! The AF_XDP queue implements [`FrameSink`] over UMEM frames; tests implement it over
//! `Vec<Vec<u8>>`. The stack never knows which. A [`Device`] is both directions: what a
//! worker pass receives from and sends to.

use crate::time::Instant;

/// Something that takes outgoing Ethernet frames.
pub trait FrameSink {
    /// Gives `f` a buffer of at least [`FRAME_CAPACITY`] bytes; `f` writes one frame
    /// at its start and returns the frame's length (0 abandons the buffer). Returns
    /// false when no buffer was available: the frame is dropped and the sink counts it.
    fn send<F: FnOnce(&mut [u8]) -> usize>(&mut self, f: F) -> bool;

    /// Whether a `send` now would get a buffer. Senders that can hold data back (TCP)
    /// ask first instead of losing a segment.
    fn ready(&mut self) -> bool {
        true
    }
}

/// The smallest buffer a sink hands out: a full 1500-byte MTU frame plus Ethernet header,
/// rounded up. Larger MTUs need larger UMEM frames (the default frame is 4 KiB).
pub const FRAME_CAPACITY: usize = 2048;

/// A sink collecting frames in memory, for tests and for copying frames between workers.
#[derive(Debug, Default)]
pub struct VecSink {
    pub frames: Vec<Vec<u8>>,
    /// When set, at most this many frames are accepted; the rest are refused.
    pub limit: Option<usize>,
    pub refused: u64,
}

impl FrameSink for VecSink {
    fn ready(&mut self) -> bool {
        self.limit.is_none_or(|l| self.frames.len() < l)
    }

    fn send<F: FnOnce(&mut [u8]) -> usize>(&mut self, f: F) -> bool {
        if self.limit.is_some_and(|l| self.frames.len() >= l) {
            self.refused += 1;
            return false;
        }
        let mut buf = vec![0u8; FRAME_CAPACITY];
        let n = f(&mut buf).min(FRAME_CAPACITY);
        if n > 0 {
            buf.truncate(n);
            self.frames.push(buf);
        }
        true
    }
}

/// An object-safe face of [`FrameSink`], so application code can be handed a sink
/// without being generic over it.
pub trait DynSink {
    fn send_dyn(&mut self, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;
    fn ready_dyn(&mut self) -> bool;
}

impl<S: FrameSink> DynSink for S {
    fn send_dyn(&mut self, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        self.send(f)
    }
    fn ready_dyn(&mut self) -> bool {
        self.ready()
    }
}

/// A [`FrameSink`] over a `dyn DynSink`.
pub struct SinkRef<'a>(pub &'a mut dyn DynSink);

impl FrameSink for SinkRef<'_> {
    fn send<F: FnOnce(&mut [u8]) -> usize>(&mut self, f: F) -> bool {
        let mut f = Some(f);
        self.0.send_dyn(&mut |buf| f.take().map_or(0, |f| f(buf)))
    }
    fn ready(&mut self) -> bool {
        self.0.ready_dyn()
    }
}

/// What a [`Device`] hands its received frames to, each with the sink for replies (generic
/// over the sink, so a device's own sink type reaches the stack without a virtual call).
pub trait RxHandler {
    fn frame<S: FrameSink>(&mut self, frame: &[u8], tx: &mut S);
}

/// Work that sends through a [`Device`]'s sink outside of receiving (timers, hand-offs,
/// applications).
pub trait TxUser {
    type Out;
    fn run<S: FrameSink>(self, tx: &mut S) -> Self::Out;
}

/// A device: where a worker's frames come from and go to. The AF_XDP queue is one; fault
/// injection, capture and reflection are wrappers around another device (as smoltcp
/// composes `FaultInjector` and `PcapWriter` around a `Device`); tests use [`VecDevice`].
pub trait Device {
    /// Hands each frame received now (one batch) to `h`; returns how many arrived.
    fn receive<H: RxHandler>(&mut self, now: Instant, h: &mut H) -> usize;
    /// Runs `u` with the sink for frames sent outside of [`Device::receive`].
    fn transmit<U: TxUser>(&mut self, now: Instant, u: U) -> U::Out;
    /// The pass is over: a wrapper that holds frames back releases those now due.
    fn end_pass(&mut self, _now: Instant) {}
    /// Frames are held back for a later pass, so the worker must not sleep.
    fn holding(&self) -> bool {
        false
    }
}

impl<D: Device + ?Sized> Device for &mut D {
    #[inline]
    fn receive<H: RxHandler>(&mut self, now: Instant, h: &mut H) -> usize {
        (**self).receive(now, h)
    }
    #[inline]
    fn transmit<U: TxUser>(&mut self, now: Instant, u: U) -> U::Out {
        (**self).transmit(now, u)
    }
    fn end_pass(&mut self, now: Instant) {
        (**self).end_pass(now)
    }
    fn holding(&self) -> bool {
        (**self).holding()
    }
}

/// A device in memory: frames pushed to `rx` are received on the next pass; what is sent
/// collects in `tx`. For tests and simulations.
#[derive(Debug, Default)]
pub struct VecDevice {
    pub rx: std::collections::VecDeque<Vec<u8>>,
    pub tx: VecSink,
}

impl Device for VecDevice {
    fn receive<H: RxHandler>(&mut self, _now: Instant, h: &mut H) -> usize {
        let n = self.rx.len();
        for frame in self.rx.drain(..) {
            h.frame(&frame, &mut self.tx);
        }
        n
    }
    fn transmit<U: TxUser>(&mut self, _now: Instant, u: U) -> U::Out {
        u.run(&mut self.tx)
    }
}
