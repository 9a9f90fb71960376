//! The FCT generator on a client engine (engine-to-engine rows): echo, download and
//! upload transfers, fresh or on one reused connection, exactly like
//! [`crate::fct::client`] does on kernel sockets, written as a fast-path application.
//!
//! The groups ("jobs") run one at a time, each when the driving thread allows it (so it
//! can read the server's counters between groups); worker 0 runs them, other workers
//! idle. Times come from the nanosecond clock.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bypass::api::{AppFactory, Application, Event, Fd, Io, SockType, SocketOptions};

use super::{ClientEngine, ClientEngineOpts};
use crate::fct::client::MAX_CONSECUTIVE_TIMEOUTS;
use crate::fct::plan::{Conn, Group, Kind, Ports};
use crate::fct::summary::{Outcome, Outcomes};
use crate::fct::{check_chargen, first_difference, stamp_transfer, transfer_bytes};

/// What the driving thread and the generator share.
#[derive(Default)]
pub struct FctShared {
    /// Jobs the generator may start (it runs job `j` once `go > j`).
    pub go: AtomicUsize,
    /// Jobs finished.
    pub finished: AtomicUsize,
    /// Set by the driver to make the generator abandon the current job.
    pub abort: AtomicBool,
    /// Each finished job's outcomes, by job index.
    pub results: Mutex<Vec<Option<Outcomes>>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    /// Waiting for the next job to be allowed (or all done).
    Idle,
    /// Connecting; `timed`: the clock already runs (fresh connection).
    Connecting { timed: bool },
    /// Bytes moving.
    Transfer,
    /// Fresh download: all bytes in at `done`, waiting for the server's EOF.
    WaitEof { done: Instant },
    /// Upload: all bytes taken by the stack, waiting for the last ACK.
    WaitAck,
}

struct FctGen {
    target: Ipv4Addr,
    ports: Ports,
    jobs: Vec<Group>,
    timeout: Duration,
    shared: Arc<FctShared>,
    job: usize,
    /// Transfer index in the job.
    i: usize,
    st: St,
    fd: Option<Fd>,
    /// Echo and upload bytes by size, made before the engine started (see
    /// [`stamp_transfer`]); the current transfer's buffer is taken out while it runs.
    payloads: HashMap<usize, Vec<u8>>,
    data: Vec<u8>,
    sent: usize,
    got: u64,
    t0: Instant,
    deadline: Instant,
    timeouts_in_a_row: usize,
    outcomes: Outcomes,
    scratch: Box<[u8]>,
}

impl FctGen {
    fn g(&self) -> Group {
        self.jobs[self.job]
    }

    fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.target, self.ports.of(self.g().kind))
    }

    /// Starts transfer `self.i` of the current job.
    fn start_transfer(&mut self, io: &mut Io<'_>) {
        let g = self.g();
        if self.timeouts_in_a_row >= MAX_CONSECUTIVE_TIMEOUTS {
            self.outcomes.skipped(g.transfers - self.i, &format!("not run after {MAX_CONSECUTIVE_TIMEOUTS} timeouts in a row"));
            return self.end_job(io);
        }
        let done = std::mem::take(&mut self.data);
        if !done.is_empty() {
            self.payloads.insert(done.len(), done);
        }
        if matches!(g.kind, Kind::Echo | Kind::Upload) {
            let size = g.size as usize;
            // Prepared in `FctClient::start` for every echo/upload size of the plan.
            self.data = self.payloads.remove(&size).unwrap_or_else(|| transfer_bytes(size, 0));
            stamp_transfer(&mut self.data, self.i as u64 + 1);
        }
        self.sent = 0;
        self.got = 0;
        match self.fd {
            Some(_) if g.conn == Conn::Reused => self.begin(io),
            _ => {
                let timed = g.conn == Conn::Fresh;
                if timed {
                    self.t0 = Instant::now();
                    self.deadline = self.t0 + self.timeout;
                } else {
                    // The reused connection's connect is not timed, but still bounded.
                    self.deadline = Instant::now() + self.timeout;
                }
                let fd = io.socket(SockType::Stream);
                let _ = io.set_options(fd, SocketOptions { nodelay: Some(true), ..Default::default() });
                self.fd = Some(fd);
                self.st = St::Connecting { timed };
                if let Err(e) = io.connect(fd, self.addr()) {
                    self.finish(io, Outcome::Error(format!("connect: {e}")));
                }
            }
        }
    }

    /// The connection is up: start the clock (unless it runs) and send.
    fn begin(&mut self, io: &mut Io<'_>) {
        if self.st != (St::Connecting { timed: true }) {
            self.t0 = Instant::now();
            self.deadline = self.t0 + self.timeout;
        }
        self.st = St::Transfer;
        let g = self.g();
        if g.kind == Kind::Download {
            let line = format!("{}{}\n", g.size, if g.conn == Conn::Reused { "+" } else { "" });
            let fd = self.fd.expect("connected");
            match io.send(fd, line.as_bytes()) {
                Ok(n) if n == line.len() => {}
                Ok(n) => return self.finish(io, Outcome::Error(format!("request line: only {n} bytes taken"))),
                Err(e) => return self.finish(io, Outcome::Error(format!("send: {e}"))),
            }
            // Data may already wait.
            return self.readable(io);
        }
        self.pump(io);
    }

    /// Echo, upload: sends what the stack takes.
    fn pump(&mut self, io: &mut Io<'_>) {
        let Some(fd) = self.fd else { return };
        while self.sent < self.data.len() {
            match io.send(fd, &self.data[self.sent..]) {
                Ok(0) => break,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return self.finish(io, Outcome::Error(format!("send: {e}"))),
            }
        }
        if self.g().kind == Kind::Upload && self.sent == self.data.len() && self.st == St::Transfer {
            self.st = St::WaitAck;
            self.check_ack(io);
        }
    }

    fn check_ack(&mut self, io: &mut Io<'_>) {
        let Some(fd) = self.fd else { return };
        match io.send_unacked(fd) {
            Ok(0) => self.finish(io, Outcome::Done(self.t0.elapsed())),
            Ok(_) => {}
            Err(e) => self.finish(io, Outcome::Error(format!("send_unacked: {e}"))),
        }
    }

    fn readable(&mut self, io: &mut Io<'_>) {
        let Some(fd) = self.fd else { return };
        let g = self.g();
        let n = g.size;
        loop {
            if !matches!(self.st, St::Transfer | St::WaitEof { .. } | St::WaitAck) {
                return;
            }
            // A reused download reads exactly its bytes; everything else reads what comes.
            let cap = if g.conn == Conn::Reused && g.kind != Kind::Upload { (n - self.got).min(self.scratch.len() as u64) as usize } else { self.scratch.len() };
            if cap == 0 {
                return;
            }
            let k = match io.recv(fd, &mut self.scratch[..cap]) {
                Ok(0) => {
                    return match self.st {
                        St::WaitEof { done } => self.finish(io, Outcome::Done(done - self.t0)),
                        _ => self.finish(io, Outcome::EndedEarly(format!("EOF after {} of {n} bytes", self.got))),
                    }
                }
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => return self.finish(io, Outcome::Error(format!("recv: {e}"))),
            };
            let at = self.got;
            match g.kind {
                Kind::Upload => return self.finish(io, Outcome::Error("discard server sent data".into())),
                Kind::Echo | Kind::HttpPost => {
                    if at + k as u64 > n {
                        return self.finish(io, Outcome::Error("more bytes echoed than sent".into()));
                    }
                    if let Some(d) = first_difference(&self.data[at as usize..at as usize + k], &self.scratch[..k]) {
                        return self.finish(io, Outcome::Error(format!("echo differs at byte {}", at + d as u64)));
                    }
                }
                Kind::Download => {
                    if at + k as u64 > n {
                        return self.finish(io, Outcome::Error(format!("chargen sent more than the {n} bytes asked for")));
                    }
                    if let Some(off) = check_chargen(&self.scratch[..k], at) {
                        return self.finish(io, Outcome::Error(format!("chargen byte wrong at offset {off}")));
                    }
                }
            }
            self.got += k as u64;
            if self.got == n {
                let done = Instant::now();
                if g.kind == Kind::Download && g.conn == Conn::Fresh {
                    self.st = St::WaitEof { done };
                } else {
                    return self.finish(io, Outcome::Done(done - self.t0));
                }
            }
        }
    }

    /// Ends the current transfer with `o` and starts the next one (or ends the job).
    fn finish(&mut self, io: &mut Io<'_>, o: Outcome) {
        let ok = matches!(o, Outcome::Done(_));
        let timed_out = matches!(&o, Outcome::Error(e) if e.starts_with("timed out"));
        self.timeouts_in_a_row = if timed_out { self.timeouts_in_a_row + 1 } else { 0 };
        self.outcomes.push(o);
        if let Some(fd) = self.fd {
            if !ok {
                let _ = io.set_options(fd, SocketOptions { linger: Some(Duration::ZERO), ..Default::default() });
            }
            if !ok || self.g().conn == Conn::Fresh {
                let _ = io.close(fd);
                self.fd = None;
            }
        }
        self.st = St::Idle;
        self.i += 1;
        if self.i >= self.g().transfers {
            return self.end_job(io);
        }
        self.start_transfer(io);
    }

    fn end_job(&mut self, io: &mut Io<'_>) {
        if let Some(fd) = self.fd.take() {
            let _ = io.close(fd);
        }
        let o = std::mem::take(&mut self.outcomes);
        if let Ok(mut r) = self.shared.results.lock() {
            if r.len() <= self.job {
                r.resize(self.job + 1, None);
            }
            r[self.job] = Some(o);
        }
        self.job += 1;
        self.i = 0;
        self.timeouts_in_a_row = 0;
        self.st = St::Idle;
        self.shared.finished.store(self.job, Ordering::Release);
    }
}

