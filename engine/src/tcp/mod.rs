//! TCP connections, sans-IO (RFC 9293).
//!
//! A [`Tcb`] is one connection's state machine, in the style of quinn-proto: no I/O, no
//! clock reads, no allocation per segment (buffers grow on demand up to their
//! configured capacity and are reused). Segments come in through
//! [`Tcb::handle_segment`], time through `now` arguments and [`Tcb::handle_timeout`]
//! (call it once [`Tcb::poll_timeout`] is due), and segments to send come out of
//! [`Tcb::poll_transmit`] as a header plus a range of the send buffer, which the caller
//! copies straight into the frame with [`Tcb::payload_for`]. After any input, timeout
//! or application call, drain `poll_transmit` until it returns `None`.
//!
//! ```text
//! stack: SYN for a listener   -> Tcb::accept_syn(now, local, remote, &syn, isn, &cfg)
//!        segment for the 4-tuple -> tcb.handle_segment(now, &repr)
//!        now >= poll_timeout()   -> tcb.handle_timeout(now)
//!        then: while let Some(seg) = tcb.poll_transmit(now, room) { emit seg.repr,
//!              copy tcb.payload_for(&seg), checksum, send }
//!        tcb.is_closed()         -> drop it
//! app:   send / recv / recv_slices + recv_consume / push / shutdown_write / close / abort
//!        readable / writable / recv_eof / error / state
//! ```
//!
//! Listening sockets, segments for unknown connections (RST per RFC 9293 §3.10.7.1) and
//! ISN generation ([`IsnGenerator`], RFC 6528) belong to the stack. Ports are checked;
//! addresses are the stack's demultiplexing.
//!
//! Implemented, by file:
//! - `input.rs`, `output.rs`, `timer.rs`, `tcb.rs`: RFC 9293 states and transitions
//!   (simultaneous open and close, half-close, TIME-WAIT with 2*MSL configurable,
//!   FIN-WAIT-2 timeout after `close`), segment acceptability, RST generation for the
//!   connection, RFC 1122 §4.2.2.13 resets for data nobody will read, Nagle (RFC 896)
//!   with `nodelay` and `push`, sender and receiver silly-window avoidance, zero-window
//!   persist with backoff, keepalive (RFC 1122 §4.2.3.6, off by default), delayed ACKs
//!   (every second full segment, at most `ack_delay`, at once for out-of-order data, a
//!   gap fill or a duplicate), window updates when the application reads, RFC 5961 (RST exactly at
//!   RCV.NXT, rate-limited challenge ACKs, ACK acceptability range), RFC 7323 PAWS and
//!   TS.Recent, RFC 6191 TIME-WAIT reuse check, user timeout.
//! - `options.rs`: MSS (536 by default), window scaling, timestamps, SACK-permitted.
//! - `send_buf.rs`, `recv_buf.rs`, `ring.rs`: bounded buffers; out-of-order reassembly
//!   with a bounded number of ranges; RFC 2018 SACK block generation.
//! - `scoreboard.rs`: RFC 6675 scoreboard (IsLost, NextSeg, SetPipe); recovery
//!   itself in `input.rs`/`output.rs`, with RFC 6582 NewReno when SACK is off and
//!   RFC 3042 limited transmit; after a timeout, go-back-N skipping SACKed data.
//! - `rack.rs`, `rack_tlp.rs`: RACK-TLP (RFC 8985) when SACK is negotiated (and
//!   `TcpConfig::rack`, on by default): per-segment transmission records (bounded by
//!   what is in flight), time-based loss detection including lost retransmissions,
//!   the reordering window with D-SACK adaptation and the reorder timer; losses RACK
//!   marks drive RFC 6675-style recovery (its DupAck/IsLost rules are then only a
//!   fallback for ACKs without any SACK block), and after an RTO the overdue segments
//!   are retransmitted in slow start with the same detection (no go-back-N). Tail loss
//!   probes: PTO = 2 * SRTT + 8 ms (+ 200 ms WCDelAckT with one segment in flight),
//!   never beyond the RTO; one probe per episode, congestion response when a probe
//!   repaired a loss. Without SACK: NewReno and the RTO, as before.
//! - D-SACK (RFC 2883): the receiver reports duplicate segments; the sender uses D-SACK
//!   for TLP episodes and RACK's reordering window (not to undo recoveries).
//! - `rtt.rs`: RFC 6298 SRTT/RTTVAR/RTO, Karn, backoff (timestamps give samples from
//!   every ACK that advances SND.UNA).
//! - `cc/`: the [`CongestionControl`] trait, NewReno (RFC 5681, RFC 3465 byte
//!   counting) and CUBIC (RFC 9438), initial window 10 (RFC 6928), restart after idle
//!   (RFC 5681 §4.1), growth only when the window was in use (RFC 7661 in spirit).
//!
//! Not implemented: undoing spurious recoveries (D-SACK or timestamp based, RFC 3708,
//! RFC 4015), PRR (RFC 6937), HyStart++ (RFC 9406), ECN (RFC 3168), urgent data (the
//! field is ignored), TCP Fast Open, path MTU discovery or probing, RFC 7323 §4.1
//! per-flight RTT weighting. Data carried on a SYN is not accepted (the peer sends it
//! again). A non-RST segment without timestamps on a connection that negotiated them is
//! accepted (as Linux does), not dropped.
//!
//! Tests: `tests/` (scripted segment-in / segment-out, a property-based fuzzer) and
//! `sim.rs` (two connections over a lossy, reordering, duplicating, rate-limited link
//! with a seeded PRNG).

