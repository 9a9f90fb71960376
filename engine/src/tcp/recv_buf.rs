//! Receive buffer and out-of-order reassembly.
//!
//! In-order data is readable from a [`Ring`]; data above RCV.NXT is written straight to
//! its final place past the readable region, and a short sorted list of sequence ranges
//! records what is present. When the gap at RCV.NXT fills, the contiguous prefix becomes
//! readable without copying. Memory is bounded by the buffer capacity (nothing outside
//! the window is stored) and by `max_ranges` (a segment that would open a new range
//! beyond it is dropped; the sender retransmits it).
//!
//! The same ranges produce the SACK blocks we send (RFC 2018 §4): the first block holds
//! the most recently received segment, the others repeat the most recently reported
//! blocks still outstanding.

use super::ring::Ring;
use crate::wire::tcp::{SeqNumber, MAX_SACK_BLOCKS};

pub(crate) struct RecvBuf {
    ring: Ring,
    /// Ranges received above RCV.NXT: sorted, disjoint, not adjacent.
    ooo: Vec<(SeqNumber, SeqNumber)>,
    max_ranges: usize,
    /// SACK blocks, most recent first.
    recent: [(SeqNumber, SeqNumber); MAX_SACK_BLOCKS],
    recent_len: usize,
}

/// What [`RecvBuf::insert`] did with a segment's payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Insert {
    /// Bytes that became readable; RCV.NXT advances by this much.
    pub delivered: usize,
    /// Payload was stored above RCV.NXT.
    pub out_of_order: bool,
    /// Payload inside the window dropped for the range limit.
    pub dropped: bool,
    /// Payload bytes beyond the right edge of the buffer, discarded.
    pub trimmed: usize,
    /// Out-of-order data was queued when the segment arrived and the segment filled
    /// (part of) the gap at RCV.NXT.
    pub filled_gap: bool,
}

