//! Input: segment arrival (RFC 9293 §3.10.7), with PAWS (RFC 7323 §5), the RFC 5961
//! checks (RST exactly at RCV.NXT, challenge ACKs for other in-window RSTs and for
//! SYNs, the ACK acceptability range), duplicate-ACK counting and loss-recovery entry
//! (RFC 5681, RFC 6582, RFC 6675; with RACK, `rack_tlp.rs` takes over loss detection),
//! the delayed-ACK policy (RFC 1122 §4.2.3.2: every second full-sized segment, at once
//! for out-of-order data, a gap fill or a duplicate) and D-SACK reports (RFC 2883).

/// Timestamp ticks a segment may lag TS.Recent before PAWS drops it (Linux
/// TCP_PAWS_WINDOW).
const PAWS_WINDOW: i32 = 1;

/// Quick ACKs at most per refill (Linux TCP_MAX_QUICKACKS).
const MAX_QUICKACKS: u32 = 16;

use super::cc::CongestionControl;
use super::rack_tlp::is_dsack;
use super::tcb::{dist, Recovery, Tcb, DUP_THRESH, PAWS_IDLE};
use super::{State, TcpError};
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpRepr};

impl Tcb {
    /// Processes a segment the stack demultiplexed to this connection.
    pub fn handle_segment(&mut self, now: Instant, seg: &TcpRepr) {
        self.counters.segments_in += 1;
        if seg.src_port != self.remote.1 || seg.dst_port != self.local.1 {
            return;
        }
        match self.state {
            State::Closed => {}
            State::SynSent => self.input_syn_sent(now, seg),
            _ => self.input_synchronized(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn input_syn_sent(&mut self, now: Instant, seg: &TcpRepr) {
        let f = seg.flags;
        let ack_ok = f.ack && seg.ack > self.iss && seg.ack <= self.snd_max;
        if f.ack && !ack_ok {
            self.counters.bad_ack += 1;
            if !f.rst {
                self.queue_rst(seg.ack, None);
            }
            return;
        }
        if f.rst {
            if ack_ok {
                self.counters.rst_received += 1;
                self.terminate(Some(TcpError::Refused));
            } else {
                self.counters.rst_ignored += 1;
            }
            return;
        }
        if !f.syn {
            return;
        }
        // Data on a SYN is not taken (nor acknowledged): the peer sends it again.
        self.take_peer_syn(now, seg);
        self.last_ack_sent = self.rcv_nxt;
        self.rcv_adv = self.rcv_nxt + self.recv_buf.free().min(0xffff);
        if ack_ok {
            self.sample_rtt(now, seg, seg.ack);
            self.snd_una = seg.ack;
            self.snd_wl2 = seg.ack;
            self.rto_at = None;
            self.unacked_since = None;
            self.after_handshake();
            self.set_state(now, if self.fin_queued { State::FinWait1 } else { State::Established });
            self.ack_now = true;
        } else {
            // Simultaneous open: our SYN goes again, as a SYN-ACK.
            self.set_state(now, State::SynReceived);
            self.snd_nxt = self.iss;
            self.rto_at = None;
        }
    }

    fn after_handshake(&mut self) {
        if self.syn_retransmitted {
            self.rtt.reset_after_syn_loss();
        }
        self.rexmit_count = 0;
    }

    fn ts_recent_valid(&self, now: Instant) -> bool {
        self.ts_recent_at.is_some_and(|t| now.saturating_since(t) < PAWS_IDLE)
    }

    /// RFC 9293 §3.10.7.4 acceptability, widened to any overlap with the window, and
    /// always accepting a segment exactly at RCV.NXT (with a zero window its data is
    /// trimmed, but its ACK, RST or FIN still count).
    fn acceptable(&self, seq: SeqNumber, seg_len: usize) -> bool {
        if seq == self.rcv_nxt {
            return true;
        }
        let wnd = dist(self.rcv_adv, self.rcv_nxt);
        if wnd == 0 {
            return false;
        }
        let wend = self.rcv_nxt + wnd;
        if seg_len == 0 {
            return self.rcv_nxt <= seq && seq < wend;
        }
        let end = seq + seg_len;
        seq < wend && end > self.rcv_nxt
    }

    /// SYN-RECEIVED and the synchronized states.
    fn input_synchronized(&mut self, now: Instant, seg: &TcpRepr) {
        let f = seg.flags;
        let mut seq = seg.seq;
        let mut syn = f.syn;
        if self.state == State::SynReceived && f.syn && seg.seq == self.irs {
            if f.rst {
                return;
            }
            if !f.ack {
                // The peer did not get our SYN-ACK: send it again.
                self.snd_nxt = self.iss;
                return;
            }
            // A SYN-ACK crossing ours (simultaneous open): its SYN is old news.
            seq += 1;
            syn = false;
        }
        let seg_len = seg.payload.len() + usize::from(syn) + usize::from(f.fin);

        // PAWS (RFC 7323 §5.3 R1); RSTs are exempt. As Linux (tcp_paws_discard): one
        // tick of slack (TCP_PAWS_WINDOW), since the peer's clock may tick between two
        // segments that arrive swapped (a multi-queue NIC, a hand-off between workers),
        // and a reordered pure ACK carrying nothing new is not discarded (Linux
        // tcp_disordered_ack): answering each with an ACK would be a storm.
        if self.neg.timestamps && !f.rst {
            if let Some((tsval, _)) = seg.options.timestamps {
                let behind = self.ts_recent.wrapping_sub(tsval) as i32;
                let disordered_ack = f.ack && seg_len == 0 && seq == self.rcv_nxt && seg.ack <= self.snd_una;
                if self.ts_recent_valid(now) && behind > PAWS_WINDOW && !disordered_ack {
                    self.counters.paws_dropped += 1;
                    self.ack_now = true;
                    return;
                }
            }
        }

        if !self.acceptable(seq, seg_len) {
            if f.rst {
                self.counters.rst_ignored += 1;
            } else {
                self.counters.bad_seq += 1;
                self.ack_now = true;
                self.note_duplicate(seq, seg.payload.len());
                if self.state == State::TimeWait && f.fin {
                    // A retransmitted FIN: our last ACK was lost; restart 2 MSL.
                    self.state_since = now;
                }
            }
            return;
        }
        self.last_rx = now;
        self.keepalive_probes = 0;

        if f.rst {
            if seq == self.rcv_nxt {
                self.counters.rst_received += 1;
                self.reset_by_peer();
            } else {
                self.counters.rst_ignored += 1;
                self.challenge_ack(now);
            }
            return;
        }
        if syn {
            // RFC 5961 §4.2: whatever its sequence number.
            self.challenge_ack(now);
            return;
        }
        // RFC 7323 §4.3: TS.Recent from segments at or before the left window edge.
        if self.neg.timestamps {
            if let Some((tsval, _)) = seg.options.timestamps {
                if seq <= self.last_ack_sent
                    && (!self.ts_recent_valid(now) || (tsval.wrapping_sub(self.ts_recent) as i32) >= 0)
                {
                    self.ts_recent = tsval;
                    self.ts_recent_at = Some(now);
                }
            }
        }
        if !f.ack {
            return;
        }
        if self.state == State::SynReceived {
            if self.snd_max == self.iss && seg.ack == self.iss + 1 {
                // SYN cookies: the stack answered the SYN statelessly and rebuilt this
                // connection from the ACK. Knowing ISS+1 proves the SYN-ACK was seen.
                self.snd_nxt = self.iss + 1;
                self.snd_max = self.iss + 1;
                self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + self.recv_buf.free().min(0xffff));
            }
            if !(self.snd_una < seg.ack && seg.ack <= self.snd_max) {
                self.counters.bad_ack += 1;
                self.queue_rst(seg.ack, None);
                return;
            }
            self.snd_wnd = usize::from(seg.window) << self.neg.snd_shift;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = seg.ack;
            self.after_handshake();
            self.set_state(now, if self.fin_queued { State::FinWait1 } else { State::Established });
        }
        if !self.process_ack(now, seg, seq) || self.state == State::Closed {
            return;
        }
        let complete = self.process_text(now, seq, seg.payload);
        if self.state == State::Closed {
            return;
        }
        if f.fin && complete {
            self.process_fin(now, seq + seg.payload.len());
        }
    }

    fn reset_by_peer(&mut self) {
        let error = match self.state {
            State::SynReceived => Some(TcpError::Refused),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => Some(TcpError::Reset),
            _ => None,
        };
        self.terminate(error);
    }

    /// An RTT sample, in microseconds from a send time when there is one: RACK's record
    /// of a newly acknowledged, never-retransmitted segment (as Linux prefers its skb
    /// send times), or the Karn-timed segment (the SYN or SYN-ACK, or data without
    /// timestamps); else from the millisecond timestamp echo, where an echo from this
    /// very millisecond counts as 1 ms, not 0 (Linux `tcp_rtt_tsopt_us`).
    fn sample_rtt(&mut self, now: Instant, seg: &TcpRepr, ack: SeqNumber) {
        if let Some(rtt) = self.rack_enabled().then(|| self.rack.seq_rtt(now, ack)).flatten() {
            self.rtt.sample(rtt);
            self.counters.rtt_samples += 1;
        } else if let Some((_, sent)) = self.rtt_probe.filter(|(end, _)| ack >= *end) {
            self.rtt.sample(now.saturating_since(sent));
            self.counters.rtt_samples += 1;
            self.rtt_probe = None;
        } else if self.neg.timestamps {
            if let Some((_, tsecr)) = seg.options.timestamps {
                let ms = self.ts_now(now).wrapping_sub(tsecr);
                // Beyond an hour the echo is bogus.
                if (ms as i32) >= 0 && ms < 3_600_000 {
                    self.rtt.sample(Duration::from_millis(u64::from(ms.max(1))));
                    self.counters.rtt_samples += 1;
                }
            }
        }
    }

    /// The ACK field (RFC 9293 §3.10.7.4 fifth, RFC 5961 §5.2). False: drop the
    /// segment.
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr, seq: SeqNumber) -> bool {
        let ack = seg.ack;
        let floor = SeqNumber(self.snd_una.0.wrapping_sub(self.max_snd_wnd.min(i32::MAX as usize / 2) as u32));
        if ack > self.snd_max || ack < floor {
            self.counters.bad_ack += 1;
            self.challenge_ack(now);
            return false;
        }
        let window = usize::from(seg.window) << self.neg.snd_shift;
        let blocks = if self.neg.sack { seg.options.sack_blocks() } else { &[] };
        if is_dsack(blocks, ack) {
            self.counters.dsacks_received += 1;
        }
        let prior_una = self.snd_una;
        let prior_flight = dist(self.snd_max, self.snd_una);
        let mut newly = 0;
        if ack > self.snd_una {
            newly = self.ack_advance(now, seg, ack, blocks);
            // RFC 6675 §2, §5 (3): an ACK with new SACK information counts as a
            // duplicate even when it also advances SND.UNA.
            if newly > 0 && self.recovery == Recovery::None && self.snd_una != self.snd_max {
                self.on_dupack(now);
            }
        } else if ack == self.snd_una {
            newly = if blocks.is_empty() { 0 } else { self.scoreboard.update(self.snd_una, self.snd_max, blocks) };
            let outstanding = self.snd_max != self.snd_una;
            let pure = seg.payload.is_empty() && !seg.flags.syn && !seg.flags.fin;
            // An ACK reporting a duplicate segment (D-SACK) says nothing of loss.
            let classic = outstanding && pure && window == self.snd_wnd && window != 0 && !is_dsack(blocks, ack);
            if classic || (outstanding && newly > 0) {
                self.on_dupack(now);
            }
        }
        if self.rack_enabled() && ack >= prior_una {
            let pure_dup = ack == prior_una && blocks.is_empty() && seg.payload.is_empty() && newly == 0;
            self.rack_on_ack(now, seg, blocks, prior_una, prior_flight, pure_dup);
        }
        if matches!(self.recovery, Recovery::Sack { .. }) {
            // PRR's DeliveredData: newly acknowledged plus newly SACKed (the ACK that
            // started the recovery counts too).
            self.prr.on_ack(dist(self.snd_una, prior_una) + newly);
        }
        if ack >= self.snd_una && (self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack)) {
            if self.snd_wnd == 0 && window > 0 {
                self.persist_backoff = 0;
                self.persist_at = None;
            }
            self.snd_wnd = window;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
        }
        self.probes_out = 0;
        if self.fin_acked() {
            match self.state {
                State::FinWait1 => self.set_state(now, State::FinWait2),
                State::Closing => self.enter_time_wait(now),
                State::LastAck => self.terminate(None),
                _ => {}
            }
        }
        true
    }

