//! The built-in services, written on the fast-path socket API ([`crate::api::fast`]), one
//! instance per worker (RFC 862 echo, RFC 863 discard, a chargen for bulk transfer, UDP
//! echo, and the HTTP/1.1 echo):
//!
//! - `tcp-echo:PORT` returns every byte; closes after the client closes and everything
//!   was echoed.
//! - `discard:PORT` reads and drops; closes when the client closes.
//! - `chargen:PORT` reads one line holding a decimal byte count (at most 20 digits,
//!   ended by `\n`, an optional `\r` before it), then sends that many bytes of the
//!   pattern [`chargen_byte`] and closes. A malformed line resets the connection.
//!   Unlike RFC 864's endless stream this one ends, so a client can check the total.
//!   A count followed by `+` (`65536+\n`) keeps the connection open instead: after the
//!   bytes (the pattern starting over at 0) the next line is read, so a client can make
//!   many transfers on one connection.
//! - `udp-echo:PORT` returns every datagram to its sender.
//! - `http-echo:PORT`, see [`super::http_echo`]. After the final response the sending side
//!   is half-closed and input is drained until the client closes (a lingering close, so a
//!   client still sending a refused body reads the 413, not a reset); connections idle
//!   for the handler's timeout are closed.
//! - `sockperf:PORT`, sockperf's server (UDP and TCP), see [`super::sockperf`].
//! - `iperf3:PORT`, an iperf3 server for `iperf3 -c` (TCP and UDP tests, `-R`, `-P`,
//!   `--bidir`, `-b`), see [`super::iperf3`]; one test at a time across all workers.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use super::http_echo::{HttpEcho, HttpEchoConfig, Output};
use crate::api::{AppFactory, Application, Event, Fd, Io, Shutdown, SockType};
use crate::time::{Duration, Instant};

/// Which service to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Echo,
    Discard,
    Chargen,
    UdpEcho,
    HttpEcho,
    /// sockperf's server protocol, UDP and TCP on one port ([`super::sockperf`]).
    Sockperf,
    /// iperf3's server protocol, TCP and UDP on one port ([`super::iperf3`]).
    Iperf3,
}

/// `--serve KIND:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    pub kind: ServiceKind,
    pub port: u16,
}

impl ServiceSpec {
    /// Uses the UDP port.
    pub fn is_udp(&self) -> bool {
        matches!(self.kind, ServiceKind::UdpEcho | ServiceKind::Sockperf | ServiceKind::Iperf3)
    }

    /// Uses the TCP port.
    pub fn is_tcp(&self) -> bool {
        self.kind != ServiceKind::UdpEcho
    }

    /// The application factory running this service on every worker.
    pub fn factory(self) -> AppFactory {
        if self.kind == ServiceKind::Sockperf {
            return super::sockperf::factory(self.port);
        }
        if self.kind == ServiceKind::Iperf3 {
            return super::iperf3::factory(self.port);
        }
        Arc::new(move |_worker| -> Box<dyn Application> {
            match self.kind {
                ServiceKind::UdpEcho => Box::new(UdpEcho { port: self.port, buf: vec![0; 65536] }),
                kind => Box::new(TcpService { kind, port: self.port, conns: HashMap::new(), last_sweep: Instant::ZERO, scratch: vec![0u8; CHUNK].into_boxed_slice() }),
            }
        })
    }
}

impl std::str::FromStr for ServiceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, p) = s.split_once(':').ok_or_else(|| format!("'{s}' is not SERVICE:PORT (e.g. tcp-echo:7)"))?;
        let kind = match k {
            "tcp-echo" | "echo" => ServiceKind::Echo,
            "discard" => ServiceKind::Discard,
            "chargen" => ServiceKind::Chargen,
            "udp-echo" => ServiceKind::UdpEcho,
            "http-echo" => ServiceKind::HttpEcho,
            "sockperf" => ServiceKind::Sockperf,
            "iperf3" => ServiceKind::Iperf3,
            _ => return Err(format!("unknown service '{k}' (tcp-echo, discard, chargen, udp-echo, http-echo, sockperf, iperf3)")),
        };
        let port = p.parse().ok().filter(|p| *p != 0).ok_or_else(|| format!("'{p}' is not a port 1..65535"))?;
        Ok(ServiceSpec { kind, port })
    }
}

/// Byte `i` (from 0) of a chargen stream: printable ASCII from space to tilde, repeating
/// every 95 bytes.
pub fn chargen_byte(i: u64) -> u8 {
    b' ' + (i % 95) as u8
}

/// The chargen pattern, one send's worth plus a period, so any offset into the cycle
/// has a full chunk after it (sending from here costs no per-byte work).
static CHARGEN: [u8; CHUNK + 95] = {
    let mut a = [0u8; CHUNK + 95];
    let mut i = 0;
    while i < a.len() {
        a[i] = b' ' + (i % 95) as u8;
        i += 1;
    }
    a
};

