//! Load generators that run *on the engine* (AF_XDP on the client side too): the same
//! closed loops as [`crate::load`], written as fast-path applications, for the
//! engine-to-engine cases. The bench process hosts a second engine on the peer end of the
//! veth pair, with its own address, pinned to the client CPU.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bypass::api::{AppFactory, Application, Event, Fd, Io, SockType, SocketOptions};
use bypass::time::Instant;
use hdrhistogram::Histogram;

use crate::load::{new_histogram, parse_head, LoadResult, HTTP_REQUEST};

pub mod fct;
pub mod idle_ramp;

/// What the generator measured, shared with the thread that waits for it.
#[derive(Default)]
struct Shared {
    done: Option<LoadResult>,
}

/// The measurement window, in engine time, fixed when the generator starts.
#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
}

struct Conn {
    fd: Fd,
    buf: Vec<u8>,
    sent_at: Instant,
    /// The same moment on the nanosecond clock: the engine's `Instant` counts whole
    /// microseconds, too coarse for single-digit-µs round trips.
    sent_fine: std::time::Instant,
    up: bool,
}

/// What a client-engine generator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTP keep-alive: one request at a time per connection.
    Http,
    /// 64-byte ping-pong on one connection.
    PingPong,
    /// One stream written as fast as the connection takes it (to a discard server);
    /// counts the bytes the stack accepted inside the window.
    Bulk,
}

/// What bulk mode writes: 64 KiB of a fixed pattern.
static BULK: [u8; 65536] = [b'b'; 65536];

struct Generator {
    mode: Mode,
    target: SocketAddrV4,
    conns_wanted: usize,
    duration: Duration,
    warmup: Duration,
    window: Option<Window>,
    conns: Vec<Conn>,
    hist: Histogram<u64>,
    ops: u64,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
    shared: Arc<Mutex<Shared>>,
    finished: bool,
    /// Read buffer, allocated once (not zeroed per event).
    scratch: Box<[u8]>,
}

const PING: [u8; 64] = [b'p'; 64];

impl Generator {
    fn conn_index(&self, fd: Fd) -> Option<usize> {
        self.conns.iter().position(|c| c.fd == fd)
    }

    fn fire(&mut self, io: &mut Io<'_>, i: usize) {
        let c = &mut self.conns[i];
        c.sent_at = io.now();
        c.sent_fine = std::time::Instant::now();
        let msg: &[u8] = match self.mode {
            Mode::Http => HTTP_REQUEST,
            Mode::PingPong => &PING,
            Mode::Bulk => return self.pump(io, i),
        };
        if io.send(c.fd, msg).map_or(true, |n| n != msg.len()) {
            self.errors += 1;
        }
    }

    fn complete(&mut self, io: &mut Io<'_>, i: usize, bytes: usize) {
        let now = io.now();
        let started = self.conns[i].sent_at;
        if let Some(w) = self.window {
            if started >= w.measure_from && now <= w.end {
                self.ops += 1;
                self.bytes += bytes as u64;
                let _ = self.hist.record((self.conns[i].sent_fine.elapsed().as_nanos() as u64).max(1));
            }
            if now < w.end {
                self.fire(io, i);
            }
        }
    }

