//! TCP header and options (RFC 9293 §3.1; MSS RFC 9293 §3.7.1, window scale and
//! timestamps RFC 7323, SACK RFC 2018), checksum over the IPv4 pseudo-header.
//!
//! [`TcpPacket`] and its checksum cover the whole buffer, so hand it exactly the IPv4
//! payload ([`Ipv4Packet::payload`](super::Ipv4Packet::payload)), not a padded frame
//! tail.
//!
//! Options are emitted in Linux's order and layout, each group 4-aligned so no trailing
//! padding is ever needed:
//!
//! ```text
//! MSS                02 04 mm mm
//! SACK-perm + TS     04 02 08 0a vv vv vv vv ee ee ee ee  (01 01 08 0a ... without SACK-perm)
//! SACK-perm, no TS   01 01 04 02
//! window scale       01 03 03 ss
//! SACK blocks        01 01 05 (2+8n) { left right } * n
//! ```
//!
//! At most 40 option bytes fit; SACK blocks that do not fit after the other options are
//! dropped from the end (the first block is the most recent one, RFC 2018 §4).

use core::fmt;
use core::ops::{BitOr, BitOrAssign};
use std::net::Ipv4Addr;

use super::bytes::{read_u16, read_u32, write_u16, write_u32};
use super::{checksum, Error, Result};

pub use super::tcp_seq::SeqNumber;
pub use options::{TcpOption, TcpOptionIter, MAX_WINDOW_SCALE};

mod options;
#[cfg(test)]
use options::kind;

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

/// IPv4 protocol number of TCP.
const PROTOCOL_TCP: u8 = 6;

impl PseudoHeader {
    pub const fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        PseudoHeader { src, dst }
    }

    /// Partial one's complement sum of source, destination, zero, `protocol` and
    /// `length` (RFC 9293 §3.1, RFC 768), to chain into [`checksum::ones_sum`].
    pub fn sum(&self, protocol: u8, length: u16) -> u32 {
        checksum::pseudo_header_v4(self.src, self.dst, protocol, length)
    }
}

// ---------------------------------------------------------------------------------
// Flags

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;
const ECE: u8 = 0x40;
const CWR: u8 = 0x80;

impl TcpFlags {
    pub const NONE: TcpFlags = TcpFlags::from_bits(0);
    pub const FIN: TcpFlags = TcpFlags::from_bits(FIN);
    pub const SYN: TcpFlags = TcpFlags::from_bits(SYN);
    pub const RST: TcpFlags = TcpFlags::from_bits(RST);
    pub const PSH: TcpFlags = TcpFlags::from_bits(PSH);
    pub const ACK: TcpFlags = TcpFlags::from_bits(ACK);
    pub const URG: TcpFlags = TcpFlags::from_bits(URG);
    pub const ECE: TcpFlags = TcpFlags::from_bits(ECE);
    pub const CWR: TcpFlags = TcpFlags::from_bits(CWR);

    /// From the 8-bit flags field (header byte 13): bit 0 FIN ... bit 7 CWR.
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags {
            fin: bits & FIN != 0,
            syn: bits & SYN != 0,
            rst: bits & RST != 0,
            psh: bits & PSH != 0,
            ack: bits & ACK != 0,
            urg: bits & URG != 0,
            ece: bits & ECE != 0,
            cwr: bits & CWR != 0,
        }
    }

    /// The 8-bit flags field.
    pub const fn bits(self) -> u8 {
        (self.fin as u8 * FIN)
            | (self.syn as u8 * SYN)
            | (self.rst as u8 * RST)
            | (self.psh as u8 * PSH)
            | (self.ack as u8 * ACK)
            | (self.urg as u8 * URG)
            | (self.ece as u8 * ECE)
            | (self.cwr as u8 * CWR)
    }

    /// From the 16-bit word at header bytes 12..14 (data offset, reserved bits, flags);
    /// only the low 8 bits are looked at.
    pub const fn from_header_word(word: u16) -> TcpFlags {
        TcpFlags::from_bits(word as u8)
    }

    /// The 16-bit word at header bytes 12..14 for a header of `header_len` bytes (a
    /// multiple of 4, 20..=60), reserved bits zero.
    pub const fn to_header_word(self, header_len: usize) -> u16 {
        (((header_len / 4) as u16 & 0x0f) << 12) | self.bits() as u16
    }

    pub const fn is_empty(self) -> bool {
        self.bits() == 0
    }

    /// Whether every flag set in `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.bits() & other.bits() == other.bits()
    }
}

impl From<u8> for TcpFlags {
    fn from(bits: u8) -> Self {
        TcpFlags::from_bits(bits)
    }
}

impl From<TcpFlags> for u8 {
    fn from(f: TcpFlags) -> u8 {
        f.bits()
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags::from_bits(self.bits() | rhs.bits())
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        *self = *self | rhs;
    }
}