impl Application for FctGen {
    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        let cur = self.fd;
        let mine = |fd: Fd| cur == Some(fd);
        match ev {
            Event::Connected(fd) if mine(fd) => {
                if matches!(self.st, St::Connecting { .. }) {
                    self.begin(io);
                }
            }
            Event::Readable(fd) if mine(fd) => self.readable(io),
            Event::Writable(fd) if mine(fd) && self.st == St::Transfer => self.pump(io),
            Event::Error(fd, k) if mine(fd) => self.finish(io, Outcome::Error(format!("connection error: {k:?}"))),
            Event::Closed(fd) if mine(fd) => match self.st {
                St::WaitEof { done } => self.finish(io, Outcome::Done(done - self.t0)),
                _ => self.finish(io, Outcome::EndedEarly(format!("connection closed after {} of {} bytes", self.got, self.g().size))),
            },
            _ => {}
        }
    }

    fn on_poll(&mut self, io: &mut Io<'_>) {
        if self.job >= self.jobs.len() {
            return;
        }
        if self.st == St::Idle {
            if self.shared.go.load(Ordering::Acquire) > self.job {
                self.shared.abort.store(false, Ordering::Relaxed);
                self.start_transfer(io);
            }
            return;
        }
        if self.st == St::WaitAck {
            self.check_ack(io);
            if self.st == St::Idle {
                return;
            }
        }
        if Instant::now() >= self.deadline {
            let what = match self.st {
                St::Connecting { .. } => "connecting".to_string(),
                St::WaitEof { .. } => "waiting for EOF after all bytes".to_string(),
                St::WaitAck => "waiting for the last ACK".to_string(),
                _ => format!("sent {}, received {} of {} bytes", self.sent, self.got, self.g().size),
            };
            self.finish(io, Outcome::Error(format!("timed out after {:?} ({what})", self.timeout)));
        } else if self.shared.abort.load(Ordering::Relaxed) {
            let left = self.g().transfers - self.i;
            self.outcomes.skipped(left, "abandoned: the job overran its time");
            self.end_job(io);
        }
    }
}