    /// SND.UNA advances to `ack`. Returns the octets newly SACKed by `blocks`.
    fn ack_advance(&mut self, now: Instant, seg: &TcpRepr, ack: SeqNumber, blocks: &[(SeqNumber, SeqNumber)]) -> usize {
        let acked = dist(ack, self.snd_una);
        // Only a sender that used its window may grow it (RFC 7661 in spirit: an
        // application-limited flow must not build up a window it never tested).
        let cwnd_limited = 2 * dist(self.snd_max, self.snd_una) >= self.cc.cwnd();
        self.sample_rtt(now, seg, ack);
        let data_acked = self.send_buf.ack_to(ack);
        self.snd_una = ack;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        if self.high_rxt < ack {
            self.high_rxt = ack;
        }
        self.scoreboard.ack_to(ack);
        let newly = if blocks.is_empty() { 0 } else { self.scoreboard.update(ack, self.snd_max, blocks) };
        self.rexmit_count = 0;
        self.dupacks = 0;
        let mss = self.neg.effective_mss();
        let flight = dist(self.snd_max, self.snd_una);
        let mut restart = true;
        match self.recovery {
            Recovery::None if cwnd_limited => self.cc.on_ack(now, data_acked, mss, self.rtt.srtt()),
            Recovery::None => {}
            Recovery::NewReno { inflation, partial_acked } => {
                if ack >= self.recover {
                    self.recovery = Recovery::None;
                    self.cc.on_recovery_end(now, flight, mss);
                } else {
                    // Partial ACK (RFC 6582 §3.2 step 5): retransmit the next hole,
                    // deflate by the amount acknowledged, add back one segment.
                    self.rexmit_una = true;
                    let mut inflation = inflation.saturating_sub(acked);
                    if acked >= mss {
                        inflation += mss;
                    }
                    self.recovery = Recovery::NewReno { inflation, partial_acked: true };
                    // "Impatient": only the first partial ACK restarts the timer.
                    restart = !partial_acked;
                }
            }
            Recovery::Sack { .. } => {
                if ack >= self.recover {
                    self.recovery = Recovery::None;
                    self.cc.on_recovery_end(now, flight, mss);
                    self.rack.on_recovery_exit();
                }
            }
            Recovery::Rto { .. } => {
                // Slow start resumes from the loss window, as after go-back-N.
                if cwnd_limited {
                    self.cc.on_ack(now, data_acked, mss, self.rtt.srtt());
                }
                if ack >= self.recover {
                    self.recovery = Recovery::None;
                    self.rack.on_recovery_exit();
                }
            }
        }
        if self.snd_una == self.snd_max {
            self.rto_at = None;
            self.unacked_since = None;
        } else if restart {
            self.rto_at = Some(now + self.rtt.rto());
            self.unacked_since = Some(now);
        }
        newly
    }

