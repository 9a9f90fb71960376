//! The blocking face: `TcpListener`, `TcpStream` and `UdpSocket` for ordinary threads.
//!
//! [`proxies`] makes a proxy application for every worker ([`crate::background::Engine`]
//! runs the engine with them in the background). A handle sends commands to a worker through that worker's crossbeam queue; the
//! proxy carries them out with the fast-path calls on the worker core and answers through
//! channels. Received bytes travel to the reading thread in bounded chunks (a full queue
//! stops reading, so the TCP window closes: back-pressure all the way); a `write` returns
//! once the bytes are in the connection's send buffer. Latency: a busy-polling worker
//! picks a command up within its next loop pass; an adaptive one that sleeps is woken
//! through its eventfd (`runtime::Wakers`) when a command is queued.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{bounded, unbounded, Receiver, Sender};

use super::fast::{AppFactory, Application, Event, Fd, Shutdown, SockType, SocketOptions};
use super::Io;

/// Chunks queued towards one reading thread (each up to [`CHUNK`] bytes).
const QUEUED_CHUNKS: usize = 16;
const CHUNK: usize = 64 * 1024;

enum Chunk {
    Data(Vec<u8>),
    Eof,
    Err(ErrorKind),
}

type Reply<T> = Sender<io::Result<T>>;
/// Where a bound UDP port's datagrams go: (sender, payload).
type Datagrams = Sender<(SocketAddrV4, Vec<u8>)>;

/// A new connection handed to a thread.
struct Conn {
    worker: usize,
    fd: Fd,
    peer: SocketAddrV4,
    local: SocketAddrV4,
    rx: Receiver<Chunk>,
}

enum Command {
    Listen { port: u16, backlog: usize, opts: SocketOptions, accepted: Sender<io::Result<Conn>>, reply: Reply<()> },
    Unlisten { port: u16 },
    Connect { addr: SocketAddrV4, opts: SocketOptions, reply: Reply<Conn> },
    Write { fd: Fd, data: Vec<u8>, reply: Reply<usize> },
    Shutdown { fd: Fd },
    Close { fd: Fd },
    SetOptions { fd: Fd, opts: SocketOptions },
    UdpBind { port: u16, datagrams: Datagrams, reply: Reply<()> },
    UdpUnbind { port: u16 },
    SendTo { port: u16, to: SocketAddrV4, data: Vec<u8>, reply: Reply<usize> },
}

struct Stream {
    tx: Sender<Chunk>,
    /// Reading paused because the thread's queue was full.
    paused: bool,
    writes: VecDeque<(Vec<u8>, usize, Reply<usize>)>,
    /// A connect waiting for its handshake.
    connecting: Option<(Reply<Conn>, Receiver<Chunk>)>,
    done: bool,
}

/// The proxy application on one worker.
struct Proxy {
    worker: usize,
    commands: Receiver<Command>,
    listeners: HashMap<Fd, (u16, Sender<io::Result<Conn>>)>,
    ports: HashMap<u16, Fd>,
    streams: HashMap<Fd, Stream>,
    dgrams: HashMap<u16, (Fd, Datagrams)>,
    /// Streams whose reading is paused (so the per-pass check is free when there are none).
    paused: usize,
    /// Where received bytes land before they are copied into a chunk for the thread.
    scratch: Box<[u8]>,
}

impl Proxy {
    fn new_stream(&mut self, fd: Fd) -> Receiver<Chunk> {
        let (tx, rx) = bounded(QUEUED_CHUNKS);
        self.streams.insert(fd, Stream { tx, paused: false, writes: VecDeque::new(), connecting: None, done: false });
        rx
    }

    /// Moves received bytes to the thread while its queue has room.
    fn pump_read(&mut self, io: &mut Io<'_>, fd: Fd) {
        let Some(s) = self.streams.get_mut(&fd) else { return };
        if s.done {
            if s.paused {
                s.paused = false;
                self.paused -= 1;
            }
            return;
        }
        let buf = &mut self.scratch;
        loop {
            if s.tx.is_full() {
                if !s.paused {
                    s.paused = true;
                    self.paused += 1;
                }
                return;
            }
            match io.recv(fd, buf) {
                Ok(0) => {
                    let _ = s.tx.try_send(Chunk::Eof);
                    s.done = true;
                    return;
                }
                Ok(n) => {
                    let _ = s.tx.try_send(Chunk::Data(buf[..n].to_vec()));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if s.paused {
                        s.paused = false;
                        self.paused -= 1;
                    }
                    return;
                }
                Err(e) => {
                    let _ = s.tx.try_send(Chunk::Err(e.kind()));
                    s.done = true;
                    return;
                }
            }
        }
    }