    /// Bulk: writes until the send buffer is full; `Writable` brings us back.
    fn pump(&mut self, io: &mut Io<'_>, i: usize) {
        let Some(w) = self.window else { return };
        let fd = self.conns[i].fd;
        while io.now() < w.end {
            match io.send(fd, &BULK) {
                Ok(0) => return,
                Ok(n) => {
                    if io.now() >= w.measure_from {
                        self.bytes += n as u64;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => return self.fail(e),
            }
        }
    }

    fn readable(&mut self, io: &mut Io<'_>, i: usize) {
        loop {
            let fd = self.conns[i].fd;
            let chunk = &mut self.scratch[..];
            match io.recv(fd, chunk) {
                Ok(0) => {
                    self.fail("server closed the connection");
                    return;
                }
                Ok(n) => self.conns[i].buf.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
        loop {
            let need = match self.mode {
                Mode::PingPong => (self.conns[i].buf.len() >= PING.len()).then_some(PING.len()),
                Mode::Bulk => {
                    self.conns[i].buf.clear();
                    None
                }
                Mode::Http => match parse_head(&self.conns[i].buf) {
                    Ok(Some(h)) if h.status == 200 => {
                        let total = h.head_len + h.content_length.unwrap_or(0);
                        (self.conns[i].buf.len() >= total).then_some(total)
                    }
                    Ok(Some(h)) => {
                        self.fail(format!("status {}", h.status));
                        return;
                    }
                    Ok(None) => None,
                    Err(e) => {
                        self.fail(e);
                        return;
                    }
                },
            };
            let Some(n) = need else { return };
            self.conns[i].buf.drain(..n);
            self.complete(io, i, n);
        }
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }
}

impl Application for Generator {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let now = io.now();
        // Connections get up to a second to come up before the warm-up starts.
        let measure_from = now + Duration::from_secs(1) + self.warmup;
        self.window = Some(Window { measure_from, end: measure_from + self.duration });
        for _ in 0..self.conns_wanted {
            let fd = io.socket(SockType::Stream);
            let _ = io.set_options(fd, SocketOptions { nodelay: Some(true), ..Default::default() });
            match io.connect(fd, self.target) {
                Ok(()) => self.conns.push(Conn { fd, buf: Vec::with_capacity(4096), sent_at: now, sent_fine: std::time::Instant::now(), up: false }),
                Err(e) => self.fail(e),
            }
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Connected(fd) => {
                if let Some(i) = self.conn_index(fd) {
                    self.conns[i].up = true;
                    self.fire(io, i);
                }
            }
            Event::Readable(fd) => {
                if let Some(i) = self.conn_index(fd) {
                    self.readable(io, i);
                }
            }
            Event::Writable(fd) if self.mode == Mode::Bulk => {
                if let Some(i) = self.conn_index(fd) {
                    self.pump(io, i);
                }
            }
            Event::Error(_, k) => self.fail(format!("connection error: {k:?}")),
            Event::Closed(_) => self.fail("connection closed"),
            _ => {}
        }
    }

    fn on_poll(&mut self, io: &mut Io<'_>) {
        let Some(w) = self.window else { return };
        if !self.finished && io.now() >= w.measure_from {
            let down = self.conns.iter().filter(|c| !c.up).count();
            if down > 0 && self.first_error.is_none() {
                self.fail(format!("{down} of {} connections never came up", self.conns.len()));
                self.errors += down as u64 - 1;
            }
        }
        if self.finished || io.now() < w.end + Duration::from_millis(200) {
            return;
        }
        self.finished = true;
        for c in &self.conns {
            let _ = io.close(c.fd);
        }
        let mut r = LoadResult::empty(self.duration.as_secs_f64());
        r.ops = self.ops;
        r.bytes = self.bytes;
        r.errors = self.errors;
        r.first_error = self.first_error.take();
        r.histogram = Some(std::mem::replace(&mut self.hist, new_histogram()));
        if let Ok(mut s) = self.shared.lock() {
            s.done = Some(r);
        }
    }
}

/// What a generator run measured, and the client end that ran it.
pub struct GeneratorRun {
    pub result: LoadResult,
    pub client: crate::report::Endpoint,
}

/// What a mode does, for the report.
pub fn describe(mode: Mode, conns: usize) -> String {
    let what = match mode {
        Mode::Http => format!("HTTP keep-alive, {conns} connections"),
        Mode::PingPong => "64 B ping-pong, 1 connection".to_string(),
        Mode::Bulk => "one stream to discard, 64 KiB writes".to_string(),
    };
    format!("engine_load generator (an Application): {what}, TCP_NODELAY on each")
}

/// Runs a generator (an application) on a client `bypass` in this process — the engine,
/// or with `kernel_backend` the same code over kernel sockets — against `target`, and
/// returns what it measured and how the client was set up.
pub fn run(o: &ClientEngineOpts, target: SocketAddrV4, mode: Mode, conns: usize, duration: Duration, warmup: Duration) -> anyhow::Result<GeneratorRun> {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let sh = shared.clone();
    let factory: AppFactory = Arc::new(move |_| -> Box<dyn Application> {
        Box::new(Generator {
            mode,
            target,
            conns_wanted: conns,
            duration,
            warmup,
            window: None,
            conns: Vec::new(),
            hist: new_histogram(),
            ops: 0,
            bytes: 0,
            errors: 0,
            first_error: None,
            shared: sh.clone(),
            finished: false,
            scratch: vec![0u8; 16384].into_boxed_slice(),
        })
    });
    let engine = ClientEngine::start(o, factory)?;
    let limit = std::time::Instant::now() + Duration::from_secs(1) + warmup + duration + Duration::from_secs(10);
    let result = loop {
        if let Some(r) = shared.lock().ok().and_then(|mut s| s.done.take()) {
            break Ok(r);
        }
        if !engine.running() || std::time::Instant::now() > limit {
            break Err(anyhow::anyhow!("the client engine stopped or never finished"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (command, tcp) = (engine.argv.join(" "), engine.settings());
    engine.stop()?;
    let client = crate::report::Endpoint {
        stack: if o.kernel_backend { "kernel" } else { "engine" }.into(),
        program: describe(mode, conns),
        poll: crate::sides::bypass_poll(o.kernel_backend, &o.poll),
        command,
        cores: o.cores.clone(),
        threads: o.queues as usize,
        mtu: crate::sides::link_mtu(None, &o.iface),
        queues: if o.kernel_backend { crate::sides::link_queues(None, &o.iface) } else { Some(o.queues) },
        tcp: tcp.as_ref().map(crate::sides::tcp_map).unwrap_or_default(),
    };
    Ok(GeneratorRun { result: result?, client })
}

/// How to start a client engine.
#[derive(Debug, Clone)]
pub struct ClientEngineOpts {
    pub iface: String,
    pub ip: Ipv4Addr,
    /// `--cores`, e.g. `0` or `0,0`.
    pub cores: String,
    pub queues: u32,
    /// `busy` or `adaptive`.
    pub poll: String,
    /// `--fault`, e.g. `drop=5`.
    pub fault: Option<String>,
    /// `--backend kernel`: the same application over kernel sockets.
    pub kernel_backend: bool,
    /// More `bypass run` arguments (e.g. `--tcp-buffer 262144`).
    pub extra: Vec<String>,
}

/// An engine inside this process (on the client end of the veth pair) running one
/// application instance per worker.
pub struct ClientEngine {
    /// The `bypass run` command line it was started with.
    pub argv: Vec<String>,
    /// The TCP settings it reported once up.
    tcp: Arc<Mutex<Option<bypass::tcp_settings::TcpSettings>>>,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Result<bypass::engine::Report, bypass::engine::EngineError>>,
}

impl ClientEngine {
    pub fn start(o: &ClientEngineOpts, factory: AppFactory) -> anyhow::Result<ClientEngine> {
        let (ip, queues) = (format!("{}/24", o.ip), o.queues.to_string());
        let mut argv = vec!["bypass", "run", "--iface", &o.iface, "--ip", &ip, "--queues", &queues, "--cores", &o.cores, "--poll", &o.poll];
        if let Some(f) = &o.fault {
            argv.extend(["--fault", f.as_str()]);
        }
        if o.kernel_backend {
            argv.extend(["--backend", "kernel"]);
        }
        argv.extend(o.extra.iter().map(String::as_str));
        ClientEngine::start_argv(&argv, factory)
    }

    /// Starts a client engine from a whole `bypass run` command line (`argv[0]` is
    /// `bypass`), for options [`ClientEngineOpts`] does not have.
    pub fn start_argv<S: AsRef<str>>(argv: &[S], factory: AppFactory) -> anyhow::Result<ClientEngine> {
        use clap::Parser;
        let cli = bypass::cli::Cli::try_parse_from(argv.iter().map(|a| a.as_ref()))?;
        let bypass::cli::Command::Run(args) = cli.command else { anyhow::bail!("bad client engine arguments") };
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let tcp = Arc::new(Mutex::new(None));
        let t = tcp.clone();
        let handle = std::thread::spawn(move || {
            bypass::engine::run_with(&args, st, false, &[factory], |info| {
                if let Ok(mut t) = t.lock() {
                    *t = Some(info.tcp.clone());
                }
            })
        });
        Ok(ClientEngine { argv: argv.iter().map(|a| a.as_ref().to_string()).collect(), tcp, stop, handle })
    }

    /// The TCP settings the engine reported, once it is up.
    pub fn settings(&self) -> Option<bypass::tcp_settings::TcpSettings> {
        self.tcp.lock().ok().and_then(|t| t.clone())
    }

    /// Whether the engine thread is still running.
    pub fn running(&self) -> bool {
        !self.handle.is_finished()
    }

    /// Stops the engine and waits for it.
    pub fn stop(self) -> anyhow::Result<()> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match self.handle.join() {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => anyhow::bail!("client engine: {e}"),
            Err(_) => anyhow::bail!("client engine panicked"),
        }
    }
}
