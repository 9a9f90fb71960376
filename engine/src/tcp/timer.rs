//! Timers: retransmission (RFC 6298 with exponential backoff; go-back-N from SND.UNA,
//! or with RACK the retransmission of what RACK deems lost), the RACK reorder timer and
//! the TLP probe timeout (RFC 8985), persist (zero-window probes with backoff, RFC 9293
//! §3.8.6.1), delayed ACK, keepalive (RFC 1122 §4.2.3.6), TIME-WAIT and FIN-WAIT-2, and
//! the user timeout.

use super::cc::CongestionControl;
use super::tcb::{dist, Recovery, Tcb};
use super::{State, TcpError};
use crate::time::Instant;

impl Tcb {
    /// When `handle_timeout` should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        [
            self.rto_at,
            self.rack_at,
            self.tlp_at,
            self.persist_at,
            self.delack_at,
            self.close_deadline(),
            self.user_deadline(),
            self.keepalive_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn close_deadline(&self) -> Option<Instant> {
        match self.state {
            State::TimeWait => Some(self.state_since + self.cfg.time_wait),
            State::FinWait2 if self.app_closed => Some(self.state_since + self.cfg.fin_wait2_timeout),
            _ => None,
        }
    }

    fn user_deadline(&self) -> Option<Instant> {
        Some(self.unacked_since? + self.cfg.user_timeout?)
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        let ka = self.keepalive?;
        if !matches!(self.state, State::Established | State::CloseWait | State::FinWait2)
            || self.snd_una != self.snd_max
            || self.persist_at.is_some()
        {
            return None;
        }
        Some(self.last_rx + ka.idle + ka.interval * self.keepalive_probes)
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.user_deadline().is_some_and(|t| t <= now) {
            self.terminate(Some(TcpError::TimedOut));
            return;
        }
        if self.close_deadline().is_some_and(|t| t <= now) {
            self.terminate(None);
            return;
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
            self.counters.delayed_acks += 1;
            // The reply the ACK waited for did not come: not interactive after all.
            self.pingpong = false;
        }
        if self.rack_at.is_some_and(|t| t <= now) {
            self.rack_at = None;
            self.rack_detect(now);
        }
        // Before the RTO: a PTO due at the same time replaces it (and re-arms it).
        if self.tlp_at.is_some_and(|t| t <= now) {
            self.tlp_at = None;
            self.on_pto(now);
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.on_rto(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.on_persist(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.keepalive_deadline().is_some_and(|t| t <= now) {
            self.on_keepalive();
        }
    }

    fn on_rto(&mut self, now: Instant) {
        match self.state {
            State::SynSent | State::SynReceived => {
                let limit = if self.state == State::SynSent { self.cfg.syn_retries } else { self.cfg.synack_retries };
                if self.rexmit_count >= limit {
                    self.terminate(Some(TcpError::TimedOut));
                    return;
                }
                self.rexmit_count += 1;
                self.counters.timeouts += 1;
                self.rtt.back_off();
                self.syn_retransmitted = true;
                self.rtt_probe = None;
                self.snd_nxt = self.iss;
            }
            _ => {
                if self.snd_una == self.snd_max {
                    return;
                }
                if self.snd_wnd == 0 && self.snd_una < self.send_buf.end() {
                    // The peer's window is closed: what we sent past it was dropped.
                    // Probe for the window instead of retransmitting into it.
                    self.snd_nxt = self.snd_una;
                    self.rtt_probe = None;
                    self.recovery = Recovery::None;
                    self.rexmit_una = false;
                    self.persist_at = Some(now + self.persist_interval());
                    return;
                }
                if self.rexmit_count >= self.cfg.max_retransmits {
                    self.terminate(Some(TcpError::TimedOut));
                    return;
                }
                self.rexmit_count += 1;
                self.counters.timeouts += 1;
                let mss = self.neg.effective_mss();
                let flight = dist(self.snd_max, self.snd_una);
                self.cc.on_rto(now, flight, mss, self.rexmit_count == 1);
                self.recovery = Recovery::None;
                self.rexmit_una = false;
                self.recover = self.snd_max;
                self.high_rxt = self.snd_una;
                self.dupacks = 0;
                // Go-back-N skips what the peer SACKed (RFC 6675 §5.1). A second
                // expiry in a row suggests the receiver reneged (RFC 2018 §8): forget.
                if self.rexmit_count > 1 {
                    self.scoreboard.clear();
                    self.rack.clear_sacked();
                }
                self.rtt.back_off();
                self.rtt_probe = None;
                self.tlp_end = None;
                self.tlp_at = None;
                self.tlp_pending = false;
                self.rack_at = None;
                if self.rack_enabled() {
                    // RFC 8985 §6.3: what is overdue is lost; retransmit it in slow
                    // start, watching for lost retransmissions (`Recovery::Rto`).
                    let reo_wnd = self.reo_wnd();
                    self.counters.rack_losses += self.rack.mark_lost_on_rto(now, reo_wnd) as u64;
                    if self.rack.has_lost() {
                        self.recovery = Recovery::Rto { rexmit_first: true };
                        // Re-armed by the retransmission; in case nothing can go (the
                        // peer's window), it runs anyway.
                        self.rto_at = Some(now + self.rtt.rto());
                        return;
                    }
                }
                self.snd_nxt = self.snd_una;
            }
        }
    }

    fn on_persist(&mut self, now: Instant) {
        let sending = matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck
        );
        if !sending || self.snd_nxt >= self.send_buf.end() || self.rto_at.is_some() {
            return;
        }
        if self.probes_out >= self.cfg.max_retransmits {
            self.terminate(Some(TcpError::TimedOut));
            return;
        }
        self.probes_out += 1;
        let room = (self.snd_una + self.snd_wnd.min(i32::MAX as usize / 2)).diff(self.snd_nxt);
        if room <= 0 {
            self.probe_pending = true;
            self.counters.persist_probes += 1;
        } else {
            self.sws_override = true;
        }
        self.persist_backoff += 1;
        self.persist_at = Some(now + self.persist_interval());
    }

    fn on_keepalive(&mut self) {
        let Some(ka) = self.keepalive else { return };
        if self.keepalive_probes >= ka.count {
            self.terminate(Some(TcpError::TimedOut));
            return;
        }
        self.keepalive_probes += 1;
        self.probe_pending = true;
        self.counters.keepalive_probes += 1;
    }
}
