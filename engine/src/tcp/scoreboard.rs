//! The sender's SACK scoreboard (RFC 6675 §3): which octets above SND.UNA the peer has
//! selectively acknowledged, and the RFC 6675 §4 queries built on it: `IsLost` (as a
//! boundary below which every un-SACKed octet counts as lost), the unSACKed holes that
//! `NextSeg` retransmits, and the byte counts `SetPipe` needs.
//!
//! Bounded: at most `max_ranges` disjoint ranges; when an update would exceed it, the
//! highest range is forgotten (the lowest ones matter most for recovery, and forgetting
//! SACK information is always safe: it only causes extra retransmissions).

use crate::wire::tcp::SeqNumber;

pub(crate) struct Scoreboard {
    /// SACKed ranges: sorted, disjoint, not adjacent, all within (SND.UNA, SND.MAX].
    ranges: Vec<(SeqNumber, SeqNumber)>,
    max_ranges: usize,
}

fn len(r: (SeqNumber, SeqNumber)) -> usize {
    r.1.diff(r.0).max(0) as usize
}

impl Scoreboard {
    pub fn new(max_ranges: usize) -> Self {
        let max_ranges = max_ranges.max(1);
        // Storage on the first SACK block: an idle connection holds none.
        Scoreboard { ranges: Vec::new(), max_ranges }
    }