    /// Moves queued writes into the send buffer; answers each once fully accepted.
    fn pump_write(&mut self, io: &mut Io<'_>, fd: Fd) {
        let Some(s) = self.streams.get_mut(&fd) else { return };
        while let Some((data, off, _)) = s.writes.front_mut() {
            match io.send(fd, &data[*off..]) {
                Ok(n) => {
                    *off += n;
                    if *off == data.len() {
                        let (d, _, reply) = s.writes.pop_front().expect("front exists");
                        let _ = reply.send(Ok(d.len()));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    for (_, _, reply) in s.writes.drain(..) {
                        let _ = reply.send(Err(io::Error::new(e.kind(), "connection failed")));
                    }
                    return;
                }
            }
        }
    }

    fn command(&mut self, io: &mut Io<'_>, c: Command) {
        match c {
            Command::Listen { port, backlog, opts, accepted, reply } => {
                let fd = io.socket(SockType::Stream);
                let r = io
                    .set_options(fd, opts)
                    .and_then(|_| io.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)))
                    .and_then(|_| io.listen(fd, backlog));
                if r.is_ok() {
                    self.listeners.insert(fd, (port, accepted));
                    self.ports.insert(port, fd);
                } else {
                    let _ = io.close(fd);
                }
                let _ = reply.send(r);
            }
            Command::Unlisten { port } => {
                if let Some(fd) = self.ports.remove(&port) {
                    self.listeners.remove(&fd);
                    let _ = io.close(fd);
                }
            }
            Command::Connect { addr, opts, reply } => {
                let fd = io.socket(SockType::Stream);
                match io.set_options(fd, opts).and_then(|_| io.connect(fd, addr)) {
                    Ok(()) => {
                        let rx = self.new_stream(fd);
                        if let Some(s) = self.streams.get_mut(&fd) {
                            s.connecting = Some((reply, rx));
                        }
                    }
                    Err(e) => {
                        let _ = io.close(fd);
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Write { fd, data, reply } => match self.streams.get_mut(&fd) {
                Some(s) => {
                    s.writes.push_back((data, 0, reply));
                    self.pump_write(io, fd);
                }
                None => {
                    let _ = reply.send(Err(io::Error::new(ErrorKind::NotConnected, "connection is gone")));
                }
            },
            Command::Shutdown { fd } => {
                let _ = io.shutdown(fd, Shutdown::Write);
            }
            Command::Close { fd } => {
                self.remove_stream(fd);
                let _ = io.close(fd);
            }
            Command::SetOptions { fd, opts } => {
                let _ = io.set_options(fd, opts);
            }
            Command::UdpBind { port, datagrams, reply } => {
                let fd = io.socket(SockType::Datagram);
                let r = io.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
                if r.is_ok() {
                    self.dgrams.insert(port, (fd, datagrams));
                } else {
                    let _ = io.close(fd);
                }
                let _ = reply.send(r);
            }
            Command::UdpUnbind { port } => {
                if let Some((fd, _)) = self.dgrams.remove(&port) {
                    let _ = io.close(fd);
                }
            }
            Command::SendTo { port, to, data, reply } => {
                let r = match self.dgrams.get(&port) {
                    Some((fd, _)) => io.sendto(*fd, &data, to),
                    None => Err(io::Error::new(ErrorKind::NotConnected, "socket not bound on this worker")),
                };
                let _ = reply.send(r);
            }
        }
    }
}

impl Application for Proxy {
    /// Commands waiting, or streams whose reading waits for their thread to catch up
    /// (that thread's reads queue no command, so the worker keeps polling for them).
    fn has_queued_work(&self) -> bool {
        !self.commands.is_empty() || self.paused > 0
    }

    fn on_poll(&mut self, io: &mut Io<'_>) {
        for _ in 0..256 {
            match self.commands.try_recv() {
                Ok(c) => self.command(io, c),
                Err(_) => break,
            }
        }
        if self.paused == 0 {
            return;
        }
        let paused: Vec<Fd> = self.streams.iter().filter(|(_, s)| s.paused && !s.tx.is_full()).map(|(fd, _)| *fd).collect();
        for fd in paused {
            self.pump_read(io, fd);
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Acceptable(l) => {
                while let Ok((fd, peer)) = io.accept(l) {
                    let local = io.local_addr(fd).unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
                    let rx = self.new_stream(fd);
                    let delivered = self.listeners.get(&l).is_some_and(|(_, tx)| tx.send(Ok(Conn { worker: self.worker, fd, peer, local, rx })).is_ok());
                    if !delivered {
                        self.remove_stream(fd);
                        let _ = io.close(fd);
                    }
                    self.pump_read(io, fd);
                }
            }
            Event::Connected(fd) => {
                if let Some((reply, rx)) = self.streams.get_mut(&fd).and_then(|s| s.connecting.take()) {
                    let peer = io.peer_addr(fd).unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
                    let local = io.local_addr(fd).unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
                    if reply.send(Ok(Conn { worker: self.worker, fd, peer, local, rx })).is_err() {
                        self.remove_stream(fd);
                        let _ = io.close(fd);
                    }
                }
            }
            Event::Readable(fd) => {
                if let Some((_, tx)) = self.dgram_of(fd) {
                    let tx = tx.clone();
                    while let Ok((n, from)) = io.recvfrom(fd, &mut self.scratch) {
                        let _ = tx.try_send((from, self.scratch[..n].to_vec()));
                    }
                } else {
                    self.pump_read(io, fd);
                }
            }
            Event::Writable(fd) => self.pump_write(io, fd),
            Event::Closed(fd) | Event::Error(fd, _) => {
                if let Some(s) = self.streams.get_mut(&fd) {
                    if let Some((reply, _)) = s.connecting.take() {
                        let kind = if let Event::Error(_, k) = ev { k } else { ErrorKind::ConnectionAborted };
                        let _ = reply.send(Err(io::Error::new(kind, "connect failed")));
                        self.remove_stream(fd);
                        let _ = io.close(fd);
                        return;
                    }
                }
                self.pump_read(io, fd);
                self.pump_write(io, fd);
            }
        }
    }
}

impl Proxy {
    fn remove_stream(&mut self, fd: Fd) {
        if self.streams.remove(&fd).is_some_and(|s| s.paused) {
            self.paused -= 1;
        }
    }

    fn dgram_of(&self, fd: Fd) -> Option<&(Fd, Datagrams)> {
        self.dgrams.values().find(|(f, _)| *f == fd)
    }
}

struct Shared {
    commands: Vec<Sender<Command>>,
    /// Wakes a worker sleeping in adaptive mode once a command is queued for it.
    wakers: Option<crate::runtime::Wakers>,
    addrs: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Shared {
    fn send(&self, worker: usize, c: Command) -> io::Result<()> {
        self.commands.get(worker).and_then(|t| t.send(c).ok()).ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "the engine has stopped"))?;
        if let Some(w) = self.wakers.as_ref().and_then(|w| w.get(worker)) {
            w.wake();
        }
        Ok(())
    }
    fn round_robin(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.commands.len().max(1)
    }
}

fn wait<T>(rx: Receiver<io::Result<T>>) -> io::Result<T> {
    rx.recv().unwrap_or_else(|_| Err(io::Error::new(ErrorKind::NotConnected, "the engine has stopped")))
}

/// Where the blocking handles send their commands: one queue per worker's proxy. A
/// running engine hands one out ([`crate::background::Engine`] derefs to it).
pub struct Hub {
    shared: Arc<Shared>,
}

impl Hub {
    /// The engine's addresses.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        &self.shared.addrs
    }
}

