//! One-stream bulk TCP: send to a discard server, or receive from a chargen
//! server (request `"<n>\n"`, read `n` bytes to EOF, verify the pattern).

use super::pingpong::write_all;
use super::{connect, LoadResult, OP_TIMEOUT};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

/// How much `bulk_send` moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkLimit {
    /// Exactly this many bytes.
    Bytes(u64),
    /// As much as possible for this long.
    Duration(Duration),
}

/// Size of each write / read.
const CHUNK: usize = 256 * 1024;
/// How long `bulk_send` waits for the discard server to close after EOF.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Byte `i` of a chargen stream: `0x20 + i % 95` (printable ASCII, repeating).
pub fn chargen_byte(i: u64) -> u8 {
    0x20 + (i % 95) as u8
}

/// Streams bytes to a discard server at `addr`, then half-closes and waits
/// for the server to close (so data still buffered counts in the time).
/// `ops` is 1, `bytes` the bytes sent, `seconds` from connect to the
/// server's close. A write error or a server that does not close within
/// 5 s after EOF counts an error (time then ends at the half-close).
pub fn bulk_send(addr: SocketAddr, limit: BulkLimit) -> io::Result<LoadResult> {
    let mut s = connect(addr)?;
    s.set_write_timeout(Some(OP_TIMEOUT))?;
    let chunk: Vec<u8> = (0..CHUNK as u64).map(chargen_byte).collect();
    let mut res = LoadResult::empty(0.0);
    let t0 = Instant::now();
    let mut sent: u64 = 0;
    loop {
        let want = match limit {
            BulkLimit::Bytes(n) if sent >= n => break,
            BulkLimit::Bytes(n) => (n - sent).min(CHUNK as u64) as usize,
            BulkLimit::Duration(d) if t0.elapsed() >= d => break,
            BulkLimit::Duration(_) => CHUNK,
        };
        match s.write(&chunk[..want]) {
            Ok(0) => {
                res.error("write returned 0");
                break;
            }
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                res.error(format!("write: {e}"));
                break;
            }
        }
    }
    let half_closed = Instant::now();
    let _ = s.shutdown(Shutdown::Write);
    s.set_read_timeout(Some(DRAIN_TIMEOUT))?;
    let mut sink = [0u8; 4096];
    let end = loop {
        match s.read(&mut sink) {
            Ok(0) => break Instant::now(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                res.error("discard server did not close after EOF");
                break half_closed;
            }
            // A reset after all data was sent still means the server is gone.
            Err(_) => break Instant::now(),
        }
    };
    res.ops = 1;
    res.bytes = sent;
    res.seconds = (end - t0).as_secs_f64();
    Ok(res)
}

/// Asks a chargen server at `addr` for `bytes` bytes (`"<bytes>\n"`), reads
/// to EOF and checks every byte against [`chargen_byte`]. `ops` is 1,
/// `bytes` the bytes received, `seconds` from the request to EOF. A wrong
/// byte (counted once), a short or long stream, or a read error counts
/// an error.
pub fn bulk_recv(addr: SocketAddr, bytes: u64) -> io::Result<LoadResult> {
    let mut s = connect(addr)?;
    s.set_read_timeout(Some(OP_TIMEOUT))?;
    s.set_write_timeout(Some(OP_TIMEOUT))?;
    let pattern: Vec<u8> = (0..(CHUNK as u64 / 95 + 2) * 95).map(chargen_byte).collect();
    let mut buf = vec![0u8; CHUNK];
    let mut res = LoadResult::empty(0.0);
    let t0 = Instant::now();
    write_all(&mut s, format!("{bytes}\n").as_bytes(), t0 + OP_TIMEOUT)?;
    let mut got: u64 = 0;
    let mut corrupt = false;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !corrupt && !matches_pattern(&buf[..n], got, &pattern) {
                    corrupt = true;
                    res.error(format!("chargen byte wrong near offset {got}"));
                }
                got += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                res.error(format!("read: {e}"));
                break;
            }
        }
    }
    let end = Instant::now();
    if got != bytes {
        res.error(format!("received {got} bytes, asked for {bytes}"));
    }
    res.ops = 1;
    res.bytes = got;
    res.seconds = (end - t0).as_secs_f64();
    Ok(res)
}

/// Whether `data`, found at stream offset `off`, follows the chargen pattern.
/// `pattern` holds the pattern from offset 0 and is at least 95 bytes long.
fn matches_pattern(data: &[u8], off: u64, pattern: &[u8]) -> bool {
    let mut rest = data;
    let mut pos = (off % 95) as usize;
    while !rest.is_empty() {
        let m = rest.len().min(pattern.len() - pos);
        if rest[..m] != pattern[pos..pos + m] {
            return false;
        }
        rest = &rest[m..];
        pos = (pos + m) % 95;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_check_at_any_offset() {
        let pattern: Vec<u8> = (0..190).map(chargen_byte).collect();
        assert_eq!(chargen_byte(0), b' ');
        assert_eq!(chargen_byte(94), b'~');
        assert_eq!(chargen_byte(95), b' ');
        let stream: Vec<u8> = (0..1000).map(chargen_byte).collect();
        assert!(matches_pattern(&stream[333..777], 333, &pattern));
        assert!(!matches_pattern(&stream[333..777], 334, &pattern));
        let mut bad = stream.clone();
        bad[900] ^= 1;
        assert!(!matches_pattern(&bad[500..], 500, &pattern));
    }
}
