//! The fast-path face end to end: two stacks in virtual time, an echo server and a
//! client written as applications, on the engine's own worker pass (`crate::testkit`).

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::fast::FdTable;
use super::*;
use crate::phy::VecSink;
use crate::stack::{Ipv4Cidr, Stack, StackConfig, StackEvent};
use crate::testkit::{Node, Wire};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

fn node(last: u8) -> Stack {
    let addr = Ipv4Cidr { addr: Ipv4Addr::new(10, 5, 5, last), prefix: 24 };
    Stack::new(StackConfig::new(EthernetAddress([2, 0, 0, 0, 0, last]), vec![addr]), 0, Instant::ZERO)
}

/// Echoes every byte on every accepted connection; closes when the client does.
#[derive(Default)]
struct EchoServer {
    listener: Option<Fd>,
    accepted: usize,
}

impl Application for EchoServer {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let fd = io.socket(SockType::Stream);
        io.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7)).unwrap();
        io.listen(fd, 16).unwrap();
        self.listener = Some(fd);
    }
    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Acceptable(l) => {
                while let Ok((_c, _peer)) = io.accept(l) {
                    self.accepted += 1;
                }
            }
            Event::Readable(c) | Event::Writable(c) => {
                let mut buf = [0u8; 4096];
                loop {
                    let room = io.send_capacity(c).unwrap_or(0).min(buf.len());
                    if room == 0 {
                        break;
                    }
                    match io.recv(c, &mut buf[..room]) {
                        Ok(0) => {
                            let _ = io.close(c);
                            break;
                        }
                        Ok(n) => assert_eq!(io.send(c, &buf[..n]).unwrap(), n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => {
                            let _ = io.close(c);
                            break;
                        }
                    }
                }
            }
            Event::Closed(c) | Event::Error(c, _) => {
                let _ = io.close(c);
            }
            Event::Connected(_) => {}
        }
    }
}

/// Connects, sends `total` bytes, reads them back, closes.
#[derive(Default)]
struct Outcome {
    got: Vec<u8>,
    connected: bool,
    error: Option<ErrorKind>,
}

struct Client {
    fd: Option<Fd>,
    total: usize,
    sent: usize,
    got: Vec<u8>,
    out: std::sync::Arc<std::sync::Mutex<Outcome>>,
    port: u16,
}

impl Client {
    fn new(total: usize, port: u16) -> (Self, std::sync::Arc<std::sync::Mutex<Outcome>>) {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Outcome::default()));
        (Client { fd: None, total, sent: 0, got: Vec::new(), out: out.clone(), port }, out)
    }
    fn byte(i: usize) -> u8 {
        (i * 7 % 253) as u8
    }
    fn pump(&mut self, io: &mut Io<'_>) {
        let Some(fd) = self.fd else { return };
        while self.sent < self.total {
            let chunk: Vec<u8> = (self.sent..self.total.min(self.sent + 8192)).map(Self::byte).collect();
            match io.send(fd, &chunk) {
                Ok(n) => self.sent += n,
                Err(_) => break,
            }
        }
        let mut buf = [0u8; 8192];
        while let Ok(n) = io.recv(fd, &mut buf) {
            if n == 0 {
                break;
            }
            self.got.extend_from_slice(&buf[..n]);
        }
        if self.got.len() == self.total {
            let _ = io.close(fd);
            self.fd = None;
            self.out.lock().unwrap().got = std::mem::take(&mut self.got);
        }
    }
}

impl Application for Client {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let fd = io.socket(SockType::Stream);
        io.set_options(fd, SocketOptions { nodelay: Some(true), ..Default::default() }).unwrap();
        io.connect(fd, SocketAddrV4::new(Ipv4Addr::new(10, 5, 5, 2), self.port)).unwrap();
        self.fd = Some(fd);
        assert_eq!(io.recv(fd, &mut [0u8; 4]).unwrap_err().kind(), ErrorKind::WouldBlock);
    }
    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Connected(_) => {
                self.out.lock().unwrap().connected = true;
                self.pump(io);
            }
            Event::Readable(_) | Event::Writable(_) => self.pump(io),
            Event::Error(fd, k) => {
                self.out.lock().unwrap().error = Some(k);
                let _ = io.close(fd);
                self.fd = None;
            }
            _ => {}
        }
    }
}