    fn on_dupack(&mut self, now: Instant) {
        self.dupacks += 1;
        self.counters.dup_acks += 1;
        let mss = self.neg.effective_mss();
        match self.recovery {
            Recovery::None if self.rack_enabled() => {
                // RACK decides what is lost (RFC 8985 §6.2: its reordering window is
                // zero once DupThresh segments are SACKed, so it subsumes the DupAck
                // threshold). ACKs carrying no SACK information at all still mark
                // SND.UNA lost on the third duplicate (RFC 5681).
                if self.dupacks >= DUP_THRESH && self.rack.segs_sacked() == 0 && self.snd_una >= self.recover {
                    self.rack.mark_first_lost();
                }
            }
            Recovery::None => {
                let lost = self.neg.sack && self.scoreboard.lost_boundary(DUP_THRESH as usize, mss).is_some();
                if self.dupacks >= DUP_THRESH || lost {
                    if self.neg.sack {
                        if self.snd_una >= self.recover {
                            self.enter_recovery(now, true);
                        }
                    } else if self.snd_una > self.recover {
                        self.enter_recovery(now, false);
                    }
                }
            }
            Recovery::NewReno { inflation, partial_acked } => {
                self.recovery = Recovery::NewReno { inflation: inflation + mss, partial_acked };
            }
            Recovery::Sack { .. } | Recovery::Rto { .. } => {}
        }
    }

