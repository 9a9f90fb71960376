//! The connection: state, constructors, application interface and the helpers shared
//! by input (`input.rs`), output (`output.rs`) and timers (`timer.rs`).

use std::net::Ipv4Addr;

use super::cc::{self, Cc, CongestionControl};
use super::options::{self, Negotiated, MIN_MSS};
use super::recv_buf::RecvBuf;
use super::rack::Rack;
use super::rtt::RttEstimator;
use super::prr::Prr;
use super::scoreboard::Scoreboard;
use super::send_buf::SendBuf;
use super::{Keepalive, State, TcpConfig, TcpCounters, TcpError};
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpRepr};

/// An IPv4 address and port.
pub type Endpoint = (Ipv4Addr, u16);

/// A segment to send: the header (`repr.payload` is empty) and how many payload bytes
/// follow it, taken from the send buffer at `repr.seq` ([`Tcb::payload_for`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub repr: TcpRepr<'static>,
    pub payload_len: usize,
}

/// Loss recovery in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Recovery {
    None,
    /// RFC 6582 fast recovery: the window is inflated by `inflation` bytes.
    NewReno { inflation: usize, partial_acked: bool },
    /// RFC 6675 recovery; `rexmit_first`: the first retransmission is still due.
    /// With RACK (RFC 8985), what is lost is what RACK marked lost.
    Sack { rexmit_first: bool },
    /// RACK only: after a retransmission timeout, the records RACK marked lost are
    /// retransmitted in slow start (instead of go-back-N), until `recover` is
    /// acknowledged; a lost retransmission is detected again without another timeout.
    /// `rexmit_first`: the retransmission at SND.UNA is due whatever the window.
    Rto { rexmit_first: bool },
}

/// A reset to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PendingRst {
    pub seq: SeqNumber,
    /// ACK field, when the RST carries ACK.
    pub ack: Option<SeqNumber>,
}

/// Duplicate ACKs that trigger fast retransmit (RFC 5681, RFC 6675 DupThresh).
pub(super) const DUP_THRESH: u32 = 3;
/// TLP (RFC 8985 §7.2): added to 2 * SRTT when more than one segment is in flight.
/// The RFC adds nothing; Linux adds TCP_TIMEOUT_MIN, two jiffies: 8 ms on Debian's
/// kernels (HZ=250), and so do we. With 2 ms, a peer whose ACKs come from a softirq that
/// shares its core with a busy-polling worker answered late often enough for probes to
/// be spurious on a link that lost nothing (D-SACKed by the peer).
pub(super) const TLP_MIN_EXTRA: Duration = Duration::from_millis(8);
/// TLP WCDelAckT (RFC 8985 §7.2): with a single segment in flight the peer may be
/// holding its ACK for the delayed-ACK timer; 200 ms as the RFC recommends (Linux adds
/// its minimum RTO, also 200 ms). The PTO never goes past the RTO, so such a probe
/// replaces the timeout (no window collapse, no backoff) rather than preceding it.
pub(super) const TLP_WC_DEL_ACK: Duration = Duration::from_millis(200);
/// RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness.
pub(super) const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

/// One TCP connection (transmission control block). See the module docs.
pub struct Tcb {
    pub(super) cfg: TcpConfig,
    pub(super) local: Endpoint,
    pub(super) remote: Endpoint,
    pub(super) state: State,
    /// When `state` was entered (TIME-WAIT and FIN-WAIT-2 deadlines count from it).
    pub(super) state_since: Instant,
    pub(super) error: Option<TcpError>,

    // Send sequence space. SND.NXT of RFC 9293 is `snd_max`; `snd_nxt` is where the next
    // segment starts, pulled back to SND.UNA by a retransmission timeout (go-back-N).
    pub(super) iss: SeqNumber,
    pub(super) snd_una: SeqNumber,
    pub(super) snd_nxt: SeqNumber,
    pub(super) snd_max: SeqNumber,
    /// The peer's window, scaled, in bytes.
    pub(super) snd_wnd: usize,
    pub(super) snd_wl1: SeqNumber,
    pub(super) snd_wl2: SeqNumber,
    pub(super) max_snd_wnd: usize,
    pub(super) neg: Negotiated,

