//! The kernel backend of [`Io`](super::Io): the same application code over Linux
//! sockets, one mio event loop per worker thread, listeners and UDP ports shared between
//! workers with SO_REUSEPORT (the kernel spreads flows over them).
//!
//! Semantics match the engine's: events are edge-triggered, and `send_capacity` is
//! honest — each stream has a small user-space overflow buffer, so a `send` of at most
//! `send_capacity` bytes is always accepted whole, as on the engine.

use std::collections::VecDeque;
use std::io::{Error, ErrorKind, Read, Result, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration as StdDuration;

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::{Event, Fd, Shutdown, SockType, SocketOptions};
use crate::tcp::CcAlgorithm;
use crate::time::Instant;

/// Bytes a stream may hold in its overflow buffer.
const OVERFLOW: usize = 256 * 1024;

enum KSock {
    Unbound { ty: SockType, port: Option<u16>, opts: SocketOptions },
    Listener(TcpListener),
    /// `shut`: the application shut down the sending side while the overflow buffer still
    /// held data; the FIN goes once it is written.
    Stream { s: TcpStream, connecting: bool, out: VecDeque<u8>, opts: SocketOptions, wants_writable: bool, shut: bool },
    Datagram { u: UdpSocket, peer: Option<SocketAddrV4> },
    /// Closed by the application with data still in the overflow buffer: the loop keeps
    /// writing it (a close must never cut the tail of what was sent), then drops the
    /// socket and frees the slot. Owned by nobody.
    Closing { s: TcpStream, out: VecDeque<u8> },
}

/// The owner of a closing socket: no application.
const NO_OWNER: usize = usize::MAX;

/// One worker's kernel sockets and event loop.
pub struct KernelNet {
    poll: Poll,
    events: Events,
    socks: Vec<Option<(usize, KSock)>>,
    free: Vec<u32>,
    /// The address sockets bind to.
    addr: Ipv4Addr,
    worker: usize,
    pending: Vec<(usize, Event)>,
    /// What every TCP socket gets unless its own options say otherwise.
    tcp: KernelTcp,
}

/// The TCP settings the kernel backend applies to its stream sockets: the engine's
/// command-line options that Linux has a socket option for, so both backends run the same
/// algorithm and buffers whatever the host's defaults are.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelTcp {
    /// TCP_CONGESTION (`--tcp-cc`).
    pub cc: CcAlgorithm,
    /// TCP_NODELAY (`--tcp-nodelay`).
    pub nodelay: bool,
    /// SO_KEEPALIVE with TCP_KEEPIDLE (`--tcp-keepalive`).
    pub keepalive: Option<StdDuration>,
    /// SO_SNDBUF and SO_RCVBUF (`--tcp-buffer`); None leaves Linux's autotuning on.
    pub buffer: Option<usize>,
}

impl KernelTcp {
    /// Applies the settings, overridden by the socket's own options, before `listen`
    /// (accepted connections inherit them) or `connect`.
    pub(crate) fn apply(&self, s: socket2::SockRef<'_>, o: &SocketOptions) -> Result<()> {
        set_cc(&s, o.congestion.unwrap_or(self.cc))?;
        if let Some(b) = o.send_buffer.or(self.buffer) {
            s.set_send_buffer_size(b)?;
        }
        if let Some(b) = o.recv_buffer.or(self.buffer) {
            s.set_recv_buffer_size(b)?;
        }
        if let Some(idle) = o.keepalive.unwrap_or(self.keepalive) {
            s.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?;
        }
        s.set_tcp_nodelay(o.nodelay.unwrap_or(self.nodelay))
    }
}

/// Linux's name for an algorithm (`/proc/sys/net/ipv4/tcp_available_congestion_control`).
pub fn kernel_cc_name(a: CcAlgorithm) -> &'static str {
    match a {
        CcAlgorithm::Cubic => "cubic",
        CcAlgorithm::NewReno => "reno",
    }
}

/// Sets TCP_CONGESTION on a TCP socket.
fn set_cc(s: &socket2::SockRef<'_>, a: CcAlgorithm) -> Result<()> {
    s.set_tcp_congestion(kernel_cc_name(a).as_bytes())
        .map_err(|e| Error::new(e.kind(), format!("cannot use the kernel's '{}' congestion control: {e}", kernel_cc_name(a))))
}

/// Checks once, before workers start, that the kernel offers `a` to this process.
pub fn check_cc(a: CcAlgorithm) -> Result<()> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    set_cc(&socket2::SockRef::from(&s), a)
}