const MAX_LINE: usize = 24;
const CHUNK: usize = 16 * 1024;

/// One connection's service state.
enum State {
    Echo,
    Discard,
    Chargen { line: Vec<u8>, total: Option<u64>, sent: u64, keep: bool },
    /// `pending`: bytes read from the connection the handler has not consumed yet.
    Http { h: Box<HttpEcho>, draining: bool, last: Instant, pending: Vec<u8> },
    /// Closed by us; waiting for the descriptor's last event.
    Done,
}

/// A TCP service on one worker.
struct TcpService {
    kind: ServiceKind,
    port: u16,
    conns: HashMap<Fd, State>,
    last_sweep: Instant,
    /// Read buffer shared by all connections (allocated once: zeroing 16 KiB per event
    /// showed up in profiles).
    scratch: Box<[u8]>,
}

impl Application for TcpService {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let l = io.socket(SockType::Stream);
        let r = io.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.port)).and_then(|_| io.listen(l, 4096));
        if let Err(e) = r {
            tracing::error!("service on port {}: {e}", self.port);
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Acceptable(l) => {
                while let Ok((fd, _)) = io.accept(l) {
                    if self.kind == ServiceKind::HttpEcho {
                        // As nginx's `tcp_nodelay` on keep-alive connections: a response
                        // ends in a short segment, which Nagle (Minshall) would hold while
                        // an earlier short one is unacknowledged, and a keep-alive client
                        // delays that ACK (Linux: 40 ms). Measured: 1 in 20 reused 1 MiB
                        // POSTs took 46 ms instead of 2.
                        let _ = io.set_options(fd, crate::api::SocketOptions { nodelay: Some(true), ..Default::default() });
                    }
                    let st = match self.kind {
                        ServiceKind::Echo => State::Echo,
                        ServiceKind::Discard => State::Discard,
                        ServiceKind::Chargen => State::Chargen { line: Vec::new(), total: None, sent: 0, keep: false },
                        _ => State::Http { h: Box::new(HttpEcho::new(HttpEchoConfig::default())), draining: false, last: io.now(), pending: Vec::with_capacity(CHUNK) },
                    };
                    self.conns.insert(fd, st);
                }
            }
            Event::Readable(fd) | Event::Writable(fd) => self.run(io, fd),
            Event::Closed(fd) | Event::Error(fd, _) => {
                self.conns.remove(&fd);
                let _ = io.close(fd);
            }
            Event::Connected(_) => {}
        }
    }

    /// HTTP idle timeouts, checked every 100 ms.
    fn on_poll(&mut self, io: &mut Io<'_>) {
        let now = io.now();
        if self.kind != ServiceKind::HttpEcho || now.saturating_since(self.last_sweep) < Duration::from_millis(100) {
            return;
        }
        self.last_sweep = now;
        let idle: Vec<Fd> = self
            .conns
            .iter()
            .filter(|(_, s)| matches!(s, State::Http { h, last, .. } if now.saturating_since(*last) >= h.idle_timeout()))
            .map(|(fd, _)| *fd)
            .collect();
        for fd in idle {
            self.conns.remove(&fd);
            let _ = io.close(fd);
        }
    }
}

impl TcpService {
    fn finish(&mut self, io: &mut Io<'_>, fd: Fd) {
        self.conns.insert(fd, State::Done);
        let _ = io.close(fd);
        self.conns.remove(&fd);
    }