pub mod cc;
mod counters;
mod input;
pub mod isn;
mod options;
mod output;
mod prr;
mod rack;
mod rack_tlp;
mod recv_buf;
mod ring;
mod rtt;
mod scoreboard;
mod send_buf;
mod state;
mod tcb;
mod timer;

pub use cc::{CcAlgorithm, CongestionControl};
pub use counters::TcpCounters;
pub use isn::IsnGenerator;
pub use state::State;
pub use tcb::{Endpoint, Segment, Tcb};

use crate::time::Duration;

/// Keepalive parameters (RFC 1122 §4.2.3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (`TimedOut`).
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive { idle: Duration::from_secs(7200), interval: Duration::from_secs(75), count: 9 }
    }
}

/// Per-connection configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TcpConfig {
    /// MSS we announce (our MTU minus 40). Also caps what we send.
    pub mss: u16,
    /// Send buffer capacity, bytes.
    pub send_buffer: usize,
    /// Receive buffer capacity, bytes: the largest window we offer.
    pub recv_buffer: usize,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// RACK-TLP loss detection (RFC 8985) on connections that negotiate SACK.
    pub rack: bool,
    /// Disable the Nagle algorithm.
    pub nodelay: bool,
    pub congestion_control: CcAlgorithm,
    /// Initial window in segments (RFC 6928: 10).
    pub initial_window: usize,
    /// RTO before any RTT sample (RFC 6298: 1 s).
    pub initial_rto: Duration,
    pub min_rto: Duration,
    pub max_rto: Duration,
    /// Retransmissions of the same data (consecutive RTO expiries) before the
    /// connection is dropped as `TimedOut`; also bounds unanswered zero-window probes.
    pub max_retransmits: u32,
    /// SYN retransmissions before an active open fails (`TimedOut`).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a passive open is dropped.
    pub synack_retries: u32,
    /// Drop the connection when sent data stays unacknowledged this long.
    pub user_timeout: Option<Duration>,
    /// TIME-WAIT duration (2 * MSL).
    pub time_wait: Duration,
    /// After `close()`, how long FIN-WAIT-2 may wait for the peer's FIN.
    pub fin_wait2_timeout: Duration,
    /// Delayed-ACK timeout; zero acknowledges every segment at once.
    pub ack_delay: Duration,
    pub keepalive: Option<Keepalive>,
    /// Out-of-order ranges the receive buffer tracks; segments opening more are dropped.
    pub max_ooo_ranges: usize,
    /// SACKed ranges the sender's scoreboard tracks.
    pub max_sack_ranges: usize,
    /// Challenge ACKs (RFC 5961) allowed per second.
    pub challenge_ack_limit: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            window_scaling: true,
            timestamps: true,
            sack: true,
            rack: true,
            nodelay: false,
            congestion_control: CcAlgorithm::Cubic,
            initial_window: cc::INITIAL_WINDOW_SEGMENTS,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            max_retransmits: 15,
            syn_retries: 6,
            synack_retries: 5,
            user_timeout: None,
            time_wait: Duration::from_secs(60),
            fin_wait2_timeout: Duration::from_secs(60),
            ack_delay: Duration::from_millis(40),
            keepalive: None,
            max_ooo_ranges: 32,
            max_sack_ranges: 32,
            challenge_ack_limit: 10,
        }
    }
}

/// Why a connection ended abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpError {
    /// The peer reset an established connection.
    Reset,
    /// Retransmissions, probes or the user timeout ran out.
    TimedOut,
    /// The peer refused the connection (RST in answer to our SYN).
    Refused,
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