    // Receive sequence space.
    pub(super) irs: SeqNumber,
    pub(super) rcv_nxt: SeqNumber,
    /// Right edge of the window we advertised last (never moves left).
    pub(super) rcv_adv: SeqNumber,
    /// ACK field of the last segment we sent (RFC 7323 Last.ACK.sent).
    pub(super) last_ack_sent: SeqNumber,
    /// Sequence number of a FIN received ahead of missing data.
    pub(super) rcv_fin: Option<SeqNumber>,
    pub(super) fin_received: bool,

    pub(super) send_buf: SendBuf,
    pub(super) recv_buf: RecvBuf,
    /// A FIN follows the queued data (`close` or `shutdown_write`).
    pub(super) fin_queued: bool,
    /// `close()` was called: the application reads no more.
    pub(super) app_closed: bool,
    /// Data up to here is pushed (sent without waiting on Nagle).
    pub(super) push_seq: Option<SeqNumber>,
    pub(super) nodelay: bool,
    /// End of the last short (less than a full segment) data segment sent: Nagle in
    /// Minshall's variant holds a short segment only while this one is unacknowledged
    /// (Linux `snd_sml`).
    pub(super) snd_sml: SeqNumber,
    /// Hold a short tail until uncorked (see [`Tcb::set_cork`]).
    pub(super) cork: bool,

    // Timestamps (RFC 7323).
    pub(super) ts_recent: u32,
    pub(super) ts_recent_at: Option<Instant>,
    pub(super) ts_offset: u32,

    // Timers.
    pub(super) rto_at: Option<Instant>,
    pub(super) persist_at: Option<Instant>,
    pub(super) delack_at: Option<Instant>,
    pub(super) rtt: RttEstimator,
    /// Karn timing without timestamps: (sequence number to be acknowledged, sent at).
    pub(super) rtt_probe: Option<(SeqNumber, Instant)>,
    /// Consecutive retransmission-timer expiries (SYN retries included).
    pub(super) rexmit_count: u32,
    pub(super) syn_retransmitted: bool,
    /// Since when sent data has gone unacknowledged (user timeout).
    pub(super) unacked_since: Option<Instant>,
    pub(super) persist_backoff: u32,
    /// Zero-window probes sent without any ACK in between.
    pub(super) probes_out: u32,
    pub(super) keepalive: Option<Keepalive>,
    pub(super) keepalive_probes: u32,
    pub(super) last_rx: Instant,
    pub(super) last_tx: Instant,
    /// Last time a segment with new data left (idle restart, RFC 5681 §4.1).
    pub(super) last_data_tx: Instant,

    // Congestion control and loss recovery.
    pub(super) cc: Cc,
    pub(super) dupacks: u32,
    pub(super) recovery: Recovery,
    /// RFC 6582 `recover` / RFC 6675 RecoveryPoint.
    pub(super) recover: SeqNumber,
    /// RFC 6675 HighRxt: end of the highest retransmission in this recovery.
    pub(super) high_rxt: SeqNumber,
    /// NewReno: retransmit the segment at SND.UNA.
    pub(super) rexmit_una: bool,
    pub(super) scoreboard: Scoreboard,
    /// Proportional Rate Reduction for the current SACK recovery (RFC 6937).
    pub(super) prr: Prr,