/// The proxies' command queues, before the engine is up: the factory has made one per
/// worker it started; [`Proxies::connect`] turns them into the [`Hub`].
pub struct Proxies {
    senders: Arc<std::sync::Mutex<Vec<Sender<Command>>>>,
}

impl Proxies {
    /// Once the workers run: their addresses and wakers complete the hub.
    pub fn connect(self, addrs: Vec<Ipv4Addr>, wakers: Option<crate::runtime::Wakers>) -> Hub {
        let commands = self.senders.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Hub { shared: Arc::new(Shared { commands, wakers, addrs, next: AtomicUsize::new(0) }) }
    }
}

/// The proxy application to run on every worker, and the queues that will reach it.
pub fn proxies() -> (AppFactory, Proxies) {
    // One command queue per worker; the factory hands each proxy its receiver.
    let queues: Arc<std::sync::Mutex<Vec<Option<Receiver<Command>>>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    let senders: Arc<std::sync::Mutex<Vec<Sender<Command>>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (q, sd) = (queues.clone(), senders.clone());
    let factory: AppFactory = Arc::new(move |worker| {
        let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
        let mut sd = sd.lock().unwrap_or_else(|e| e.into_inner());
        while q.len() <= worker {
            let (tx, rx) = unbounded();
            q.push(Some(rx));
            sd.push(tx);
        }
        let commands = q[worker].take().unwrap_or_else(|| unbounded().1);
        Box::new(Proxy { worker, commands, listeners: HashMap::new(), ports: HashMap::new(), streams: HashMap::new(), dgrams: HashMap::new(), paused: 0, scratch: vec![0u8; CHUNK].into_boxed_slice() }) as Box<dyn Application>
    });
    (factory, Proxies { senders })
}

