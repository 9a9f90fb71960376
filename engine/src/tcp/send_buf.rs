//! Send buffer and segmentation policy.
//!
//! The buffer holds application bytes from the oldest unacknowledged one (sequence
//! number `start`) to the newest queued; ACKs release bytes from the front. Segments
//! are cut at transmit time, so the caller copies payload straight from here into the
//! frame ([`SendBuf::slices`]).
//!
//! [`segment_len`] decides how much new data to put in the next segment: sender-side
//! silly window syndrome avoidance (RFC 9293 §3.8.6.2.1) and the Nagle algorithm
//! (RFC 896, RFC 1122 §4.2.3.4) in Minshall's variant, as Linux runs it: a short segment
//! waits only while an earlier *short* segment is unacknowledged, so the tail of a
//! response never waits for the peer's delayed ACK of full segments before it.
//! `nodelay` disables it and a push overrides it.

use super::ring::Ring;
use crate::wire::tcp::SeqNumber;

pub(crate) struct SendBuf {
    ring: Ring,
    /// Sequence number of the first byte held.
    start: SeqNumber,
}

impl SendBuf {
    pub fn new(capacity: usize, start: SeqNumber) -> Self {
        SendBuf { ring: Ring::new(capacity), start }
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn free(&self) -> usize {
        self.ring.free()
    }

    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    #[cfg(test)]
    pub fn start(&self) -> SeqNumber {
        self.start
    }

    /// Sequence number just past the last queued byte.
    pub fn end(&self) -> SeqNumber {
        self.start + self.ring.len()
    }

    pub fn push(&mut self, data: &[u8]) -> usize {
        self.ring.push(data)
    }

    /// Releases the bytes below `seq` (acknowledged). Returns how many.
    pub fn ack_to(&mut self, seq: SeqNumber) -> usize {
        let n = seq.diff(self.start);
        if n <= 0 {
            return 0;
        }
        let n = (n as usize).min(self.ring.len());
        self.ring.consume(n);
        self.start += n;
        n
    }

    /// The queued bytes `seq..seq + n` (clipped to what is held), as two slices.
    pub fn slices(&self, seq: SeqNumber, n: usize) -> (&[u8], &[u8]) {
        let off = seq.diff(self.start);
        if off < 0 {
            return (&[], &[]);
        }
        self.ring.slices(off as usize, n)
    }

    /// Frees the storage once everything sent has been acknowledged (the connection will
    /// not send again: TIME-WAIT, closed).
    pub fn release_if_empty(&mut self) {
        if self.ring.len() == 0 {
            self.ring.release_storage();
        }
    }

    /// Drops everything (abort).
    pub fn clear(&mut self) {
        let n = self.ring.len();
        self.ack_to(self.start + n);
    }
}

/// Inputs of the new-data segmentation decision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegParams {
    /// Queued bytes not yet sent.
    pub unsent: usize,
    /// Room left in the peer's window.
    pub window_room: usize,
    /// Room left in the congestion window.
    pub cwnd_room: usize,
    /// Largest payload for this segment (effective MSS minus options, caller budget).
    pub mss: usize,
    /// A short segment sent earlier is unacknowledged (Minshall).
    pub small_in_flight: bool,
    pub nodelay: bool,
    /// All unsent data is pushed (explicit push, or a FIN follows it).
    pub push: bool,
    /// Largest window the peer has offered.
    pub max_window: usize,
    /// The persist timer expired: send what the window allows.
    pub override_sws: bool,
    /// Corked (the application is still writing in this pass): full segments only.
    pub cork: bool,
    /// The send buffer is full: the application has more to write as soon as an ACK
    /// makes room.
    pub buffer_full: bool,
    /// Bytes sent and not yet acknowledged.
    pub in_flight: usize,
}

