//! The idle-connection ramp: a client engine (no descriptor limit, many source
//! addresses with a port range each) opens connections to the server's discard port,
//! at most `window` handshakes at a time, until the target, a failure, a stall, or the
//! memory budget the bench watches; then holds them. One more connection, to the echo
//! port, runs a 64-byte ping-pong before the ramp (nothing else open) and while the
//! connections are held, so the latency with them open can be set beside the latency
//! without.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bypass::api::{AppFactory, Application, Event, Fd, Io, SockType, SocketOptions};
use hdrhistogram::Histogram;

use super::ClientEngine;
use crate::load::{new_histogram, record};

/// Why the ramp stopped opening connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The target was reached.
    Target,
    /// The bench stopped it (memory budget, time limit), saying why.
    Asked(String),
    /// Every source address ran out of ephemeral ports.
    NoPorts,
    /// The client engine's connection table is full.
    TableFull,
    /// A connection attempt failed, or a held connection closed.
    Failed(String),
    /// Handshakes outstanding and none completed for this long.
    Stalled { pending: u64, for_ms: u64 },
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Target => write!(f, "target reached"),
            Stop::Asked(why) => write!(f, "{why}"),
            Stop::NoPorts => write!(f, "the client's source addresses ran out of ports"),
            Stop::TableFull => write!(f, "the client engine's connection table is full"),
            Stop::Failed(e) => write!(f, "a connection failed: {e}"),
            Stop::Stalled { pending, for_ms } => write!(f, "stalled: {pending} handshakes unanswered, none completed for {:.1} s", *for_ms as f64 / 1000.0),
        }
    }
}

/// Whether the ramp stops now, from its progress: the target first, then a failure,
/// then a stall (handshakes outstanding and no progress for `stall`).
pub fn ramp_stop(target: u64, held: u64, pending: u64, failure: Option<&str>, since_progress: Duration, stall: Duration) -> Option<Stop> {
    if held >= target {
        return Some(Stop::Target);
    }
    if let Some(e) = failure {
        return Some(Stop::Failed(e.to_string()));
    }
    if pending > 0 && since_progress >= stall {
        return Some(Stop::Stalled { pending, for_ms: since_progress.as_millis() as u64 });
    }
    None
}

/// Source addresses for `target` connections from one address range of `ports` ports
/// each, with one to spare, at most `max`.
pub fn sources_needed(target: u64, ports: u64, max: usize) -> usize {
    ((target.div_ceil(ports.max(1)) + 1) as usize).min(max)
}

/// How the ramp runs.
#[derive(Debug, Clone)]
pub struct RampOpts {
    /// The client engine's interface, its own address (the ping-pong connection's) and
    /// the ramp's source addresses.
    pub iface: String,
    pub client_ip: Ipv4Addr,
    pub sources: Vec<Ipv4Addr>,
    pub core: usize,
    /// The server's address; idle connections go to discard (9), the ping-pong to echo (7).
    pub server: Ipv4Addr,
    pub target: u64,
    /// Handshakes in flight at most.
    pub window: u64,
    pub stall: Duration,
    /// Each ping-pong's measured window, after its warm-up.
    pub duration: Duration,
    pub warmup: Duration,
    /// The ephemeral port range per source address.
    pub ports: std::ops::RangeInclusive<u16>,
}

/// What the ramp shares with the bench thread watching it.
#[derive(Default)]
pub struct RampShared {
    pub held: AtomicU64,
    pub pending: AtomicU64,
    /// Set by the bench: stop opening, and why.
    pub stop: Mutex<Option<String>>,
    /// Set by the ramp: opening is over and the handshakes settled.
    pub settled: AtomicBool,
    /// Set by the bench once it measured memory: run the second ping-pong.
    pub go: AtomicBool,
    pub outcome: Mutex<Option<Outcome>>,
}

/// What the ramp measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub held: u64,
    pub failed: u64,
    pub lost: u64,
    pub open_seconds: f64,
    pub stop: Stop,
    pub first_error: Option<String>,
    pub alone: Histogram<u64>,
    pub with_held: Histogram<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The ping-pong connection is coming up.
    Connecting,
    /// Ping-pong with nothing else open.
    Alone,
    Ramp,
    /// Opening stopped; waiting for outstanding handshakes (at most `stall`).
    Settle,
    /// Waiting for the bench to measure memory.
    Held,
    /// Ping-pong with the connections held.
    PingHeld,
    Done,
}