    pub(super) fn enter_recovery(&mut self, now: Instant, sack: bool) {
        self.counters.fast_retransmits += 1;
        let mss = self.neg.effective_mss();
        let flight = dist(self.snd_max, self.snd_una);
        self.cc.on_congestion_event(now, flight, mss);
        self.recover = self.snd_max;
        self.high_rxt = self.snd_una;
        self.prr = super::prr::Prr::start(flight);
        if sack {
            self.recovery = Recovery::Sack { rexmit_first: true };
            // The recovery repairs what a tail loss probe revealed; the episode ends
            // (as Linux's tcp_init_cwnd_reduction does), and no probe is due.
            if self.tlp_end.take().is_some() {
                self.counters.tlp_recoveries += 1;
            }
            self.tlp_at = None;
            self.tlp_pending = false;
        } else {
            self.recovery = Recovery::NewReno { inflation: DUP_THRESH as usize * mss, partial_acked: false };
            self.rexmit_una = true;
        }
    }

    /// Segment text. Returns whether all of it was stored (a FIN after it can count).
    fn process_text(&mut self, now: Instant, seq: SeqNumber, payload: &[u8]) -> bool {
        if payload.is_empty() {
            return true;
        }
        if !self.state.can_receive() {
            // The peer already sent FIN: nothing more can come.
            return false;
        }
        if self.app_closed && seq + payload.len() > self.rcv_nxt {
            // RFC 1122 §4.2.2.13: nobody will read it.
            self.queue_rst(self.acceptable_seq(), Some(self.rcv_nxt));
            self.recv_buf.clear();
            self.terminate(None);
            return false;
        }
        self.note_duplicate(seq, payload.len());
        let mut data = payload;
        if let Some(fin) = self.rcv_fin {
            let room = fin.diff(seq);
            if room <= 0 {
                return false;
            }
            data = &data[..data.len().min(room as usize)];
        }
        let r = self.recv_buf.insert(self.rcv_nxt, seq, data);
        self.rcv_nxt += r.delivered;
        self.counters.bytes_in += r.delivered as u64;
        if r.trimmed > 0 {
            self.counters.out_of_window_bytes += r.trimmed as u64;
            self.ack_now = true;
        }
        if r.dropped {
            self.counters.ooo_dropped += 1;
            self.ack_now = true;
        } else if r.out_of_order {
            self.counters.ooo_segments += 1;
            self.ack_now = true;
        }
        if r.delivered > 0 {
            self.rcv_mss = self.rcv_mss.max(data.len()).min(usize::from(self.cfg.mss));
            self.unacked_rx += r.delivered;
            self.note_data_rx(now, data.len());
            // Linux's __tcp_ack_snd_check: more than one full segment unacknowledged,
            // quick-ACK mode, or out-of-order data: at once; else the delayed-ACK timer.
            if r.filled_gap
                || self.recv_buf.has_out_of_order()
                || self.cfg.ack_delay.is_zero()
                || self.unacked_rx > self.rcv_mss
                || (self.quickacks > 0 && !self.pingpong)
            {
                self.ack_now = true;
            } else if self.delack_at.is_none() {
                self.delack_at = Some(now + self.cfg.ack_delay);
            }
            if self.rcv_fin == Some(self.rcv_nxt) {
                self.accept_fin(now);
            }
        } else if !r.out_of_order && !r.dropped {
            self.ack_now = true;
        }
        r.trimmed == 0 && !r.dropped && data.len() == payload.len()
    }

