//! The fast-path face: non-blocking calls and readiness events on the worker core.

use std::collections::HashMap;
use std::io::{Error, ErrorKind, Result};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use super::Io;
use crate::phy::{DynSink, SinkRef};
use crate::stack::{ConnId, Stack, StackEvent};
use crate::tcp::{CcAlgorithm, Keepalive, TcpConfig, TcpError};
use crate::time::{Duration, Instant};

/// A descriptor naming a socket in the worker's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fd(pub u32);

/// Socket types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    Stream,
    Datagram,
}

/// Which side `shutdown` closes (only writing is meaningful for TCP here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Write,
}

/// Readiness, edge-triggered: each fires when the condition becomes true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A connection waits on this listener: call `accept`.
    Acceptable(Fd),
    /// Data, EOF or an error waits: call `recv` (or `recvfrom`) until WouldBlock.
    Readable(Fd),
    /// The send buffer has room again.
    Writable(Fd),
    /// A `connect` completed.
    Connected(Fd),
    /// The connection is closed cleanly; `close` the descriptor.
    Closed(Fd),
    /// The connection failed (refused, reset, timed out); `close` the descriptor.
    Error(Fd, ErrorKind),
}

/// Per-socket options, applied when the connection is created (set them before
/// `connect` or `listen`); NODELAY and keepalive also apply to a live connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketOptions {
    pub nodelay: Option<bool>,
    pub keepalive: Option<Option<Duration>>,
    pub send_buffer: Option<usize>,
    pub recv_buffer: Option<usize>,
    pub congestion: Option<CcAlgorithm>,
    /// `Some(Duration::ZERO)`: close resets the connection (SO_LINGER 0).
    pub linger: Option<Duration>,
}

impl SocketOptions {
    fn apply(&self, mut c: TcpConfig) -> TcpConfig {
        if let Some(n) = self.nodelay {
            c.nodelay = n;
        }
        if let Some(k) = self.keepalive {
            c.keepalive = k.map(|idle| Keepalive { idle, ..Keepalive::default() });
        }
        if let Some(b) = self.send_buffer {
            c.send_buffer = b.clamp(4096, 64 << 20);
        }
        if let Some(b) = self.recv_buffer {
            c.recv_buffer = b.clamp(4096, 64 << 20);
        }
        if let Some(a) = self.congestion {
            c.congestion_control = a;
        }
        c
    }
}

