//! Output: choosing the next segment (`poll_transmit`). In order: a pending RST; the
//! SYN or SYN-ACK; a tail loss probe (RFC 8985 §7.3); loss-recovery retransmissions
//! (RFC 6582 NewReno, RFC 6675 NextSeg, or the segments RACK marked lost); new data and
//! the FIN, or go-back-N retransmission after a timeout (without RACK); window and
//! keepalive probes; a bare ACK when one is due.

use super::cc::CongestionControl;
use super::send_buf::{segment_len, SegParams};
use super::tcb::{dist, PendingRst, Recovery, Segment, Tcb, DUP_THRESH};
use super::State;
use crate::time::Instant;
use crate::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, MAX_SACK_BLOCKS};

impl Tcb {
    /// The next segment to send, or `None`. `max_payload` caps the payload (room left
    /// in the frame); the effective MSS applies anyway. Call until it returns `None`
    /// after every input, timeout and application call.
    pub fn poll_transmit(&mut self, now: Instant, max_payload: usize) -> Option<Segment> {
        if let Some(rst) = self.pending_rst.take() {
            return Some(self.rst_segment(rst));
        }
        let seg = match self.state {
            State::Closed => None,
            State::SynSent | State::SynReceived => self.transmit_handshake(now),
            _ => self.transmit_synchronized(now, max_payload),
        };
        match seg {
            Some(s) => {
                self.counters.segments_out += 1;
                self.last_tx = now;
                Some(s)
            }
            None => {
                self.arm_persist(now);
                None
            }
        }
    }

    fn rst_segment(&mut self, rst: PendingRst) -> Segment {
        self.counters.rst_sent += 1;
        self.counters.segments_out += 1;
        let flags = TcpFlags { rst: true, ack: rst.ack.is_some(), ..TcpFlags::default() };
        self.header(rst.seq, rst.ack.unwrap_or(SeqNumber(0)), flags, 0, TcpOptions::default(), 0)
    }

    fn header(
        &self,
        seq: SeqNumber,
        ack: SeqNumber,
        flags: TcpFlags,
        window: u16,
        options: TcpOptions,
        payload_len: usize,
    ) -> Segment {
        Segment {
            src: self.local.0,
            dst: self.remote.0,
            repr: TcpRepr {
                src_port: self.local.1,
                dst_port: self.remote.1,
                seq,
                ack,
                flags,
                window,
                urgent: 0,
                options,
                payload: &[],
            },
            payload_len,
        }
    }

