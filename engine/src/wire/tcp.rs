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
// Options

mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Largest window scale shift (RFC 7323 §2.3); larger received values are clamped.
pub const MAX_WINDOW_SCALE: u8 = 14;

/// One option as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: ends the list; what follows is padding.
    EndOfList,
    /// Kind 1.
    NoOperation,
    /// Kind 2, length 4.
    MaxSegmentSize(u16),
    /// Kind 3, length 3. The shift as received, not clamped.
    WindowScale(u8),
    /// Kind 4, length 2.
    SackPermitted,
    /// Kind 5, length 2 + 8n for n in 1..=4; `len` blocks of `blocks` are valid.
    SackRange {
        blocks: [(SeqNumber, SeqNumber); MAX_SACK_BLOCKS],
        len: u8,
    },
    /// Kind 8, length 10.
    Timestamps { tsval: u32, tsecr: u32 },
    /// Any other kind with a length byte >= 2; `data` excludes kind and length.
    Unknown { kind: u8, data: &'a [u8] },
}

/// Walks an option list. Yields each option; after `EndOfList` or an error (always
/// `Malformed`: a length byte < 2, an option running past the list, a known kind with
/// the wrong length) it yields nothing more.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    pub fn new(options: &'a [u8]) -> Self {
        TcpOptionIter { rest: options }
    }

    fn parse_tlv(kind: u8, bytes: &'a [u8]) -> Result<(TcpOption<'a>, usize)> {
        let Some(&len) = bytes.get(1) else {
            return Err(Error::Malformed);
        };
        let len = usize::from(len);
        if len < 2 || len > bytes.len() {
            return Err(Error::Malformed);
        }
        let data = &bytes[2..len];
        let option = match (kind, data.len()) {
            (kind::MSS, 2) => TcpOption::MaxSegmentSize(read_u16(data)),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::SACK, n) if n % 8 == 0 && (1..=MAX_SACK_BLOCKS).contains(&(n / 8)) => {
                let mut blocks = [(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS];
                for (block, b) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *block = (SeqNumber(read_u32(&b[..4])), SeqNumber(read_u32(&b[4..])));
                }
                TcpOption::SackRange {
                    blocks,
                    len: (n / 8) as u8,
                }
            }
            (kind::TIMESTAMPS, 8) => TcpOption::Timestamps {
                tsval: read_u32(&data[..4]),
                tsecr: read_u32(&data[4..]),
            },
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::SACK
                | kind::TIMESTAMPS,
                _,
            ) => return Err(Error::Malformed),
            _ => TcpOption::Unknown { kind, data },
        };
        Ok((option, len))
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.rest;
        let &kind = bytes.first()?;
        match kind {
            kind::EOL => {
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            kind::NOP => {
                self.rest = &bytes[1..];
                Some(Ok(TcpOption::NoOperation))
            }
            _ => match Self::parse_tlv(kind, bytes) {
                Ok((option, len)) => {
                    self.rest = &bytes[len..];
                    Some(Ok(option))
                }
                Err(e) => {
                    self.rest = &[];
                    Some(Err(e))
                }
            },
        }
    }
}

impl TcpOptions {
    /// Most option bytes a header can carry.
    pub const MAX_LEN: usize = 40;

