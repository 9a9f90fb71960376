//! The server on one worker: a TCP listener and a UDP socket on the port, the
//! connections this worker owns (new ones reading their cookie, a control connection,
//! streams), and the UDP flows it has seen. What the workers share is in
//! [`super::registry`].

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use super::control::{Control, Step};
use super::proto::{self, Cookie, Fault, Protocol, COOKIE_SIZE};
use super::registry::{Counters, Phase, Registry, Role, Stream, Test};
use crate::api::{Application, Event, Fd, Io, SockType, SocketOptions};
use crate::time::{Duration, Instant};

/// Bytes read from a stream per call.
const READ_CHUNK: usize = 256 * 1024;
/// Bytes written to a stream per call.
const WRITE_CHUNK: usize = 128 * 1024;
/// Time a new connection has to send its cookie.
const COOKIE_LIMIT: Duration = Duration::from_secs(10);
/// UDP datagrams a sending stream may emit in one pass when behind its rate.
const UDP_BURST: usize = 64;

enum Conn {
    /// Reading the 37-byte cookie.
    New { cookie: Vec<u8>, since: Instant },
    Control(Box<Control>),
    Stream(StreamConn),
    /// ACCESS_DENIED or the last control bytes are being sent; closed once out.
    Closing { out: Vec<u8>, reset: bool },
}

struct StreamConn {
    test: Arc<Test>,
    stream: Arc<Stream>,
    /// Sender: when this worker started sending, and bytes sent since (for `-b`).
    started: Option<Instant>,
    sent: u64,
}

/// A UDP stream this worker has seen datagrams of.
struct Flow {
    test: Arc<Test>,
    stream: Arc<Stream>,
    /// Sender: when sending began, bytes sent since.
    started: Option<Instant>,
    sent: u64,
}

/// The iperf3 server's instance on one worker.
pub struct Iperf3Server {
    port: u16,
    reg: Arc<Registry>,
    listener: Option<Fd>,
    udp: Option<Fd>,
    conns: HashMap<Fd, Conn>,
    /// Stream connections that send, and the control connection(s), visited each pass.
    active: Vec<Fd>,
    flows: HashMap<SocketAddrV4, Flow>,
    buf: Box<[u8]>,
    payload: Box<[u8]>,
    last_sweep: Instant,
    busy: bool,
}

