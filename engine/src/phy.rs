//! The device boundary: how the stack hands frames to whatever transmits them.
//!
//! The AF_XDP queue implements [`FrameSink`] over UMEM frames; tests implement it over
//! `Vec<Vec<u8>>`. The stack never knows which.

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