/// Code that runs on a worker core.
pub trait Application: Send {
    /// Called once when the worker starts.
    fn on_start(&mut self, _io: &mut Io<'_>) {}
    /// Called for every event on this application's sockets.
    fn on_event(&mut self, io: &mut Io<'_>, event: Event);
    /// Called once per poll-loop pass (keep it cheap); for work driven from outside, like
    /// the blocking face's command queues.
    fn on_poll(&mut self, _io: &mut Io<'_>) {}
    /// Whether work is queued for this application from outside the worker (e.g. commands
    /// from other threads). An adaptive worker asks before it sleeps; whoever queues such
    /// work must also wake the worker (see `runtime::Wakers`).
    fn has_queued_work(&self) -> bool {
        false
    }
}

/// Makes one application instance per worker.
pub type AppFactory = Arc<dyn Fn(usize) -> Box<dyn Application> + Send + Sync>;

#[derive(Debug, Clone, Copy)]
enum Entry {
    /// `ip`: the local address bound (unspecified: the engine's first), the source
    /// address of a later `connect`.
    Unbound { ty: SockType, ip: Ipv4Addr, port: Option<u16>, opts: SocketOptions },
    Listener { port: u16 },
    Stream { conn: ConnId, opts: SocketOptions },
    Datagram { port: u16, peer: Option<SocketAddrV4> },
}

/// The worker's descriptor table, shared by its applications.
#[derive(Default)]
pub struct FdTable {
    entries: Vec<Option<(usize, Entry)>>,
    free: Vec<u32>,
    by_conn: HashMap<u32, Fd>,
    by_listener: HashMap<u16, Fd>,
    by_dgram: HashMap<u16, Fd>,
}

impl FdTable {
    fn alloc(&mut self, owner: usize, e: Entry) -> Fd {
        match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some((owner, e));
                Fd(i)
            }
            None => {
                self.entries.push(Some((owner, e)));
                Fd(self.entries.len() as u32 - 1)
            }
        }
    }
    fn get(&self, fd: Fd) -> Result<(usize, Entry)> {
        self.entries.get(fd.0 as usize).copied().flatten().ok_or_else(|| Error::new(ErrorKind::InvalidInput, "bad descriptor"))
    }
    fn set(&mut self, fd: Fd, e: Entry) {
        if let Some(Some(slot)) = self.entries.get_mut(fd.0 as usize) {
            slot.1 = e;
        }
    }
    fn release(&mut self, fd: Fd) {
        if let Some(slot) = self.entries.get_mut(fd.0 as usize) {
            if slot.take().is_some() {
                self.free.push(fd.0);
            }
        }
    }

    /// Turns a stack event into (owning application, event).
    pub fn route(&self, stack: &mut Stack, ev: StackEvent) -> Option<(usize, Event)> {
        let owner = |fd: &Fd| self.entries.get(fd.0 as usize).copied().flatten().map(|(o, _)| o);
        match ev {
            StackEvent::Acceptable { port } => self.by_listener.get(&port).and_then(|fd| Some((owner(fd)?, Event::Acceptable(*fd)))),
            StackEvent::UdpReadable { port } => self.by_dgram.get(&port).and_then(|fd| Some((owner(fd)?, Event::Readable(*fd)))),
            StackEvent::Readable { conn, inc } | StackEvent::Writable { conn, inc } | StackEvent::Connected { conn, inc } | StackEvent::Closed { conn, inc } => {
                // Queued for a connection that is gone, its slot since reused: drop it.
                if stack.tcp_incarnation(ConnId(conn)) != Some(inc) {
                    return None;
                }
                let fd = *self.by_conn.get(&conn)?;
                let o = owner(&fd)?;
                let e = match ev {
                    StackEvent::Readable { .. } => Event::Readable(fd),
                    StackEvent::Writable { .. } => Event::Writable(fd),
                    StackEvent::Connected { .. } => Event::Connected(fd),
                    _ => match stack.tcp_conn(ConnId(conn)).and_then(|t| t.error()) {
                        Some(e) => Event::Error(fd, kind_of(e)),
                        None => Event::Closed(fd),
                    },
                };
                Some((o, e))
            }
        }
    }
}

fn kind_of(e: TcpError) -> ErrorKind {
    match e {
        TcpError::Reset => ErrorKind::ConnectionReset,
        TcpError::TimedOut => ErrorKind::TimedOut,
        TcpError::Refused => ErrorKind::ConnectionRefused,
    }
}

fn err(kind: ErrorKind, msg: &'static str) -> Error {
    Error::new(kind, msg)
}

/// The engine backend of [`Io`]: calls go to the worker's own stack.
pub struct EngineIo<'a> {
    pub(crate) stack: &'a mut Stack,
    pub(crate) tx: &'a mut dyn DynSink,
    pub(crate) fds: &'a mut FdTable,
    pub(crate) owner: usize,
    pub(crate) now: Instant,
}

impl<'a> EngineIo<'a> {
    pub fn new(stack: &'a mut Stack, tx: &'a mut dyn DynSink, fds: &'a mut FdTable, owner: usize, now: Instant) -> Self {
        EngineIo { stack, tx, fds, owner, now }
    }

