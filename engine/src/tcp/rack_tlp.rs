//! RACK-TLP (RFC 8985) in the connection, when SACK is negotiated: ACK processing for
//! RACK (`rack.rs` keeps the records and the RACK state), loss marking and recovery
//! entry, the reorder timer, and the TLP side: probe timeout, episodes, and the
//! congestion response to a loss a probe repaired. The probe itself and the
//! retransmission of lost records are chosen in `output.rs`; timers run in `timer.rs`.
//!
//! Recovery with RACK: losses RACK marks start RFC 6675-style recovery (one window
//! reduction per episode; `pipe` counts records neither SACKed nor lost), which
//! retransmits lost records lowest first, then sends new data. A lost retransmission
//! is marked lost again once something sent after it is delivered, and goes again in
//! the same episode. After a retransmission timeout every expired record is lost
//! (§6.3) and they are retransmitted in slow start (`Recovery::Rto`), with the same
//! protection for lost retransmissions.
//!
//! Without SACK, RACK-TLP is off and loss recovery is RFC 6582 NewReno (RACK needs
//! SACK to learn which segments were delivered; Linux also requires it for TLP).

use super::cc::CongestionControl;
use super::rack::Echo;
use super::tcb::{dist, Recovery, Tcb, DUP_THRESH, TLP_MIN_EXTRA, TLP_WC_DEL_ACK};
use super::State;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpRepr};

/// A D-SACK block (RFC 2883 §4): the first block lies below the cumulative ACK, or
/// within the second block.
pub(super) fn is_dsack(blocks: &[(SeqNumber, SeqNumber)], ack: SeqNumber) -> bool {
    match blocks {
        [] => false,
        [first, rest @ ..] => {
            first.1 <= ack || rest.first().is_some_and(|second| second.0 <= first.0 && first.1 <= second.1)
        }
    }
}

impl Tcb {
    /// RACK and TLP processing of an acceptable ACK (after SND.UNA, the scoreboard and
    /// recovery state were updated). `pure_dup`: SND.UNA did not move and the ACK
    /// carried no data and no SACK option.
    pub(super) fn rack_on_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr,
        blocks: &[(SeqNumber, SeqNumber)],
        prior_una: SeqNumber,
        prior_flight: usize,
        pure_dup: bool,
    ) {
        let ack = seg.ack;
        let echo = if self.neg.timestamps {
            seg.options.timestamps.map(|(_, tsecr)| Echo { tsecr, offset: self.ts_offset })
        } else {
            None
        };
        let dsack = is_dsack(blocks, ack);
        if self.rack.on_ack(now, self.snd_una, self.snd_max, blocks, echo) {
            self.tlp_sampled = true;
        }
        self.rack.update_reo_wnd(dsack, self.snd_una, self.snd_max);
        self.tlp_on_ack(now, ack, dsack, pure_dup, prior_flight);
        self.rack_detect(now);
        if self.snd_una == self.snd_max {
            self.tlp_at = None;
            self.rack_at = None;
        } else if self.snd_una > prior_una {
            // RFC 8985 §7.2: restart the PTO on an ACK of new data.
            self.schedule_tlp(now);
        } else if !self.tlp_allowed() {
            self.tlp_at = None;
        }
    }

    /// RACK_detect_loss_and_arm_timer (RFC 8985 §6.2 step 5), then recovery for what
    /// is lost.
    pub(super) fn rack_detect(&mut self, now: Instant) {
        let reo_wnd = self.reo_wnd();
        let (lost, timer) = self.rack.detect_loss(now, reo_wnd);
        self.rack_at = timer;
        self.counters.rack_losses += lost as u64;
        if self.rack.has_lost() && self.recovery == Recovery::None {
            self.enter_recovery(now, true);
        }
    }

    pub(super) fn reo_wnd(&self) -> Duration {
        let in_recovery = self.recovery != Recovery::None;
        self.rack.reo_wnd(in_recovery, DUP_THRESH as usize, self.rtt.srtt())
    }

    /// RFC 8985 §7.4.2 TLP_process_ack.
    fn tlp_on_ack(&mut self, now: Instant, ack: SeqNumber, dsack: bool, pure_dup: bool, prior_flight: usize) {
        let Some(end) = self.tlp_end else { return };
        if ack < end {
            return;
        }
        if !self.tlp_is_retrans || dsack || pure_dup {
            // New data delivered, or both the original and the probe arrived.
            self.tlp_end = None;
        } else if ack > end {
            // The probe repaired a loss: respond as to any loss, once.
            self.tlp_end = None;
            self.counters.tlp_recoveries += 1;
            let mss = self.neg.effective_mss();
            self.cc.on_congestion_event(now, prior_flight, mss);
            self.cc.on_recovery_end(now, dist(self.snd_max, self.snd_una), mss);
        }
    }

    /// Whether a loss probe may be scheduled (RFC 8985 §7.2): RACK in use, not in
    /// recovery, nothing SACKed, no probe outstanding, data in flight and the peer's
    /// window open.
    pub(super) fn tlp_allowed(&self) -> bool {
        self.rack_enabled()
            && self.recovery == Recovery::None
            && self.tlp_end.is_none()
            && self.snd_una != self.snd_max
            && self.rack.segs_sacked() == 0
            && self.snd_wnd > 0
            && matches!(self.state, State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck)
    }

    /// The probe timeout (RFC 8985 §7.2): 2 * SRTT, plus [`TLP_WC_DEL_ACK`] with at
    /// most one segment in flight and [`TLP_MIN_EXTRA`] otherwise; 1 s without an RTT
    /// estimate. SRTT is the microsecond one RACK keeps, else RFC 6298's.
    pub(super) fn pto(&self) -> Duration {
        let Some(srtt) = self.rack.srtt().or(self.rtt.srtt()) else { return Duration::from_secs(1) };
        let flight = dist(self.snd_max, self.snd_una);
        let extra = if flight <= self.neg.effective_mss() { TLP_WC_DEL_ACK } else { TLP_MIN_EXTRA };
        srtt * 2 + extra
    }

    /// Starts or restarts the PTO, never beyond the retransmission timer; stops it when
    /// no probe may be sent.
    pub(super) fn schedule_tlp(&mut self, now: Instant) {
        if !self.tlp_allowed() {
            self.tlp_at = None;
            return;
        }
        let mut at = now + self.pto();
        if let Some(rto) = self.rto_at {
            at = at.min(rto);
        }
        self.tlp_at = Some(at);
    }

    /// The PTO expired (RFC 8985 §7.3): send a probe if no other is outstanding and an
    /// RTT sample came since the last one; either way the retransmission timer is
    /// re-armed (not the PTO).
    pub(super) fn on_pto(&mut self, now: Instant) {
        if self.tlp_allowed() && self.tlp_sampled {
            self.tlp_pending = true;
        }
        if self.snd_una != self.snd_max {
            self.rto_at = Some(now + self.rtt.rto());
        }
    }

    /// A probe left: TLP.end_seq is SND.NXT.
    pub(super) fn tlp_sent(&mut self, is_retrans: bool) {
        self.tlp_end = Some(self.snd_max);
        self.tlp_is_retrans = is_retrans;
        self.tlp_sampled = false;
        self.counters.tlp_probes += 1;
    }
}
