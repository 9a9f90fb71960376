//! RACK loss detection (RFC 8985 §6): per-segment transmission records and the RACK
//! state built from the ACKs and SACKs of those segments. The TLP half (§7) and the
//! wiring into the connection's recovery are in `rack_tlp.rs`, `output.rs`, `timer.rs`.
//!
//! Records: one per transmitted range `[start, end)` of sequence space (data, and the
//! FIN as one octet), sorted and disjoint, covering what is outstanding. Each holds the
//! time of its latest (re)transmission, whether it was ever retransmitted, and whether
//! it is SACKed or deemed lost. A retransmission or a SACK block whose edge falls inside
//! a record splits it, so flags always apply to whole records. Memory is bounded by what
//! is in flight, and by a cap ([`Rack::new`]): past it, new data joins the newest record
//! (which then counts as sent later, so it is declared lost later, never earlier) and
//! splits are skipped (a partly SACKed record stays un-SACKed; a partly retransmitted
//! one counts as wholly retransmitted). Both only delay detection; the RTO remains the
//! backstop.
//!
//! RACK state: RACK.xmit_ts / RACK.end_seq (the most recently sent segment delivered),
//! RACK.rtt (its RTT), RACK.min_RTT (windowed minimum), RACK.fack and
//! RACK.reordering_seen, and the DSACK-driven reordering-window multiplier
//! (RACK.reo_wnd_mult, RACK.reo_wnd_persist, RACK.dsack_round). Karn: a segment that was
//! retransmitted gives no RACK sample when the ACK's timestamp echo predates its last
//! transmission, or when its RTT is below RACK.min_RTT (§6.2 step 2); RTT estimates
//! (min_RTT, and the SRTT used for the PTO) only come from never-retransmitted segments,
//! timed with microsecond resolution (our RFC 7323 timestamps tick in milliseconds, too
//! coarse for the reordering window on a fast path).

use std::collections::VecDeque;

use crate::time::{Duration, Instant};
use crate::wire::tcp::SeqNumber;

/// Records kept at most for a send buffer: one per 256 octets, within these bounds.
const MIN_RECORDS: usize = 64;
const MAX_RECORDS: usize = 1 << 16;
/// RACK.min_RTT is a windowed minimum: a sample older than this is replaced by the next.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(60);
/// RFC 8985 §6.2 step 4: DSACK-free recoveries before the window multiplier resets.
const REO_WND_PERSIST: u32 = 16;
/// Cap on the multiplier (the window is capped by SRTT anyway).
const MAX_REO_WND_MULT: u32 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    start: SeqNumber,
    end: SeqNumber,
    /// Segment.xmit_ts: the latest transmission.
    xmit: Instant,
    retransmitted: bool,
    lost: bool,
    sacked: bool,
}

impl Sent {
    fn len(&self) -> usize {
        self.end.diff(self.start).max(0) as usize
    }
}

/// RFC 8985 RACK_sent_after: `(t1, s1)` was sent after `(t2, s2)`.
fn sent_after(t1: Instant, s1: SeqNumber, t2: Instant, s2: SeqNumber) -> bool {
    t1 > t2 || (t1 == t2 && s1 > s2)
}

/// The timestamp echo of an ACK, with the clock that produced our TSvals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Echo {
    pub tsecr: u32,
    /// Our TSval clock: milliseconds plus this offset.
    pub offset: u32,
}

impl Echo {
    /// The echoed TSval is older than what a segment sent at `t` carried.
    fn predates(&self, t: Instant) -> bool {
        let ts = (t.total_millis() as u32).wrapping_add(self.offset);
        (self.tsecr.wrapping_sub(ts) as i32) < 0
    }
}

pub(crate) struct Rack {
    sent: VecDeque<Sent>,
    max_records: usize,
    /// Octets in records, in SACKed records, in lost records.
    bytes: usize,
    sacked_bytes: usize,
    lost_bytes: usize,
    /// SACKed records (RACK.segs_sacked) and lost ones.
    segs_sacked: usize,
    segs_lost: usize,
    /// End of the highest retransmitted record, while outstanding: above it, records
    /// were sent once, in sequence order (bounds the loss scan).
    rexmit_high: Option<SeqNumber>,
    /// RACK.xmit_ts, RACK.end_seq.
    latest: Option<(Instant, SeqNumber)>,
    /// RACK.rtt.
    rtt: Duration,
    /// RACK.min_RTT and when it was taken.
    min_rtt: Option<(Duration, Instant)>,
    /// Smoothed RTT (RFC 6298 gains) of never-retransmitted segments.
    srtt: Option<Duration>,
    fack: Option<SeqNumber>,
    reordering_seen: bool,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    dsack_round: Option<SeqNumber>,
}