    /// The worker this runs on.
    pub fn worker(&self) -> usize {
        self.stack.worker()
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    fn mine(&self, fd: Fd) -> Result<Entry> {
        let (o, e) = self.fds.get(fd)?;
        if o != self.owner {
            return Err(err(ErrorKind::InvalidInput, "descriptor belongs to another application"));
        }
        Ok(e)
    }

    fn local_ip(&self, want: Ipv4Addr) -> Result<Ipv4Addr> {
        let ours = self.stack.addresses();
        if want.is_unspecified() {
            return ours.first().copied().ok_or_else(|| err(ErrorKind::AddrNotAvailable, "the engine has no address"));
        }
        if ours.contains(&want) { Ok(want) } else { Err(err(ErrorKind::AddrNotAvailable, "not one of the engine's addresses")) }
    }

    /// `socket(2)`.
    pub fn socket(&mut self, ty: SockType) -> Fd {
        self.fds.alloc(self.owner, Entry::Unbound { ty, ip: Ipv4Addr::UNSPECIFIED, port: None, opts: SocketOptions::default() })
    }

    /// `bind(2)`: the address must be 0.0.0.0 or one of the engine's. A stream socket
    /// bound to one of them connects from it (an engine with several addresses has
    /// that many ephemeral port ranges for active opens); listeners take every address.
    pub fn bind(&mut self, fd: Fd, addr: SocketAddrV4) -> Result<()> {
        self.local_ip(*addr.ip())?;
        match self.mine(fd)? {
            Entry::Unbound { ty: SockType::Stream, opts, .. } => {
                self.fds.set(fd, Entry::Unbound { ty: SockType::Stream, ip: *addr.ip(), port: Some(addr.port()), opts });
                Ok(())
            }
            Entry::Unbound { ty: SockType::Datagram, .. } => {
                self.stack.udp_bind(addr.port()).map_err(|e| Error::new(ErrorKind::AddrInUse, e.to_string()))?;
                self.fds.set(fd, Entry::Datagram { port: addr.port(), peer: None });
                self.fds.by_dgram.insert(addr.port(), fd);
                Ok(())
            }
            _ => Err(err(ErrorKind::InvalidInput, "socket already bound")),
        }
    }

    /// `listen(2)` on a bound stream socket.
    pub fn listen(&mut self, fd: Fd, backlog: usize) -> Result<()> {
        match self.mine(fd)? {
            Entry::Unbound { ty: SockType::Stream, port: Some(port), opts, .. } => {
                let cfg = opts.apply(self.stack.tcp_config());
                self.stack.tcp_listen(port, backlog, Some(cfg)).map_err(|e| Error::new(ErrorKind::AddrInUse, e.to_string()))?;
                self.fds.set(fd, Entry::Listener { port });
                self.fds.by_listener.insert(port, fd);
                Ok(())
            }
            _ => Err(err(ErrorKind::InvalidInput, "listen needs a bound, unconnected stream socket")),
        }
    }

    /// `accept(2)`: WouldBlock when no connection waits.
    pub fn accept(&mut self, fd: Fd) -> Result<(Fd, SocketAddrV4)> {
        let Entry::Listener { port } = self.mine(fd)? else {
            return Err(err(ErrorKind::InvalidInput, "not a listening socket"));
        };
        let mut sink = SinkRef(self.tx);
        let id = self.stack.tcp_accept(self.now, &mut sink, port).ok_or_else(|| err(ErrorKind::WouldBlock, "no connection waiting"))?;
        let remote = self.stack.tcp_conn(id).map(|t| t.remote()).ok_or_else(|| err(ErrorKind::ConnectionReset, "gone"))?;
        let nfd = self.fds.alloc(self.owner, Entry::Stream { conn: id, opts: SocketOptions::default() });
        self.fds.by_conn.insert(id.0, nfd);
        // Readiness that built up before accept is reported now.
        let mut sink = SinkRef(self.tx);
        self.stack.tcp_flush(self.now, &mut sink, id);
        Ok((nfd, SocketAddrV4::new(remote.0, remote.1)))
    }

    /// `connect(2)`, non-blocking: returns at once; `Connected` (or `Error`) follows.
    /// On a datagram socket it sets the default peer.
    pub fn connect(&mut self, fd: Fd, addr: SocketAddrV4) -> Result<()> {
        match self.mine(fd)? {
            Entry::Unbound { ty: SockType::Stream, ip, opts, .. } => {
                let local = self.local_ip(ip)?;
                let cfg = opts.apply(self.stack.tcp_config());
                let mut sink = SinkRef(self.tx);
                let id = self.stack.tcp_connect_with(self.now, &mut sink, local, *addr.ip(), addr.port(), Some(&cfg)).map_err(|e| match e {
                    crate::stack::ConnectError::NoPort => Error::new(ErrorKind::AddrNotAvailable, e.to_string()),
                    crate::stack::ConnectError::NotOurAddress(_) => Error::new(ErrorKind::AddrNotAvailable, e.to_string()),
                    crate::stack::ConnectError::TableFull => Error::new(ErrorKind::OutOfMemory, e.to_string()),
                })?;
                self.fds.set(fd, Entry::Stream { conn: id, opts });
                self.fds.by_conn.insert(id.0, fd);
                Ok(())
            }
            Entry::Datagram { port, .. } => {
                self.fds.set(fd, Entry::Datagram { port, peer: Some(addr) });
                Ok(())
            }
            Entry::Unbound { ty: SockType::Datagram, .. } => Err(err(ErrorKind::InvalidInput, "bind the datagram socket first")),
            _ => Err(err(ErrorKind::InvalidInput, "socket already connected or listening")),
        }
    }

    fn stream(&mut self, fd: Fd) -> Result<ConnId> {
        match self.mine(fd)? {
            Entry::Stream { conn, .. } => Ok(conn),
            Entry::Datagram { .. } => Err(err(ErrorKind::InvalidInput, "not a stream socket")),
            _ => Err(err(ErrorKind::NotConnected, "not connected")),
        }
    }

    /// `send(2)` on a connected stream: bytes accepted into the send buffer, or WouldBlock
    /// when it is full. On a datagram socket, sends to the default peer.
    pub fn send(&mut self, fd: Fd, data: &[u8]) -> Result<usize> {
        if let Entry::Datagram { peer, .. } = self.mine(fd)? {
            let to = peer.ok_or_else(|| err(ErrorKind::NotConnected, "no default peer: connect first or use sendto"))?;
            return self.sendto(fd, data, to);
        }
        let id = self.stream(fd)?;
        let tcb = self.stack.tcp_conn(id).ok_or_else(|| err(ErrorKind::NotConnected, "gone"))?;
        if let Some(e) = tcb.error() {
            return Err(Error::new(kind_of(e), "connection failed"));
        }
        let n = tcb.send(data);
        if n == 0 && !data.is_empty() {
            if tcb.is_closed() || !tcb.state().can_send() {
                return Err(err(ErrorKind::BrokenPipe, "sending side closed"));
            }
            return Err(err(ErrorKind::WouldBlock, "send buffer full"));
        }
        let mut sink = SinkRef(self.tx);
        self.stack.tcp_flush_corked(self.now, &mut sink, id);
        Ok(n)
    }

    /// `recv(2)`: bytes read, 0 at EOF, WouldBlock when nothing waits, or the error that
    /// ended the connection.
    pub fn recv(&mut self, fd: Fd, buf: &mut [u8]) -> Result<usize> {
        if let Entry::Datagram { .. } = self.mine(fd)? {
            return self.recvfrom(fd, buf).map(|(n, _)| n);
        }
        let id = self.stream(fd)?;
        let tcb = self.stack.tcp_conn(id).ok_or_else(|| err(ErrorKind::NotConnected, "gone"))?;
        let n = tcb.recv(buf);
        if n > 0 {
            let mut sink = SinkRef(self.tx);
            self.stack.tcp_flush(self.now, &mut sink, id);
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let tcb = self.stack.tcp_conn(id).ok_or_else(|| err(ErrorKind::NotConnected, "gone"))?;
        if let Some(e) = tcb.error() {
            return Err(Error::new(kind_of(e), "connection failed"));
        }
        if tcb.recv_eof() {
            return Ok(0);
        }
        Err(err(ErrorKind::WouldBlock, "no data"))
    }

    /// `shutdown(2)` of the sending side: FIN after the queued data.
    pub fn shutdown(&mut self, fd: Fd, _how: Shutdown) -> Result<()> {
        let id = self.stream(fd)?;
        if let Some(t) = self.stack.tcp_conn(id) {
            t.shutdown_write();
        }
        let mut sink = SinkRef(self.tx);
        self.stack.tcp_flush(self.now, &mut sink, id);
        Ok(())
    }

    /// `close(2)`: a stream closes (FIN, or RST with linger 0 or unread data), a listener
    /// stops (unaccepted connections are reset), a datagram port is unbound. The
    /// descriptor is free afterwards.
    pub fn close(&mut self, fd: Fd) -> Result<()> {
        let e = self.mine(fd)?;
        let mut sink = SinkRef(self.tx);
        match e {
            Entry::Stream { conn, opts } => {
                if opts.linger == Some(Duration::ZERO) {
                    if let Some(t) = self.stack.tcp_conn(conn) {
                        t.abort();
                    }
                }
                self.stack.tcp_release(self.now, &mut sink, conn);
                self.fds.by_conn.remove(&conn.0);
            }
            Entry::Listener { port } => {
                self.stack.tcp_unlisten(self.now, &mut sink, port);
                self.fds.by_listener.remove(&port);
            }
            Entry::Datagram { port, .. } => {
                self.stack.udp_unbind(port);
                self.fds.by_dgram.remove(&port);
            }
            Entry::Unbound { .. } => {}
        }
        self.fds.release(fd);
        Ok(())
    }

    /// `sendto(2)` on a bound datagram socket.
    pub fn sendto(&mut self, fd: Fd, data: &[u8], to: SocketAddrV4) -> Result<usize> {
        let Entry::Datagram { port, .. } = self.mine(fd)? else {
            return Err(err(ErrorKind::InvalidInput, "sendto needs a bound datagram socket"));
        };
        if data.len() > 65507 {
            return Err(err(ErrorKind::InvalidInput, "datagram too large"));
        }
        let local = self.local_ip(Ipv4Addr::UNSPECIFIED)?;
        let mut sink = SinkRef(self.tx);
        if self.stack.udp_send(self.now, &mut sink, local, port, to, data) {
            Ok(data.len())
        } else {
            Err(err(ErrorKind::WouldBlock, "no route or no buffer"))
        }
    }

    /// `recvfrom(2)`: the next datagram (truncated to `buf`), or WouldBlock.
    pub fn recvfrom(&mut self, fd: Fd, buf: &mut [u8]) -> Result<(usize, SocketAddrV4)> {
        let Entry::Datagram { port, .. } = self.mine(fd)? else {
            return Err(err(ErrorKind::InvalidInput, "recvfrom needs a bound datagram socket"));
        };
        let (from, d) = self.stack.udp_recv(port).ok_or_else(|| err(ErrorKind::WouldBlock, "no datagram"))?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok((n, from))
    }

    /// Sets options; see [`SocketOptions`] for which apply when.
    pub fn set_options(&mut self, fd: Fd, o: SocketOptions) -> Result<()> {
        let merge = |mut a: SocketOptions| {
            a.nodelay = o.nodelay.or(a.nodelay);
            a.keepalive = o.keepalive.or(a.keepalive);
            a.send_buffer = o.send_buffer.or(a.send_buffer);
            a.recv_buffer = o.recv_buffer.or(a.recv_buffer);
            a.congestion = o.congestion.or(a.congestion);
            a.linger = o.linger.or(a.linger);
            a
        };
        match self.mine(fd)? {
            Entry::Unbound { ty, ip, port, opts } => self.fds.set(fd, Entry::Unbound { ty, ip, port, opts: merge(opts) }),
            Entry::Stream { conn, opts } => {
                if let Some(t) = self.stack.tcp_conn(conn) {
                    if let Some(n) = o.nodelay {
                        t.set_nodelay(n);
                    }
                    if let Some(k) = o.keepalive {
                        t.set_keepalive(k.map(|idle| Keepalive { idle, ..Keepalive::default() }));
                    }
                }
                self.fds.set(fd, Entry::Stream { conn, opts: merge(opts) });
            }
            _ => return Err(err(ErrorKind::InvalidInput, "options apply to stream sockets")),
        }
        Ok(())
    }

    /// The local address of a socket.
    pub fn local_addr(&mut self, fd: Fd) -> Result<SocketAddrV4> {
        let ip = self.local_ip(Ipv4Addr::UNSPECIFIED)?;
        match self.mine(fd)? {
            Entry::Stream { conn, .. } => self.stack.tcp_conn(conn).map(|t| SocketAddrV4::new(t.local().0, t.local().1)).ok_or_else(|| err(ErrorKind::NotConnected, "gone")),
            Entry::Listener { port } | Entry::Datagram { port, .. } => Ok(SocketAddrV4::new(ip, port)),
            Entry::Unbound { ip, port, .. } => Ok(SocketAddrV4::new(ip, port.unwrap_or(0))),
        }
    }

    /// The remote address of a connected socket.
    pub fn peer_addr(&mut self, fd: Fd) -> Result<SocketAddrV4> {
        match self.mine(fd)? {
            Entry::Stream { conn, .. } => self.stack.tcp_conn(conn).map(|t| SocketAddrV4::new(t.remote().0, t.remote().1)).ok_or_else(|| err(ErrorKind::NotConnected, "gone")),
            Entry::Datagram { peer: Some(p), .. } => Ok(p),
            _ => Err(err(ErrorKind::NotConnected, "not connected")),
        }
    }

    /// Bytes waiting to be read on a stream.
    pub fn recv_available(&mut self, fd: Fd) -> Result<usize> {
        let id = self.stream(fd)?;
        Ok(self.stack.tcp_conn(id).map_or(0, |t| t.recv_available()))
    }

    /// Room in a stream's send buffer (0 for anything else), without `&mut`.
    pub fn send_room(&self, fd: Fd) -> usize {
        match self.fds.get(fd) {
            Ok((o, Entry::Stream { conn, .. })) if o == self.owner => self.stack.tcp_conn_ref(conn).map_or(0, |t| t.send_capacity()),
            _ => 0,
        }
    }

    /// Bytes sent and not yet acknowledged by the peer, or not sent yet (like SIOCOUTQ).
    pub fn send_unacked(&mut self, fd: Fd) -> Result<usize> {
        let id = self.stream(fd)?;
        Ok(self.stack.tcp_conn_ref(id).map_or(0, |t| t.send_queued()))
    }

    /// Room in a stream's send buffer.
    pub fn send_capacity(&mut self, fd: Fd) -> Result<usize> {
        let id = self.stream(fd)?;
        Ok(self.stack.tcp_conn(id).map_or(0, |t| t.send_capacity()))
    }
}

/// Delivers the stack's pending events to their applications until none are left (each
/// callback may cause more). Bounded, so a misbehaving application cannot spin forever.
/// Ends with the pass's uncork: data the applications wrote leaves in full segments plus
/// one tail per connection.
pub fn dispatch(stack: &mut Stack, tx: &mut dyn DynSink, fds: &mut FdTable, apps: &mut [Box<dyn Application>], now: Instant, scratch: &mut Vec<StackEvent>) {
    dispatch_events(stack, tx, fds, apps, now, scratch);
    stack.tcp_uncork(now, &mut SinkRef(tx));
}

fn dispatch_events(stack: &mut Stack, tx: &mut dyn DynSink, fds: &mut FdTable, apps: &mut [Box<dyn Application>], now: Instant, scratch: &mut Vec<StackEvent>) {
    for _ in 0..64 {
        scratch.clear();
        stack.take_events(scratch);
        if scratch.is_empty() {
            return;
        }
        let events = std::mem::take(scratch);
        for ev in &events {
            if let Some((owner, e)) = fds.route(stack, *ev) {
                if let Some(app) = apps.get_mut(owner) {
                    app.on_event(&mut Io::new(stack, tx, fds, owner, now), e);
                }
            }
        }
        *scratch = events;
    }
}
