//! TCP options: walking a received list ([`TcpOptionIter`]), the summary the stack uses
//! ([`TcpOptions`], parsed and emitted in Linux's layout; see the parent module's docs).

use super::{SeqNumber, TcpOptions, MAX_SACK_BLOCKS};
use crate::wire::bytes::{read_u16, read_u32, write_u16, write_u32};
use crate::wire::{Error, Result};

pub(super) mod kind {
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
    pub(super) fn emitted_sack_blocks(&self) -> usize {
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