    // RACK-TLP (RFC 8985), when SACK is negotiated and `cfg.rack` is set.
    pub(super) rack: Rack,
    /// The RACK reorder timer.
    pub(super) rack_at: Option<Instant>,
    /// The TLP probe timeout (PTO).
    pub(super) tlp_at: Option<Instant>,
    /// TLP.end_seq: a probe is outstanding; TLP.is_retrans.
    pub(super) tlp_end: Option<SeqNumber>,
    pub(super) tlp_is_retrans: bool,
    /// An RTT sample was taken since the last probe (RFC 8985 §7.3 condition 2).
    pub(super) tlp_sampled: bool,
    /// The PTO fired: send a probe.
    pub(super) tlp_pending: bool,
    /// A probe is being built (it does not restart the PTO).
    pub(super) tlp_probing: bool,

    // Output state.
    pub(super) ack_now: bool,
    /// In-order bytes received since our last ACK (delayed-ACK policy).
    pub(super) unacked_rx: usize,
    /// Quick-ACK mode (Linux `icsk_ack.quick`): ACKs left to send at once, without the
    /// delayed-ACK timer; refilled on a connection's first data and after an idle gap
    /// longer than the RTO, so a sender's slow start is not paced by our delays.
    pub(super) quickacks: u32,
    /// When in-order data last arrived.
    pub(super) last_data_rx: Option<Instant>,
    /// A short (pushed) segment arrived since our last ACK: acknowledge it as soon as
    /// the application has read everything (Linux `ICSK_ACK_PUSHED`).
    pub(super) ack_pushed: bool,
    /// Interactive (request/response) connection: we sent data soon after receiving,
    /// so ACKs wait to ride on the reply (Linux pingpong mode; left when the
    /// delayed-ACK timer fires).
    pub(super) pingpong: bool,
    /// Largest payload seen from the peer: "full-sized" for the delayed-ACK policy.
    pub(super) rcv_mss: usize,
    pub(super) pending_rst: Option<PendingRst>,
    /// A duplicate segment to report in the next ACK's first SACK block (RFC 2883).
    pub(super) dsack: Option<(SeqNumber, SeqNumber)>,
    /// Send a zero-window or keepalive probe.
    pub(super) probe_pending: bool,
    /// The persist timer allows a segment smaller than SWS avoidance wants.
    pub(super) sws_override: bool,
    /// Challenge-ACK rate limit: window start, ACKs sent in it.
    pub(super) challenge_window: (Instant, u32),
    pub(super) counters: TcpCounters,
}

/// Clamps configuration values that would make no sense.
fn sanitize(cfg: &TcpConfig) -> TcpConfig {
    let mut c = *cfg;
    c.mss = c.mss.max(MIN_MSS as u16);
    c.send_buffer = c.send_buffer.clamp(1, 1 << 30);
    c.recv_buffer = c.recv_buffer.clamp(1, 1 << 30);
    c.initial_window = c.initial_window.max(1);
    c.max_rto = c.max_rto.max(c.min_rto);
    c
}

pub(super) fn dist(a: SeqNumber, b: SeqNumber) -> usize {
    a.diff(b).max(0) as usize
}

