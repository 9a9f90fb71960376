//! Incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
//!
//! Works byte by byte across input boundaries, so it consumes every byte it is offered
//! (up to the end of the message) and never needs a line to be contiguous. Strict where
//! leniency would be a framing hazard: the size line, the CRLF after each chunk's data
//! and every trailer line must end in CRLF (a bare LF is an error); chunk extensions are
//! skipped (any bytes but control characters other than HTAB); whitespace between the
//! size and `;` or CR is tolerated. Trailer fields are read and dropped.

/// Longest chunk-size line accepted (size, extensions, CRLF).
pub(super) const MAX_CHUNK_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChunkError {
    /// Bad chunk size, bad line ending, control byte in an extension or trailer, or an
    /// over-long size line: 400.
    Malformed,
    /// The decoded body would exceed the limit: 413.
    TooLarge,
    /// The trailer section exceeds its limit: 431.
    TrailerTooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// Everything offered was consumed; the message continues.
    NeedMore,
    /// The last chunk and trailer section ended; bytes after it were not consumed.
    Done,
    Error(ChunkError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Hex digits of the chunk size (`digits`: at least one seen).
    Size {
        digits: bool,
    },
    /// Whitespace after the size.
    SizeWs,
    /// Inside chunk extensions, up to CR.
    Ext,
    /// CR of the size line seen, LF expected.
    SizeLf,
    /// Chunk data; `size` bytes left.
    Data,
    DataCr,
    DataLf,
    /// Start of a trailer line, or of the final CRLF.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

#[derive(Debug, Clone)]
pub(super) struct ChunkedDecoder {
    st: St,
    /// Size being parsed, then bytes left in the current chunk.
    size: u64,
    /// Bytes of the current size line.
    line: usize,
    /// Bytes of the trailer section.
    trailer: usize,
    /// Decoded body bytes so far.
    total: u64,
}

fn hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

impl ChunkedDecoder {
    pub(super) fn new() -> Self {
        ChunkedDecoder { st: St::Size { digits: false }, size: 0, line: 0, trailer: 0, total: 0 }
    }

    /// Decoded body bytes so far.
    pub(super) fn total(&self) -> u64 {
        self.total
    }

    /// Decodes from `input`, handing chunk data to `sink`. Returns the bytes consumed:
    /// all of `input` unless the message ended (`Done`) or was rejected (`Error`).
    pub(super) fn feed(
        &mut self,
        input: &[u8],
        max_body: u64,
        max_trailer: usize,
        mut sink: impl FnMut(&[u8]),
    ) -> (usize, Progress) {
        use Progress::Error as E;
        let mut i = 0;
        while i < input.len() {
            if self.st == St::Data {
                let n = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                sink(&input[i..i + n]);
                i += n;
                self.size -= n as u64;
                self.total += n as u64;
                if self.size == 0 {
                    self.st = St::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            match self.st {
                St::Size { .. } | St::SizeWs | St::Ext => {
                    self.line += 1;
                    if self.line > MAX_CHUNK_LINE {
                        return (i, E(ChunkError::Malformed));
                    }
                }
                St::TrailerStart | St::TrailerLine | St::TrailerLf | St::FinalLf => {
                    self.trailer += 1;
                    if self.trailer > max_trailer {
                        return (i, E(ChunkError::TrailerTooLarge));
                    }
                }
                _ => {}
            }
            self.st = match self.st {
                St::Size { digits } => match (hex(b), digits, b) {
                    (Some(d), _, _) => {
                        match self.size.checked_mul(16).and_then(|s| s.checked_add(d)) {
                            Some(s) if s <= max_body - self.total => self.size = s,
                            _ => return (i, E(ChunkError::TooLarge)),
                        }
                        St::Size { digits: true }
                    }
                    (None, true, b' ' | b'\t') => St::SizeWs,
                    (None, true, b';') => St::Ext,
                    (None, true, b'\r') => St::SizeLf,
                    _ => return (i, E(ChunkError::Malformed)),
                },
                St::SizeWs => match b {
                    b' ' | b'\t' => St::SizeWs,
                    b';' => St::Ext,
                    b'\r' => St::SizeLf,
                    _ => return (i, E(ChunkError::Malformed)),
                },
                St::Ext => match b {
                    b'\r' => St::SizeLf,
                    b if is_ctl(b) => return (i, E(ChunkError::Malformed)),
                    _ => St::Ext,
                },
                St::SizeLf if b == b'\n' => {
                    self.line = 0;
                    if self.size == 0 {
                        St::TrailerStart
                    } else {
                        St::Data
                    }
                }
                St::DataCr if b == b'\r' => St::DataLf,
                St::DataLf if b == b'\n' => St::Size { digits: false },
                St::TrailerStart => match b {
                    b'\r' => St::FinalLf,
                    b if is_ctl(b) => return (i, E(ChunkError::Malformed)),
                    _ => St::TrailerLine,
                },
                St::TrailerLine => match b {
                    b'\r' => St::TrailerLf,
                    b if is_ctl(b) => return (i, E(ChunkError::Malformed)),
                    _ => St::TrailerLine,
                },
                St::TrailerLf if b == b'\n' => St::TrailerStart,
                St::FinalLf if b == b'\n' => {
                    self.st = St::Done;
                    return (i, Progress::Done);
                }
                _ => return (i, E(ChunkError::Malformed)),
            };
        }
        if self.st == St::Done {
            (i, Progress::Done)
        } else {
            (i, Progress::NeedMore)
        }
    }
}