impl RecvBuf {
    pub fn new(capacity: usize, max_ranges: usize) -> Self {
        RecvBuf {
            ring: Ring::new(capacity),
            // Allocated on first use: an idle connection holds none.
            ooo: Vec::new(),
            max_ranges,
            recent: [(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS],
            recent_len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Readable (in-order) bytes.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Space from RCV.NXT to the end of the buffer: the window we can honour.
    pub fn free(&self) -> usize {
        self.ring.free()
    }

    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Heap bytes held besides the ring: the out-of-order range list.
    pub fn ranges_allocated(&self) -> usize {
        self.ooo.capacity() * std::mem::size_of::<(SeqNumber, SeqNumber)>()
    }

    pub fn has_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// `[s, e)` is already held above RCV.NXT.
    pub fn holds(&self, s: SeqNumber, e: SeqNumber) -> bool {
        self.ooo.iter().any(|r| r.0 <= s && e <= r.1)
    }

    #[cfg(test)]
    pub fn out_of_order_ranges(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.ooo
    }

    /// Stores `data`, which starts at `seq`, given the current RCV.NXT.
    pub fn insert(&mut self, rcv_nxt: SeqNumber, seq: SeqNumber, data: &[u8]) -> Insert {
        let mut res = Insert::default();
        if data.len() > i32::MAX as usize / 2 {
            return res;
        }
        let win_end = rcv_nxt + self.ring.free();
        let seg_end = seq + data.len();
        if seg_end > win_end {
            let from = if seq > win_end { seq } else { win_end };
            res.trimmed = seg_end.diff(from).max(0) as usize;
        }
        let s = if seq < rcv_nxt { rcv_nxt } else { seq };
        let e = if seg_end > win_end { win_end } else { seg_end };
        if e.diff(s) <= 0 {
            return res;
        }
        let out_of_order = s > rcv_nxt;
        if out_of_order && self.ooo.len() >= self.max_ranges && !self.ooo.iter().any(|r| touches(*r, s, e)) {
            res.dropped = true;
            return res;
        }
        let had_ooo = !self.ooo.is_empty();
        let lo = s.diff(seq) as usize;
        let hi = e.diff(seq) as usize;
        self.ring.write_at(self.ring.len() + s.diff(rcv_nxt) as usize, &data[lo..hi]);
        self.merge(s, e);
        if self.ooo[0].0 == rcv_nxt {
            let (_, end) = self.ooo.remove(0);
            res.delivered = end.diff(rcv_nxt) as usize;
            self.ring.commit(res.delivered);
            res.filled_gap = had_ooo;
        }
        res.out_of_order = out_of_order;
        self.refresh_recent(if out_of_order { Some(s) } else { None });
        res
    }

    fn merge(&mut self, s: SeqNumber, e: SeqNumber) {
        if self.ooo.capacity() == 0 {
            // Once, to the bound: no reallocation while reordering goes on.
            self.ooo.reserve_exact(self.max_ranges + 1);
        }
        let (mut s, mut e) = (s, e);
        let mut pos = self.ooo.len();
        let mut i = 0;
        while i < self.ooo.len() {
            let r = self.ooo[i];
            if touches(r, s, e) {
                s = s.min(r.0);
                e = e.max(r.1);
                self.ooo.remove(i);
                pos = pos.min(i);
            } else {
                if r.0 > e && pos > i {
                    pos = i;
                }
                i += 1;
            }
        }
        self.ooo.insert(pos.min(self.ooo.len()), (s, e));
    }

    fn range_containing(&self, seq: SeqNumber) -> Option<(SeqNumber, SeqNumber)> {
        self.ooo.iter().copied().find(|r| r.0 <= seq && seq < r.1)
    }

    fn refresh_recent(&mut self, newest: Option<SeqNumber>) {
        let mut out = [(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS];
        let mut n = 0;
        if let Some(r) = newest.and_then(|s| self.range_containing(s)) {
            out[0] = r;
            n = 1;
        }
        for i in 0..self.recent_len {
            if n == MAX_SACK_BLOCKS {
                break;
            }
            if let Some(r) = self.range_containing(self.recent[i].0) {
                if !out[..n].contains(&r) {
                    out[n] = r;
                    n += 1;
                }
            }
        }
        self.recent = out;
        self.recent_len = n;
    }

    /// SACK blocks to report, most recent first, at most `max`.
    pub fn sack_blocks(&self, max: usize) -> &[(SeqNumber, SeqNumber)] {
        &self.recent[..self.recent_len.min(max)]
    }

    /// Readable bytes from offset `off`, at most `n`, as two slices.
    pub fn slices(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        self.ring.slices(off, n)
    }

    pub fn consume(&mut self, n: usize) {
        self.ring.consume(n)
    }

    pub fn read(&mut self, out: &mut [u8]) -> usize {
        self.ring.read(out)
    }

    /// Frees the storage when nothing is readable or parked out of order (the peer will
    /// not send again: TIME-WAIT, closed).
    pub fn release_if_empty(&mut self) {
        if self.ring.len() == 0 && self.ooo.is_empty() {
            self.ring.release_storage();
        }
    }

    /// Forgets everything, readable and queued (connection reset or closed).
    pub fn clear(&mut self) {
        let n = self.ring.len();
        self.ring.consume(n);
        self.ooo.clear();
        self.recent_len = 0;
    }
}

/// Whether range `r` overlaps or abuts `[s, e)`.
fn touches(r: (SeqNumber, SeqNumber), s: SeqNumber, e: SeqNumber) -> bool {
    r.0 <= e && s <= r.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    fn readable(b: &mut RecvBuf) -> Vec<u8> {
        let mut out = vec![0; b.len()];
        b.read(&mut out);
        out
    }

    #[test]
    fn in_order_and_trim() {
        let mut b = RecvBuf::new(10, 4);
        let r = b.insert(seq(100), seq(100), b"hello");
        assert_eq!(r.delivered, 5);
        // Overlapping old bytes are skipped; beyond the buffer is trimmed.
        let r = b.insert(seq(105), seq(103), b"lo world!");
        assert_eq!((r.delivered, r.trimmed), (5, 2));
        assert_eq!(b.free(), 0);
        assert_eq!(readable(&mut b), b"hello worl");
        assert_eq!(b.free(), 10);
    }

    #[test]
    fn reassembly_and_sack_blocks() {
        let mut b = RecvBuf::new(1000, 4);
        let base = seq(u32::MAX - 5); // across the wrap
        let r = b.insert(base, base + 20, b"cccc");
        assert!(r.out_of_order && r.delivered == 0);
        assert_eq!(b.sack_blocks(4), &[(base + 20, base + 24)]);
        b.insert(base, base + 10, b"bbbb");
        assert_eq!(b.sack_blocks(4), &[(base + 10, base + 14), (base + 20, base + 24)]);
        b.insert(base, base + 24, b"dd");
        assert_eq!(b.sack_blocks(4), &[(base + 20, base + 26), (base + 10, base + 14)]);
        assert_eq!(b.sack_blocks(1), &[(base + 20, base + 26)]);
        let r = b.insert(base, base, b"aaaaaaaaaa");
        assert_eq!((r.delivered, r.filled_gap), (14, true));
        assert_eq!(b.sack_blocks(4), &[(base + 20, base + 26)]);
        let r = b.insert(base + 14, base + 14, b"XXXXXX");
        assert_eq!(r.delivered, 12);
        assert!(!b.has_out_of_order());
        assert_eq!(b.sack_blocks(4), &[]);
        assert_eq!(readable(&mut b), b"aaaaaaaaaabbbbXXXXXXccccdd");
    }

    #[test]
    fn range_limit_drops_new_ranges_only() {
        let mut b = RecvBuf::new(1000, 2);
        b.insert(seq(0), seq(10), b"a");
        b.insert(seq(0), seq(20), b"b");
        let r = b.insert(seq(0), seq(30), b"c");
        assert!(r.dropped);
        // Extending an existing range is still fine.
        let r = b.insert(seq(0), seq(11), b"a");
        assert!(!r.dropped && r.out_of_order);
        assert_eq!(b.out_of_order_ranges(), &[(seq(10), seq(12)), (seq(20), seq(21))]);
        // So is in-order data.
        let r = b.insert(seq(0), seq(0), &[0; 10]);
        assert_eq!(r.delivered, 12);
    }

    #[test]
    fn merge_spanning_many() {
        let mut b = RecvBuf::new(1000, 8);
        for i in 0..5u32 {
            b.insert(seq(0), seq(10 + i * 10), b"xx");
        }
        b.insert(seq(0), seq(11), &[1; 40]);
        assert_eq!(b.out_of_order_ranges(), &[(seq(10), seq(52))]);
    }
}