impl Tcb {
    fn new(now: Instant, local: Endpoint, remote: Endpoint, iss: SeqNumber, cfg: &TcpConfig, state: State) -> Tcb {
        let cfg = sanitize(cfg);
        let neg = options::negotiate(&cfg, None, None, false, false);
        let iw = cc::initial_window(neg.effective_mss(), cfg.initial_window);
        Tcb {
            cfg,
            local,
            remote,
            state,
            state_since: now,
            error: None,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            neg,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            last_ack_sent: SeqNumber(0),
            rcv_fin: None,
            fin_received: false,
            send_buf: SendBuf::new(cfg.send_buffer, iss + 1),
            recv_buf: RecvBuf::new(cfg.recv_buffer, cfg.max_ooo_ranges),
            fin_queued: false,
            app_closed: false,
            push_seq: None,
            nodelay: cfg.nodelay,
            snd_sml: iss,
            cork: false,
            ts_recent: 0,
            ts_recent_at: None,
            // RFC 7323 §7.1: a per-connection offset; the ISN is already a keyed hash.
            ts_offset: iss.0.rotate_left(13) ^ 0x5bd1_e995,
            rto_at: None,
            persist_at: None,
            delack_at: None,
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtt_probe: None,
            rexmit_count: 0,
            syn_retransmitted: false,
            unacked_since: None,
            persist_backoff: 0,
            probes_out: 0,
            keepalive: cfg.keepalive,
            keepalive_probes: 0,
            last_rx: now,
            last_tx: now,
            last_data_tx: now,
            cc: Cc::new(cfg.congestion_control, iw),
            dupacks: 0,
            recovery: Recovery::None,
            recover: iss,
            high_rxt: iss,
            rexmit_una: false,
            scoreboard: Scoreboard::new(cfg.max_sack_ranges),
            prr: Prr::default(),
            rack: Rack::new(cfg.send_buffer),
            rack_at: None,
            tlp_at: None,
            tlp_end: None,
            tlp_is_retrans: false,
            tlp_sampled: true,
            tlp_pending: false,
            tlp_probing: false,
            ack_now: false,
            unacked_rx: 0,
            quickacks: 0,
            last_data_rx: None,
            ack_pushed: false,
            pingpong: false,
            rcv_mss: options::DEFAULT_MSS.min(usize::from(cfg.mss)),
            pending_rst: None,
            dsack: None,
            probe_pending: false,
            sws_override: false,
            challenge_window: (now, 0),
            counters: TcpCounters::default(),
        }
    }

    /// Active open: a SYN from `local` to `remote` with initial sequence number `iss`
    /// (see [`IsnGenerator`](super::IsnGenerator)) waits in `poll_transmit`.
    pub fn connect(now: Instant, local: Endpoint, remote: Endpoint, iss: SeqNumber, cfg: &TcpConfig) -> Tcb {
        let mut t = Tcb::new(now, local, remote, iss, cfg, State::SynSent);
        // Offer what the configuration enables; `neg` is settled by the SYN-ACK.
        t.neg.rcv_shift = if t.cfg.window_scaling { options::window_shift_for(t.cfg.recv_buffer) } else { 0 };
        t
    }

    /// Passive open: the stack's listener received `syn` (SYN set, ACK and RST clear)
    /// for `local` from `remote`. The SYN-ACK waits in `poll_transmit`. A segment that
    /// is not such a SYN yields a connection already `Closed`.
    ///
    /// SYN cookies: the stack may send the SYN-ACK itself (e.g. from a throwaway
    /// connection built with the cookie as `iss`), then, when the ACK arrives, rebuild
    /// the SYN from the cookie, call `accept_syn` with the same `iss` and hand the ACK
    /// to [`handle_segment`](Self::handle_segment): an ACK of exactly ISS+1 before the
    /// SYN-ACK was polled counts as acknowledging the SYN-ACK the stack sent.
    pub fn accept_syn(
        now: Instant,
        local: Endpoint,
        remote: Endpoint,
        syn: &TcpRepr,
        iss: SeqNumber,
        cfg: &TcpConfig,
    ) -> Tcb {
        let mut t = Tcb::new(now, local, remote, iss, cfg, State::SynReceived);
        if !syn.flags.syn || syn.flags.ack || syn.flags.rst {
            t.state = State::Closed;
            return t;
        }
        t.counters.segments_in += 1;
        t.take_peer_syn(now, syn);
        t
    }