    /// Parses an option list (`TcpPacket::options`): EOL ends it, NOPs and unknown kinds
    /// are skipped, a repeated option overrides the earlier one, a window scale above 14
    /// is taken as 14 (RFC 7323 §2.3; [`TcpOptionIter`] shows the raw value). Fails with
    /// `Malformed` as [`TcpOptionIter`] does. Options are taken from any segment; which
    /// ones matter (MSS on a SYN, ...) is the state machine's business.
    pub fn parse(options: &[u8]) -> Result<TcpOptions> {
        let mut out = TcpOptions::default();
        for option in TcpOptionIter::new(options) {
            match option? {
                TcpOption::MaxSegmentSize(mss) => out.mss = Some(mss),
                TcpOption::WindowScale(shift) => {
                    out.window_scale = Some(shift.min(MAX_WINDOW_SCALE))
                }
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::SackRange { blocks, len } => {
                    out.sack = blocks;
                    out.sack_len = len;
                }
                TcpOption::Timestamps { tsval, tsecr } => out.timestamps = Some((tsval, tsecr)),
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(out)
    }

    /// The valid SACK blocks (`sack_len`, capped at 4).
    pub fn sack_blocks(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.sack[..usize::from(self.sack_len).min(MAX_SACK_BLOCKS)]
    }

    /// Replaces the SACK blocks with the first four of `blocks` (most recent first).
    pub fn set_sack_blocks(&mut self, blocks: &[(SeqNumber, SeqNumber)]) {
        let n = blocks.len().min(MAX_SACK_BLOCKS);
        self.sack = [(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS];
        self.sack[..n].copy_from_slice(&blocks[..n]);
        self.sack_len = n as u8;
    }

    /// Bytes of everything but the SACK blocks: at most 20.
    fn fixed_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamps.is_some() {
            n += 12;
        } else if self.sack_permitted {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        n
    }

    /// How many SACK blocks `emit` writes: as many as fit after the other options.
    fn emitted_sack_blocks(&self) -> usize {
        let room = Self::MAX_LEN - self.fixed_len();
        self.sack_blocks().len().min(room.saturating_sub(4) / 8)
    }

    /// Length of the emitted option list: a multiple of 4, at most 40.
    pub fn buffer_len(&self) -> usize {
        match self.emitted_sack_blocks() {
            0 => self.fixed_len(),
            n => self.fixed_len() + 4 + 8 * n,
        }
    }

    /// Writes the option list in the layout of the module docs into the first
    /// [`buffer_len`](Self::buffer_len) bytes of `buf` and returns that length. Values
    /// are written as given (a window scale above 14 is not clamped). Panics if `buf`
    /// is shorter.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let mut at = 0;
        if let Some(mss) = self.mss {
            buf[at..at + 2].copy_from_slice(&[kind::MSS, 4]);
            write_u16(&mut buf[at + 2..at + 4], mss);
            at += 4;
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            if self.sack_permitted {
                buf[at..at + 2].copy_from_slice(&[kind::SACK_PERMITTED, 2]);
            } else {
                buf[at..at + 2].copy_from_slice(&[kind::NOP, kind::NOP]);
            }
            buf[at + 2..at + 4].copy_from_slice(&[kind::TIMESTAMPS, 10]);
            write_u32(&mut buf[at + 4..at + 8], tsval);
            write_u32(&mut buf[at + 8..at + 12], tsecr);
            at += 12;
        } else if self.sack_permitted {
            buf[at..at + 4].copy_from_slice(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]);
            at += 4;
        }
        if let Some(shift) = self.window_scale {
            buf[at..at + 4].copy_from_slice(&[kind::NOP, kind::WINDOW_SCALE, 3, shift]);
            at += 4;
        }
        let n = self.emitted_sack_blocks();
        if n > 0 {
            buf[at..at + 4].copy_from_slice(&[kind::NOP, kind::NOP, kind::SACK, 2 + 8 * n as u8]);
            at += 4;
            for &(left, right) in &self.sack[..n] {
                write_u32(&mut buf[at..at + 4], left.0);
                write_u32(&mut buf[at + 4..at + 8], right.0);
                at += 8;
            }
        }
        at
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Captured from Linux 6.18 over loopback (127.0.0.1:51042 -> 127.0.0.1:47011, both
    // ends with TCP_MAXSEG 1460): the handshake's SYN and SYN-ACK, a 14-byte data
    // segment with PSH, and the FIN. Loopback leaves checksums partial, so they were
    // recomputed independently (Python, RFC 1071 over pseudo-header + segment).
    const LINUX_SYN: [u8; 40] = [
        0xc7, 0x62, 0xb7, 0xa3, 0x31, 0x2c, 0x2e, 0x1f, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0xbb, 0x4c, 0x00, 0x00, //
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x2e, 0x45, 0x87, 0x26, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x0a,
    ];
    const LINUX_SYN_ACK: [u8; 40] = [
        0xb7, 0xa3, 0xc7, 0x62, 0x7a, 0x2c, 0x9e, 0x17, 0x31, 0x2c, 0x2e, 0x20, 0xa0, 0x12, 0xfe,
        0x88, 0xd5, 0x79, 0x00, 0x00, //
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x8a, 0x62, 0x3f, 0x83, 0x2e, 0x45, 0x87,
        0x26, 0x01, 0x03, 0x03, 0x0a,
    ];
    const LINUX_DATA: [u8; 46] = [
        0xc7, 0x62, 0xb7, 0xa3, 0x31, 0x2c, 0x2e, 0x20, 0x7a, 0x2c, 0x9e, 0x18, 0x80, 0x18, 0x00,
        0x3f, 0x50, 0x2e, 0x00, 0x00, //
        0x01, 0x01, 0x08, 0x0a, 0x2e, 0x45, 0x87, 0x26, 0x8a, 0x62, 0x3f, 0x83, //
        b'h', b'e', b'l', b'l', b'o', b',', b' ', b'b', b'y', b'p', b'a', b's', b's', b'\n',
    ];
    const LINUX_FIN: [u8; 32] = [
        0xc7, 0x62, 0xb7, 0xa3, 0x31, 0x2c, 0x2e, 0x2e, 0x7a, 0x2c, 0x9e, 0x18, 0x80, 0x11, 0x00,
        0x3f, 0x00, 0xf4, 0x00, 0x00, //
        0x01, 0x01, 0x08, 0x0a, 0x2e, 0x45, 0x88, 0xb6, 0x8a, 0x62, 0x3f, 0x83,
    ];

    const LO: PseudoHeader = PseudoHeader::new(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
    const CLIENT: u16 = 51042;
    const SERVER: u16 = 47011;

    fn syn_options(tsval: u32, tsecr: u32) -> TcpOptions {
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(10),
            sack_permitted: true,
            timestamps: Some((tsval, tsecr)),
            ..TcpOptions::default()
        }
    }

    fn ts_options(tsval: u32, tsecr: u32) -> TcpOptions {
        TcpOptions {
            timestamps: Some((tsval, tsecr)),
            ..TcpOptions::default()
        }
    }

    /// Emits `repr` into a fresh buffer (pre-filled with junk) and returns it.
    fn emit(repr: &TcpRepr, pseudo: &PseudoHeader) -> Vec<u8> {
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), pseudo);
        buf
    }

    fn parse<'a>(bytes: &'a [u8], pseudo: &PseudoHeader) -> Result<TcpRepr<'a>> {
        TcpRepr::parse(&TcpPacket::new_checked(bytes)?, pseudo, true)
    }

    #[test]
    fn linux_syn() {
        let p = TcpPacket::new_checked(&LINUX_SYN[..]).unwrap();
        assert_eq!(p.src_port(), CLIENT);
        assert_eq!(p.dst_port(), SERVER);
        assert_eq!(p.seq_number(), SeqNumber(0x312c_2e1f));
        assert_eq!(p.ack_number(), SeqNumber(0));
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0xbb4c);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options(), &LINUX_SYN[20..]);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(&LO));
        let options: Vec<_> = p.options_iter().map(|o| o.unwrap()).collect();
        assert_eq!(
            options,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x2e45_8726,
                    tsecr: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(10),
            ]
        );
        let repr = TcpRepr::parse(&p, &LO, true).unwrap();
        let expect = TcpRepr {
            src_port: CLIENT,
            dst_port: SERVER,
            seq: SeqNumber(0x312c_2e1f),
            ack: SeqNumber(0),
            flags: TcpFlags::SYN,
            window: 64240,
            urgent: 0,
            options: syn_options(0x2e45_8726, 0),
            payload: &[],
        };
        assert_eq!(repr, expect);
        assert_eq!(repr.header_len(), 40);
        assert_eq!(repr.segment_len(), 1);
        assert_eq!(emit(&expect, &LO), LINUX_SYN);
    }

    #[test]
    fn linux_syn_ack() {
        let p = TcpPacket::new_checked(&LINUX_SYN_ACK[..]).unwrap();
        assert_eq!(p.flags(), TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(p.flags().to_string(), "SA");
        assert_eq!(p.checksum(), 0xd579);
        let expect = TcpRepr {
            src_port: SERVER,
            dst_port: CLIENT,
            seq: SeqNumber(0x7a2c_9e17),
            ack: SeqNumber(0x312c_2e20),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 65160,
            urgent: 0,
            options: syn_options(0x8a62_3f83, 0x2e45_8726),
            payload: &[],
        };
        assert_eq!(TcpRepr::parse(&p, &LO, true).unwrap(), expect);
        assert_eq!(emit(&expect, &LO), LINUX_SYN_ACK);
    }

    #[test]
    fn linux_data_with_psh() {
        let p = TcpPacket::new_checked(&LINUX_DATA[..]).unwrap();
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.flags().to_string(), "PA");
        assert_eq!(p.window_len(), 63);
        assert_eq!(p.payload(), b"hello, bypass\n");
        assert_eq!(p.into_payload(), b"hello, bypass\n");
        let expect = TcpRepr {
            src_port: CLIENT,
            dst_port: SERVER,
            seq: SeqNumber(0x312c_2e20),
            ack: SeqNumber(0x7a2c_9e18),
            flags: TcpFlags::PSH | TcpFlags::ACK,
            window: 63,
            urgent: 0,
            options: ts_options(0x2e45_8726, 0x8a62_3f83),
            payload: b"hello, bypass\n",
        };
        let repr = TcpRepr::parse(&p, &LO, true).unwrap();
        assert_eq!(repr, expect);
        assert_eq!(repr.segment_len(), 14);
        assert_eq!(repr.buffer_len(), 46);
        assert_eq!(emit(&expect, &LO), LINUX_DATA);
    }

    #[test]
    fn linux_fin() {
        let repr = parse(&LINUX_FIN, &LO).unwrap();
        assert_eq!(repr.flags, TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(repr.flags.to_string(), "FA");
        assert_eq!(repr.seq, SeqNumber(0x312c_2e2e));
        assert_eq!(repr.options, ts_options(0x2e45_88b6, 0x8a62_3f83));
        assert_eq!(repr.segment_len(), 1);
        assert_eq!(emit(&repr, &LO), LINUX_FIN);
    }

    #[test]
    fn emit_header_then_payload() {
        let repr = parse(&LINUX_DATA, &LO).unwrap();
        let header_only = TcpRepr {
            payload: &[],
            ..repr
        };
        assert_eq!(header_only.header_len(), 32);
        let mut buf = vec![0xffu8; header_only.header_len() + 14];
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        header_only.emit_header(&mut p);
        assert_eq!(p.checksum(), 0);
        p.payload_mut().copy_from_slice(b"hello, bypass\n");
        p.fill_checksum(&LO);
        assert_eq!(buf, LINUX_DATA);
    }

    #[test]
    fn setters() {
        let mut buf = LINUX_DATA;
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_seq_number(SeqNumber(3));
        p.set_ack_number(SeqNumber(4));
        p.set_flags(TcpFlags::URG | TcpFlags::ECE | TcpFlags::CWR);
        p.set_window_len(5);
        p.set_urgent_at(6);
        p.options_mut()[0] = kind::EOL;
        p.fill_checksum(&LO);
        assert!(p.verify_checksum(&LO));
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(
            (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number()),
            (1, 2, SeqNumber(3), SeqNumber(4))
        );
        assert_eq!(p.flags().to_string(), "UEC");
        assert_eq!((p.window_len(), p.urgent_at()), (5, 6));
        assert_eq!(p.header_len(), 32);
        // EOL first: the timestamps behind it are padding now.
        assert_eq!(
            TcpRepr::parse(&p, &LO, true).unwrap().options,
            TcpOptions::default()
        );
    }

    #[test]
    fn option_layouts() {
        let e = |o: TcpOptions| {
            let mut buf = [0xeeu8; 40];
            let n = o.emit(&mut buf);
            assert_eq!(n, o.buffer_len());
            assert_eq!(n % 4, 0);
            buf[..n].to_vec()
        };
        assert!(e(TcpOptions::default()).is_empty());
        let sp = TcpOptions {
            sack_permitted: true,
            ..TcpOptions::default()
        };
        assert_eq!(e(sp), [1, 1, 4, 2]);
        let ws = TcpOptions {
            window_scale: Some(7),
            ..TcpOptions::default()
        };
        assert_eq!(e(ws), [1, 3, 3, 7]);
        let mss_sp_ws = TcpOptions {
            mss: Some(536),
            ..TcpOptions {
                window_scale: Some(0),
                ..sp
            }
        };
        assert_eq!(e(mss_sp_ws), [2, 4, 2, 24, 1, 1, 4, 2, 1, 3, 3, 0]);

        // Timestamps and three SACK blocks: the full 40 bytes.
        let mut o = ts_options(0x0102_0304, 0x0506_0708);
        o.set_sack_blocks(&[
            (SeqNumber(0x1000), SeqNumber(0x2000)),
            (SeqNumber(0x3000), SeqNumber(0x4000)),
            (SeqNumber(0xffff_f000), SeqNumber(0x10)),
        ]);
        #[rustfmt::skip]
        let golden = [
            1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8,
            1, 1, 5, 26,
            0, 0, 0x10, 0, 0, 0, 0x20, 0,
            0, 0, 0x30, 0, 0, 0, 0x40, 0,
            0xff, 0xff, 0xf0, 0, 0, 0, 0, 0x10,
        ];
        assert_eq!(e(o), golden);
        assert_eq!(TcpOptions::parse(&golden).unwrap(), o);

        // Four blocks without timestamps: 36 bytes.
        let mut o = TcpOptions::default();
        let blocks: Vec<_> = (0..4u32)
            .map(|i| (SeqNumber(i * 100), SeqNumber(i * 100 + 50)))
            .collect();
        o.set_sack_blocks(&blocks);
        assert_eq!(o.buffer_len(), 36);
        assert_eq!(&e(o)[..4], [1, 1, 5, 34]);
        assert_eq!(TcpOptions::parse(&e(o)).unwrap(), o);

        // Everything plus four blocks: only two fit, 40 bytes.
        let mut all = syn_options(1, 2);
        all.set_sack_blocks(&blocks);
        assert_eq!(all.buffer_len(), 40);
        let bytes = e(all);
        assert_eq!(&bytes[20..24], [1, 1, 5, 18]);
        let mut expect = all;
        expect.set_sack_blocks(&blocks[..2]);
        assert_eq!(TcpOptions::parse(&bytes).unwrap(), expect);
        // Timestamps and four blocks: three fit.
        let mut o = ts_options(1, 2);
        o.set_sack_blocks(&blocks);
        assert_eq!(o.buffer_len(), 40);
        assert_eq!(
            TcpOptions::parse(&e(o)).unwrap().sack_blocks(),
            &blocks[..3]
        );

        // A corrupt sack_len is capped at four blocks.
        let mut o = TcpOptions::default();
        o.set_sack_blocks(&blocks);
        o.sack_len = 200;
        assert_eq!(o.sack_blocks().len(), 4);
        assert_eq!(o.buffer_len(), 36);
    }

    /// A segment carrying `options` (padded with EOL to a multiple of 4), checksummed.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let padded = (options.len() + 3) & !3;
        let mut buf = vec![0u8; 20 + padded + 3];
        buf[20..20 + options.len()].copy_from_slice(options);
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.set_header_len(20 + padded);
        p.set_flags(TcpFlags::ACK);
        p.payload_mut().copy_from_slice(b"abc");
        p.fill_checksum(&LO);
        buf
    }

    #[test]
    fn unknown_options_skipped() {
        // MPTCP-like kind 30 (len 6), MSS, experimental 254 (len 2), TFO cookie kind 34
        // (len 10), NOP, EOL, junk after EOL.
        #[rustfmt::skip]
        let opts = [
            30, 6, 0xde, 0xad, 0xbe, 0xef,
            2, 4, 0x05, 0xb4,
            254, 2,
            34, 10, 1, 2, 3, 4, 5, 6, 7, 8,
            1, 0, 0xff, 0x03,
        ];
        let seg = with_options(&opts);
        let repr = parse(&seg, &LO).unwrap();
        assert_eq!(
            repr.options,
            TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            }
        );
        assert_eq!(repr.payload, b"abc");
        let p = TcpPacket::new_checked(&seg[..]).unwrap();
        let seen: Vec<_> = p.options_iter().collect::<Result<_>>().unwrap();
        assert_eq!(
            seen,
            [
                TcpOption::Unknown {
                    kind: 30,
                    data: &[0xde, 0xad, 0xbe, 0xef]
                },
                TcpOption::MaxSegmentSize(1460),
                TcpOption::Unknown {
                    kind: 254,
                    data: &[]
                },
                TcpOption::Unknown {
                    kind: 34,
                    data: &[1, 2, 3, 4, 5, 6, 7, 8]
                },
                TcpOption::NoOperation,
                TcpOption::EndOfList,
            ]
        );
    }

    #[test]
    fn window_scale_clamped_and_repeats() {
        let o = TcpOptions::parse(&[1, 3, 3, 15]).unwrap();
        assert_eq!(o.window_scale, Some(14));
        let raw: Vec<_> = TcpOptionIter::new(&[1, 3, 3, 15]).collect();
        assert_eq!(raw[1], Ok(TcpOption::WindowScale(15)));
        assert_eq!(
            TcpOptions::parse(&[3, 3, 255]).unwrap().window_scale,
            Some(14)
        );
        assert_eq!(
            TcpOptions::parse(&[3, 3, 14]).unwrap().window_scale,
            Some(14)
        );
        // A repeated option overrides the earlier one.
        let o = TcpOptions::parse(&[2, 4, 0, 100, 2, 4, 0, 200]).unwrap();
        assert_eq!(o.mss, Some(200));
        // Options count on any segment, not only SYNs.
        assert_eq!(
            parse(&with_options(&[2, 4, 1, 0]), &LO)
                .unwrap()
                .options
                .mss,
            Some(256)
        );
    }

    #[test]
    fn malformed_options() {
        let cases: &[&[u8]] = &[
            &[30, 0, 0, 0],          // length 0
            &[30, 1, 0, 0],          // length 1
            &[1, 1, 1, 30],          // kind with no length byte
            &[1, 1, 1, 2],           // MSS with no length byte
            &[30, 6, 0, 0],          // runs past the header
            &[1, 1, 2, 4, 5],        // MSS cut short
            &[8, 10, 0, 0, 0, 0, 0], // timestamps cut short
            &[2, 3, 5, 0],           // MSS length 3
            &[2, 5, 0, 0, 0, 0],     // MSS length 5
            &[3, 2, 0, 0],           // window scale length 2
            &[3, 4, 0, 0],           // window scale length 4
            &[4, 3, 0, 0],           // SACK-permitted length 3
            &[4, 4, 0, 0],           // SACK-permitted length 4
            &[5, 2, 0, 0],           // SACK with no blocks
            &[5, 9, 0, 0, 0, 0, 0, 0, 0],
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[8, 8, 0, 0, 0, 0, 0, 0], // timestamps length 8
            &[8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[2, 4, 5, 0xb4, 3, 1, 0, 0], // valid then bad
        ];
        for &case in cases {
            assert_eq!(TcpOptions::parse(case), Err(Error::Malformed), "{case:?}");
            if case.len() % 4 == 0 {
                // (Padding would change a shorter list.)
                let seg = with_options(case);
                assert_eq!(parse(&seg, &LO), Err(Error::Malformed), "{case:?}");
            }
            // The iterator stops after the error.
            let mut it = TcpOptionIter::new(case);
            assert!(it.by_ref().any(|o| o.is_err()));
            assert_eq!(it.next(), None);
        }
        // Five SACK blocks (length 42) cannot be valid even with room for them.
        let mut five = vec![5u8, 42];
        five.resize(42, 0);
        assert_eq!(TcpOptions::parse(&five), Err(Error::Malformed));
        // Bytes after EOL are not looked at.
        assert_eq!(
            TcpOptions::parse(&[2, 4, 5, 0xb4, 0, 30, 0, 2])
                .unwrap()
                .mss,
            Some(1460)
        );
    }

    #[test]
    fn truncated_and_bad_offset() {
        for len in 0..LINUX_SYN.len() {
            // Short of the fixed header below 20, short of the 40-byte header above.
            assert_eq!(
                TcpPacket::new_checked(&LINUX_SYN[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
            assert_eq!(
                TcpRepr::parse(&TcpPacket::new_unchecked(&LINUX_SYN[..len]), &LO, false),
                Err(Error::Truncated)
            );
        }
        for off in 0..5u8 {
            let mut b = LINUX_FIN;
            b[12] = off << 4;
            assert_eq!(
                TcpPacket::new_checked(&b[..]).unwrap_err(),
                Error::Malformed
            );
        }
        let mut b = LINUX_FIN;
        b[12] = 0xf0; // 60-byte header in 32 bytes
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        // A cut segment still parses structurally; only the checksum notices.
        for len in 32..LINUX_DATA.len() {
            let p = TcpPacket::new_checked(&LINUX_DATA[..len]).unwrap();
            assert_eq!(p.payload().len(), len - 32);
            assert_eq!(TcpRepr::parse(&p, &LO, true), Err(Error::Checksum));
        }
    }

    #[test]
    fn checksum_failures() {
        let mut bad = LINUX_DATA;
        bad[39] ^= 0x20;
        let p = TcpPacket::new_checked(&bad[..]).unwrap();
        assert!(!p.verify_checksum(&LO));
        assert_eq!(TcpRepr::parse(&p, &LO, true), Err(Error::Checksum));
        assert_eq!(
            TcpRepr::parse(&p, &LO, false).unwrap().payload,
            b"hello, Bypass\n"
        );
        // Right bytes, wrong addresses.
        let other = PseudoHeader::new(Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::LOCALHOST);
        assert_eq!(parse(&LINUX_DATA, &other), Err(Error::Checksum));
        // Checksum checked before options.
        let mut seg = with_options(&[30, 0, 0, 0]);
        seg[25] ^= 1;
        assert_eq!(parse(&seg, &LO), Err(Error::Checksum));
        // No pseudo-header length can describe more than 65535 bytes.
        let mut big = vec![0u8; 65536];
        big[12] = 0x50;
        let p = TcpPacket::new_checked(&big[..]).unwrap();
        assert!(!p.verify_checksum(&LO));
    }

    #[test]
    fn flags() {
        for bits in 0..=255u8 {
            let f = TcpFlags::from(bits);
            assert_eq!(u8::from(f), bits);
            assert_eq!(f.to_string().len(), (bits.count_ones() as usize).max(1));
            assert_eq!(TcpFlags::from_header_word(0x5f00 | u16::from(bits)), f);
            assert_eq!(f.to_header_word(20), 0x5000 | u16::from(bits));
        }
        assert_eq!(TcpFlags::NONE, TcpFlags::default());
        assert_eq!(TcpFlags::NONE.to_string(), "-");
        assert_eq!(
            (TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK).to_string(),
            "FPA"
        );
        assert_eq!((TcpFlags::RST | TcpFlags::ACK).to_string(), "RA");
        assert_eq!(TcpFlags::from_bits(0xff).to_string(), "FSRPAUEC");
        let singles = [
            (
                TcpFlags::FIN,
                TcpFlags {
                    fin: true,
                    ..TcpFlags::NONE
                },
            ),
            (
                TcpFlags::SYN,
                TcpFlags {
                    syn: true,
                    ..TcpFlags::NONE
                },
            ),
            (
                TcpFlags::RST,
                TcpFlags {
                    rst: true,
                    ..TcpFlags::NONE
                },
            ),
            (
                TcpFlags::PSH,
                TcpFlags {
                    psh: true,
                    ..TcpFlags::NONE
                },
            ),
            (
                TcpFlags::ACK,
                TcpFlags {
                    ack: true,
                    ..TcpFlags::NONE
                },
            ),
            (
                TcpFlags::URG,
                TcpFlags {
                    urg: true,
                    ..TcpFlags::NONE
                },
            ),
            (
                TcpFlags::ECE,
                TcpFlags {
                    ece: true,
                    ..TcpFlags::NONE
                },
            ),
            (
                TcpFlags::CWR,
                TcpFlags {
                    cwr: true,
                    ..TcpFlags::NONE
                },
            ),
        ];
        for (i, (c, f)) in singles.iter().enumerate() {
            assert_eq!(c, f);
            assert_eq!(c.bits(), 1 << i);
        }
        let mut f = TcpFlags::SYN;
        f |= TcpFlags::ACK;
        assert!(f.contains(TcpFlags::ACK) && !f.contains(TcpFlags::ACK | TcpFlags::FIN));
        assert_eq!(
            LINUX_SYN_ACK[12..14],
            TcpFlags::from_bits(0x12).to_header_word(40).to_be_bytes()
        );
    }

    #[test]
    fn segment_len() {
        let mut r = parse(&LINUX_DATA, &LO).unwrap();
        assert_eq!(r.segment_len(), 14);
        r.flags |= TcpFlags::FIN;
        assert_eq!(r.segment_len(), 15);
        r.flags |= TcpFlags::SYN;
        assert_eq!(r.segment_len(), 16);
        r.payload = &[];
        assert_eq!(r.segment_len(), 2);
    }

    fn options_strategy() -> impl Strategy<Value = TcpOptions> {
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..=MAX_WINDOW_SCALE),
            any::<bool>(),
            proptest::option::of(any::<(u32, u32)>()),
            proptest::collection::vec(any::<(u32, u32)>(), 0..=MAX_SACK_BLOCKS),
        )
            .prop_map(|(mss, window_scale, sack_permitted, timestamps, blocks)| {
                let mut o = TcpOptions {
                    mss,
                    window_scale,
                    sack_permitted,
                    timestamps,
                    ..TcpOptions::default()
                };
                let blocks: Vec<_> = blocks
                    .into_iter()
                    .map(|(l, r)| (SeqNumber(l), SeqNumber(r)))
                    .collect();
                o.set_sack_blocks(&blocks);
                // Keep only the blocks that fit, so the repr survives a round trip.
                let fit = o.emitted_sack_blocks();
                o.set_sack_blocks(&blocks[..fit]);
                o
            })
    }

    /// One well-formed option, encoded.
    fn valid_option() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(vec![kind::NOP]),
            Just(vec![kind::EOL]),
            any::<u16>().prop_map(|m| vec![kind::MSS, 4, (m >> 8) as u8, m as u8]),
            any::<u8>().prop_map(|s| vec![kind::WINDOW_SCALE, 3, s]),
            Just(vec![kind::SACK_PERMITTED, 2]),
            proptest::collection::vec(any::<u8>(), 1..=4).prop_map(|b| {
                let mut v = vec![kind::SACK, 2 + 8 * b.len() as u8];
                for x in b {
                    v.extend_from_slice(&[x; 8]);
                }
                v
            }),
            any::<[u8; 8]>().prop_map(|t| {
                let mut v = vec![kind::TIMESTAMPS, 10];
                v.extend_from_slice(&t);
                v
            }),
            (
                prop_oneof![Just(30u8), 9u8..=255],
                proptest::collection::vec(any::<u8>(), 0..8)
            )
                .prop_map(|(k, d)| {
                    let mut v = vec![k, 2 + d.len() as u8];
                    v.extend_from_slice(&d);
                    v
                }),
        ]
    }

    /// Arbitrary bytes shaped like an option: any kind, maybe a length, some data.
    fn junk_option() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![0u8..10, any::<u8>()],
            proptest::option::of(any::<u8>()),
            proptest::collection::vec(any::<u8>(), 0..12),
        )
            .prop_map(|(kind, len, data)| {
                let mut v = vec![kind];
                if let Some(len) = len {
                    v.push(len);
                    v.extend_from_slice(
                        &data[..data.len().min(usize::from(len.saturating_sub(2)))],
                    );
                }
                v
            })
    }

    /// Option lists of mostly valid options, some junk, cut to at most 40 bytes.
    fn option_bytes_strategy() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![6 => valid_option(), 1 => junk_option()], 0..8)
            .prop_map(|pieces| {
                let mut v = pieces.concat();
                v.truncate(40);
                v
            })
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..100), verify in any::<bool>()) {
            if let Ok(p) = TcpPacket::new_checked(&data[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(&LO), p.flags().to_string());
                let _ = p.options_iter().count();
                let _ = TcpRepr::parse(&p, &LO, verify);
            } else {
                prop_assert!(data.len() < 20 || data[12] >> 4 < 5 || usize::from(data[12] >> 4) * 4 > data.len());
            }
        }

        #[test]
        fn option_lists_never_panic(opts in option_bytes_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..8)) {
            let _ = TcpOptionIter::new(&opts).count();
            let mut seg = with_options(&opts);
            seg.truncate(seg.len() - 3);
            seg.extend_from_slice(&payload);
            TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&LO);
            let parsed = parse(&seg, &LO);
            let padded = TcpPacket::new_checked(&seg[..]).unwrap().options().to_vec();
            prop_assert_eq!(parsed.map(|r| r.options), TcpOptions::parse(&padded));
            if let Ok(r) = parsed {
                prop_assert_eq!(r.payload, &payload[..]);
                // Re-emitting keeps every option, SACK blocks up to what fits.
                let mut expect = r.options;
                let fit = expect.emitted_sack_blocks();
                let blocks = expect.sack_blocks()[..fit].to_vec();
                expect.set_sack_blocks(&blocks);
                let bytes = emit(&r, &LO);
                prop_assert_eq!(parse(&bytes, &LO).unwrap().options, expect);
            }
        }

        #[test]
        fn roundtrip(
            ports in any::<(u16, u16)>(), seq in any::<u32>(), ack in any::<u32>(),
            flags in any::<u8>(), window in any::<u16>(), urgent in any::<u16>(),
            options in options_strategy(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            addrs in any::<(u32, u32)>(),
        ) {
            let pseudo = PseudoHeader::new(Ipv4Addr::from(addrs.0), Ipv4Addr::from(addrs.1));
            let repr = TcpRepr {
                src_port: ports.0,
                dst_port: ports.1,
                seq: SeqNumber(seq),
                ack: SeqNumber(ack),
                flags: TcpFlags::from_bits(flags),
                window,
                urgent,
                options,
                payload: &payload,
            };
            prop_assert!(repr.header_len().is_multiple_of(4) && repr.header_len() <= 60);
            let bytes = emit(&repr, &pseudo);
            let p = TcpPacket::new_checked(&bytes[..]).unwrap();
            prop_assert!(p.verify_checksum(&pseudo));
            prop_assert_eq!(p.header_len(), repr.header_len());
            prop_assert_eq!(TcpRepr::parse(&p, &pseudo, true).unwrap(), repr);
            // Header-only emit plus a caller-written payload gives the same bytes.
            let mut buf = vec![0x5au8; bytes.len()];
            let mut q = TcpPacket::new_unchecked(&mut buf[..]);
            TcpRepr { payload: &[], ..repr }.emit_header(&mut q);
            q.payload_mut().copy_from_slice(&payload);
            q.fill_checksum(&pseudo);
            prop_assert_eq!(buf, bytes);
        }
    }
}