impl fmt::Display for TcpFlags {
    /// One letter per set flag in bit order, FIN first: `F S R P A U E C` (a SYN-ACK is
    /// "SA", a FIN with data "FPA"); "-" when none is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let bits = self.bits();
        for (i, c) in "FSRPAUEC".chars().enumerate() {
            if bits & (1 << i) != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// Packet view

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset (high nibble) and four reserved bits.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    pub const OPTIONS: usize = 20;
}

/// A view of a TCP segment in a byte buffer that holds exactly the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Length of a header without options.
    pub const MIN_HEADER_LEN: usize = field::OPTIONS;
    /// Length of a header with 40 option bytes (data offset 15).
    pub const MAX_HEADER_LEN: usize = 60;

    /// Wraps a buffer without checking it; accessors may panic if it is inconsistent.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len), so no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks, in order: at least 20 bytes (`Truncated`); data offset >= 5
    /// (`Malformed`); whole header present (`Truncated`). Options are not looked at.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::OPTIONS {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < field::OPTIONS {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(read_u32(&self.buffer.as_ref()[field::SEQ_NUM]))
    }

    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(read_u32(&self.buffer.as_ref()[field::ACK_NUM]))
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_bits(self.buffer.as_ref()[field::FLAGS])
    }

    /// The raw (unscaled) window field.
    pub fn window_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::WINDOW])
    }

    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn urgent_at(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The option bytes, between the fixed header and `header_len`.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The options, one by one (see [`TcpOptionIter`]).
    pub fn options_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the whole buffer, with the pseudo-header (protocol 6, length = buffer
    /// length), sums to zero. False for a buffer longer than 65535 bytes.
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        checksum::finish(checksum::ones_sum(pseudo.sum(PROTOCOL_TCP, len), data)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The payload, borrowed for the buffer's lifetime rather than the view's.
    pub fn into_payload(self) -> &'a [u8] {
        let start = self.header_len();
        &self.buffer.as_ref()[start..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], v);
    }

    pub fn set_seq_number(&mut self, v: SeqNumber) {
        write_u32(&mut self.buffer.as_mut()[field::SEQ_NUM], v.0);
    }

    pub fn set_ack_number(&mut self, v: SeqNumber) {
        write_u32(&mut self.buffer.as_mut()[field::ACK_NUM], v.0);
    }

    /// Sets the data offset from a length in bytes (a multiple of 4, 20..=60); the
    /// reserved bits are kept.
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.bits();
    }

    pub fn set_window_len(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::WINDOW], v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], v);
    }

    pub fn set_urgent_at(&mut self, v: u16) {
        write_u16(&mut self.buffer.as_mut()[field::URGENT], v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// Everything after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer and stores it.
    /// Panics if the buffer is longer than 65535 bytes.
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let len = u16::try_from(data.len()).expect("TCP segment longer than 65535 bytes");
        let c = checksum::finish(checksum::ones_sum(pseudo.sum(PROTOCOL_TCP, len), data));
        self.set_checksum(c);
    }
}

// ---------------------------------------------------------------------------------
// Repr

impl<'a> TcpRepr<'a> {
    /// Fails with the [`TcpPacket::check_len`] errors, `Checksum` if `verify_checksum`
    /// and the segment does not verify against `pseudo`, and `Malformed` for a
    /// malformed option list ([`TcpOptions::parse`]). The payload is every byte after
    /// the header; `ack` is the raw field whether or not ACK is set.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        pseudo: &PseudoHeader,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(pseudo) {
            return Err(Error::Checksum);
        }
        let options = TcpOptions::parse(packet.options())?;
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options,
            payload: packet.into_payload(),
        })
    }

    /// Header length with options: 20 + [`TcpOptions::buffer_len`], a multiple of 4.
    pub fn header_len(&self) -> usize {
        field::OPTIONS + self.options.buffer_len()
    }

    /// Header plus payload: the exact length `emit` writes and checksums.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn) + usize::from(self.flags.fin)
    }

    /// Writes the header and options into the first [`header_len`](Self::header_len)
    /// bytes, with a zero checksum and zero reserved bits, and leaves the rest of the
    /// buffer alone; `self.payload` is not looked at. For zero-copy transmit: size the
    /// buffer `header_len() + n`, call this, write the `n` payload bytes into
    /// [`TcpPacket::payload_mut`], then call [`TcpPacket::fill_checksum`]. Fields are
    /// written as given (`ack` even without ACK). Panics if the buffer is shorter than
    /// the header.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut TcpPacket<&mut T>,
    ) {
        let header_len = self.header_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.buffer.as_mut()[field::DATA_OFF] = 0;
        packet.set_header_len(header_len);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_checksum(0);
        packet.set_urgent_at(self.urgent);
        self.options.emit(packet.options_mut());
    }

    /// Writes the header, options and payload and fills the checksum. The buffer must
    /// be exactly [`buffer_len`](Self::buffer_len) long (the checksum covers all of it);
    /// panics otherwise.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut TcpPacket<&mut T>,
        pseudo: &PseudoHeader,
    ) {
        assert_eq!(
            packet.buffer.as_ref().len(),
            self.buffer_len(),
            "TCP emit buffer length"
        );
        self.emit_header(packet);
        packet.payload_mut().copy_from_slice(self.payload);
        packet.fill_checksum(pseudo);
    }
}

#[cfg(test)]
mod tests;
