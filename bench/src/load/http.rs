//! HTTP load: keep-alive requests over many connections (a few threads, each
//! driving its share of non-blocking sockets through `mio`), and
//! connections per second (connect, one request with `Connection: close`,
//! read to EOF, close).

use super::http_parse::parse_head;
use super::pingpong::write_all;
use super::window::Window;
use super::{connect, new_histogram, record, LoadResult, OP_TIMEOUT};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Registry, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

/// The keep-alive request every connection sends.
pub const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: b\r\n\r\n";
/// The request of [`connect_rate`].
pub const HTTP_CLOSE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";

/// Pause before re-opening a connection whose connect failed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// [`http_keepalive_threads`] with `min(connections, cores, 4)` threads.
pub fn http_keepalive(addr: SocketAddr, connections: usize, duration: Duration, warmup: Duration) -> io::Result<LoadResult> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    http_keepalive_threads(addr, connections, connections.min(cores).clamp(1, 4), duration, warmup)
}

/// `connections` keep-alive connections spread over `threads` threads, each
/// with one request in flight: send [`HTTP_REQUEST`], read one response framed
/// by `Content-Length`, record its latency, repeat.
///
/// A non-2xx status counts an error (the connection is kept); a reset, early
/// EOF, malformed or unframed response, bytes beyond the response, or no
/// answer within [`OP_TIMEOUT`] counts an error and the connection is
/// re-opened. `bytes` counts response bytes. Connections are opened before
/// warmup starts. Fails only if `addr` cannot be reached at all.
pub fn http_keepalive_threads(
    addr: SocketAddr,
    connections: usize,
    threads: usize,
    duration: Duration,
    warmup: Duration,
) -> io::Result<LoadResult> {
    drop(connect(addr)?);
    let threads = threads.clamp(1, connections.max(1));
    let sync = Arc::new((Barrier::new(threads), OnceLock::new()));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let share = connections / threads + usize::from(t < connections % threads);
            let sync = Arc::clone(&sync);
            std::thread::spawn(move || {
                let mut client = KeepAlive::new(addr, share);
                let win = start_together(&sync, duration, warmup);
                client.run(win);
                client.res
            })
        })
        .collect();
    join_all(handles, duration)
}

/// Waits for every thread, then fixes one window for all of them.
fn start_together(sync: &(Barrier, OnceLock<Window>), duration: Duration, warmup: Duration) -> Window {
    sync.0.wait();
    let win = *sync.1.get_or_init(|| Window::start(duration, warmup));
    win
}

fn join_all(handles: Vec<std::thread::JoinHandle<LoadResult>>, duration: Duration) -> io::Result<LoadResult> {
    let mut total = LoadResult::empty(duration.as_secs_f64());
    total.histogram = Some(new_histogram());
    for h in handles {
        let part = h.join().map_err(|_| io::Error::other("load thread panicked"))?;
        total.merge(part);
    }
    Ok(total)
}

/// One connection's state.
struct Conn {
    stream: Option<MioStream>,
    /// Bytes of the request written so far; `None` once it is all written.
    written: Option<usize>,
    buf: Vec<u8>,
    sent_at: Instant,
    retry_at: Instant,
    finished: bool,
}

impl Conn {
    fn begin(&mut self) {
        self.written = Some(0);
        self.buf.clear();
        self.sent_at = Instant::now();
    }
}

/// One thread's connections and its share of the result.
struct KeepAlive {
    addr: SocketAddr,
    /// Taken by [`KeepAlive::run`]; `None` if it could not be created.
    poll: Option<Poll>,
    registry: Option<Registry>,
    conns: Vec<Conn>,
    res: LoadResult,
    win: Option<Window>,
    scratch: Vec<u8>,
}

impl KeepAlive {
    fn new(addr: SocketAddr, n: usize) -> Self {
        let mut res = LoadResult::empty(0.0);
        res.histogram = Some(new_histogram());
        let poll = Poll::new().map_err(|e| res.error(format!("poll: {e}"))).ok();
        let registry = poll.as_ref().and_then(|p| p.registry().try_clone().map_err(|e| res.error(format!("poll: {e}"))).ok());
        let now = Instant::now();
        let conns = (0..n)
            .map(|_| Conn { stream: None, written: None, buf: Vec::with_capacity(4096), sent_at: now, retry_at: now, finished: false })
            .collect();
        let mut ka = KeepAlive { addr, poll, registry, conns, res, win: None, scratch: vec![0; 64 * 1024] };
        for i in 0..n {
            ka.open(i, false);
        }
        ka
    }