impl KernelNet {
    pub fn new(addr: Ipv4Addr, worker: usize, tcp: KernelTcp) -> Result<Self> {
        Ok(KernelNet { poll: Poll::new()?, events: Events::with_capacity(1024), socks: Vec::new(), free: Vec::new(), addr, worker, pending: Vec::new(), tcp })
    }

    fn alloc(&mut self, owner: usize, s: KSock) -> Fd {
        match self.free.pop() {
            Some(i) => {
                self.socks[i as usize] = Some((owner, s));
                Fd(i)
            }
            None => {
                self.socks.push(Some((owner, s)));
                Fd(self.socks.len() as u32 - 1)
            }
        }
    }

    /// Waits up to `timeout` for readiness and turns it into application events.
    pub fn poll_events(&mut self, timeout: Option<StdDuration>, out: &mut Vec<(usize, Event)>) -> Result<()> {
        out.append(&mut self.pending);
        let t = if out.is_empty() { timeout } else { Some(StdDuration::ZERO) };
        match self.poll.poll(&mut self.events, t) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut closed = Vec::new();
        for ev in self.events.iter() {
            let fd = Fd(ev.token().0 as u32);
            let Some(Some((owner, sock))) = self.socks.get_mut(fd.0 as usize) else { continue };
            let owner = *owner;
            match sock {
                KSock::Closing { s, out } => {
                    if flush(s, out).is_err() || out.is_empty() || ev.is_error() || ev.is_write_closed() {
                        closed.push(fd);
                    }
                }
                KSock::Listener(_) => out.push((owner, Event::Acceptable(fd))),
                KSock::Datagram { .. } => out.push((owner, Event::Readable(fd))),
                KSock::Stream { s, connecting, out: buf, wants_writable, shut, .. } => {
                    if *connecting && (ev.is_writable() || ev.is_error()) {
                        *connecting = false;
                        match s.take_error().ok().flatten().or_else(|| s.peer_addr().err()) {
                            Some(e) => {
                                out.push((owner, Event::Error(fd, e.kind())));
                                continue;
                            }
                            None => out.push((owner, Event::Connected(fd))),
                        }
                    }
                    if ev.is_writable() {
                        let before = buf.len();
                        let _ = flush(s, buf);
                        if buf.is_empty() && std::mem::take(shut) {
                            let _ = s.shutdown(std::net::Shutdown::Write);
                        }
                        // Also when the buffer drained: an application that saw no room
                        // (send_room / send_capacity 0) never called send, so never asked.
                        if buf.len() < OVERFLOW && (*wants_writable || buf.len() < before) {
                            *wants_writable = false;
                            out.push((owner, Event::Writable(fd)));
                        }
                    }
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        out.push((owner, Event::Readable(fd)));
                    }
                }
                KSock::Unbound { .. } => {}
            }
        }
        for fd in closed {
            if let Some(Some((_, KSock::Closing { mut s, .. }))) = self.socks.get_mut(fd.0 as usize).map(Option::take) {
                let _ = self.poll.registry().deregister(&mut s);
                self.free.push(fd.0);
            }
        }
        Ok(())
    }
}