    /// Records the peer's SYN: IRS, options, initial window.
    pub(super) fn take_peer_syn(&mut self, now: Instant, syn: &TcpRepr) {
        let o = &syn.options;
        self.neg = options::negotiate(&self.cfg, o.mss, o.window_scale, o.timestamps.is_some(), o.sack_permitted);
        self.irs = syn.seq;
        self.rcv_nxt = syn.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        // The window in a SYN is never scaled (RFC 7323 §2.2).
        self.snd_wnd = usize::from(syn.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq;
        if self.neg.timestamps {
            if let Some((tsval, _)) = o.timestamps {
                self.ts_recent = tsval;
                self.ts_recent_at = Some(now);
            }
            // The SYN's own Karn timing stays: it gives the handshake's sample in
            // microseconds (timestamps time the later ACKs; data is not probed then).
        }
        let mss = self.neg.effective_mss();
        self.cc = Cc::new(self.cfg.congestion_control, cc::initial_window(mss, self.cfg.initial_window));
        self.last_rx = now;
    }

    // ----------------------------------------------------------------------------
    // Application interface

    /// Queues up to `data.len()` bytes; returns how many fit in the send buffer. Zero
    /// once the sending side is closed or the connection is gone.
    pub fn send(&mut self, data: &[u8]) -> usize {
        if !self.state.can_send() || self.fin_queued {
            return 0;
        }
        self.send_buf.push(data)
    }

    /// Bytes `send` would accept now.
    pub fn send_capacity(&self) -> usize {
        if !self.state.can_send() || self.fin_queued {
            return 0;
        }
        self.send_buf.free()
    }

    /// Bytes in the send buffer (unsent plus sent and unacknowledged).
    pub fn send_queued(&self) -> usize {
        self.send_buf.len()
    }

    /// Sends everything queued so far without waiting on the Nagle algorithm; the last
    /// segment carries PSH.
    pub fn push(&mut self) {
        if self.send_buf.len() > 0 {
            self.push_seq = Some(self.send_buf.end());
        }
    }

    /// TCP_NODELAY: the Nagle algorithm is off.
    pub fn nodelay(&self) -> bool {
        self.nodelay
    }

    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.nodelay = nodelay;
    }

    /// While corked, only full segments leave: the short tail of what the application
    /// wrote waits until it uncorks (like TCP_CORK; the stack corks during an
    /// application's pass and uncorks at its end, as Linux autocorks, so a loop of
    /// writes does not put a runt segment after each one).
    pub fn set_cork(&mut self, cork: bool) {
        self.cork = cork;
    }

    pub fn corked(&self) -> bool {
        self.cork
    }