/// A listening socket on every worker; `accept` returns connections from any of them.
pub struct TcpListener {
    shared: Arc<Shared>,
    port: u16,
    accepted: Receiver<io::Result<Conn>>,
}

impl TcpListener {
    /// `socket` + `bind` + `listen` on `port` (all the engine's addresses).
    pub fn bind(hub: &Hub, port: u16) -> io::Result<TcpListener> {
        Self::bind_with(hub, port, 1024, SocketOptions::default())
    }

    /// With a backlog and options for the accepted connections.
    pub fn bind_with(hub: &Hub, port: u16, backlog: usize, opts: SocketOptions) -> io::Result<TcpListener> {
        let (tx, accepted) = unbounded();
        let shared = hub.shared.clone();
        for w in 0..shared.commands.len() {
            let (reply, rx) = bounded(1);
            shared.send(w, Command::Listen { port, backlog, opts, accepted: tx.clone(), reply })?;
            if let Err(e) = wait(rx) {
                for v in 0..w {
                    let _ = shared.send(v, Command::Unlisten { port });
                }
                return Err(e);
            }
        }
        Ok(TcpListener { shared, port, accepted })
    }

    /// Blocks until a connection arrives.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        let c = self.accepted.recv().map_err(|_| io::Error::new(ErrorKind::NotConnected, "the engine has stopped"))??;
        let peer = c.peer;
        Ok((TcpStream::from_conn(self.shared.clone(), c), peer))
    }

    pub fn local_port(&self) -> u16 {
        self.port
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        for w in 0..self.shared.commands.len() {
            let _ = self.shared.send(w, Command::Unlisten { port: self.port });
        }
    }
}

/// A TCP connection, readable and writable from any thread (one reader at a time).
pub struct TcpStream {
    shared: Arc<Shared>,
    worker: usize,
    fd: Fd,
    peer: SocketAddrV4,
    local: SocketAddrV4,
    rx: Receiver<Chunk>,
    /// The rest of the chunk being read.
    pending: Vec<u8>,
    pending_off: usize,
    eof: bool,
    read_timeout: Option<Duration>,
}

impl TcpStream {
    fn from_conn(shared: Arc<Shared>, c: Conn) -> TcpStream {
        TcpStream { shared, worker: c.worker, fd: c.fd, peer: c.peer, local: c.local, rx: c.rx, pending: Vec::new(), pending_off: 0, eof: false, read_timeout: None }
    }

    /// Connects to `addr` from the engine (blocking until the handshake completes).
    pub fn connect(hub: &Hub, addr: SocketAddrV4) -> io::Result<TcpStream> {
        Self::connect_with(hub, addr, SocketOptions::default())
    }

    pub fn connect_with(hub: &Hub, addr: SocketAddrV4, opts: SocketOptions) -> io::Result<TcpStream> {
        let shared = hub.shared.clone();
        let worker = shared.round_robin();
        let (reply, rx) = bounded(1);
        shared.send(worker, Command::Connect { addr, opts, reply })?;
        let c = wait(rx)?;
        Ok(TcpStream::from_conn(shared, c))
    }