/// An application that does nothing (workers other than 0).
struct Idle;

impl Application for Idle {
    fn on_event(&mut self, _io: &mut Io<'_>, _ev: Event) {}
}

/// A client engine running FCT jobs against `target`, one job at a time on request.
pub struct FctClient {
    engine: Option<ClientEngine>,
    shared: Arc<FctShared>,
    jobs: Vec<Group>,
    timeout: Duration,
}

impl FctClient {
    /// Starts the client engine; its worker 0 runs `jobs` against `target` (the services
    /// on `ports`) as [`FctClient::run_job`] asks.
    pub fn start(opts: &ClientEngineOpts, target: Ipv4Addr, ports: Ports, jobs: Vec<Group>, timeout: Duration) -> anyhow::Result<FctClient> {
        let shared = Arc::new(FctShared::default());
        let (sh, js) = (shared.clone(), jobs.clone());
        let mut sizes: Vec<usize> = jobs.iter().filter(|g| matches!(g.kind, Kind::Echo | Kind::Upload)).map(|g| g.size as usize).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let payloads: HashMap<usize, Vec<u8>> = sizes.into_iter().map(|n| (n, transfer_bytes(n, 0))).collect();
        let factory: AppFactory = Arc::new(move |worker| -> Box<dyn Application> {
            if worker != 0 {
                return Box::new(Idle);
            }
            let now = Instant::now();
            Box::new(FctGen {
                target,
                ports,
                jobs: js.clone(),
                timeout,
                shared: sh.clone(),
                job: 0,
                i: 0,
                st: St::Idle,
                fd: None,
                payloads: payloads.clone(),
                data: Vec::new(),
                sent: 0,
                got: 0,
                t0: now,
                deadline: now,
                timeouts_in_a_row: 0,
                outcomes: Outcomes::default(),
                scratch: vec![0u8; 256 * 1024].into_boxed_slice(),
            })
        });
        let engine = ClientEngine::start(opts, factory)?;
        Ok(FctClient { engine: Some(engine), shared, jobs, timeout })
    }

    /// Runs job `j` (jobs run in order) and returns its outcomes. Bounded by the job's
    /// transfers times the timeout plus slack; an overrun abandons the job.
    pub fn run_job(&mut self, j: usize) -> Outcomes {
        let g = self.jobs[j];
        let limit = Instant::now() + self.timeout * (g.transfers as u32 + 1) + Duration::from_secs(5);
        self.shared.go.store(j + 1, Ordering::Release);
        let mut abandoned = false;
        loop {
            if self.shared.finished.load(Ordering::Acquire) > j {
                break;
            }
            if !self.engine.as_ref().is_some_and(|e| e.running()) {
                let mut o = Outcomes::default();
                o.skipped(g.transfers, "the client engine stopped");
                return o;
            }
            if Instant::now() > limit && !abandoned {
                self.shared.abort.store(true, Ordering::Relaxed);
                abandoned = true;
            }
            if Instant::now() > limit + Duration::from_secs(5) {
                let mut o = Outcomes::default();
                o.skipped(g.transfers, "the client engine's generator did not finish the job");
                return o;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.shared.results.lock().ok().and_then(|mut r| r.get_mut(j).and_then(Option::take)).unwrap_or_else(|| {
            let mut o = Outcomes::default();
            o.skipped(g.transfers, "no result from the client engine");
            o
        })
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        match self.engine.take() {
            Some(e) => e.stop(),
            None => Ok(()),
        }
    }
}

impl Drop for FctClient {
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            let _ = e.stop();
        }
    }
}