    /// The timestamp clock offset (RFC 7323 §7.1); the stack sets one per address pair
    /// ([`super::IsnGenerator::ts_offset`]) before the first segment goes out. Without
    /// it the offset is derived from the ISS.
    pub fn set_ts_offset(&mut self, offset: u32) {
        self.ts_offset = offset;
    }

    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.keepalive = keepalive;
        self.keepalive_probes = 0;
    }

    /// Copies received in-order bytes into `buf`; returns the count (0 when nothing is
    /// available: see [`recv_eof`](Self::recv_eof) and [`error`](Self::error)).
    pub fn recv(&mut self, buf: &mut [u8]) -> usize {
        let n = self.recv_buf.read(buf);
        if n > 0 {
            self.after_read();
        }
        n
    }

    /// The readable bytes, without consuming them (two slices of the ring).
    pub fn recv_slices(&self) -> (&[u8], &[u8]) {
        self.recv_buf.slices(0, usize::MAX)
    }

    /// Consumes `n` readable bytes (after [`recv_slices`](Self::recv_slices)).
    pub fn recv_consume(&mut self, n: usize) {
        let n = n.min(self.recv_buf.len());
        if n > 0 {
            self.recv_buf.consume(n);
            self.after_read();
        }
    }

    pub fn recv_available(&self) -> usize {
        self.recv_buf.len()
    }

    /// The peer finished sending and everything it sent has been read.
    /// Whether data beyond a hole is held (the peer should hear of each arrival at
    /// once: duplicate ACKs and SACK blocks drive its loss recovery).
    pub fn recv_has_gap(&self) -> bool {
        self.recv_buf.has_out_of_order()
    }

    pub fn recv_eof(&self) -> bool {
        self.fin_received && self.recv_buf.len() == 0
    }

    /// `recv` would return data, end of stream, or the connection failed.
    pub fn readable(&self) -> bool {
        self.recv_buf.len() > 0 || self.fin_received || self.error.is_some()
    }

    /// The connection is established (or half-closed by the peer) and `send` would
    /// accept data. (`send` also queues data during the handshake.)
    pub fn writable(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait) && self.send_capacity() > 0
    }

    /// The handshake completed and the connection has not been closed since.
    pub fn is_established(&self) -> bool {
        self.state.is_synchronized()
    }

    /// Whether a new SYN for this connection's addresses may replace it while it is in
    /// TIME-WAIT (RFC 6191; RFC 1122 §4.2.2.13): its timestamp is newer than the last
    /// one seen or, without timestamps, its sequence number is beyond RCV.NXT. The
    /// stack then drops this connection and calls [`Tcb::accept_syn`]; an RFC 6528 ISN
    /// keeps the new sequence space ahead of the old one.
    pub fn time_wait_accepts_syn(&self, syn: &TcpRepr) -> bool {
        if self.state != State::TimeWait || !syn.flags.syn || syn.flags.ack || syn.flags.rst {
            return false;
        }
        match (self.neg.timestamps, syn.options.timestamps) {
            // RFC 6191 §2 (as Linux's tcp_timewait_state_process): a newer timestamp, or
            // the same one (a reconnect within the clock tick) with a higher sequence.
            (true, Some((tsval, _))) => {
                let d = tsval.wrapping_sub(self.ts_recent) as i32;
                d > 0 || (d == 0 && syn.seq > self.rcv_nxt)
            }
            _ => syn.seq > self.rcv_nxt,
        }
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<TcpError> {
        self.error
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Nothing left to do: closed, with no reset waiting to be sent. The stack can
    /// drop the connection.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.pending_rst.is_none()
    }

    /// Half-close: a FIN follows the queued data; receiving continues.
    pub fn shutdown_write(&mut self) {
        match self.state {
            State::SynSent | State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.set_state(self.last_tx, State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(self.last_tx, State::LastAck);
            }
            _ => {}
        }
    }

    /// Full close: a FIN follows the queued data, and the application reads no more.
    /// Unread data, or data arriving later, resets the connection (RFC 1122
    /// §4.2.2.13). Closing before the handshake completes just drops it.
    pub fn close(&mut self) {
        match self.state {
            State::Closed => {}
            State::SynSent => self.terminate(None),
            _ => {
                self.app_closed = true;
                if self.recv_buf.len() > 0 {
                    self.abort();
                } else {
                    self.shutdown_write();
                }
            }
        }
    }

    /// Drops the connection at once, sending RST if the peer knows about it.
    pub fn abort(&mut self) {
        if matches!(
            self.state,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait
        ) {
            self.queue_rst(self.acceptable_seq(), Some(self.rcv_nxt));
        }
        self.recv_buf.clear();
        self.terminate(None);
    }

    // ----------------------------------------------------------------------------
    // Accessors

    pub fn local(&self) -> Endpoint {
        self.local
    }

    pub fn remote(&self) -> Endpoint {
        self.remote
    }

    pub fn counters(&self) -> TcpCounters {
        self.counters
    }

    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }

    pub fn cwnd(&self) -> usize {
        self.cc.cwnd()
    }

    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh()
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Current retransmission timeout, backoff included.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Payload bytes of a full-sized segment (after per-segment options).
    pub fn effective_mss(&self) -> usize {
        self.neg.effective_mss()
    }

    /// The peer's current window, bytes.
    pub fn peer_window(&self) -> usize {
        self.snd_wnd
    }

    /// What the handshake negotiated: (timestamps, SACK, window scale ours, theirs).
    pub fn negotiated(&self) -> (bool, bool, u8, u8) {
        (self.neg.timestamps, self.neg.sack, self.neg.rcv_shift, self.neg.snd_shift)
    }

    /// Bytes sent and not yet acknowledged.
    pub fn bytes_in_flight(&self) -> usize {
        dist(self.snd_max, self.snd_una)
    }

    /// Memory allocated for the buffers.
    pub fn buffer_memory(&self) -> usize {
        self.send_buf.allocated() + self.recv_buf.allocated()
    }

    /// Heap memory the connection holds beyond its own size: the buffers, the
    /// out-of-order and SACK range lists, the RACK records. An idle connection holds none.
    pub fn heap_memory(&self) -> usize {
        self.buffer_memory() + self.recv_buf.ranges_allocated() + self.scoreboard.allocated() + self.rack.allocated()
    }

    /// The send-buffer bytes a segment from `poll_transmit` carries, as two slices
    /// (copy them right away: an ACK processed meanwhile may release them).
    pub fn payload_for(&self, seg: &Segment) -> (&[u8], &[u8]) {
        if seg.payload_len == 0 {
            return (&[], &[]);
        }
        self.send_buf.slices(seg.repr.seq, seg.payload_len)
    }

    // ----------------------------------------------------------------------------
    // Shared helpers

    pub(super) fn set_state(&mut self, now: Instant, state: State) {
        if self.state != state {
            self.state = state;
            self.state_since = now;
        }
    }

    /// Ends the connection. Readable data stays readable; everything else goes.
    pub(super) fn terminate(&mut self, error: Option<TcpError>) {
        self.state = State::Closed;
        if self.error.is_none() {
            self.error = error;
        }
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.ack_now = false;
        self.probe_pending = false;
        self.rexmit_una = false;
        self.send_buf.clear();
        self.scoreboard.clear();
        self.unacked_since = None;
        self.clear_rack();
        self.release_buffers();
    }

    /// Frees buffer storage the connection no longer needs: once nothing more can be
    /// sent or received (TIME-WAIT, closed), the send buffer, and the receive buffer once
    /// the application has read it. A TIME-WAIT connection lingers 2*MSL; holding the
    /// storage of its last transfer would cost every short-lived connection its peak
    /// buffer for a minute (1,000 fresh 64 KiB downloads: 71 MB).
    pub(super) fn release_buffers(&mut self) {
        if matches!(self.state, State::TimeWait | State::Closed) {
            self.send_buf.release_if_empty();
            self.recv_buf.release_if_empty();
        }
    }

    /// RACK-TLP loss detection is in use: configured, and the peer does SACK.
    pub(super) fn rack_enabled(&self) -> bool {
        self.cfg.rack && self.neg.sack
    }

    /// Forgets transmission records and stops the RACK and TLP timers.
    pub(super) fn clear_rack(&mut self) {
        self.rack.clear();
        self.rack_at = None;
        self.tlp_at = None;
        self.tlp_end = None;
        self.tlp_pending = false;
    }

    pub(super) fn queue_rst(&mut self, seq: SeqNumber, ack: Option<SeqNumber>) {
        self.pending_rst = Some(PendingRst { seq, ack });
    }

    /// A sequence number the peer accepts for a segment without data: SND.NXT (our
    /// `snd_max`), unless that is beyond the peer's window.
    pub(super) fn acceptable_seq(&self) -> SeqNumber {
        let right = self.snd_una + self.snd_wnd.min(i32::MAX as usize / 2);
        if self.snd_max > right && self.snd_una <= right {
            right
        } else {
            self.snd_max
        }
    }

    /// The FIN has been sent at least once.
    pub(super) fn fin_sent(&self) -> bool {
        self.fin_queued && self.snd_max == self.send_buf.end() + 1
    }

    pub(super) fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una == self.send_buf.end() + 1
    }

    /// Our timestamp clock: milliseconds plus the connection's offset.
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Window we can advertise: the free buffer, moving the right edge only by at least
    /// min(buffer / 2, MSS) (receiver SWS avoidance, RFC 9293 §3.8.6.2.2), never
    /// retracting it.
    pub(super) fn window_to_advertise(&self) -> usize {
        let free = self.recv_buf.free();
        let cur = dist(self.rcv_adv, self.rcv_nxt);
        let step = (self.recv_buf.capacity() / 2).min(usize::from(self.cfg.mss)).max(1);
        if free >= cur + step {
            free
        } else {
            cur
        }
    }

    /// The window field for a non-SYN segment; records the new right edge.
    pub(super) fn window_field(&mut self) -> u16 {
        let shift = self.neg.rcv_shift;
        let cur = dist(self.rcv_adv, self.rcv_nxt);
        let win = self.window_to_advertise();
        let mut field = (win >> shift).min(0xffff);
        if (field << shift) < cur {
            // Rounding must not retract the edge we advertised.
            field = ((cur + (1 << shift) - 1) >> shift).min(0xffff);
        }
        let edge = self.rcv_nxt + (field << shift);
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        field as u16
    }

    /// After the application read: send a window update when the window grew enough
    /// to matter (by at least min(buffer / 2, MSS) and at least doubled).
    fn after_read(&mut self) {
        if self.recv_buf.len() == 0 {
            self.release_buffers();
        }
        if !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) || self.fin_received {
            return;
        }
        if self.ack_pushed && !self.pingpong && self.unacked_rx > 0 && self.recv_buf.len() == 0 {
            // The peer pushed and waits; we are not about to answer with data.
            self.ack_now = true;
            self.counters.pushed_acks += 1;
            return;
        }
        let cur = dist(self.rcv_adv, self.rcv_nxt);
        let win = self.window_to_advertise();
        if win > cur && win >= 2 * cur && !self.ack_now {
            self.ack_now = true;
            self.counters.window_updates += 1;
        }
    }

    /// Queues a challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate limited per second.
    pub(super) fn challenge_ack(&mut self, now: Instant) {
        if now.saturating_since(self.challenge_window.0) >= Duration::from_secs(1) {
            self.challenge_window = (now, 0);
        }
        if self.challenge_window.1 < self.cfg.challenge_ack_limit {
            self.challenge_window.1 += 1;
            self.ack_now = true;
            self.counters.challenge_acks += 1;
        } else {
            self.counters.challenge_acks_suppressed += 1;
        }
    }
}