/// Bytes of new data to send now (0: wait).
pub(crate) fn segment_len(p: &SegParams) -> usize {
    let n = p.unsent.min(p.window_room).min(p.cwnd_room).min(p.mss);
    if n == 0 {
        return 0;
    }
    if n == p.mss {
        return n;
    }
    if n == p.unsent {
        // Everything queued fits: a cork holds it; Nagle holds a short segment while
        // another short one is in flight.
        if p.cork || !(p.nodelay || p.push || !p.small_in_flight) {
            return 0;
        }
        // A full buffer's short tail is not the end of what the application writes: it
        // grows into a full segment once the next ACK makes room. Sent now, it is a
        // runt that holds back (Minshall) the next one, which can be the real tail, until
        // the peer's delayed ACK of this one: 40 ms. At least two segments in flight
        // make the next ACK prompt (receivers ACK every second full segment).
        if p.buffer_full && !p.nodelay && !p.push && p.in_flight >= 2 * p.mss {
            return 0;
        }
        return n;
    }
    // Short because of a window. The congestion window never justifies a runt; the
    // peer's window does when it is at least half the largest it offered, or when the
    // persist timer overrides.
    if n == p.window_room && p.window_room <= p.cwnd_room
        && (p.override_sws || n >= p.max_window / 2) {
            return n;
        }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SegParams {
        SegParams {
            unsent: 10_000,
            window_room: 65_535,
            cwnd_room: 14_600,
            mss: 1460,
            small_in_flight: false,
            nodelay: false,
            push: false,
            max_window: 65_535,
            override_sws: false,
            cork: false,
            buffer_full: false,
            in_flight: 0,
        }
    }

    #[test]
    fn full_segments() {
        assert_eq!(segment_len(&params()), 1460);
        assert_eq!(segment_len(&SegParams { small_in_flight: true, ..params() }), 1460);
    }

    #[test]
    fn nagle() {
        let p = SegParams { unsent: 100, ..params() };
        assert_eq!(segment_len(&p), 100);
        let p = SegParams { small_in_flight: true, ..p };
        assert_eq!(segment_len(&p), 0);
        assert_eq!(segment_len(&SegParams { nodelay: true, ..p }), 100);
        assert_eq!(segment_len(&SegParams { push: true, ..p }), 100);
    }

    #[test]
    fn cork_holds_the_short_tail_only() {
        let p = SegParams { unsent: 100, cork: true, ..params() };
        assert_eq!(segment_len(&p), 0);
        assert_eq!(segment_len(&SegParams { nodelay: true, push: true, ..p }), 0);
        assert_eq!(segment_len(&SegParams { unsent: 5000, ..p }), 1460);
    }

    #[test]
    fn a_full_buffer_holds_its_short_tail_while_acks_are_due() {
        let p = SegParams { unsent: 376, buffer_full: true, in_flight: 100_000, ..params() };
        assert_eq!(segment_len(&p), 0);
        // Room made by an ACK, or too little in flight to bring one promptly: send.
        assert_eq!(segment_len(&SegParams { buffer_full: false, ..p }), 376);
        assert_eq!(segment_len(&SegParams { in_flight: 2000, ..p }), 376);
        // The application asked for it.
        assert_eq!(segment_len(&SegParams { nodelay: true, ..p }), 376);
        assert_eq!(segment_len(&SegParams { push: true, ..p }), 376);
        // Full segments are not held.
        assert_eq!(segment_len(&SegParams { unsent: 5000, ..p }), 1460);
    }

    #[test]
    fn congestion_window_never_sends_runts() {
        let p = SegParams { cwnd_room: 700, ..params() };
        assert_eq!(segment_len(&p), 0);
        assert_eq!(segment_len(&SegParams { cwnd_room: 0, ..params() }), 0);
    }

    #[test]
    fn receiver_window_sws() {
        // Small window, less than half the max: wait (the persist timer overrides).
        let p = SegParams { window_room: 1000, ..params() };
        assert_eq!(segment_len(&p), 0);
        assert_eq!(segment_len(&SegParams { override_sws: true, ..p }), 1000);
        // At least half the largest window the peer offered: send.
        let p = SegParams { window_room: 1000, max_window: 2000, ..params() };
        assert_eq!(segment_len(&p), 1000);
        assert_eq!(segment_len(&SegParams { window_room: 0, override_sws: true, ..params() }), 0);
    }

    #[test]
    fn buffer_ack_and_slices() {
        let mut b = SendBuf::new(8, SeqNumber(u32::MAX - 1));
        assert_eq!(b.push(b"abcdefghij"), 8);
        assert_eq!(b.end(), SeqNumber(6));
        assert_eq!(b.slices(SeqNumber(0), 3).0, b"cde");
        assert_eq!(b.ack_to(SeqNumber(1)), 3);
        assert_eq!(b.ack_to(SeqNumber(1)), 0);
        assert_eq!(b.push(b"XYZ"), 3);
        let (x, y) = b.slices(SeqNumber(1), 100);
        let all: Vec<u8> = x.iter().chain(y).copied().collect();
        assert_eq!(all, b"defghXYZ");
        assert_eq!(b.slices(SeqNumber(0), 1), (&[][..], &[][..]));
        b.clear();
        assert_eq!((b.len(), b.start()), (0, SeqNumber(9)));
    }
}