/// Runs both workers from 1 s in steps of 100 µs until `until` (at most 200,000 steps).
fn run(mut a: Node, mut b: Node, until: impl Fn(&Node, &Node) -> bool) -> (Node, Node) {
    let mut wire = Wire::start(&mut a, &mut b, Instant::from_secs(1));
    wire.run(&mut a, &mut b, Duration::from_micros(100), 200_000, until);
    (a, b)
}

#[test]
fn fast_face_echo_between_two_engines() {
    let (client, out) = Client::new(300_000, 7);
    let a = Node::new(node(1), vec![Box::new(client)]);
    let b = Node::new(node(2), vec![Box::new(EchoServer::default())]);
    let o = out.clone();
    let (_a, b) = run(a, b, move |_, _| o.lock().unwrap().got.len() == 300_000);
    let r = out.lock().unwrap();
    assert!(r.connected);
    assert_eq!(r.got.len(), 300_000);
    assert!(r.got.iter().enumerate().all(|(i, &x)| x == Client::byte(i)), "bytes intact");
    assert_eq!(b.core.stack.counters().tcp.accepted, 1);
}

#[test]
fn fast_face_connect_to_closed_port_reports_refused() {
    let (client, out) = Client::new(10, 9);
    let a = Node::new(node(1), vec![Box::new(client)]);
    let b = Node::new(node(2), vec![]);
    let o = out.clone();
    let _ = run(a, b, move |_, _| o.lock().unwrap().error.is_some());
    assert_eq!(out.lock().unwrap().error, Some(ErrorKind::ConnectionRefused));
}

