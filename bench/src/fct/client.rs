//! FCT transfers on kernel sockets: echo, download and upload, each on a fresh connection
//! (connect timed too) or on one connection reused for the whole group.
//!
//! Sockets are non-blocking and waited on with `epoll` (mio) up to the transfer's
//! deadline, so a stalled transfer ends as an error at the timeout instead of hanging.
//! Client sockets set `TCP_NODELAY`, as curl and most clients do.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::plan::{Conn, Group, Kind};
use super::summary::{Outcome, Outcomes};
use super::{check_chargen, first_difference, transfer_bytes};

/// Read and write chunk.
const CHUNK: usize = 256 * 1024;
/// A group gives up after this many transfers in a row timed out (the rest count as
/// errors, not run): a server that stalls every transfer would otherwise cost
/// `transfers × timeout`.
pub const MAX_CONSECUTIVE_TIMEOUTS: usize = 3;
/// Pause between SIOCOUTQ readings while an upload waits for its last ACK, once it has
/// waited [`OUTQ_SPIN`].
pub const OUTQ_POLL: Duration = Duration::from_micros(20);
/// How long an upload reads SIOCOUTQ back to back (yielding the CPU in between) before
/// pausing between readings. A sleep costs a timer wake-up (tens of µs here) that a
/// kernel server never pays: its ACK is processed inside the client's own write on veth,
/// so SIOCOUTQ is 0 at the first reading. Yielding rather than spinning lets deferred
/// softirq work on this CPU run (the receive side of the engine's veth, whose XDP runs
/// on the sender's CPU): a pure spin slowed the engine's 64 KiB uploads from 0.19 to
/// 0.32 ms.
pub const OUTQ_SPIN: Duration = Duration::from_millis(2);

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Fail {
    Timeout(String),
    Early(String),
    Other(String),
}

impl Fail {
    pub fn outcome(self) -> Outcome {
        match self {
            Fail::Timeout(m) | Fail::Other(m) => Outcome::Error(m),
            Fail::Early(m) => Outcome::EndedEarly(m),
        }
    }
}

fn other(what: &str, e: io::Error) -> Fail {
    Fail::Other(format!("{what}: {e}"))
}

/// Lowers this thread's timer slack to 1 µs (from 50 µs), so the short sleeps between
/// SIOCOUTQ readings are short. Best effort.
pub fn tighten_timer_slack() {
    let _ = std::fs::write("/proc/thread-self/timerslack_ns", "1000");
}

/// One client connection: a non-blocking kernel socket registered with `poll`.
struct Sock {
    s: TcpStream,
}

impl Sock {
    fn connect(poll: &Poll, addr: SocketAddr, deadline: Instant) -> Result<Sock, Fail> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fail::Timeout("timed out before connecting".into()));
        }
        let s = TcpStream::connect_timeout(&addr, left).map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Fail::Timeout(format!("connect timed out ({e})")),
            _ => other("connect", e),
        })?;
        s.set_nodelay(true).map_err(|e| other("nodelay", e))?;
        s.set_nonblocking(true).map_err(|e| other("nonblocking", e))?;
        poll.registry().register(&mut SourceFd(&s.as_raw_fd()), Token(0), Interest::READABLE | Interest::WRITABLE).map_err(|e| other("epoll", e))?;
        Ok(Sock { s })
    }

    fn close(self, poll: &Poll) {
        let _ = poll.registry().deregister(&mut SourceFd(&self.s.as_raw_fd()));
    }
}

/// Waits for readiness (any) until `deadline`; false when the deadline passed.
fn wait(poll: &mut Poll, events: &mut Events, deadline: Instant) -> Result<bool, Fail> {
    let now = Instant::now();
    if now >= deadline {
        return Ok(false);
    }
    match poll.poll(events, Some(deadline - now)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
        Err(e) => Err(other("epoll_wait", e)),
    }
}

fn blocked(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// Where a transfer's bytes come from and go to.
struct Ctx<'a> {
    poll: &'a mut Poll,
    events: &'a mut Events,
    buf: &'a mut [u8],
    timeout: Duration,
}