const PING: [u8; 64] = [b'p'; 64];
const UNUSED: u8 = 0;
const PENDING: u8 = 1;
const UP: u8 = 2;

struct Ramp {
    o: RampOpts,
    sh: Arc<RampShared>,
    phase: Phase,
    phase_since: Instant,
    source: usize,
    /// Per descriptor number: UNUSED, PENDING or UP (descriptors are dense).
    conns: Vec<u8>,
    established: u64,
    lost: u64,
    failed: u64,
    pending: u64,
    first_error: Option<String>,
    ramp_start: Option<Instant>,
    last_up: Option<Instant>,
    last_progress: Instant,
    stop: Option<Stop>,
    ping: Option<Fd>,
    ping_got: usize,
    ping_sent: Instant,
    ping_from: Instant,
    ping_end: Instant,
    hist: Histogram<u64>,
    alone: Option<Histogram<u64>>,
    scratch: Box<[u8]>,
}

impl Ramp {
    fn held(&self) -> u64 {
        self.established - self.lost
    }

    fn fail(&mut self, e: String) {
        self.first_error.get_or_insert(e);
    }

    fn mark(&mut self, fd: Fd, v: u8) {
        let i = fd.0 as usize;
        if self.conns.len() <= i {
            self.conns.resize(i + 1, UNUSED);
        }
        self.conns[i] = v;
    }

    fn state(&self, fd: Fd) -> u8 {
        self.conns.get(fd.0 as usize).copied().unwrap_or(UNUSED)
    }

    /// Opens connections while the window has room (a bounded batch per poll).
    fn open(&mut self, io: &mut Io<'_>) {
        let target = SocketAddrV4::new(self.o.server, 9);
        for _ in 0..64 {
            if self.pending >= self.o.window || self.established + self.pending >= self.o.target + self.lost {
                return;
            }
            let Some(&src) = self.o.sources.get(self.source) else {
                self.stop = Some(Stop::NoPorts);
                return;
            };
            let fd = io.socket(SockType::Stream);
            let r = io.bind(fd, SocketAddrV4::new(src, 0)).and_then(|_| io.connect(fd, target));
            match r {
                Ok(()) => {
                    self.mark(fd, PENDING);
                    self.pending += 1;
                }
                Err(e) => {
                    let _ = io.close(fd);
                    match e.kind() {
                        // This address has no port left: the next one.
                        ErrorKind::AddrNotAvailable => self.source += 1,
                        ErrorKind::OutOfMemory => {
                            self.stop = Some(Stop::TableFull);
                            return;
                        }
                        _ => {
                            self.stop = Some(Stop::Failed(format!("connect: {e}")));
                            return;
                        }
                    }
                }
            }
        }
    }

    fn start_ping(&mut self, io: &mut Io<'_>, now: Instant) {
        self.ping_from = now + self.o.warmup;
        self.ping_end = self.ping_from + self.o.duration;
        self.hist = new_histogram();
        self.send_ping(io);
    }

    fn send_ping(&mut self, io: &mut Io<'_>) {
        let Some(fd) = self.ping else { return };
        self.ping_got = 0;
        self.ping_sent = Instant::now();
        if io.send(fd, &PING).map_or(true, |n| n != PING.len()) {
            self.fail("ping-pong: short send".into());
            self.ping = None;
        }
    }

    /// The current ping-pong is over (or cannot run): on to the next phase.
    fn ping_finished(&mut self, now: Instant) {
        match self.phase {
            Phase::Alone | Phase::Connecting => {
                self.alone = Some(std::mem::replace(&mut self.hist, new_histogram()));
                self.phase = Phase::Ramp;
                self.ramp_start = Some(now);
                self.last_progress = now;
            }
            Phase::PingHeld => self.finish(),
            _ => {}
        }
        self.phase_since = now;
    }