/// Writes as much of `out` as the kernel takes.
fn flush(s: &mut TcpStream, out: &mut VecDeque<u8>) -> Result<()> {
    while !out.is_empty() {
        let (a, _) = out.as_slices();
        match s.write(a) {
            Ok(0) => return Err(Error::new(ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    }
}

fn err(kind: ErrorKind, msg: &'static str) -> Error {
    Error::new(kind, msg)
}

/// The kernel backend of [`super::Io`] for one callback.
pub struct KernelIo<'a> {
    net: &'a mut KernelNet,
    owner: usize,
    now: Instant,
}

impl<'a> KernelIo<'a> {
    pub fn new(net: &'a mut KernelNet, owner: usize, now: Instant) -> Self {
        KernelIo { net, owner, now }
    }
    pub fn worker(&self) -> usize {
        self.net.worker
    }
    pub fn now(&self) -> Instant {
        self.now
    }

    fn get(&mut self, fd: Fd) -> Result<&mut KSock> {
        match self.net.socks.get_mut(fd.0 as usize) {
            Some(Some((o, s))) if *o == self.owner => Ok(s),
            _ => Err(err(ErrorKind::InvalidInput, "bad descriptor")),
        }
    }

    fn reuse_socket(&self, ty: Type, proto: Protocol, port: u16) -> Result<Socket> {
        let s = Socket::new(Domain::IPV4, ty, Some(proto))?;
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        s.set_nonblocking(true)?;
        s.bind(&SocketAddrV4::new(self.net.addr, port).into())?;
        Ok(s)
    }

    pub fn socket(&mut self, ty: SockType) -> Fd {
        self.net.alloc(self.owner, KSock::Unbound { ty, port: None, opts: SocketOptions::default() })
    }

    pub fn bind(&mut self, fd: Fd, addr: SocketAddrV4) -> Result<()> {
        if !addr.ip().is_unspecified() && *addr.ip() != self.net.addr {
            return Err(err(ErrorKind::AddrNotAvailable, "not this server's address"));
        }
        match self.get(fd)? {
            KSock::Unbound { ty: SockType::Stream, opts, .. } => {
                let opts = *opts;
                *self.get(fd)? = KSock::Unbound { ty: SockType::Stream, port: Some(addr.port()), opts };
                Ok(())
            }
            KSock::Unbound { ty: SockType::Datagram, .. } => {
                let s = self.reuse_socket(Type::DGRAM, Protocol::UDP, addr.port())?;
                let mut u = UdpSocket::from_std(s.into());
                self.net.poll.registry().register(&mut u, Token(fd.0 as usize), Interest::READABLE)?;
                *self.get(fd)? = KSock::Datagram { u, peer: None };
                Ok(())
            }
            _ => Err(err(ErrorKind::InvalidInput, "socket already bound")),
        }
    }

    pub fn listen(&mut self, fd: Fd, backlog: usize) -> Result<()> {
        let KSock::Unbound { ty: SockType::Stream, port: Some(port), opts } = self.get(fd)? else {
            return Err(err(ErrorKind::InvalidInput, "listen needs a bound stream socket"));
        };
        let (port, opts) = (*port, *opts);
        let s = self.reuse_socket(Type::STREAM, Protocol::TCP, port)?;
        // Accepted connections inherit them.
        self.net.tcp.apply(socket2::SockRef::from(&s), &opts)?;
        s.listen(backlog.min(i32::MAX as usize) as i32)?;
        let mut l = TcpListener::from_std(s.into());
        self.net.poll.registry().register(&mut l, Token(fd.0 as usize), Interest::READABLE)?;
        *self.get(fd)? = KSock::Listener(l);
        Ok(())
    }

    fn add_stream(&mut self, mut s: TcpStream, connecting: bool, opts: SocketOptions) -> Result<Fd> {
        let fd = self.net.alloc(self.owner, KSock::Unbound { ty: SockType::Stream, port: None, opts });
        self.net.poll.registry().register(&mut s, Token(fd.0 as usize), Interest::READABLE | Interest::WRITABLE)?;
        self.net.socks[fd.0 as usize] = Some((self.owner, KSock::Stream { s, connecting, out: VecDeque::new(), opts, wants_writable: false, shut: false }));
        Ok(fd)
    }

    pub fn accept(&mut self, fd: Fd) -> Result<(Fd, SocketAddrV4)> {
        let KSock::Listener(l) = self.get(fd)? else {
            return Err(err(ErrorKind::InvalidInput, "not a listening socket"));
        };
        let (s, peer) = l.accept()?;
        let nfd = self.add_stream(s, false, SocketOptions::default())?;
        // A connection that already has data must be looked at.
        self.net.pending.push((self.owner, Event::Readable(nfd)));
        Ok((nfd, v4(peer)))
    }

    pub fn connect(&mut self, fd: Fd, addr: SocketAddrV4) -> Result<()> {
        match self.get(fd)? {
            KSock::Unbound { ty: SockType::Stream, opts, .. } => {
                let opts = *opts;
                // Options before the SYN (buffers size the window scale it offers).
                let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
                self.net.tcp.apply(socket2::SockRef::from(&sock), &opts)?;
                sock.set_nonblocking(true)?;
                match sock.connect(&SocketAddr::V4(addr).into()) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                    Err(e) => return Err(e),
                }
                let s = TcpStream::from_std(sock.into());
                let nfd = self.add_stream(s, true, opts)?;
                // Move the stream into the caller's descriptor.
                let sock = self.net.socks[nfd.0 as usize].take();
                self.net.free.push(nfd.0);
                if let Some((_, KSock::Stream { mut s, connecting, out, opts, wants_writable, shut })) = sock {
                    self.net.poll.registry().reregister(&mut s, Token(fd.0 as usize), Interest::READABLE | Interest::WRITABLE)?;
                    *self.get(fd)? = KSock::Stream { s, connecting, out, opts, wants_writable, shut };
                }
                Ok(())
            }
            KSock::Datagram { peer, .. } => {
                *peer = Some(addr);
                Ok(())
            }
            _ => Err(err(ErrorKind::InvalidInput, "socket already connected or listening")),
        }
    }

    pub fn send(&mut self, fd: Fd, data: &[u8]) -> Result<usize> {
        match self.get(fd)? {
            KSock::Stream { s, out, wants_writable, .. } => {
                if out.is_empty() {
                    match s.write(data) {
                        Ok(n) if n == data.len() => return Ok(n),
                        Ok(n) => {
                            let k = (data.len() - n).min(OVERFLOW);
                            out.extend(&data[n..n + k]);
                            return Ok(n + k);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                } else {
                    flush(s, out)?;
                }
                let k = data.len().min(OVERFLOW.saturating_sub(out.len()));
                if k == 0 && !data.is_empty() {
                    *wants_writable = true;
                    return Err(err(ErrorKind::WouldBlock, "send buffer full"));
                }
                out.extend(&data[..k]);
                Ok(k)
            }
            KSock::Datagram { peer, .. } => {
                let to = peer.ok_or_else(|| err(ErrorKind::NotConnected, "no default peer"))?;
                self.sendto(fd, data, to)
            }
            _ => Err(err(ErrorKind::NotConnected, "not connected")),
        }
    }

    pub fn recv(&mut self, fd: Fd, buf: &mut [u8]) -> Result<usize> {
        match self.get(fd)? {
            KSock::Stream { s, .. } => loop {
                match s.read(buf) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    r => return r,
                }
            },
            KSock::Datagram { .. } => self.recvfrom(fd, buf).map(|(n, _)| n),
            _ => Err(err(ErrorKind::NotConnected, "not connected")),
        }
    }

    pub fn shutdown(&mut self, fd: Fd, _how: Shutdown) -> Result<()> {
        match self.get(fd)? {
            KSock::Stream { s, out, shut, .. } => {
                let _ = flush(s, out);
                if out.is_empty() {
                    s.shutdown(std::net::Shutdown::Write)
                } else {
                    // The FIN follows the overflow buffer (see `poll_events`).
                    *shut = true;
                    Ok(())
                }
            }
            _ => Err(err(ErrorKind::NotConnected, "not connected")),
        }
    }

    pub fn close(&mut self, fd: Fd) -> Result<()> {
        let sock = match self.net.socks.get_mut(fd.0 as usize) {
            Some(slot @ Some(_)) if slot.as_ref().is_some_and(|(o, _)| *o == self.owner) => slot.take(),
            _ => return Err(err(ErrorKind::InvalidInput, "bad descriptor")),
        };
        let reg = self.net.poll.registry();
        match sock {
            Some((_, KSock::Stream { mut s, mut out, opts, .. })) => {
                let _ = flush(&mut s, &mut out);
                if opts.linger == Some(crate::time::Duration::ZERO) {
                    let sock = Socket::from(std::net::TcpStream::from(s));
                    let _ = sock.set_linger(Some(StdDuration::ZERO));
                } else if !out.is_empty() {
                    // Keep writing the tail; the slot is freed when it is out.
                    self.net.socks[fd.0 as usize] = Some((NO_OWNER, KSock::Closing { s, out }));
                    return Ok(());
                } else {
                    let _ = reg.deregister(&mut s);
                }
            }
            Some((_, KSock::Listener(mut l))) => {
                let _ = reg.deregister(&mut l);
            }
            Some((_, KSock::Datagram { mut u, .. })) => {
                let _ = reg.deregister(&mut u);
            }
            _ => {}
        }
        self.net.free.push(fd.0);
        Ok(())
    }

    pub fn sendto(&mut self, fd: Fd, data: &[u8], to: SocketAddrV4) -> Result<usize> {
        match self.get(fd)? {
            KSock::Datagram { u, .. } => u.send_to(data, to.into()),
            _ => Err(err(ErrorKind::InvalidInput, "sendto needs a bound datagram socket")),
        }
    }

    pub fn recvfrom(&mut self, fd: Fd, buf: &mut [u8]) -> Result<(usize, SocketAddrV4)> {
        match self.get(fd)? {
            KSock::Datagram { u, .. } => u.recv_from(buf).map(|(n, a)| (n, v4(a))),
            _ => Err(err(ErrorKind::InvalidInput, "recvfrom needs a bound datagram socket")),
        }
    }

    pub fn set_options(&mut self, fd: Fd, o: SocketOptions) -> Result<()> {
        match self.get(fd)? {
            KSock::Unbound { opts, .. } => {
                opts.nodelay = o.nodelay.or(opts.nodelay);
                opts.linger = o.linger.or(opts.linger);
                opts.congestion = o.congestion.or(opts.congestion);
                opts.keepalive = o.keepalive.or(opts.keepalive);
                opts.send_buffer = o.send_buffer.or(opts.send_buffer);
                opts.recv_buffer = o.recv_buffer.or(opts.recv_buffer);
                Ok(())
            }
            KSock::Stream { s, opts, .. } => {
                if let Some(n) = o.nodelay {
                    s.set_nodelay(n)?;
                }
                if let Some(a) = o.congestion {
                    set_cc(&socket2::SockRef::from(&*s), a)?;
                }
                match o.keepalive {
                    Some(Some(idle)) => socket2::SockRef::from(&*s).set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?,
                    Some(None) => socket2::SockRef::from(&*s).set_keepalive(false)?,
                    None => {}
                }
                opts.linger = o.linger.or(opts.linger);
                Ok(())
            }
            _ => Err(err(ErrorKind::InvalidInput, "options apply to stream sockets")),
        }
    }

    /// A stream's effective congestion control, TCP_NODELAY, SO_KEEPALIVE and SO_RCVBUF
    /// (for tests).
    #[cfg(test)]
    pub(crate) fn stream_settings(&mut self, fd: Fd) -> Result<(String, bool, bool, usize)> {
        let KSock::Stream { s, .. } = self.get(fd)? else { return Err(err(ErrorKind::InvalidInput, "not a stream")) };
        let r = socket2::SockRef::from(&*s);
        let cc = String::from_utf8_lossy(&r.tcp_congestion()?).trim_end_matches('\0').to_string();
        Ok((cc, r.tcp_nodelay()?, r.keepalive()?, r.recv_buffer_size()?))
    }

    pub fn local_addr(&mut self, fd: Fd) -> Result<SocketAddrV4> {
        let addr = self.net.addr;
        match self.get(fd)? {
            KSock::Stream { s, .. } => s.local_addr().map(v4),
            KSock::Listener(l) => l.local_addr().map(v4),
            KSock::Datagram { u, .. } => u.local_addr().map(v4),
            KSock::Unbound { port, .. } => Ok(SocketAddrV4::new(addr, port.unwrap_or(0))),
            KSock::Closing { .. } => Err(err(ErrorKind::InvalidInput, "bad descriptor")),
        }
    }

    pub fn peer_addr(&mut self, fd: Fd) -> Result<SocketAddrV4> {
        match self.get(fd)? {
            KSock::Stream { s, .. } => s.peer_addr().map(v4),
            KSock::Datagram { peer: Some(p), .. } => Ok(*p),
            _ => Err(err(ErrorKind::NotConnected, "not connected")),
        }
    }

    pub fn recv_available(&mut self, fd: Fd) -> Result<usize> {
        match self.get(fd)? {
            KSock::Stream { s, .. } => {
                let mut b = [0u8; 1];
                Ok(s.peek(&mut b).unwrap_or_default())
            }
            _ => Ok(0),
        }
    }

    /// Bytes sent and not yet acknowledged by the peer, or not sent yet (SIOCOUTQ plus
    /// the overflow buffer).
    pub fn send_unacked(&mut self, fd: Fd) -> Result<usize> {
        match self.get(fd)? {
            KSock::Stream { s, out, .. } => {
                use std::os::fd::AsFd;
                Ok(crate::sys::unacked_bytes(s.as_fd())? + out.len())
            }
            _ => Err(err(ErrorKind::InvalidInput, "not a stream socket")),
        }
    }

    pub fn send_room(&self, fd: Fd) -> usize {
        match self.net.socks.get(fd.0 as usize) {
            Some(Some((o, KSock::Stream { out, .. }))) if *o == self.owner => OVERFLOW - out.len(),
            _ => 0,
        }
    }

    pub fn send_capacity(&mut self, fd: Fd) -> Result<usize> {
        let room = self.send_room(fd);
        if let Ok(KSock::Stream { out, wants_writable, .. }) = self.get(fd) {
            if out.len() >= OVERFLOW {
                *wants_writable = true;
            }
        }
        Ok(room)
    }
}
