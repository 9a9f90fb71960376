//! TCP header and options (RFC 9293 §3.1; MSS RFC 9293 §3.7.1, window scale and
//! timestamps RFC 7323, SACK RFC 2018), checksum over the IPv4 pseudo-header.
//!
//! (Types fixed first so the TCP state machine can be written against them; parsing and
//! emitting follow.)

use std::net::Ipv4Addr;

pub use super::tcp_seq::SeqNumber;

/// TCP control flags.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct TcpFlags {
    pub fin: bool,
    pub syn: bool,
    pub rst: bool,
    pub psh: bool,
    pub ack: bool,
    pub urg: bool,
    pub ece: bool,
    pub cwr: bool,
}

/// At most four SACK blocks fit in the option space (three with timestamps).
pub const MAX_SACK_BLOCKS: usize = 4;

/// Options carried by a segment. Unknown options are skipped when parsing.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct TcpOptions {
    /// Maximum segment size (SYN only).
    pub mss: Option<u16>,
    /// Window scale shift (SYN only), 0..=14.
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// SACK blocks as (left edge, right edge), `sack_len` of them valid.
    pub sack: [(SeqNumber, SeqNumber); MAX_SACK_BLOCKS],
    pub sack_len: u8,
    /// Timestamps: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
}

/// A parsed TCP segment header (the payload stays in the packet buffer).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNumber,
    /// Meaningful only when `flags.ack`.
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    /// The raw (unscaled) window field.
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

/// Addresses of the IPv4 pseudo-header, for checksums.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PseudoHeader {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}
