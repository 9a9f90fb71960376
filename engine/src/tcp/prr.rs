//! Proportional Rate Reduction (RFC 6937), as Linux runs it in SACK/RACK recovery.
//!
//! Entering recovery sets the congestion window to ssthresh at once; RFC 6675 then
//! sends only while `cwnd - pipe >= 1 SMSS`, so with a flight of a few segments the
//! sender falls silent until the flight drains, the ACK clock stops, and one more lost
//! segment or ACK costs a retransmission timeout. PRR spreads the reduction over the
//! recovery instead: while pipe is above ssthresh, it sends `ssthresh / RecoverFS` of
//! what each ACK delivers; below, slow start reduction bound (PRR-SSRB) lets it grow
//! back to ssthresh by at most one segment more than was delivered.

/// PRR state for one recovery episode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prr {
    /// Octets delivered to the receiver since recovery started (prr_delivered).
    delivered: usize,
    /// Octets sent since recovery started (prr_out).
    out: usize,
    /// Flight size when recovery started (RecoverFS).
    recover_fs: usize,
    /// Octets the last ACK delivered (DeliveredData).
    last_delivered: usize,
}

impl Prr {
    /// Recovery starts with `flight` octets outstanding.
    pub fn start(flight: usize) -> Prr {
        Prr { recover_fs: flight.max(1), ..Prr::default() }
    }

    /// An ACK during recovery delivered `n` octets (newly acknowledged plus newly
    /// SACKed).
    pub fn on_ack(&mut self, n: usize) {
        self.delivered += n;
        self.last_delivered = n;
    }

    /// `n` octets sent during recovery (new data or retransmitted).
    pub fn on_send(&mut self, n: usize) {
        self.out += n;
    }

    /// Octets that may be sent now (RFC 6937 §3, with SSRB), given what is in flight and
    /// the slow start threshold. A segment may go while this is non-zero.
    pub fn sndcnt(&self, pipe: usize, ssthresh: usize, mss: usize) -> usize {
        if pipe > ssthresh {
            // Proportional part: ceil(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let target = (self.delivered as u128 * ssthresh as u128).div_ceil(self.recover_fs as u128);
            (target as usize).saturating_sub(self.out)
        } else {
            // Slow start reduction bound.
            let limit = self.delivered.saturating_sub(self.out).max(self.last_delivered) + mss;
            (ssthresh - pipe).min(limit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn proportional_while_pipe_is_above_ssthresh() {
        // 10 segments in flight, ssthresh 7: about 7 sent per 10 delivered.
        let mut p = Prr::start(10 * MSS);
        let mut sent = Vec::new();
        for _ in 0..10 {
            p.on_ack(MSS);
            let go = p.sndcnt(9 * MSS, 7 * MSS, MSS) > 0;
            if go {
                p.on_send(MSS);
            }
            sent.push(go);
        }
        assert_eq!(sent, [true, true, true, false, true, true, false, true, true, false]);
    }

    #[test]
    fn halving_sends_one_per_two_delivered_after_the_retransmission() {
        let mut p = Prr::start(4 * MSS);
        p.on_send(MSS);
        p.on_ack(MSS);
        assert_eq!(p.sndcnt(4 * MSS, 2 * MSS, MSS), 0);
        p.on_ack(MSS);
        assert_eq!(p.sndcnt(3 * MSS, 2 * MSS, MSS), 0);
        p.on_ack(MSS);
        assert!(p.sndcnt(3 * MSS, 2 * MSS, MSS) > 0);
    }

    #[test]
    fn slow_start_reduction_bound_below_ssthresh() {
        // Pipe far below ssthresh (many losses): at most delivered + 1 segment.
        let mut p = Prr::start(20 * MSS);
        p.on_ack(2 * MSS);
        assert_eq!(p.sndcnt(2 * MSS, 14 * MSS, MSS), 3 * MSS);
        p.on_send(3 * MSS);
        p.on_ack(MSS);
        assert_eq!(p.sndcnt(4 * MSS, 14 * MSS, MSS), 2 * MSS);
        // Never beyond ssthresh.
        assert_eq!(p.sndcnt(14 * MSS, 14 * MSS, MSS), 0);
    }
}