#[test]
fn fast_face_errors_have_the_usual_kinds() {
    let mut s = node(1);
    let mut fds = FdTable::default();
    let mut tx = VecSink::default();
    let mut io = Io::new(&mut s, &mut tx, &mut fds, 0, Instant::from_secs(1));
    let a = io.socket(SockType::Stream);
    io.bind(a, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    io.listen(a, 8).unwrap();
    let b = io.socket(SockType::Stream);
    io.bind(b, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    assert_eq!(io.listen(b, 8).unwrap_err().kind(), ErrorKind::AddrInUse);
    let c = io.socket(SockType::Stream);
    assert_eq!(io.bind(c, SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 81)).unwrap_err().kind(), ErrorKind::AddrNotAvailable);
    assert_eq!(io.send(c, b"x").unwrap_err().kind(), ErrorKind::NotConnected);
    assert_eq!(io.accept(a).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(io.accept(c).unwrap_err().kind(), ErrorKind::InvalidInput);
    let u = io.socket(SockType::Datagram);
    io.bind(u, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap();
    let u2 = io.socket(SockType::Datagram);
    assert_eq!(io.bind(u2, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap_err().kind(), ErrorKind::AddrInUse);
    assert_eq!(io.send(u, b"x").unwrap_err().kind(), ErrorKind::NotConnected);
    assert_eq!(io.recvfrom(u, &mut [0u8; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
    io.close(a).unwrap();
    assert_eq!(io.accept(a).unwrap_err().kind(), ErrorKind::InvalidInput, "closed descriptor");
    // The port is free again.
    let d = io.socket(SockType::Stream);
    io.bind(d, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    io.listen(d, 8).unwrap();
}

/// An event still queued for a connection that is gone must not reach the connection
/// that took its slot (and, often, its descriptor number): a client that closes and
/// reconnects while handling one event used to get the old connection's `Closed` for the
/// new one ("closed after 0 bytes").
#[test]
fn stale_events_do_not_reach_a_reused_slot() {
    let mut s = node(1);
    let mut fds = FdTable::default();
    let mut tx = VecSink::default();
    let peer = SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 2), 19);
    let mut io = Io::new(&mut s, &mut tx, &mut fds, 0, Instant::from_secs(1));
    let a = io.socket(SockType::Stream);
    let _ = io.connect(a, peer);
    io.close(a).unwrap();
    let b = io.socket(SockType::Stream);
    let _ = io.connect(b, peer);
    drop(io);
    // The new connection got slot 0 again, and the events of both incarnations name it.
    let stale = StackEvent::Closed { conn: 0, inc: 1 };
    let fresh = StackEvent::Closed { conn: 0, inc: 2 };
    assert_eq!(s.tcp_incarnation(crate::stack::ConnId(0)), Some(2));
    assert_eq!(fds.route(&mut s, stale), None);
    assert_eq!(fds.route(&mut s, fresh).map(|(_, e)| e), Some(Event::Closed(b)));
}

#[test]
fn http_service_connections_run_without_nagle() {
    use crate::apps::services::{ServiceKind, ServiceSpec};
    let (client, out) = Client::new(10, 80);
    let a = Node::new(node(1), vec![Box::new(client)]);
    let http = ServiceSpec { kind: ServiceKind::HttpEcho, port: 80 }.factory()(0);
    let b = Node::new(node(2), vec![http]);
    let (_a, mut b) = run(a, b, |_, b| b.core.stack.tcp_connections().iter().any(|(_, s)| *s == crate::tcp::State::Established));
    assert!(out.lock().unwrap().connected);
    let nodelay: Vec<bool> = (0..64).filter_map(|i| b.core.stack.tcp_conn(crate::stack::ConnId(i)).map(|t| t.nodelay())).collect();
    assert_eq!(nodelay, vec![true]);
}

/// A stream socket bound to one of several engine addresses connects from it, with that
/// address's own ephemeral ports: when one address has none left, another still has
/// them (how a client engine holds more connections to one server than one address has
/// ports). Unbound sockets connect from the first address.
#[test]
fn connect_from_the_bound_address_with_its_own_ports() {
    let (a1, a2) = (Ipv4Addr::new(10, 5, 5, 1), Ipv4Addr::new(10, 5, 5, 11));
    let mut cfg = StackConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), vec![Ipv4Cidr { addr: a1, prefix: 24 }, Ipv4Cidr { addr: a2, prefix: 24 }]);
    cfg.tcp.local_ports = 40000..=40001;
    let mut s = Stack::new(cfg, 0, Instant::ZERO);
    let mut fds = FdTable::default();
    let mut tx = VecSink::default();
    let mut io = Io::new(&mut s, &mut tx, &mut fds, 0, Instant::from_secs(1));
    let server = SocketAddrV4::new(Ipv4Addr::new(10, 5, 5, 2), 9);
    let open = |io: &mut Io<'_>, from: Option<Ipv4Addr>| {
        let fd = io.socket(SockType::Stream);
        if let Some(ip) = from {
            io.bind(fd, SocketAddrV4::new(ip, 0))?;
        }
        io.connect(fd, server)?;
        io.local_addr(fd)
    };
    let first = open(&mut io, None).unwrap();
    assert_eq!(*first.ip(), a1);
    assert_eq!(*open(&mut io, Some(a1)).unwrap().ip(), a1);
    assert_eq!(open(&mut io, Some(a1)).unwrap_err().kind(), ErrorKind::AddrNotAvailable, "both ports of a1 taken");
    assert_eq!(open(&mut io, None).unwrap_err().kind(), ErrorKind::AddrNotAvailable);
    let mut ports = Vec::new();
    for _ in 0..2 {
        let l = open(&mut io, Some(a2)).unwrap();
        assert_eq!(*l.ip(), a2);
        ports.push(l.port());
    }
    ports.sort_unstable();
    assert_eq!(ports, [40000, 40001]);
    assert_eq!(open(&mut io, Some(a2)).unwrap_err().kind(), ErrorKind::AddrNotAvailable);
    assert_eq!(open(&mut io, Some(Ipv4Addr::new(10, 5, 5, 99))).unwrap_err().kind(), ErrorKind::AddrNotAvailable, "not ours");
}