    /// In-order data of `len` bytes arrived: quick-ACK mode on the first data and after
    /// an idle gap longer than the RTO (Linux `tcp_event_data_recv`), and the push mark
    /// for a short segment.
    fn note_data_rx(&mut self, now: Instant, len: usize) {
        let idle = self.last_data_rx.is_none_or(|t| now.saturating_since(t) > self.rtt.rto());
        if idle {
            let segs = (self.recv_buf.capacity() / (2 * self.rcv_mss.max(1))) as u32;
            self.quickacks = segs.clamp(2, MAX_QUICKACKS);
        }
        self.last_data_rx = Some(now);
        if len < self.rcv_mss {
            self.ack_pushed = true;
        }
    }

    /// Payload `[seq, seq + len)` arrived: what of it was received before is reported
    /// in a D-SACK block (RFC 2883 §4: below RCV.NXT, or within an out-of-order range).
    fn note_duplicate(&mut self, seq: SeqNumber, len: usize) {
        if !self.neg.sack || len == 0 || len > i32::MAX as usize / 2 {
            return;
        }
        let end = seq + len;
        if seq < self.rcv_nxt {
            let e = end.min(self.rcv_nxt);
            // Only what is plausibly ours: within a window below RCV.NXT.
            if dist(self.rcv_nxt, seq) <= self.recv_buf.capacity().max(65_535) {
                self.dsack = Some((seq, e));
                self.ack_now = true;
            }
        } else if self.recv_buf.holds(seq, end) {
            self.dsack = Some((seq, end));
            self.ack_now = true;
        }
    }

    fn process_fin(&mut self, now: Instant, fin_seq: SeqNumber) {
        match self.state {
            State::Established | State::FinWait1 | State::FinWait2 => {
                if fin_seq == self.rcv_nxt {
                    self.accept_fin(now);
                } else if fin_seq > self.rcv_nxt && self.rcv_fin.is_none() {
                    self.rcv_fin = Some(fin_seq);
                }
            }
            State::TimeWait => {
                self.ack_now = true;
                self.state_since = now;
            }
            _ => self.ack_now = true,
        }
    }

    fn accept_fin(&mut self, now: Instant) {
        self.rcv_nxt += 1;
        self.fin_received = true;
        self.rcv_fin = None;
        self.ack_now = true;
        match self.state {
            State::Established => self.set_state(now, State::CloseWait),
            State::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(now);
                } else {
                    self.set_state(now, State::Closing);
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(now, State::TimeWait);
        self.state_since = now;
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.unacked_since = None;
        self.scoreboard.clear();
        self.clear_rack();
        self.release_buffers();
    }
}