    pub fn peer_addr(&self) -> SocketAddrV4 {
        self.peer
    }
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Half-close: FIN after what was written.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.shared.send(self.worker, Command::Shutdown { fd: self.fd })
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.shared.send(self.worker, Command::SetOptions { fd: self.fd, opts: SocketOptions { nodelay: Some(on), ..Default::default() } })
    }

    pub fn set_read_timeout(&mut self, t: Option<Duration>) {
        self.read_timeout = t;
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pending_off == self.pending.len() {
            if self.eof {
                return Ok(0);
            }
            let chunk = match self.read_timeout {
                Some(t) => self.rx.recv_timeout(t).map_err(|e| match e {
                    crossbeam::channel::RecvTimeoutError::Timeout => io::Error::new(ErrorKind::WouldBlock, "read timed out"),
                    _ => io::Error::new(ErrorKind::NotConnected, "the engine has stopped"),
                })?,
                None => self.rx.recv().map_err(|_| io::Error::new(ErrorKind::NotConnected, "the engine has stopped"))?,
            };
            match chunk {
                Chunk::Data(d) => {
                    self.pending = d;
                    self.pending_off = 0;
                }
                Chunk::Eof => {
                    self.eof = true;
                    return Ok(0);
                }
                Chunk::Err(k) => return Err(io::Error::new(k, "connection failed")),
            }
        }
        let n = buf.len().min(self.pending.len() - self.pending_off);
        buf[..n].copy_from_slice(&self.pending[self.pending_off..self.pending_off + n]);
        self.pending_off += n;
        Ok(n)
    }
}

impl Write for TcpStream {
    /// Returns once the bytes are in the connection's send buffer.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let data = buf[..buf.len().min(1 << 20)].to_vec();
        let (reply, rx) = bounded(1);
        self.shared.send(self.worker, Command::Write { fd: self.fd, data, reply })?;
        wait(rx)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let _ = self.shared.send(self.worker, Command::Close { fd: self.fd });
    }
}

/// A UDP socket bound on every worker: datagrams from any of them arrive at `recv_from`.
pub struct UdpSocket {
    shared: Arc<Shared>,
    port: u16,
    datagrams: Receiver<(SocketAddrV4, Vec<u8>)>,
    peer: Option<SocketAddrV4>,
}

impl UdpSocket {
    pub fn bind(hub: &Hub, port: u16) -> io::Result<UdpSocket> {
        let (tx, datagrams) = bounded(4096);
        let shared = hub.shared.clone();
        for w in 0..shared.commands.len() {
            let (reply, rx) = bounded(1);
            shared.send(w, Command::UdpBind { port, datagrams: tx.clone(), reply })?;
            if let Err(e) = wait(rx) {
                for v in 0..w {
                    let _ = shared.send(v, Command::UdpUnbind { port });
                }
                return Err(e);
            }
        }
        Ok(UdpSocket { shared, port, datagrams, peer: None })
    }

    pub fn send_to(&self, data: &[u8], to: SocketAddrV4) -> io::Result<usize> {
        let (reply, rx) = bounded(1);
        self.shared.send(self.shared.round_robin(), Command::SendTo { port: self.port, to, data: data.to_vec(), reply })?;
        wait(rx)
    }

    /// Blocks for the next datagram (truncated to `buf`).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4)> {
        let (from, d) = self.datagrams.recv().map_err(|_| io::Error::new(ErrorKind::NotConnected, "the engine has stopped"))?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok((n, from))
    }

    /// Like `recv_from`, giving up after `t` with WouldBlock.
    pub fn recv_from_timeout(&self, buf: &mut [u8], t: Duration) -> io::Result<(usize, SocketAddrV4)> {
        match self.datagrams.recv_timeout(t) {
            Ok((from, d)) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok((n, from))
            }
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => Err(io::Error::new(ErrorKind::WouldBlock, "no datagram")),
            Err(_) => Err(io::Error::new(ErrorKind::NotConnected, "the engine has stopped")),
        }
    }

    /// Sets the default peer for `send`.
    pub fn connect(&mut self, peer: SocketAddrV4) {
        self.peer = Some(peer);
    }

    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        let to = self.peer.ok_or_else(|| io::Error::new(ErrorKind::NotConnected, "no default peer: connect first"))?;
        self.send_to(data, to)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        for w in 0..self.shared.commands.len() {
            let _ = self.shared.send(w, Command::UdpUnbind { port: self.port });
        }
    }
}

// The handles must be movable to other threads.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<TcpStream>();
    send::<TcpListener>();
    send::<UdpSocket>();
};