    fn readable_ping(&mut self, io: &mut Io<'_>, fd: Fd) {
        loop {
            match io.recv(fd, &mut self.scratch) {
                Ok(0) => {
                    self.fail("ping-pong connection closed by the server".into());
                    self.ping = None;
                    return self.ping_finished(Instant::now());
                }
                Ok(n) => self.ping_got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.fail(format!("ping-pong: {e}"));
                    self.ping = None;
                    return self.ping_finished(Instant::now());
                }
            }
        }
        if self.ping_got < PING.len() || !matches!(self.phase, Phase::Alone | Phase::PingHeld) {
            return;
        }
        let now = Instant::now();
        if self.ping_sent >= self.ping_from && now <= self.ping_end {
            record(&mut self.hist, now - self.ping_sent);
        }
        if now < self.ping_end {
            self.send_ping(io);
        } else {
            self.ping_finished(now);
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        let open_seconds = match (self.ramp_start, self.last_up) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        let out = Outcome {
            held: self.held(),
            failed: self.failed,
            lost: self.lost,
            open_seconds,
            stop: self.stop.clone().unwrap_or(Stop::Target),
            first_error: self.first_error.clone(),
            alone: self.alone.take().unwrap_or_else(new_histogram),
            with_held: std::mem::replace(&mut self.hist, new_histogram()),
        };
        if let Ok(mut o) = self.sh.outcome.lock() {
            *o = Some(out);
        }
    }
}

impl Application for Ramp {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let now = Instant::now();
        self.phase_since = now;
        let fd = io.socket(SockType::Stream);
        let _ = io.set_options(fd, SocketOptions { nodelay: Some(true), ..Default::default() });
        match io.bind(fd, SocketAddrV4::new(self.o.client_ip, 0)).and_then(|_| io.connect(fd, SocketAddrV4::new(self.o.server, 7))) {
            Ok(()) => self.ping = Some(fd),
            Err(e) => {
                self.fail(format!("ping-pong connect: {e}"));
                self.ping_finished(now);
            }
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        let now = Instant::now();
        match ev {
            Event::Connected(fd) if Some(fd) == self.ping && self.phase == Phase::Connecting => {
                self.phase = Phase::Alone;
                self.start_ping(io, now);
            }
            Event::Readable(fd) if Some(fd) == self.ping => self.readable_ping(io, fd),
            Event::Error(fd, _) | Event::Closed(fd) if Some(fd) == self.ping => {
                self.fail(format!("ping-pong connection: {ev:?}"));
                self.ping = None;
                let _ = io.close(fd);
                if matches!(self.phase, Phase::Connecting | Phase::Alone | Phase::PingHeld) {
                    self.ping_finished(now);
                }
            }
            Event::Connected(fd) if self.state(fd) == PENDING => {
                self.mark(fd, UP);
                self.pending -= 1;
                self.established += 1;
                self.last_up = Some(now);
                self.last_progress = now;
            }
            Event::Error(fd, _) | Event::Closed(fd) => {
                match self.state(fd) {
                    PENDING => {
                        self.pending -= 1;
                        self.failed += 1;
                        self.last_progress = now;
                        self.fail(format!("connect: {ev:?}"));
                    }
                    UP => {
                        self.lost += 1;
                        self.fail(format!("held connection: {ev:?}"));
                    }
                    _ => {}
                }
                self.mark(fd, UNUSED);
                let _ = io.close(fd);
            }
            _ => {}
        }
    }

    fn on_poll(&mut self, io: &mut Io<'_>) {
        let now = Instant::now();
        self.sh.held.store(self.held(), Relaxed);
        self.sh.pending.store(self.pending, Relaxed);
        match self.phase {
            Phase::Connecting if now - self.phase_since > self.o.stall => {
                self.fail("the ping-pong connection never came up".into());
                self.ping_finished(now);
            }
            Phase::Ramp => {
                if let Some(why) = self.sh.stop.lock().ok().and_then(|s| s.clone()) {
                    self.stop = Some(Stop::Asked(why));
                }
                if self.stop.is_none() {
                    self.open(io);
                }
                if self.stop.is_none() {
                    let failure = (self.failed + self.lost > 0).then(|| self.first_error.clone().unwrap_or_default());
                    self.stop = ramp_stop(self.o.target, self.held(), self.pending, failure.as_deref(), now - self.last_progress, self.o.stall);
                }
                if self.stop.is_some() {
                    self.phase = Phase::Settle;
                    self.phase_since = now;
                }
            }
            Phase::Settle if self.pending == 0 || now - self.phase_since >= self.o.stall => {
                self.phase = Phase::Held;
                self.sh.settled.store(true, Relaxed);
            }
            Phase::Held if self.sh.go.load(Relaxed) => {
                if self.ping.is_some() {
                    self.phase = Phase::PingHeld;
                    self.start_ping(io, now);
                } else {
                    self.finish();
                }
            }
            _ => {}
        }
    }
}