/// Echo: writes `data` and reads it back at the same time; done when the last byte is
/// back and verified.
fn echo(c: &mut Ctx<'_>, s: &mut Sock, data: &[u8], deadline: Instant) -> Result<Instant, Fail> {
    let n = data.len();
    let (mut sent, mut got) = (0usize, 0usize);
    loop {
        while sent < n {
            match s.s.write(&data[sent..n.min(sent + CHUNK)]) {
                Ok(0) => return Err(Fail::Other("write returned 0".into())),
                Ok(k) => sent += k,
                Err(e) if blocked(&e) => break,
                Err(e) => return Err(other("write", e)),
            }
        }
        loop {
            let want = c.buf.len().min(n - got);
            match s.s.read(&mut c.buf[..want]) {
                Ok(0) => return Err(Fail::Early(format!("EOF after {got} of {n} bytes echoed"))),
                Ok(k) => {
                    if let Some(at) = first_difference(&data[got..got + k], &c.buf[..k]) {
                        return Err(Fail::Other(format!("echo differs at byte {}", got + at)));
                    }
                    got += k;
                    if got == n {
                        return Ok(Instant::now());
                    }
                }
                Err(e) if blocked(&e) => break,
                Err(e) => return Err(other("read", e)),
            }
        }
        if !wait(c.poll, c.events, deadline)? {
            return Err(Fail::Timeout(format!("timed out after {:?} (sent {sent}, echoed {got} of {n} bytes)", c.timeout)));
        }
    }
}

/// Writes all of `data` (waiting for room); returns when the kernel took the last byte.
fn write_all(c: &mut Ctx<'_>, s: &mut Sock, data: &[u8], deadline: Instant) -> Result<(), Fail> {
    let mut sent = 0;
    while sent < data.len() {
        match s.s.write(&data[sent..data.len().min(sent + CHUNK)]) {
            Ok(0) => return Err(Fail::Other("write returned 0".into())),
            Ok(k) => sent += k,
            Err(e) if blocked(&e) => {
                if !wait(c.poll, c.events, deadline)? {
                    return Err(Fail::Timeout(format!("timed out after {:?} writing ({sent} of {} bytes taken)", c.timeout, data.len())));
                }
            }
            Err(e) => return Err(other("write", e)),
        }
    }
    Ok(())
}

/// Download: asks chargen for `n` bytes (`n\n`, or `n+\n` to keep the connection) and
/// reads them, checking the pattern; done at the last byte. On a fresh connection it then
/// also expects EOF (untimed) and nothing more.
fn download(c: &mut Ctx<'_>, s: &mut Sock, n: u64, keep: bool, deadline: Instant) -> Result<Instant, Fail> {
    let line = format!("{n}{}\n", if keep { "+" } else { "" });
    write_all(c, s, line.as_bytes(), deadline)?;
    let mut got = 0u64;
    let mut done = None;
    loop {
        // Fresh: read one byte past the end to see the EOF (or too much data).
        let want = if keep { (n - got).min(c.buf.len() as u64) as usize } else { c.buf.len() };
        if keep && want == 0 {
            return done.ok_or_else(|| Fail::Other("nothing to read".into()));
        }
        match s.s.read(&mut c.buf[..want]) {
            Ok(0) if got < n => return Err(Fail::Early(format!("EOF after {got} of {n} bytes"))),
            Ok(0) => return done.ok_or_else(|| Fail::Other("no data".into())),
            Ok(k) => {
                if got + k as u64 > n {
                    return Err(Fail::Other(format!("chargen sent more than the {n} bytes asked for")));
                }
                if let Some(at) = check_chargen(&c.buf[..k], got) {
                    return Err(Fail::Other(format!("chargen byte wrong at offset {at}")));
                }
                got += k as u64;
                if got == n {
                    done = Some(Instant::now());
                    if keep {
                        return Ok(done.unwrap_or_else(Instant::now));
                    }
                }
            }
            Err(e) if blocked(&e) => {
                if !wait(c.poll, c.events, deadline)? {
                    return Err(Fail::Timeout(match done {
                        Some(_) => format!("no EOF within {:?} after all {n} bytes", c.timeout),
                        None => format!("timed out after {:?} ({got} of {n} bytes received)", c.timeout),
                    }));
                }
            }
            Err(e) => return Err(other("read", e)),
        }
    }
}