#[cfg(test)]
impl Tcb {
    /// Internal consistency, for tests.
    pub(super) fn check_invariants(&self) {
        if self.state == State::Closed {
            return;
        }
        assert!(self.snd_una <= self.snd_nxt, "{self:?}");
        assert!(self.snd_nxt <= self.snd_max, "{self:?}");
        let end = self.send_buf.end();
        assert!(self.snd_max <= end + 1, "{self:?}");
        assert!(self.send_buf.start() <= self.snd_una.max(self.iss + 1), "{self:?}");
        if !self.fin_queued {
            assert!(self.snd_max <= end, "{self:?}");
        }
        for r in self.scoreboard.ranges() {
            assert!(self.snd_una <= r.0 && r.0 < r.1 && r.1 <= self.snd_max, "{r:?} {self:?}");
        }
        self.rack.check(self.snd_una, self.snd_max);
        if !self.rack_enabled() {
            assert_eq!(self.rack.records(), 0, "{self:?}");
        }
        for r in self.recv_buf.out_of_order_ranges() {
            assert!(self.rcv_nxt < r.0 && r.0 < r.1, "{r:?} {self:?}");
        }
        assert!(self.recv_buf.len() <= self.recv_buf.capacity());
        assert!(self.cc.cwnd() >= 1, "{self:?}");
    }
}

impl core::fmt::Debug for Tcb {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tcb")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("state", &self.state)
            .field("snd_una", &self.snd_una)
            .field("snd_nxt", &self.snd_nxt)
            .field("snd_max", &self.snd_max)
            .field("snd_wnd", &self.snd_wnd)
            .field("rcv_nxt", &self.rcv_nxt)
            .field("cwnd", &self.cc.cwnd())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}