impl Rack {
    /// For a connection whose send buffer holds `send_buffer` octets: what is in flight
    /// fits in one record per 256 octets (the records for 1460-octet segments take
    /// about 2% of the buffer's size, at most).
    pub fn new(send_buffer: usize) -> Self {
        Rack {
            sent: VecDeque::new(),
            max_records: (send_buffer / 256).clamp(MIN_RECORDS, MAX_RECORDS),
            bytes: 0,
            sacked_bytes: 0,
            lost_bytes: 0,
            segs_sacked: 0,
            segs_lost: 0,
            rexmit_high: None,
            latest: None,
            rtt: Duration::ZERO,
            min_rtt: None,
            srtt: None,
            fack: None,
            reordering_seen: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            dsack_round: None,
        }
    }

    /// Forgets every record and frees their storage (the connection ended: TIME-WAIT
    /// keeps the connection for 2*MSL); estimates stay.
    pub fn clear(&mut self) {
        self.sent = VecDeque::new();
        self.bytes = 0;
        self.sacked_bytes = 0;
        self.lost_bytes = 0;
        self.segs_sacked = 0;
        self.segs_lost = 0;
        self.rexmit_high = None;
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// An RTT sample for an ACK of everything below `ack`, before [`Rack::on_ack`]
    /// takes it: from the oldest never-retransmitted record it newly acknowledges, not
    /// SACKed before (as Linux takes `seq_rtt_us` from the first newly acked skb), so it
    /// includes the peer's ACK delay. None when any of them was retransmitted (Karn).
    pub fn seq_rtt(&self, now: Instant, ack: SeqNumber) -> Option<Duration> {
        let mut acked = self.sent.iter().take_while(|r| r.end <= ack);
        if acked.clone().any(|r| r.retransmitted) {
            // Karn: the ACK may be for an earlier transmission.
            return None;
        }
        acked.find(|r| !r.sacked).map(|r| now.saturating_since(r.xmit))
    }

    #[cfg(test)]
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|m| m.0)
    }

    pub fn segs_sacked(&self) -> usize {
        self.segs_sacked
    }

    /// Some record is marked lost and not retransmitted since.
    pub fn has_lost(&self) -> bool {
        self.segs_lost > 0
    }

    #[cfg(test)]
    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// Octets presumed in flight: outstanding, neither SACKed nor lost (RFC 6675 pipe
    /// with RACK's notion of lost; a retransmission puts a lost record back in flight).
    pub fn pipe(&self) -> usize {
        self.bytes.saturating_sub(self.sacked_bytes + self.lost_bytes)
    }

    /// Index of the first record ending after `seq`.
    fn index_of(&self, seq: SeqNumber) -> usize {
        self.sent.partition_point(|r| r.end <= seq)
    }

    /// Makes `at` a record boundary. False when the record limit forbids it.
    fn split(&mut self, at: SeqNumber) -> bool {
        let i = self.index_of(at);
        let Some(&r) = self.sent.get(i) else { return true };
        if r.start >= at {
            return true;
        }
        if self.sent.len() >= self.max_records {
            return false;
        }
        self.sent[i].end = at;
        self.sent.insert(i + 1, Sent { start: at, ..r });
        self.segs_sacked += usize::from(r.sacked);
        self.segs_lost += usize::from(r.lost);
        true
    }

    fn unmark_lost(&mut self, i: usize) {
        let r = &mut self.sent[i];
        if r.lost {
            r.lost = false;
            self.lost_bytes -= r.len();
            self.segs_lost -= 1;
        }
    }

    fn mark_lost(&mut self, i: usize) {
        let r = &mut self.sent[i];
        if !r.lost && !r.sacked {
            r.lost = true;
            self.lost_bytes += r.len();
            self.segs_lost += 1;
        }
    }

    /// Records the transmission at `now` of `[start, end)`; what lies below `snd_max`
    /// (SND.NXT before this segment) is a retransmission (RFC 8985 §6.1).
    pub fn on_transmit(&mut self, now: Instant, start: SeqNumber, end: SeqNumber, snd_max: SeqNumber) {
        if end <= start {
            return;
        }
        if start < snd_max {
            self.mark_retransmitted(now, start, end.min(snd_max));
        }
        if end <= snd_max {
            return;
        }
        let s = start.max(snd_max);
        let len = end.diff(s) as usize;
        self.bytes += len;
        if self.sent.len() >= self.max_records {
            if let Some(last) = self.sent.back_mut() {
                if last.end == s {
                    // Joins the newest record, which now counts as sent at `now`.
                    let old = last.len();
                    if last.sacked {
                        self.sacked_bytes -= old;
                        self.segs_sacked -= 1;
                    }
                    if last.lost {
                        self.lost_bytes -= old;
                        self.segs_lost -= 1;
                    }
                    *last = Sent { end, xmit: now, lost: false, sacked: false, ..*last };
                    return;
                }
            }
        }
        self.sent.push_back(Sent { start: s, end, xmit: now, retransmitted: false, lost: false, sacked: false });
    }

    fn mark_retransmitted(&mut self, now: Instant, s: SeqNumber, e: SeqNumber) {
        self.split(s);
        self.split(e);
        let mut i = self.index_of(s);
        while i < self.sent.len() && self.sent[i].start < e {
            self.unmark_lost(i);
            let r = &mut self.sent[i];
            r.xmit = now;
            r.retransmitted = true;
            let end = r.end;
            if self.rexmit_high.is_none_or(|h| end > h) {
                self.rexmit_high = Some(end);
            }
            i += 1;
        }
    }

    /// Processes an ACK: SND.UNA is now `snd_una`, and `blocks` are its SACK blocks
    /// (unvalidated; D-SACK blocks and blocks outside `[snd_una, snd_max]` are ignored).
    /// Newly delivered records update the RACK state (§6.2 steps 1-3). Returns whether
    /// a valid RTT sample was taken.
    pub fn on_ack(
        &mut self,
        now: Instant,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        blocks: &[(SeqNumber, SeqNumber)],
        echo: Option<Echo>,
    ) -> bool {
        let mut sampled = false;
        // Cumulatively acknowledged records, in sequence order.
        while let Some(&f) = self.sent.front() {
            if f.end <= snd_una {
                self.sent.pop_front();
                self.bytes -= f.len();
                if f.sacked {
                    self.sacked_bytes -= f.len();
                    self.segs_sacked -= 1;
                } else {
                    if f.lost {
                        self.lost_bytes -= f.len();
                        self.segs_lost -= 1;
                    }
                    sampled |= self.deliver(now, &f, echo);
                }
            } else {
                if f.start < snd_una {
                    // Partly acknowledged: trim (delivered only once it is whole).
                    let cut = snd_una.diff(f.start) as usize;
                    self.bytes -= cut;
                    if f.sacked {
                        self.sacked_bytes -= cut;
                    }
                    if f.lost {
                        self.lost_bytes -= cut;
                    }
                    self.sent[0].start = snd_una;
                }
                break;
            }
        }
        if self.rexmit_high.is_some_and(|h| h <= snd_una) {
            self.rexmit_high = None;
        }
        // SACKed records, lowest block first so that RACK.fack grows in order.
        let mut sorted = [(SeqNumber(0), SeqNumber(0)); 4];
        let mut n = 0;
        for &(l, r) in blocks.iter().take(4) {
            if r.diff(l) <= 0 || r > snd_max || r <= snd_una || l > snd_max {
                continue;
            }
            sorted[n] = (l.max(snd_una), r);
            n += 1;
        }
        let sorted = &mut sorted[..n];
        sorted.sort_unstable_by_key(|b| b.0.diff(snd_una));
        for &(l, r) in sorted.iter() {
            self.split(l);
            self.split(r);
            let mut i = self.index_of(l);
            while i < self.sent.len() && self.sent[i].start < r {
                let rec = self.sent[i];
                if !rec.sacked && rec.start >= l && rec.end <= r {
                    self.unmark_lost(i);
                    self.sent[i].sacked = true;
                    self.sacked_bytes += rec.len();
                    self.segs_sacked += 1;
                    sampled |= self.deliver(now, &rec, echo);
                }
                i += 1;
            }
        }
        sampled
    }

    /// A record newly delivered (cumulatively or selectively): RFC 8985 §6.2 steps 1-3.
    fn deliver(&mut self, now: Instant, r: &Sent, echo: Option<Echo>) -> bool {
        // Step 3: a never-retransmitted segment below RACK.fack arrived out of order.
        match self.fack {
            Some(f) if r.end <= f => {
                if r.end < f && !r.retransmitted {
                    self.reordering_seen = true;
                }
            }
            _ => self.fack = Some(r.end),
        }
        let rtt = now.saturating_since(r.xmit);
        if r.retransmitted {
            // Step 2: the ACK may be for an earlier transmission.
            if echo.is_some_and(|e| e.predates(r.xmit)) || self.min_rtt.is_some_and(|m| rtt < m.0) {
                return false;
            }
        } else {
            // Step 1.
            if self.min_rtt.is_none_or(|(m, at)| rtt <= m || now.saturating_since(at) > MIN_RTT_WINDOW) {
                self.min_rtt = Some((rtt, now));
            }
            self.srtt = Some(match self.srtt {
                None => rtt,
                Some(s) => (s * 7 + rtt) / 8,
            });
        }
        if self.latest.is_none_or(|(t, s)| sent_after(r.xmit, r.end, t, s)) {
            self.latest = Some((r.xmit, r.end));
            self.rtt = rtt;
        }
        true
    }

    /// RFC 8985 §6.2 step 4 (DSACK part): called for every ACK; `dsack` when it
    /// carried a D-SACK block.
    pub fn update_reo_wnd(&mut self, dsack: bool, snd_una: SeqNumber, snd_nxt: SeqNumber) {
        if self.dsack_round.is_some_and(|r| snd_una >= r) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(MAX_REO_WND_MULT);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// Fast or RTO recovery ended (§6.2 step 4).
    pub fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// RACK.reo_wnd (§6.2 step 4): zero until reordering was seen if in recovery or
    /// `dup_thresh` segments are SACKed (so RACK subsumes the DupAck threshold);
    /// otherwise `reo_wnd_mult * min_RTT / 4`, capped by SRTT.
    pub fn reo_wnd(&self, in_recovery: bool, dup_thresh: usize, srtt: Option<Duration>) -> Duration {
        if !self.reordering_seen && (in_recovery || self.segs_sacked >= dup_thresh) {
            return Duration::ZERO;
        }
        let Some((min, _)) = self.min_rtt else { return Duration::ZERO };
        let w = min * self.reo_wnd_mult / 4;
        match self.srtt.or(srtt) {
            Some(s) => w.min(s),
            None => w,
        }
    }

    /// RFC 8985 §6.2 step 5: marks outstanding records sent before RACK.segment and
    /// not delivered within RACK.rtt + `reo_wnd` as lost. Returns how many were newly
    /// marked, and the reorder-timer deadline: when the last of the others would expire
    /// (RFC 8985 arms the timer for the maximum remaining time).
    pub fn detect_loss(&mut self, now: Instant, reo_wnd: Duration) -> (usize, Option<Instant>) {
        let Some((lt, ls)) = self.latest else { return (0, None) };
        let mut lost = 0;
        let mut timer: Option<Instant> = None;
        for i in 0..self.sent.len() {
            let r = self.sent[i];
            let after = !sent_after(lt, ls, r.xmit, r.end);
            if after && !r.retransmitted && self.rexmit_high.is_none_or(|h| r.start >= h) {
                // Sent once, after RACK.segment: so is everything above it.
                break;
            }
            if r.sacked || r.lost || after {
                continue;
            }
            let deadline = r.xmit + self.rtt + reo_wnd;
            if deadline <= now {
                self.mark_lost(i);
                lost += 1;
            } else if timer.is_none_or(|t| deadline > t) {
                timer = Some(deadline);
            }
        }
        (lost, timer)
    }

    /// RFC 8985 §6.3, on RTO expiry: the record at SND.UNA and every record whose
    /// RACK deadline passed are lost. Returns how many were newly marked.
    pub fn mark_lost_on_rto(&mut self, now: Instant, reo_wnd: Duration) -> usize {
        let mut lost = 0;
        for i in 0..self.sent.len() {
            let r = self.sent[i];
            if r.sacked || r.lost {
                continue;
            }
            if i == 0 || r.xmit + self.rtt + reo_wnd <= now {
                self.mark_lost(i);
                lost += 1;
            }
        }
        lost
    }

    /// Marks the first record lost (the DupAck fallback when ACKs carry no SACK
    /// information at all). Returns whether it was newly marked.
    pub fn mark_first_lost(&mut self) -> bool {
        if self.sent.front().is_some_and(|r| !r.lost && !r.sacked) {
            self.mark_lost(0);
            return true;
        }
        false
    }

    /// Every SACKed record becomes un-SACKed (the receiver may have reneged).
    pub fn clear_sacked(&mut self) {
        for r in self.sent.iter_mut() {
            r.sacked = false;
        }
        self.sacked_bytes = 0;
        self.segs_sacked = 0;
    }

    /// The lowest run of contiguous lost records, to retransmit first.
    pub fn next_lost(&self) -> Option<(SeqNumber, SeqNumber)> {
        if self.segs_lost == 0 {
            return None;
        }
        let i = self.sent.iter().position(|r| r.lost)?;
        let start = self.sent[i].start;
        let mut end = self.sent[i].end;
        for r in self.sent.range(i + 1..) {
            if !r.lost || r.start != end {
                break;
            }
            end = r.end;
        }
        Some((start, end))
    }

    /// The highest record: what a tail loss probe retransmits.
    pub fn last(&self) -> Option<(SeqNumber, SeqNumber)> {
        self.sent.back().map(|r| (r.start, r.end))
    }

    #[cfg(test)]
    pub fn check(&self, snd_una: SeqNumber, snd_max: SeqNumber) {
        let mut prev: Option<SeqNumber> = None;
        let (mut bytes, mut sb, mut lb, mut ss, mut sl) = (0, 0, 0, 0, 0);
        for r in &self.sent {
            assert!(r.start < r.end, "{r:?}");
            assert!(snd_una <= r.start && r.end <= snd_max, "{r:?} not in [{snd_una:?}, {snd_max:?}]");
            assert!(prev.is_none_or(|p| p <= r.start), "{r:?} after {prev:?}");
            assert!(!(r.lost && r.sacked), "{r:?}");
            prev = Some(r.end);
            bytes += r.len();
            if r.sacked {
                sb += r.len();
                ss += 1;
            }
            if r.lost {
                lb += r.len();
                sl += 1;
            }
        }
        assert_eq!((bytes, sb, lb, ss, sl), (self.bytes, self.sacked_bytes, self.lost_bytes, self.segs_sacked, self.segs_lost));
    }

    /// Heap bytes held by the transmission records.
    pub fn allocated(&self) -> usize {
        self.sent.capacity() * std::mem::size_of::<Sent>()
    }

    #[cfg(test)]
    pub fn records(&self) -> usize {
        self.sent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }
    fn us(n: u64) -> Instant {
        Instant::from_micros(n)
    }

    /// Ten 100-octet segments sent 10 us apart from t = 0, sequence 0..1000.
    fn flight() -> Rack {
        let mut r = Rack::new(1 << 20);
        for i in 0..10u32 {
            r.on_transmit(us(u64::from(i) * 10), s(i * 100), s(i * 100 + 100), s(i * 100));
        }
        r.check(s(0), s(1000));
        r
    }

    #[test]
    fn sack_marks_earlier_segments_lost_by_time() {
        let mut r = flight();
        // Segment 0 lost; the ACK SACKs segments 1..=3 at t = 200.
        assert!(r.on_ack(us(200), s(0), s(1000), &[(s(100), s(400))], None));
        assert_eq!(r.segs_sacked(), 3);
        assert_eq!((r.latest, r.rtt), (Some((us(30), s(400))), Duration::from_micros(170)));
        // Three SACKed, no reordering seen: reo_wnd = 0 and segment 0 is lost at once.
        let w = r.reo_wnd(false, 3, None);
        assert_eq!(w, Duration::ZERO);
        assert_eq!(r.detect_loss(us(200), w), (1, None));
        assert_eq!(r.next_lost(), Some((s(0), s(100))));
        assert_eq!(r.pipe(), 1000 - 300 - 100);
        r.check(s(0), s(1000));
    }

    #[test]
    fn reordering_window_and_timer() {
        let mut r = flight();
        // Segment 0 first delivered, then SACK of segment 2 only at t = 150.
        r.on_ack(us(100), s(100), s(1000), &[], None);
        assert_eq!(r.min_rtt(), Some(Duration::from_micros(100)));
        r.on_ack(us(150), s(100), s(1000), &[(s(200), s(300))], None);
        // One SACKed segment: reo_wnd = min_RTT / 4 = 25 us; segment 1 (sent at 10,
        // RACK.rtt 130) is lost at 10 + 130 + 25 = 165.
        let w = r.reo_wnd(false, 3, None);
        assert_eq!(w, Duration::from_micros(25));
        assert_eq!(r.detect_loss(us(150), w), (0, Some(us(165))));
        // It arrives in time: reordering.
        r.on_ack(us(160), s(300), s(1000), &[], None);
        assert!(r.reordering_seen());
        assert_eq!(r.detect_loss(us(160), w), (0, None));
        r.check(s(300), s(1000));
    }

    #[test]
    fn lost_retransmission_detected() {
        let mut r = flight();
        r.on_ack(us(200), s(0), s(1000), &[(s(100), s(400))], None);
        r.detect_loss(us(200), Duration::ZERO);
        // Retransmit segment 0 at 200; it is lost again. Segment 4..=5 SACKed at 400
        // (sent at 40/50): not evidence, they were sent before the retransmission.
        r.on_transmit(us(200), s(0), s(100), s(1000));
        assert!(!r.has_lost());
        r.on_ack(us(400), s(0), s(1000), &[(s(100), s(600))], None);
        assert_eq!(r.detect_loss(us(400), Duration::ZERO), (0, None));
        // New data sent at 300 and SACKed at 500: the retransmission (sent at 200) is lost.
        r.on_transmit(us(300), s(1000), s(1100), s(1000));
        r.on_ack(us(500), s(0), s(1100), &[(s(1000), s(1100)), (s(100), s(600))], None);
        let (lost, _) = r.detect_loss(us(500), Duration::ZERO);
        assert!(lost >= 1);
        assert_eq!(r.next_lost().map(|l| l.0), Some(s(0)));
        r.check(s(0), s(1100));
    }

    #[test]
    fn retransmitted_ack_ambiguity() {
        let mut r = flight();
        r.on_ack(us(100), s(100), s(1000), &[], None);
        // Segment 1 retransmitted at 150; an ACK at 160 (10 us < min_RTT) is for the
        // original: no RACK update.
        r.on_transmit(us(150), s(100), s(200), s(1000));
        let before = r.latest;
        assert!(!r.on_ack(us(160), s(200), s(1000), &[], None));
        assert_eq!(r.latest, before);
        // With timestamps: an echo older than the retransmission rejects it too.
        let mut r = flight();
        r.on_transmit(us(5000), s(0), s(100), s(1000));
        let echo = Echo { tsecr: 0, offset: 0 };
        assert!(!r.on_ack(us(9000), s(100), s(1000), &[], Some(echo)));
        let echo = Echo { tsecr: 5, offset: 0 };
        assert!(r.on_ack(us(9000), s(200), s(1000), &[], Some(echo)));
    }

    #[test]
    fn splits_and_bounds() {
        let mut r = flight();
        // A SACK edge inside a record splits it.
        r.on_ack(us(100), s(0), s(1000), &[(s(150), s(400))], None);
        assert_eq!(r.records(), 11);
        assert_eq!(r.pipe(), 1000 - 250);
        // A retransmission of part of a record splits it too.
        r.on_transmit(us(120), s(0), s(50), s(1000));
        assert_eq!(r.records(), 12);
        r.check(s(0), s(1000));
        // Partial cumulative ACK trims.
        r.on_ack(us(130), s(50), s(1000), &[], None);
        r.check(s(50), s(1000));
        r.mark_lost_on_rto(us(10_000), Duration::ZERO);
        assert_eq!(r.pipe(), 0);
        r.clear_sacked();
        r.check(s(50), s(1000));
    }

    #[test]
    fn record_limit_merges_new_data() {
        let mut r = Rack::new(0);
        let n = MIN_RECORDS as u32;
        for i in 0..n + 10 {
            r.on_transmit(us(u64::from(i)), s(i), s(i + 1), s(i));
        }
        assert_eq!(r.records(), MIN_RECORDS);
        assert_eq!(r.last(), Some((s(n - 1), s(n + 10))));
        r.check(s(0), s(n + 10));
        // Splits are refused at the limit: a SACK of part of the merged record leaves it
        // un-SACKed, a partial retransmission marks all of it.
        r.on_ack(us(100_000), s(0), s(n + 10), &[(s(n + 2), s(n + 4))], None);
        assert_eq!(r.segs_sacked(), 0);
        r.on_transmit(us(100_001), s(n), s(n + 1), s(n + 10));
        assert_eq!(r.records(), MIN_RECORDS);
        r.check(s(0), s(n + 10));
        // A SACK of the whole of it counts.
        r.on_ack(us(100_002), s(0), s(n + 10), &[(s(n - 1), s(n + 10))], None);
        assert_eq!(r.segs_sacked(), 1);
        r.check(s(0), s(n + 10));
    }
}