/// A client engine running the ramp; `watch` is called about every 100 ms with the
/// shared state until the ramp is over (the bench samples memory and enforces its
/// budget there).
pub fn run(o: &RampOpts, mut watch: impl FnMut(&RampShared)) -> anyhow::Result<Outcome> {
    let sh = Arc::new(RampShared::default());
    let (opts, shared) = (o.clone(), sh.clone());
    let factory: AppFactory = Arc::new(move |_| -> Box<dyn Application> {
        let now = Instant::now();
        Box::new(Ramp {
            o: opts.clone(),
            sh: shared.clone(),
            phase: Phase::Connecting,
            phase_since: now,
            source: 0,
            conns: Vec::new(),
            established: 0,
            lost: 0,
            failed: 0,
            pending: 0,
            first_error: None,
            ramp_start: None,
            last_up: None,
            last_progress: now,
            stop: None,
            ping: None,
            ping_got: 0,
            ping_sent: now,
            ping_from: now,
            ping_end: now,
            hist: new_histogram(),
            alone: None,
            scratch: vec![0u8; 4096].into_boxed_slice(),
        })
    });
    let mut argv: Vec<String> = ["bypass", "run", "--iface", &o.iface, "--queues", "1", "--cores", &o.core.to_string(), "--poll", "busy"].map(String::from).into();
    for ip in std::iter::once(&o.client_ip).chain(&o.sources) {
        argv.extend(["--ip".into(), format!("{ip}/24")]);
    }
    argv.extend(["--tcp-max-conns".into(), (o.target + o.window + 64).to_string()]);
    argv.extend(["--local-port-range".into(), format!("{}-{}", o.ports.start(), o.ports.end())]);
    let engine = ClientEngine::start_argv(&argv, factory)?;
    let result = loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(out) = sh.outcome.lock().ok().and_then(|mut s| s.take()) {
            break Ok(out);
        }
        if !engine.running() {
            break Err(anyhow::anyhow!("the client engine stopped during the ramp"));
        }
        watch(&sh);
    };
    engine.stop()?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(3);

    #[test]
    fn stops_at_the_target_first() {
        assert_eq!(ramp_stop(100, 100, 0, None, Duration::ZERO, S), Some(Stop::Target));
        assert_eq!(ramp_stop(100, 100, 5, Some("reset"), Duration::from_secs(9), S), Some(Stop::Target), "the target wins");
        assert_eq!(ramp_stop(100, 99, 1, None, Duration::from_millis(10), S), None);
    }

    #[test]
    fn stops_at_a_failure() {
        assert_eq!(ramp_stop(100, 10, 3, Some("connect: Error(Fd(4), ConnectionRefused)"), Duration::ZERO, S), Some(Stop::Failed("connect: Error(Fd(4), ConnectionRefused)".into())));
    }

    #[test]
    fn stops_when_handshakes_stall() {
        assert_eq!(ramp_stop(100, 10, 7, None, S, S), Some(Stop::Stalled { pending: 7, for_ms: 3000 }));
        assert_eq!(ramp_stop(100, 10, 7, None, S - Duration::from_millis(1), S), None);
        // Nothing outstanding is not a stall (the window refills on the next poll).
        assert_eq!(ramp_stop(100, 10, 0, None, Duration::from_secs(60), S), None);
        assert_eq!(Stop::Stalled { pending: 512, for_ms: 3000 }.to_string(), "stalled: 512 handshakes unanswered, none completed for 3.0 s");
    }

    #[test]
    fn enough_source_addresses() {
        assert_eq!(sources_needed(1_000_000, 64_512, 150), 17);
        assert_eq!(sources_needed(20_000, 64_512, 150), 2);
        assert_eq!(sources_needed(64_512, 64_512, 150), 2);
        assert_eq!(sources_needed(100_000_000, 64_512, 150), 150);
    }
}
