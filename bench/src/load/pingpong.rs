//! TCP ping-pong against an echo server: one connection, one message in
//! flight, round-trip latency per message, with a spinning or blocking client.

use super::window::Window;
use super::{connect, new_histogram, record, LoadResult, OP_TIMEOUT};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Sends `msg_size`-byte messages to an echo server at `addr` and reads each
/// one back in full before sending the next.
///
/// `spin = true` busy-polls a non-blocking socket (lowest latency, burns a
/// core); `spin = false` uses ordinary blocking reads. Each echo is compared
/// with what was sent; a mismatch, reset, early EOF or a wait longer than
/// [`OP_TIMEOUT`] counts an error and the connection is re-opened.
/// `bytes` counts echoed bytes. Fails only if the first connect fails.
pub fn tcp_pingpong(
    addr: SocketAddr,
    msg_size: usize,
    duration: Duration,
    warmup: Duration,
    spin: bool,
) -> io::Result<LoadResult> {
    if msg_size == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "msg_size must be > 0"));
    }
    let mut stream = Some(open(addr, spin)?);
    let win = Window::start(duration, warmup);
    let mut res = LoadResult::empty(win.seconds());
    let mut hist = new_histogram();
    let mut msg = vec![0u8; msg_size];
    let mut back = vec![0u8; msg_size];
    let mut seq: u64 = 0;
    while !win.over(Instant::now()) {
        let Some(s) = stream.as_mut() else {
            match open(addr, spin) {
                Ok(s) => stream = Some(s),
                Err(e) => {
                    res.error(format!("reconnect: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            continue;
        };
        seq += 1;
        fill(&mut msg, seq);
        let t0 = Instant::now();
        let deadline = t0 + OP_TIMEOUT;
        let outcome = write_all(s, &msg, deadline).and_then(|()| read_exact(s, &mut back, deadline));
        let t1 = Instant::now();
        match outcome {
            Ok(()) if back == msg => {
                if win.counts(t0, t1) {
                    res.ops += 1;
                    res.bytes += msg_size as u64;
                    record(&mut hist, t1 - t0);
                }
            }
            Ok(()) => {
                res.error("echo differs from message");
                stream = None;
            }
            Err(e) => {
                res.error(format!("round trip: {e}"));
                stream = None;
            }
        }
    }
    res.histogram = Some(hist);
    Ok(res)
}

fn open(addr: SocketAddr, spin: bool) -> io::Result<TcpStream> {
    let s = connect(addr)?;
    if spin {
        s.set_nonblocking(true)?;
    } else {
        s.set_read_timeout(Some(OP_TIMEOUT))?;
        s.set_write_timeout(Some(OP_TIMEOUT))?;
    }
    Ok(s)
}

/// Message `seq`: its bytes vary with the sequence number so a stale or
/// shifted echo is caught.
fn fill(msg: &mut [u8], seq: u64) {
    let tag = seq.to_le_bytes();
    for (i, b) in msg.iter_mut().enumerate() {
        *b = tag[i % 8].wrapping_add((i / 8) as u8);
    }
}

/// `write_all` that works on blocking and non-blocking sockets (spinning on
/// `WouldBlock`) and gives up at `deadline`.
pub(crate) fn write_all(s: &mut TcpStream, buf: &[u8], deadline: Instant) -> io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        match s.write(&buf[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) => retry_or_fail(e, deadline)?,
        }
    }
    Ok(())
}

/// `read_exact` with the same spinning and deadline behaviour as [`write_all`].
pub(crate) fn read_exact(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        match s.read(&mut buf[off..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => off += n,
            Err(e) => retry_or_fail(e, deadline)?,
        }
    }
    Ok(())
}

fn retry_or_fail(e: io::Error, deadline: Instant) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::Interrupted => Ok(()),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            if Instant::now() >= deadline {
                Err(io::ErrorKind::TimedOut.into())
            } else {
                std::hint::spin_loop();
                Ok(())
            }
        }
        _ => Err(e),
    }
}