    /// Opens (or re-opens) connection `i`; starts a request if `start`.
    fn open(&mut self, i: usize, start: bool) {
        let Some(registry) = &self.registry else { return };
        let c = &mut self.conns[i];
        let opened = connect(self.addr).and_then(|s| {
            s.set_nonblocking(true)?;
            let mut s = MioStream::from_std(s);
            registry.register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)?;
            Ok(s)
        });
        match opened {
            Ok(s) => c.stream = Some(s),
            Err(e) => {
                c.retry_at = Instant::now() + RECONNECT_PAUSE;
                self.res.error(format!("connect: {e}"));
                return;
            }
        }
        if start {
            self.start_request(i);
        }
    }

    /// Starts the next request on connection `i` and pushes it out.
    fn start_request(&mut self, i: usize) {
        self.conns[i].begin();
        self.drive(i);
    }

    fn run(&mut self, win: Window) {
        self.win = Some(win);
        let Some(mut poll) = self.poll.take() else { return };
        let mut events = Events::with_capacity(1024);
        for i in 0..self.conns.len() {
            if self.conns[i].stream.is_some() {
                self.start_request(i);
            }
        }
        loop {
            let now = Instant::now();
            if win.over(now) || self.conns.iter().all(|c| c.finished) {
                break;
            }
            let wake = self.housekeeping(now).min(win.end);
            match poll.poll(&mut events, Some(wake.saturating_duration_since(Instant::now()))) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.res.error(format!("poll: {e}"));
                    break;
                }
            }
            for ev in events.iter() {
                self.drive(ev.token().0);
            }
        }
    }

    /// Re-opens failed connections that are due, times out silent ones, and
    /// returns when the next poll must wake up at the latest.
    fn housekeeping(&mut self, now: Instant) -> Instant {
        let mut wake = now + Duration::from_millis(100);
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.finished {
                continue;
            }
            if c.stream.is_none() {
                if c.retry_at <= now {
                    self.open(i, true);
                } else {
                    wake = wake.min(c.retry_at);
                }
            } else if c.sent_at + OP_TIMEOUT <= now {
                self.fail(i, "no response within timeout".into());
                wake = now;
            } else {
                wake = wake.min(c.sent_at + OP_TIMEOUT);
            }
        }
        wake
    }

    /// Makes all the progress connection `i` allows without blocking.
    fn drive(&mut self, i: usize) {
        let win = self.win.expect("window set before requests start");
        loop {
            let c = &mut self.conns[i];
            let Some(s) = c.stream.as_mut() else { return };
            if let Some(off) = c.written {
                match s.write(&HTTP_REQUEST[off..]) {
                    Ok(0) => return self.fail(i, "write returned 0".into()),
                    Ok(n) if off + n == HTTP_REQUEST.len() => c.written = None,
                    Ok(n) => c.written = Some(off + n),
                    Err(e) if would_block(&e) => return,
                    Err(e) => return self.fail(i, format!("write: {e}")),
                }
                continue;
            }
            let n = match s.read(&mut self.scratch) {
                Ok(0) => return self.fail(i, "connection closed by server".into()),
                Ok(n) => n,
                Err(e) if would_block(&e) => return,
                Err(e) => return self.fail(i, format!("read: {e}")),
            };
            c.buf.extend_from_slice(&self.scratch[..n]);
            let total = match parse_head(&c.buf) {
                Ok(None) => continue,
                Err(e) => return self.fail(i, e),
                Ok(Some(h)) => match h.total_len() {
                    None => return self.fail(i, "response without content-length".into()),
                    Some(t) if c.buf.len() < t => continue,
                    Some(t) if c.buf.len() > t => return self.fail(i, "bytes after response".into()),
                    Some(_) if !(200..300).contains(&h.status) => {
                        self.res.error(format!("status {}", h.status));
                        None
                    }
                    Some(t) => Some(t),
                },
            };
            let done = Instant::now();
            if let Some(t) = total {
                if win.counts(c.sent_at, done) {
                    self.res.ops += 1;
                    self.res.bytes += t as u64;
                    record(self.res.histogram.as_mut().expect("histogram"), done - c.sent_at);
                }
            }
            if win.over(done) {
                c.finished = true;
                return self.close(i);
            }
            c.begin();
        }
    }

    fn fail(&mut self, i: usize, why: String) {
        self.res.error(why);
        self.close(i);
        self.conns[i].retry_at = Instant::now();
    }

    fn close(&mut self, i: usize) {
        if let (Some(mut s), Some(registry)) = (self.conns[i].stream.take(), &self.registry) {
            let _ = registry.deregister(&mut s);
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// Connections per second: each of `threads` threads repeatedly connects,
/// sends [`HTTP_CLOSE_REQUEST`], reads the response to EOF, checks it (2xx,
/// and the body length when `Content-Length` is given) and closes. Latency is
/// per connection, connect to EOF. `bytes` counts response bytes. Fails only
/// if `addr` cannot be reached at all.
pub fn connect_rate(addr: SocketAddr, duration: Duration, warmup: Duration, threads: usize) -> io::Result<LoadResult> {
    drop(connect(addr)?);
    let threads = threads.max(1);
    let sync = Arc::new((Barrier::new(threads), OnceLock::new()));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let sync = Arc::clone(&sync);
            std::thread::spawn(move || {
                let mut res = LoadResult::empty(0.0);
                let mut hist = new_histogram();
                let mut buf = Vec::with_capacity(4096);
                let win = start_together(&sync, duration, warmup);
                while !win.over(Instant::now()) {
                    let t0 = Instant::now();
                    match one_connection(addr, &mut buf) {
                        Ok(n) => {
                            let t1 = Instant::now();
                            if win.counts(t0, t1) {
                                res.ops += 1;
                                res.bytes += n as u64;
                                record(&mut hist, t1 - t0);
                            }
                        }
                        Err(e) => {
                            res.error(e);
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
                res.histogram = Some(hist);
                res
            })
        })
        .collect();
    join_all(handles, duration)
}

/// One connect-request-close cycle; returns the response length.
fn one_connection(addr: SocketAddr, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut s = connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(OP_TIMEOUT)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(OP_TIMEOUT)).map_err(|e| e.to_string())?;
    write_all(&mut s, HTTP_CLOSE_REQUEST, Instant::now() + OP_TIMEOUT).map_err(|e| format!("write: {e}"))?;
    buf.clear();
    s.read_to_end(buf).map_err(|e| format!("read: {e}"))?;
    let head = parse_head(buf)?.ok_or("response head incomplete at EOF")?;
    if !(200..300).contains(&head.status) {
        return Err(format!("status {}", head.status));
    }
    match head.total_len() {
        Some(t) if t != buf.len() => Err(format!("response is {} bytes, content-length says {t}", buf.len())),
        _ => Ok(buf.len()),
    }
}
