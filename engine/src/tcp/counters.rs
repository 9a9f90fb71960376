//! Per-connection event counters; the stack sums them with [`TcpCounters::accumulate`].

use serde::Serialize;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TcpCounters {
    /// Segments handed to `handle_segment`.
    pub segments_in: u64,
    /// Segments returned by `poll_transmit`.
    pub segments_out: u64,
    /// Payload bytes accepted in order (delivered to the receive buffer).
    pub bytes_in: u64,
    /// New payload bytes sent (retransmissions excluded).
    pub bytes_out: u64,
    /// Segments sent again (RTO, fast retransmit, SACK recovery, SYN and FIN included).
    pub retransmits: u64,
    /// Payload bytes sent again.
    pub retransmitted_bytes: u64,
    /// Loss recoveries entered on duplicate ACKs or SACK (NewReno or RFC 6675).
    pub fast_retransmits: u64,
    /// Retransmission-timer expiries with data (or SYN/FIN) outstanding.
    pub timeouts: u64,
    /// Duplicate ACKs received (RFC 5681 definition, or ACKs carrying new SACK info).
    pub dup_acks: u64,
    /// Segments that arrived above RCV.NXT and were queued for reassembly.
    pub ooo_segments: u64,
    /// Out-of-order segments dropped: reassembly range limit reached.
    pub ooo_dropped: u64,
    /// Payload bytes received outside the window (trimmed or dropped).
    pub out_of_window_bytes: u64,
    /// Segments failing the RFC 9293 sequence acceptability test.
    pub bad_seq: u64,
    /// Segments dropped for an unacceptable ACK field (RFC 5961 §5 or SYN states).
    pub bad_ack: u64,
    /// Segments dropped by PAWS (RFC 7323 §5).
    pub paws_dropped: u64,
    /// Challenge ACKs sent (RFC 5961 §3.2, §4.2, §5.2).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit.
    pub challenge_acks_suppressed: u64,
    pub rst_sent: u64,
    /// Acceptable RSTs that reset the connection.
    pub rst_received: u64,
    /// RSTs ignored (outside the window, or in the window but not at RCV.NXT).
    pub rst_ignored: u64,
    /// Zero-window probes sent by the persist timer.
    pub persist_probes: u64,
    pub keepalive_probes: u64,
    /// Pure ACKs sent (no data, SYN, FIN or RST).
    pub acks_sent: u64,
    /// ACKs sent because the delayed-ACK timer fired.
    pub delayed_acks: u64,
    /// Window updates sent because the application read data.
    pub window_updates: u64,
    /// ACKs sent at once because the application read all of a pushed (short) segment
    /// and no reply was expected.
    pub pushed_acks: u64,
    /// D-SACK blocks received: the peer got a segment twice, usually a spurious
    /// retransmission of ours (RFC 2883).
    pub dsacks_received: u64,
    /// RTT samples taken.
    pub rtt_samples: u64,
    /// Segments RACK (RFC 8985) marked lost: by time on an ACK or the reorder timer, or
    /// as overdue when the retransmission timer expired (§6.3).
    pub rack_losses: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tlp_probes: u64,
    /// Probes that repaired a loss: their ACK started RACK recovery, or acknowledged
    /// past a retransmitted probe without a D-SACK (RFC 8985 §7.4).
    pub tlp_recoveries: u64,
}

impl TcpCounters {
    /// Adds every counter of `other` into `self`.
    pub fn accumulate(&mut self, other: &TcpCounters) {
        let TcpCounters {
            segments_in,
            segments_out,
            bytes_in,
            bytes_out,
            retransmits,
            retransmitted_bytes,
            fast_retransmits,
            timeouts,
            dup_acks,
            ooo_segments,
            ooo_dropped,
            out_of_window_bytes,
            bad_seq,
            bad_ack,
            paws_dropped,
            challenge_acks,
            challenge_acks_suppressed,
            rst_sent,
            rst_received,
            rst_ignored,
            persist_probes,
            keepalive_probes,
            acks_sent,
            delayed_acks,
            window_updates,
            pushed_acks,
            dsacks_received,
            rtt_samples,
            rack_losses,
            tlp_probes,
            tlp_recoveries,
        } = *other;
        self.segments_in += segments_in;
        self.segments_out += segments_out;
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        self.retransmits += retransmits;
        self.retransmitted_bytes += retransmitted_bytes;
        self.fast_retransmits += fast_retransmits;
        self.timeouts += timeouts;
        self.dup_acks += dup_acks;
        self.ooo_segments += ooo_segments;
        self.ooo_dropped += ooo_dropped;
        self.out_of_window_bytes += out_of_window_bytes;
        self.bad_seq += bad_seq;
        self.bad_ack += bad_ack;
        self.paws_dropped += paws_dropped;
        self.challenge_acks += challenge_acks;
        self.challenge_acks_suppressed += challenge_acks_suppressed;
        self.rst_sent += rst_sent;
        self.rst_received += rst_received;
        self.rst_ignored += rst_ignored;
        self.persist_probes += persist_probes;
        self.keepalive_probes += keepalive_probes;
        self.acks_sent += acks_sent;
        self.delayed_acks += delayed_acks;
        self.window_updates += window_updates;
        self.pushed_acks += pushed_acks;
        self.dsacks_received += dsacks_received;
        self.rtt_samples += rtt_samples;
        self.rack_losses += rack_losses;
        self.tlp_probes += tlp_probes;
        self.tlp_recoveries += tlp_recoveries;
    }
}