    /// Heap bytes held.
    pub fn allocated(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<(SeqNumber, SeqNumber)>()
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    #[cfg(test)]
    pub fn ranges(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.ranges
    }

    /// Records the SACK blocks of an incoming ACK. Blocks not within
    /// `[snd_una, snd_max]` after clipping to SND.UNA, or empty, are ignored (RFC 2018
    /// allows D-SACK blocks below SND.UNA; they carry nothing for recovery). Returns
    /// the number of octets newly SACKed.
    pub fn update(&mut self, snd_una: SeqNumber, snd_max: SeqNumber, blocks: &[(SeqNumber, SeqNumber)]) -> usize {
        let mut newly = 0;
        for &(l, r) in blocks {
            if r.diff(l) <= 0 || r > snd_max || r <= snd_una || l > snd_max {
                continue;
            }
            let l = l.max(snd_una);
            newly += self.unsacked_in(l, r);
            self.insert(l, r);
        }
        newly
    }

    fn insert(&mut self, s: SeqNumber, e: SeqNumber) {
        if self.ranges.capacity() == 0 {
            self.ranges.reserve_exact(self.max_ranges + 1);
        }
        let (mut s, mut e) = (s, e);
        let mut pos = None;
        let mut i = 0;
        while i < self.ranges.len() {
            let r = self.ranges[i];
            if r.0 <= e && s <= r.1 {
                s = s.min(r.0);
                e = e.max(r.1);
                self.ranges.remove(i);
                pos.get_or_insert(i);
            } else {
                if pos.is_none() && r.0 > e {
                    pos = Some(i);
                }
                i += 1;
            }
        }
        let pos = pos.unwrap_or(self.ranges.len()).min(self.ranges.len());
        self.ranges.insert(pos, (s, e));
        if self.ranges.len() > self.max_ranges {
            self.ranges.pop();
        }
    }

    /// SND.UNA advanced to `ack`: forgets what is now cumulatively acknowledged.
    pub fn ack_to(&mut self, ack: SeqNumber) {
        self.ranges.retain(|r| r.1 > ack);
        if let Some(first) = self.ranges.first_mut() {
            if first.0 < ack {
                first.0 = ack;
            }
        }
    }

    /// Octets in `[a, b)` not SACKed.
    pub fn unsacked_in(&self, a: SeqNumber, b: SeqNumber) -> usize {
        if b.diff(a) <= 0 {
            return 0;
        }
        let mut n = b.diff(a) as usize;
        for &r in &self.ranges {
            let s = r.0.max(a);
            let e = r.1.min(b);
            if e.diff(s) > 0 {
                n -= e.diff(s) as usize;
            }
        }
        n
    }

    /// End of the highest SACKed range.
    pub fn highest_sacked(&self) -> Option<SeqNumber> {
        self.ranges.last().map(|r| r.1)
    }

    /// RFC 6675 `IsLost` as a boundary: every un-SACKed octet below the returned
    /// sequence number has `dup_thresh` discontiguous SACKed ranges, or more than
    /// `(dup_thresh - 1) * mss` SACKed octets, above it; none above it has.
    pub fn lost_boundary(&self, dup_thresh: usize, mss: usize) -> Option<SeqNumber> {
        let mut count = 0;
        let mut bytes = 0;
        for &r in self.ranges.iter().rev() {
            count += 1;
            bytes += len(r);
            if count >= dup_thresh || bytes > (dup_thresh - 1) * mss {
                return Some(r.0);
            }
        }
        None
    }

    /// The first un-SACKed octet at or after `from` and below `limit`, with the end of
    /// its hole (the next SACKed range or `limit`).
    pub fn next_hole(&self, from: SeqNumber, limit: SeqNumber) -> Option<(SeqNumber, SeqNumber)> {
        let mut s = from;
        for &r in &self.ranges {
            if r.1 <= s {
                continue;
            }
            if r.0 <= s {
                s = r.1;
                continue;
            }
            // r starts above s: [s, r.0) is a hole.
            let e = r.0.min(limit);
            return if e > s { Some((s, e)) } else { None };
        }
        if limit > s {
            Some((s, limit))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn update_merges_and_validates() {
        let mut sb = Scoreboard::new(8);
        let (una, max) = (s(1000), s(10_000));
        assert_eq!(sb.update(una, max, &[(s(2000), s(3000))]), 1000);
        assert_eq!(sb.update(una, max, &[(s(2500), s(4000)), (s(5000), s(6000))]), 2000);
        // Below SND.UNA (D-SACK), beyond SND.MAX, inverted: ignored.
        assert_eq!(sb.update(una, max, &[(s(100), s(900)), (s(9000), s(11_000)), (s(7000), s(6500))]), 0);
        assert_eq!(sb.ranges(), &[(s(2000), s(4000)), (s(5000), s(6000))]);
        assert_eq!(sb.update(una, max, &[(s(4000), s(5000))]), 1000);
        assert_eq!(sb.ranges(), &[(s(2000), s(6000))]);
        sb.ack_to(s(3000));
        assert_eq!(sb.ranges(), &[(s(3000), s(6000))]);
        sb.ack_to(s(6000));
        assert!(sb.is_empty());
    }

    #[test]
    fn bounded() {
        let mut sb = Scoreboard::new(2);
        sb.update(s(0), s(1000), &[(s(100), s(200)), (s(300), s(400)), (s(500), s(600))]);
        assert_eq!(sb.ranges(), &[(s(100), s(200)), (s(300), s(400))]);
        sb.update(s(0), s(1000), &[(s(10), s(20))]);
        assert_eq!(sb.ranges(), &[(s(10), s(20)), (s(100), s(200))]);
    }

    #[test]
    fn is_lost_boundary() {
        let mss = 100;
        let mut sb = Scoreboard::new(8);
        let (una, max) = (s(0), s(1000));
        sb.update(una, max, &[(s(100), s(200))]);
        assert_eq!(sb.lost_boundary(3, mss), None);
        // Three discontiguous ranges: everything below the lowest one is lost.
        sb.update(una, max, &[(s(300), s(350)), (s(500), s(550))]);
        assert_eq!(sb.lost_boundary(3, mss), Some(s(100)));
        // More than 2 * MSS SACKed above: the highest range alone counts.
        sb.update(una, max, &[(s(700), s(950))]);
        assert_eq!(sb.lost_boundary(3, mss), Some(s(700)));
    }

    #[test]
    fn holes_and_pipe_counts() {
        let mut sb = Scoreboard::new(8);
        sb.update(s(0), s(1000), &[(s(100), s(200)), (s(300), s(400))]);
        assert_eq!(sb.next_hole(s(0), s(1000)), Some((s(0), s(100))));
        assert_eq!(sb.next_hole(s(100), s(1000)), Some((s(200), s(300))));
        assert_eq!(sb.next_hole(s(250), s(1000)), Some((s(250), s(300))));
        assert_eq!(sb.next_hole(s(350), s(1000)), Some((s(400), s(1000))));
        assert_eq!(sb.next_hole(s(350), s(400)), None);
        assert_eq!(sb.next_hole(s(0), s(50)), Some((s(0), s(50))));
        assert_eq!(sb.unsacked_in(s(0), s(1000)), 800);
        assert_eq!(sb.unsacked_in(s(150), s(350)), 100);
        assert_eq!(sb.unsacked_in(s(350), s(150)), 0);
        assert_eq!(sb.highest_sacked(), Some(s(400)));
    }
}