impl Iperf3Server {
    pub fn new(port: u16, reg: Arc<Registry>) -> Self {
        // iperf3 sends random bytes; any will do.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let payload: Vec<u8> = (0..WRITE_CHUNK.max(65536))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        Iperf3Server {
            port,
            reg,
            listener: None,
            udp: None,
            conns: HashMap::new(),
            active: Vec::new(),
            flows: HashMap::new(),
            buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            payload: payload.into_boxed_slice(),
            last_sweep: Instant::ZERO,
            busy: false,
        }
    }

    fn close(&mut self, io: &mut Io<'_>, fd: Fd, reset: bool) {
        if let Some(Conn::Stream(s)) = self.conns.remove(&fd) {
            s.stream.finish();
        }
        self.active.retain(|f| *f != fd);
        if reset {
            let _ = io.set_options(fd, SocketOptions { linger: Some(Duration::ZERO), ..Default::default() });
        }
        let _ = io.close(fd);
    }

    /// Sends `out` and closes once it is all out (now or on a later pass).
    fn close_after(&mut self, io: &mut Io<'_>, fd: Fd, out: Vec<u8>, reset: bool) {
        if let Some(Conn::Stream(s)) = self.conns.get(&fd) {
            s.stream.finish();
        }
        self.conns.insert(fd, Conn::Closing { out, reset });
        if !self.active.contains(&fd) {
            self.active.push(fd);
        }
        self.flush_closing(io, fd);
    }

    fn flush_closing(&mut self, io: &mut Io<'_>, fd: Fd) {
        let Some(Conn::Closing { out, reset }) = self.conns.get_mut(&fd) else { return };
        let reset = *reset;
        while !out.is_empty() {
            match io.send(fd, out) {
                Ok(n) => drop(out.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.close(io, fd, reset);
    }

    fn deny(&mut self, io: &mut Io<'_>, fd: Fd) {
        Counters::add(&self.reg.counters.access_denied);
        self.close_after(io, fd, vec![proto::ACCESS_DENIED as u8], false);
    }

    /// A new connection's cookie bytes.
    fn read_cookie(&mut self, io: &mut Io<'_>, fd: Fd) {
        let Some(Conn::New { cookie, .. }) = self.conns.get_mut(&fd) else { return };
        let mut b = [0u8; COOKIE_SIZE];
        let want = COOKIE_SIZE - cookie.len();
        match io.recv(fd, &mut b[..want]) {
            Ok(0) => return self.close(io, fd, false),
            Ok(n) => cookie.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => return self.close(io, fd, false),
        }
        if cookie.len() < COOKIE_SIZE {
            return;
        }
        let Some(c) = Cookie::parse(cookie) else {
            Counters::add(&self.reg.counters.bad_cookie);
            tracing::debug!("iperf3: a connection's first bytes are not a cookie; reset ({})", self.reg.counters.summary());
            return self.close(io, fd, true);
        };
        match self.reg.classify(c) {
            Role::Denied => self.deny(io, fd),
            Role::Control(test) => {
                tracing::debug!("iperf3: test {} begins (worker {})", c.as_str(), io.worker());
                let _ = io.set_options(fd, SocketOptions { nodelay: Some(true), ..Default::default() });
                self.conns.insert(fd, Conn::Control(Box::new(Control::new(test, io.now()))));
                self.active.push(fd);
                self.run_control(io, fd);
            }
            Role::Stream(test, stream) => {
                self.conns.insert(fd, Conn::Stream(StreamConn { test, stream, started: None, sent: 0 }));
                self.active.push(fd);
                self.run_stream(io, fd);
            }
        }
    }

    /// Reads, ticks and writes the control connection.
    fn run_control(&mut self, io: &mut Io<'_>, fd: Fd) {
        let now = io.now();
        let Some(Conn::Control(c)) = self.conns.get_mut(&fd) else { return };
        let mut r = c.tick(now);
        while r.is_ok() && !c.is_done() {
            let room = c.room().min(self.buf.len());
            match io.recv(fd, &mut self.buf[..room]) {
                Ok(0) => {
                    r = c.eof();
                    break;
                }
                Ok(n) => r = c.input(&self.buf[..n], now),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    r = Err(Fault::ClientGone);
                    break;
                }
            }
        }
        while !c.output().is_empty() {
            match io.send(fd, c.output()) {
                Ok(n) => c.consume(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    if r.is_ok() && !c.is_done() {
                        r = Err(Fault::ClientGone);
                    }
                    break;
                }
            }
        }
        let done = c.is_done();
        let step = c.step();
        let test = c.test.clone();
        let rest = c.output().to_vec();
        match r {
            Ok(()) if !done => {}
            Ok(()) => {
                self.reg.end(&test, true);
                tracing::info!("iperf3: test {} done ({})", test.cookie.as_str(), self.reg.counters.summary());
                self.close_after(io, fd, rest, false);
            }
            Err(f) => {
                let completed = step == Step::Display;
                let reset = match &f {
                    Fault::JsonTooLong(_) | Fault::BadJson => {
                        Counters::add(&self.reg.counters.bad_json);
                        true
                    }
                    Fault::UnknownState(_) => {
                        Counters::add(&self.reg.counters.bad_state);
                        true
                    }
                    Fault::Refused(..) => {
                        Counters::add(&self.reg.counters.refused);
                        false
                    }
                    Fault::ClientGone | Fault::Timeout => false,
                };
                self.reg.end(&test, completed);
                if completed {
                    tracing::info!("iperf3: test {} ended without IPERF_DONE: {f:?} ({})", test.cookie.as_str(), self.reg.counters.summary());
                } else {
                    tracing::warn!("iperf3: test {} given up: {f:?} ({})", test.cookie.as_str(), self.reg.counters.summary());
                }
                if reset {
                    self.close(io, fd, true);
                } else {
                    self.close_after(io, fd, rest, false);
                }
            }
        }
    }

    /// Reads (and counts) or writes a stream connection, as its test's phase says.
    fn run_stream(&mut self, io: &mut Io<'_>, fd: Fd) {
        let Some(Conn::Stream(s)) = self.conns.get_mut(&fd) else { return };
        let phase = s.test.phase();
        if phase == Phase::Over {
            return self.close(io, fd, false);
        }
        if s.stream.sender {
            if phase == Phase::Running {
                let p = s.test.params();
                let (rate, len) = p.map_or((0, proto::DEFAULT_TCP_BLKSIZE), |p| (p.bandwidth, p.len));
                let now = io.now();
                let started = *s.started.get_or_insert(now);
                loop {
                    let mut room = io.send_capacity(fd).unwrap_or(0).min(WRITE_CHUNK).min(len as usize);
                    if rate > 0 {
                        let allowed = (rate as f64 * now.saturating_since(started).as_secs_f64() / 8.0) as u64 + len as u64;
                        room = room.min(allowed.saturating_sub(s.sent) as usize);
                    }
                    if room == 0 {
                        break;
                    }
                    match io.send(fd, &self.payload[..room]) {
                        Ok(n) => {
                            s.sent += n as u64;
                            s.stream.count(n);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => return self.close(io, fd, false),
                    }
                }
            }
            // Anything the client sends on a stream it receives on is read and dropped.
            loop {
                match io.recv(fd, &mut self.buf[..]) {
                    Ok(0) => return self.close(io, fd, false),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return self.close(io, fd, false),
                }
            }
            if phase == Phase::Ending {
                // FIN after what is queued, as iperf3's close().
                return self.close(io, fd, false);
            }
            return;
        }
        let stream = s.stream.clone();
        let test = s.test.clone();
        loop {
            match io.recv(fd, &mut self.buf[..]) {
                Ok(0) => break,
                Ok(n) => {
                    // Counted while the test runs, and when it has just ended: those
                    // bytes were sent before the client's TEST_END.
                    if matches!(test.phase(), Phase::Running | Phase::Ending) {
                        stream.count(n);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if phase == Phase::Ending {
                        break;
                    }
                    return;
                }
                Err(_) => break,
            }
        }
        self.close(io, fd, false);
    }

    /// Datagrams on the UDP socket: a stream's first (the connect message), a
    /// receiving stream's data, or strays.
    fn on_datagrams(&mut self, io: &mut Io<'_>, fd: Fd) {
        let now = io.now();
        let arrival = now.total_micros() as f64 / 1e6;
        loop {
            let (n, from) = match io.recvfrom(fd, &mut self.buf[..]) {
                Ok(x) => x,
                Err(_) => return,
            };
            if let Some(f) = self.flows.get(&from) {
                match f.test.phase() {
                    Phase::Running if !f.stream.sender => {
                        let p64 = f.test.params().is_some_and(|p| p.udp_counters_64bit);
                        if let Some((sec, usec, count)) = proto::udp_header(&self.buf[..n], p64) {
                            f.stream.count(n);
                            let sent = sec as f64 + usec as f64 / 1e6;
                            f.stream.udp.lock().unwrap_or_else(|p| p.into_inner()).record(n, count, sent, arrival);
                        }
                    }
                    Phase::Over => {
                        self.flows.remove(&from);
                    }
                    // Before the start, after the end, or the client writing on a
                    // stream it receives on: not counted, as iperf3 does.
                    _ => {}
                }
                continue;
            }
            let Some(test) = self.reg.active() else {
                Counters::add(&self.reg.counters.udp_unknown);
                continue;
            };
            if test.params().is_none_or(|p| p.protocol != Protocol::Udp) {
                Counters::add(&self.reg.counters.udp_unknown);
                continue;
            }
            // A flow another worker saw first.
            if let Some(stream) = test.udp_stream(from) {
                self.flows.insert(from, Flow { test, stream, started: None, sent: 0 });
                continue;
            }
            let Some(reply) = proto::udp_connect_reply(&self.buf[..n]) else {
                Counters::add(&self.reg.counters.udp_unknown);
                continue;
            };
            let Some(stream) = test.join(Some(from)) else {
                Counters::add(&self.reg.counters.udp_unknown);
                continue;
            };
            let _ = io.sendto(fd, &reply, from);
            self.flows.insert(from, Flow { test, stream, started: None, sent: 0 });
        }
    }

    /// Sending UDP streams: datagrams up to their rate.
    fn send_udp(&mut self, io: &mut Io<'_>) -> bool {
        let Some(fd) = self.udp else { return false };
        let now = io.now();
        let mut any = false;
        let mut over = Vec::new();
        for (addr, f) in self.flows.iter_mut() {
            if !f.stream.sender {
                continue;
            }
            match f.test.phase() {
                Phase::Running => {}
                Phase::Setup => {
                    any = true;
                    continue;
                }
                Phase::Ending => {
                    f.stream.finish();
                    continue;
                }
                Phase::Over => {
                    over.push(*addr);
                    continue;
                }
            }
            any = true;
            let Some(p) = f.test.params() else { continue };
            let started = *f.started.get_or_insert(now);
            let elapsed = now.saturating_since(started).as_secs_f64();
            let len = p.len as usize;
            for _ in 0..UDP_BURST {
                // `iperf_check_throttle`: send while the average rate is below `-b`.
                if p.bandwidth > 0 && (f.sent * 8) as f64 > p.bandwidth as f64 * elapsed {
                    break;
                }
                let count = f.stream.packets.load(std::sync::atomic::Ordering::Relaxed) + 1;
                let d = &mut self.payload[..len];
                let t = now.total_micros();
                proto::write_udp_header(d, (t / 1_000_000) as u32, (t % 1_000_000) as u32, count, p.udp_counters_64bit);
                match io.sendto(fd, d, *addr) {
                    Ok(_) => {
                        f.sent += len as u64;
                        f.stream.packets.store(count, std::sync::atomic::Ordering::Relaxed);
                        f.stream.count(len);
                    }
                    Err(_) => break,
                }
            }
        }
        for a in over {
            self.flows.remove(&a);
        }
        any
    }

    /// Once per pass: drives connections waiting on other workers or on time, and
    /// cleans up what a finished test left.
    fn poll(&mut self, io: &mut Io<'_>) {
        let mut busy = false;
        let mut i = 0;
        while i < self.active.len() {
            let fd = self.active[i];
            match self.conns.get(&fd) {
                Some(Conn::Control(c)) => {
                    busy |= c.waiting_on_streams() || c.step() == Step::Running;
                    self.run_control(io, fd);
                }
                Some(Conn::Stream(s)) => {
                    let phase = s.test.phase();
                    if s.stream.sender {
                        busy |= phase != Phase::Over;
                        self.run_stream(io, fd);
                    } else if matches!(phase, Phase::Ending | Phase::Over) {
                        // Readable events drive a running receiver; its end is seen here.
                        self.run_stream(io, fd);
                    } else {
                        busy |= phase == Phase::Setup;
                    }
                }
                Some(Conn::Closing { .. }) => self.flush_closing(io, fd),
                _ => self.active.retain(|f| *f != fd),
            }
            if self.active.get(i) == Some(&fd) {
                i += 1;
            }
        }
        if !self.flows.is_empty() {
            busy |= self.send_udp(io);
            // UDP receivers finish when their test ends.
            for f in self.flows.values() {
                if !f.stream.sender && matches!(f.test.phase(), Phase::Ending | Phase::Over) {
                    f.stream.finish();
                }
            }
        }
        let now = io.now();
        if now.saturating_since(self.last_sweep) >= Duration::from_millis(250) {
            self.last_sweep = now;
            self.sweep(io, now);
        }
        self.busy = busy;
    }

    /// Gives up connections that sent no cookie in time; forgets flows of finished
    /// tests.
    fn sweep(&mut self, io: &mut Io<'_>, now: Instant) {
        let stale: Vec<Fd> = self.conns.iter().filter(|(_, c)| matches!(c, Conn::New { since, .. } if now.saturating_since(*since) >= COOKIE_LIMIT)).map(|(fd, _)| *fd).collect();
        for fd in stale {
            Counters::add(&self.reg.counters.bad_cookie);
            self.close(io, fd, true);
        }
        self.flows.retain(|_, f| f.test.phase() != Phase::Over);
    }
}

impl Application for Iperf3Server {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.port);
        let l = io.socket(SockType::Stream);
        match io.bind(l, any).and_then(|_| io.listen(l, 1024)) {
            Ok(()) => self.listener = Some(l),
            Err(e) => {
                tracing::error!("iperf3 on TCP port {}: {e}", self.port);
                let _ = io.close(l);
            }
        }
        let u = io.socket(SockType::Datagram);
        match io.bind(u, any) {
            Ok(()) => self.udp = Some(u),
            Err(e) => {
                tracing::error!("iperf3 on UDP port {}: {e}", self.port);
                let _ = io.close(u);
            }
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Acceptable(l) => {
                while let Ok((fd, _)) = io.accept(l) {
                    self.conns.insert(fd, Conn::New { cookie: Vec::with_capacity(COOKIE_SIZE), since: io.now() });
                }
            }
            Event::Readable(fd) if Some(fd) == self.udp => self.on_datagrams(io, fd),
            Event::Readable(fd) | Event::Writable(fd) => match self.conns.get(&fd) {
                Some(Conn::New { .. }) => self.read_cookie(io, fd),
                Some(Conn::Control(_)) => self.run_control(io, fd),
                Some(Conn::Stream(_)) => self.run_stream(io, fd),
                Some(Conn::Closing { .. }) => self.flush_closing(io, fd),
                None => {}
            },
            Event::Closed(fd) | Event::Error(fd, _) => match self.conns.get(&fd) {
                // The control connection learns of it through recv (EOF or error).
                Some(Conn::Control(_)) => self.run_control(io, fd),
                Some(_) => self.close(io, fd, false),
                None => {}
            },
            Event::Connected(_) => {}
        }
    }

    fn on_poll(&mut self, io: &mut Io<'_>) {
        if !self.active.is_empty() || !self.flows.is_empty() || (!self.conns.is_empty() && io.now().saturating_since(self.last_sweep) >= Duration::from_millis(250)) {
            self.poll(io);
        }
    }

    fn has_queued_work(&self) -> bool {
        self.busy
    }
}