    /// Options every non-SYN segment carries: timestamps, SACK blocks.
    fn segment_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.neg.timestamps {
            o.timestamps = Some((self.ts_now(now), self.ts_recent));
        }
        if self.neg.sack {
            let max = if self.neg.timestamps { 3 } else { 4 };
            let sack = self.recv_buf.sack_blocks(max);
            match self.dsack {
                // RFC 2883: a D-SACK block goes first, once.
                Some(d) => {
                    let mut blocks = [d; MAX_SACK_BLOCKS];
                    let n = sack.len().min(max - 1);
                    blocks[1..=n].copy_from_slice(&sack[..n]);
                    o.set_sack_blocks(&blocks[..=n]);
                }
                None => o.set_sack_blocks(sack),
            }
        }
        o
    }

    /// A non-SYN segment with ACK; clears the pending-ACK state.
    fn ack_segment(&mut self, seq: SeqNumber, mut flags: TcpFlags, options: TcpOptions, payload_len: usize) -> Segment {
        flags.ack = true;
        let window = self.window_field();
        self.acked_now();
        self.header(seq, self.rcv_nxt, flags, window, options, payload_len)
    }

    fn acked_now(&mut self) {
        if self.unacked_rx > 0 {
            self.quickacks = self.quickacks.saturating_sub(1);
        }
        self.ack_pushed = false;
        self.dsack = None;
        self.ack_now = false;
        self.delack_at = None;
        self.unacked_rx = 0;
        self.last_ack_sent = self.rcv_nxt;
    }

    fn transmit_handshake(&mut self, now: Instant) -> Option<Segment> {
        if self.snd_nxt == self.iss {
            let syn_ack = self.state == State::SynReceived;
            let mut o = TcpOptions { mss: Some(self.cfg.mss), ..TcpOptions::default() };
            let ts = self.ts_now(now);
            if syn_ack {
                o.window_scale = self.neg.window_scaling.then_some(self.neg.rcv_shift);
                o.sack_permitted = self.neg.sack;
                o.timestamps = self.neg.timestamps.then_some((ts, self.ts_recent));
            } else {
                o.window_scale = self.cfg.window_scaling.then_some(self.neg.rcv_shift);
                o.sack_permitted = self.cfg.sack;
                o.timestamps = self.cfg.timestamps.then_some((ts, 0));
            }
            let window = self.recv_buf.free().min(0xffff);
            let flags = TcpFlags { syn: true, ack: syn_ack, ..TcpFlags::default() };
            let ack = if syn_ack { self.rcv_nxt } else { SeqNumber(0) };
            if syn_ack {
                self.rcv_adv = self.rcv_nxt + window;
                self.acked_now();
            }
            let seg = self.header(self.iss, ack, flags, window as u16, o, 0);
            self.snd_nxt = self.iss + 1;
            self.note_sent(now, self.iss, 0, true, false);
            return Some(seg);
        }
        if self.state == State::SynReceived && self.ack_now {
            self.counters.acks_sent += 1;
            let o = self.segment_options(now);
            return Some(self.ack_segment(self.snd_max, TcpFlags::default(), o, 0));
        }
        None
    }

    fn transmit_synchronized(&mut self, now: Instant, max_payload: usize) -> Option<Segment> {
        let opts = self.segment_options(now);
        let room = self.neg.mss.saturating_sub(opts.buffer_len()).min(max_payload);

        if self.rexmit_una {
            self.rexmit_una = false;
            if self.snd_una < self.snd_max {
                if let Some(s) = self.retransmit(now, self.snd_una, self.snd_max, room, opts) {
                    return Some(s);
                }
            }
        }

        if self.tlp_pending {
            self.tlp_pending = false;
            if let Some(s) = self.transmit_tlp(now, room, opts) {
                return Some(s);
            }
        }

        match self.recovery {
            Recovery::Sack { rexmit_first } if self.rack_enabled() => {
                if let Some(s) = self.rack_recovery_next(now, rexmit_first, room, opts) {
                    return Some(s);
                }
            }
            Recovery::Rto { rexmit_first } => {
                if let Some(s) = self.rack_recovery_next(now, rexmit_first, room, opts) {
                    return Some(s);
                }
            }
            Recovery::Sack { rexmit_first } => {
                if let Some(s) = self.sack_recovery_next(now, rexmit_first, room, opts) {
                    return Some(s);
                }
            }
            _ => {
                if let Some(s) = self.send_new(now, room, opts, self.cwnd_room(), false) {
                    return Some(s);
                }
            }
        }

        if self.probe_pending {
            self.probe_pending = false;
            // seq = SND.UNA - 1: outside the peer's window, so it answers with an ACK
            // carrying its current window (RFC 9293 §3.8.6.1, as Linux probes).
            let seq = SeqNumber(self.snd_una.0.wrapping_sub(1));
            return Some(self.ack_segment(seq, TcpFlags::default(), opts, 0));
        }
        if self.ack_now {
            self.counters.acks_sent += 1;
            let seq = self.acceptable_seq();
            return Some(self.ack_segment(seq, TcpFlags::default(), opts, 0));
        }
        None
    }

    /// Room the congestion window leaves outside SACK recovery.
    fn cwnd_room(&self) -> usize {
        let flight = dist(self.snd_nxt, self.snd_una);
        let cwnd = self.cc.cwnd();
        match self.recovery {
            Recovery::NewReno { inflation, .. } => (cwnd + inflation).saturating_sub(flight),
            _ => {
                // Limited transmit (RFC 3042): one more segment per early duplicate ACK.
                let extra = if self.dupacks < DUP_THRESH { self.dupacks as usize * self.neg.effective_mss() } else { 0 };
                (cwnd + extra).saturating_sub(flight)
            }
        }
    }

    /// RFC 6675 SetPipe: octets presumed in flight.
    pub(super) fn pipe(&self) -> usize {
        let mss = self.neg.effective_mss();
        let lost = self.scoreboard.lost_boundary(DUP_THRESH as usize, mss).unwrap_or(self.snd_una).max(self.snd_una);
        let rxt = self.high_rxt.max(self.snd_una).min(self.snd_max);
        self.scoreboard.unsacked_in(self.snd_una, rxt) + self.scoreboard.unsacked_in(lost, self.snd_max)
    }

    /// RFC 6675 §5 steps (C), NextSeg: rule 1 (lost holes), rule 2 (new data), rule 3
    /// (other holes below the highest SACKed octet), while cwnd - pipe >= 1 SMSS.
    fn sack_recovery_next(&mut self, now: Instant, first: bool, room: usize, opts: TcpOptions) -> Option<Segment> {
        let mss = self.neg.effective_mss();
        let pipe = self.pipe();
        let sndcnt = self.prr.sndcnt(pipe, self.cc.ssthresh(), mss);
        if !first && sndcnt == 0 {
            return None;
        }
        if first {
            self.recovery = Recovery::Sack { rexmit_first: false };
        }
        let from = self.high_rxt.max(self.snd_una);
        // Rule 1; on entry the hole at SND.UNA goes first whatever IsLost says (RFC 6675
        // §5 step 4.3: the first segment is retransmitted on the third duplicate ACK).
        let lost = if first {
            self.snd_max
        } else {
            self.scoreboard.lost_boundary(DUP_THRESH as usize, mss).unwrap_or(self.snd_una)
        };
        if let Some((s, e)) = self.scoreboard.next_hole(from, lost.min(self.snd_max)) {
            if let Some(seg) = self.retransmit(now, s, e, room, opts) {
                return Some(seg);
            }
        }
        let cwnd_room = if first { mss } else { sndcnt.max(mss) };
        if let Some(seg) = self.send_new(now, room, opts, cwnd_room, false) {
            return Some(seg);
        }
        let top = self.scoreboard.highest_sacked().unwrap_or(self.snd_una);
        if let Some((s, e)) = self.scoreboard.next_hole(self.high_rxt.max(self.snd_una), top) {
            return self.retransmit(now, s, e, room, opts);
        }
        None
    }

    /// Recovery with RACK (RFC 8985 with RFC 6675's transmission rules), while
    /// cwnd - pipe >= 1 SMSS: the lowest records RACK marked lost, then new data. On
    /// entry the first retransmission goes whatever the window (RFC 6675 §5 step 4.3).
    fn rack_recovery_next(&mut self, now: Instant, first: bool, room: usize, opts: TcpOptions) -> Option<Segment> {
        let mss = self.neg.effective_mss();
        let pipe = self.rack.pipe();
        // SACK recovery sends what PRR allows; after a timeout, slow start from the
        // loss window (cwnd - pipe).
        let allowance = match self.recovery {
            Recovery::Sack { .. } => self.prr.sndcnt(pipe, self.cc.ssthresh(), mss),
            _ => self.cc.cwnd().saturating_sub(pipe),
        };
        let enough = if matches!(self.recovery, Recovery::Sack { .. }) { allowance > 0 } else { allowance >= mss };
        if !first && !enough {
            return None;
        }
        if let Recovery::Sack { rexmit_first } | Recovery::Rto { rexmit_first } = &mut self.recovery {
            *rexmit_first = false;
        }
        if let Some((s, e)) = self.rack.next_lost() {
            if let Some(seg) = self.retransmit(now, s, e, room, opts) {
                return Some(seg);
            }
        }
        let cwnd_room = if first { mss } else { allowance.max(mss) };
        self.send_new(now, room, opts, cwnd_room, false)
    }

    /// A tail loss probe (RFC 8985 §7.3): one segment of new data if the peer's window
    /// allows, whatever the congestion window and Nagle say; else the highest-sequence
    /// segment again.
    fn transmit_tlp(&mut self, now: Instant, room: usize, opts: TcpOptions) -> Option<Segment> {
        if !self.tlp_allowed() {
            return None;
        }
        self.tlp_probing = true;
        let mut is_retrans = false;
        let mut seg = self.send_new(now, room, opts, room.max(1), true);
        if seg.is_none() {
            if let Some((s, e)) = self.rack.last() {
                let data_end = self.send_buf.end();
                let data = dist(e.min(data_end), s);
                let s = if data > room { s + (data - room) } else { s };
                is_retrans = true;
                seg = self.retransmit(now, s, e, room, opts);
            }
        }
        self.tlp_probing = false;
        if seg.is_some() {
            self.tlp_sent(is_retrans);
        }
        seg
    }

    /// Retransmits from `s` (at most to `hole_end`): data, and the FIN if it lies there.
    fn retransmit(&mut self, now: Instant, s: SeqNumber, hole_end: SeqNumber, room: usize, opts: TcpOptions) -> Option<Segment> {
        let data_end = self.send_buf.end();
        let len = if s < data_end { dist(hole_end.min(data_end), s).min(room) } else { 0 };
        let fin = self.fin_sent() && s + len == data_end && hole_end > data_end;
        if len == 0 && !fin {
            return None;
        }
        let flags = TcpFlags { fin, psh: fin || s + len == data_end, ..TcpFlags::default() };
        let seg = self.ack_segment(s, flags, opts, len);
        let end = s + len + usize::from(fin);
        if end > self.high_rxt {
            self.high_rxt = end;
        }
        self.note_sent(now, s, len, false, fin);
        Some(seg)
    }

    /// Data (new, or again after a timeout) and the FIN, from `snd_nxt`. `probe`: a loss
    /// probe, which Nagle does not hold back.
    fn send_new(&mut self, now: Instant, room: usize, opts: TcpOptions, cwnd_room: usize, probe: bool) -> Option<Segment> {
        if !matches!(self.state, State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck) {
            return None;
        }
        let data_end = self.send_buf.end();
        if self.snd_nxt < self.snd_max && !self.scoreboard.is_empty() {
            // Going back after a timeout: skip what the peer holds already.
            match self.scoreboard.next_hole(self.snd_nxt, self.snd_max) {
                Some((s, _)) => self.snd_nxt = s,
                None => self.snd_nxt = self.snd_max,
            }
        }
        let seq = self.snd_nxt;
        let window_room = (self.snd_una + self.snd_wnd.min(i32::MAX as usize / 2)).diff(seq).max(0) as usize;
        let (len, fin) = if seq < data_end {
            let unsent = dist(data_end, seq);
            let len = if seq < self.snd_max {
                // Going back after a timeout: no Nagle, no SWS; up to the next SACKed range.
                let hole_end = self.scoreboard.next_hole(seq, self.snd_max).map_or(self.snd_max, |h| h.1);
                let n = unsent.min(dist(hole_end, seq)).min(room).min(window_room).min(cwnd_room);
                if n == 0 && self.sws_override {
                    unsent.min(room).min(window_room.max(1))
                } else {
                    n
                }
            } else {
                segment_len(&SegParams {
                    unsent,
                    window_room,
                    cwnd_room,
                    mss: room,
                    // Minshall: only a short segment still in flight holds another back.
                    small_in_flight: self.snd_sml > self.snd_una && self.snd_sml <= self.snd_max,
                    nodelay: self.nodelay,
                    push: probe || self.fin_queued || self.push_seq.is_some_and(|p| p > seq),
                    max_window: self.max_snd_wnd,
                    override_sws: self.sws_override,
                    cork: self.cork && !probe,
                    buffer_full: self.send_buf.free() == 0,
                    in_flight: dist(self.snd_max, self.snd_una),
                })
            };
            if len == 0 {
                return None;
            }
            (len, self.fin_queued && seq + len == data_end)
        } else if self.fin_queued && seq == data_end {
            (0, true)
        } else {
            return None;
        };
        self.sws_override = false;
        let end = seq + len;
        let push = end == data_end || self.push_seq.is_some_and(|p| p == end);
        if self.push_seq.is_some_and(|p| p <= end) {
            self.push_seq = None;
        }
        let flags = TcpFlags { fin, psh: push && len > 0, ..TcpFlags::default() };
        let seg = self.ack_segment(seq, flags, opts, len);
        if len > 0 && len < room && seq >= self.snd_max {
            self.snd_sml = end;
        }
        self.snd_nxt = end + usize::from(fin);
        self.note_sent(now, seq, len, false, fin);
        Some(seg)
    }

    /// Sequence-space bookkeeping for a segment carrying data, SYN or FIN.
    fn note_sent(&mut self, now: Instant, seq: SeqNumber, len: usize, syn: bool, fin: bool) {
        let end = seq + len + usize::from(syn) + usize::from(fin);
        let new_data = end > self.snd_max;
        if !syn && self.rack_enabled() {
            self.rack.on_transmit(now, seq, end, self.snd_max);
        }
        if matches!(self.recovery, Recovery::Sack { .. }) {
            self.prr.on_send(len + usize::from(fin));
        }
        if seq < self.snd_max {
            self.counters.retransmits += 1;
            self.counters.retransmitted_bytes += dist(end.min(self.snd_max), seq).min(len) as u64;
            if self.rtt_probe.is_some_and(|(e, _)| seq < e) {
                self.rtt_probe = None;
            }
        }
        if end > self.snd_max {
            if len > 0 && self.last_data_rx.is_some_and(|t| now.saturating_since(t) < self.cfg.ack_delay) {
                // Data sent soon after data arrived: an interactive exchange (Linux
                // tcp_event_data_sent enters pingpong mode the same way).
                self.pingpong = true;
            }
            if self.snd_una == self.snd_max && now.saturating_since(self.last_data_tx) > self.rtt.rto() && len > 0 {
                // RFC 5681 §4.1: restart from the initial window after an idle period.
                let iw = super::cc::initial_window(self.neg.effective_mss(), self.cfg.initial_window);
                self.cc.on_idle_restart(now, iw);
            }
            self.counters.bytes_out += dist(end, seq.max(self.snd_max)).min(len) as u64;
            self.last_data_tx = now;
            // Karn-timed: a segment of new data without timestamps, and always the SYN or
            // SYN-ACK (RACK keeps no record of it, and a millisecond timestamp echo would
            // time a 50 us handshake as 0; Linux times it in microseconds from
            // `snt_synack`). A retransmitted SYN is not new (`snd_max` is past it).
            if self.rtt_probe.is_none() && seq >= self.snd_max && (syn || !self.neg.timestamps) {
                self.rtt_probe = Some((end, now));
            }
            self.snd_max = end;
        }
        if self.unacked_since.is_none() {
            self.unacked_since = Some(now);
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        self.persist_at = None;
        if new_data && !syn && !self.tlp_probing && self.rack_enabled() {
            // RFC 8985 §7.2: (re)start the PTO after sending new data.
            self.schedule_tlp(now);
        }
    }

    /// Starts the persist timer when queued data waits on the peer's window with
    /// nothing in flight to bring an ACK that would reopen it.
    fn arm_persist(&mut self, now: Instant) {
        let sending = matches!(self.state, State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck);
        let waiting = sending && self.snd_nxt < self.send_buf.end() && self.rto_at.is_none();
        if !waiting {
            self.persist_at = None;
        } else if self.persist_at.is_none() {
            self.persist_at = Some(now + self.persist_interval());
        }
    }

    pub(super) fn persist_interval(&self) -> crate::time::Duration {
        let base = self.rtt.rto_unbacked();
        let v = base.checked_mul(1u32 << self.persist_backoff.min(16)).unwrap_or(self.cfg.max_rto);
        v.clamp(self.cfg.min_rto, self.cfg.max_rto)
    }
}