    fn run(&mut self, io: &mut Io<'_>, fd: Fd) {
        let Some(st) = self.conns.get_mut(&fd) else { return };
        let buf = &mut self.scratch[..];
        match st {
            State::Echo => loop {
                let room = io.send_capacity(fd).unwrap_or(0).min(CHUNK);
                if room == 0 {
                    return;
                }
                match io.recv(fd, &mut buf[..room]) {
                    Ok(0) => return self.finish(io, fd),
                    Ok(n) => drop(io.send(fd, &buf[..n])),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(_) => return self.finish(io, fd),
                }
            },
            State::Discard => loop {
                match io.recv(fd, &mut buf[..]) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Ok(0) | Err(_) => return self.finish(io, fd),
                    Ok(_) => {}
                }
            },
            State::Chargen { line, total, sent, keep } => loop {
                while total.is_none() {
                    match io.recv(fd, &mut buf[..1]) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Ok(0) | Err(_) => return self.finish(io, fd),
                        Ok(_) => match buf[0] {
                            b'\n' => match parse_count(line) {
                                Some((v, k)) => {
                                    *total = Some(v);
                                    *keep = k;
                                    line.clear();
                                }
                                None => return self.reset(io, fd),
                            },
                            c if line.len() < MAX_LINE => line.push(c),
                            _ => return self.reset(io, fd),
                        },
                    }
                }
                if !*keep {
                    // Anything after the line is read and ignored.
                    while let Ok(n) = io.recv(fd, &mut buf[..]) {
                        if n == 0 {
                            break;
                        }
                    }
                }
                let t = total.unwrap_or(0);
                while *sent < t {
                    let room = io.send_capacity(fd).unwrap_or(0).min(CHUNK).min((t - *sent) as usize);
                    if room == 0 {
                        return;
                    }
                    let at = (*sent % 95) as usize;
                    match io.send(fd, &CHARGEN[at..at + room]) {
                        Ok(n) => *sent += n as u64,
                        Err(_) => return,
                    }
                }
                if !*keep {
                    return self.finish(io, fd);
                }
                *total = None;
                *sent = 0;
            },
            State::Http { h, draining, last, pending } => {
                *last = io.now();
                if *draining {
                    loop {
                        match io.recv(fd, &mut buf[..]) {
                            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                            Ok(0) | Err(_) => return self.finish(io, fd),
                            Ok(_) => {}
                        }
                    }
                }
                loop {
                    let mut eof = false;
                    let mut read = 0;
                    if pending.len() < CHUNK {
                        match io.recv(fd, &mut buf[..CHUNK - pending.len()]) {
                            Ok(0) => eof = true,
                            Ok(n) => {
                                pending.extend_from_slice(&buf[..n]);
                                read = n;
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            Err(_) => return self.finish(io, fd),
                        }
                    }
                    let mut out = IoOut { io, fd };
                    let used = h.on_input(pending, &mut out);
                    pending.drain(..used);
                    if eof && pending.is_empty() {
                        h.on_eof(&mut out);
                    }
                    if h.wants_close() {
                        *draining = true;
                        pending.clear();
                        let _ = io.shutdown(fd, Shutdown::Write);
                        return;
                    }
                    if eof {
                        if pending.is_empty() && h.pending_output() == 0 {
                            return self.finish(io, fd);
                        }
                        return;
                    }
                    if read == 0 && used == 0 {
                        // Waiting for more input, or for room to write: an event returns us.
                        return;
                    }
                }
            }
            State::Done => {}
        }
    }

    fn reset(&mut self, io: &mut Io<'_>, fd: Fd) {
        let _ = io.set_options(fd, crate::api::SocketOptions { linger: Some(Duration::ZERO), ..Default::default() });
        self.finish(io, fd);
    }
}

/// A chargen request line: a decimal count, `\r` allowed at the end, `+` after the count
/// to keep the connection open. None when malformed.
fn parse_count(line: &[u8]) -> Option<(u64, bool)> {
    let s = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let (digits, keep) = match s.strip_suffix('+') {
        Some(d) => (d, true),
        None => (s, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, keep))
}

/// The HTTP handler's output: the connection's send buffer.
struct IoOut<'a, 'b> {
    io: &'a mut Io<'b>,
    fd: Fd,
}

impl Output for IoOut<'_, '_> {
    fn room(&self) -> usize {
        self.io.send_room(self.fd)
    }

    fn write(&mut self, data: &[u8]) -> usize {
        self.io.send(self.fd, data).unwrap_or(0)
    }
}

/// UDP echo on one worker.
struct UdpEcho {
    port: u16,
    buf: Vec<u8>,
}

impl Application for UdpEcho {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let fd = io.socket(SockType::Datagram);
        if let Err(e) = io.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.port)) {
            tracing::error!("udp-echo on port {}: {e}", self.port);
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        if let Event::Readable(fd) = ev {
            while let Ok((n, from)) = io.recvfrom(fd, &mut self.buf) {
                let _ = io.sendto(fd, &self.buf[..n], from);
            }
        }
    }
}

#[cfg(test)]
mod chargen_tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(parse_count(b"65536"), Some((65536, false)));
        assert_eq!(parse_count(b"65536\r"), Some((65536, false)));
        assert_eq!(parse_count(b"4096+"), Some((4096, true)));
        assert_eq!(parse_count(b"4096+\r"), Some((4096, true)));
        for bad in [&b""[..], b"+", b"12a", b"-5", b"1 2", b"99999999999999999999999"] {
            assert_eq!(parse_count(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pattern_table_matches_the_byte_function_at_every_offset() {
        for (i, &b) in CHARGEN.iter().enumerate() {
            assert_eq!(b, chargen_byte(i as u64));
        }
        // A send starting at any stream offset reads the right bytes.
        for sent in [0u64, 1, 94, 95, 96, 1_000_003] {
            let at = (sent % 95) as usize;
            assert!(CHARGEN[at..at + CHUNK].iter().enumerate().all(|(i, &b)| b == chargen_byte(sent + i as u64)));
        }
    }
}