/// Upload: writes `data`, then reads SIOCOUTQ until it is 0 (the server acknowledged the
/// last byte): back to back for [`OUTQ_SPIN`], then every [`OUTQ_POLL`].
fn upload(c: &mut Ctx<'_>, s: &mut Sock, data: &[u8], deadline: Instant) -> Result<Instant, Fail> {
    write_all(c, s, data, deadline)?;
    let spin_until = Instant::now() + OUTQ_SPIN;
    loop {
        let left = bypass::sys::unacked_bytes(s.s.as_fd()).map_err(|e| other("SIOCOUTQ", e))?;
        if left == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            return Err(Fail::Timeout(format!("timed out after {:?} waiting for the last ACK ({left} of {} bytes unacknowledged)", c.timeout, data.len())));
        }
        if Instant::now() < spin_until {
            std::thread::yield_now();
        } else {
            std::thread::sleep(OUTQ_POLL);
        }
    }
}

fn transfer(c: &mut Ctx<'_>, s: &mut Sock, kind: Kind, size: u64, keep: bool, data: &[u8], deadline: Instant) -> Result<Instant, Fail> {
    match kind {
        Kind::Echo => echo(c, s, data, deadline),
        Kind::Download => download(c, s, size, keep, deadline),
        Kind::Upload => upload(c, s, data, deadline),
        Kind::HttpPost => Err(Fail::Other("http-post runs through curl".into())),
    }
}

/// Runs one group of transfers against `addr` (the server of `g.kind`'s port).
/// `progress` is called after each transfer with its index.
pub fn run_group(addr: SocketAddr, g: &Group, timeout: Duration) -> Outcomes {
    tighten_timer_slack();
    let mut out = Outcomes::default();
    let (mut poll, mut events) = match Poll::new() {
        Ok(p) => (p, Events::with_capacity(16)),
        Err(e) => {
            out.push(Outcome::Error(format!("epoll: {e}")));
            out.skipped(g.transfers - 1, "epoll failed");
            return out;
        }
    };
    let mut buf = vec![0u8; CHUNK];
    let mut reused: Option<Sock> = None;
    let mut timeouts_in_a_row = 0;
    let size = g.size as usize;
    for i in 0..g.transfers {
        if timeouts_in_a_row >= MAX_CONSECUTIVE_TIMEOUTS {
            out.skipped(g.transfers - i, &format!("not run after {MAX_CONSECUTIVE_TIMEOUTS} timeouts in a row"));
            break;
        }
        // Generated before the clock starts.
        let data = if matches!(g.kind, Kind::Echo | Kind::Upload) { transfer_bytes(size, i as u64 + 1) } else { Vec::new() };
        let mut c = Ctx { poll: &mut poll, events: &mut events, buf: &mut buf, timeout };
        let result = match g.conn {
            Conn::Fresh => {
                let t0 = Instant::now();
                let deadline = t0 + timeout;
                Sock::connect(c.poll, addr, deadline).and_then(|mut s| {
                    let r = transfer(&mut c, &mut s, g.kind, g.size, false, &data, deadline).map(|end| end - t0);
                    s.close(c.poll);
                    r
                })
            }
            Conn::Reused => {
                let opened = match reused.take() {
                    Some(s) => Ok(s),
                    None => Sock::connect(c.poll, addr, Instant::now() + timeout),
                };
                opened.and_then(|mut s| {
                    let t0 = Instant::now();
                    let r = transfer(&mut c, &mut s, g.kind, g.size, true, &data, t0 + timeout).map(|end| end - t0);
                    // A failed transfer leaves the connection in an unknown state: the next
                    // one opens a new connection (untimed).
                    if r.is_ok() {
                        reused = Some(s);
                    } else {
                        s.close(c.poll);
                    }
                    r
                })
            }
        };
        match result {
            Ok(d) => {
                timeouts_in_a_row = 0;
                out.push(Outcome::Done(d));
            }
            Err(f) => {
                if matches!(f, Fail::Timeout(_)) {
                    timeouts_in_a_row += 1;
                } else {
                    timeouts_in_a_row = 0;
                }
                out.push(f.outcome());
            }
        }
    }
    if let Some(s) = reused {
        s.close(&poll);
    }
    out
}
