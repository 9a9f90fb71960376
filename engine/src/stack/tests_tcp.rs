//! Two whole stacks talking TCP to each other over in-memory links, in virtual time:
//! ARP, the handshake, services, hand-off-free ownership, SYN cookies, RST. Each side is
//! a worker running the engine's pass (`crate::testkit`).

use std::net::Ipv4Addr;

use super::*;
use crate::apps::services::ServiceSpec;
use crate::phy::VecSink;
use crate::runtime::fault::{FaultConfig, FaultInjector};
use crate::tcp::State;
use crate::testkit::Node;
use crate::time::{Duration, Instant};

const A_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xa]);
const B_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xb]);
const A_IP: Ipv4Addr = Ipv4Addr::new(10, 7, 7, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 7, 7, 2);

fn node(mac: EthernetAddress, ip: Ipv4Addr, services: &[&str], backlog: usize) -> Node {
    node_with(mac, ip, services, TcpSetup { syn_backlog: backlog, ..TcpSetup::default() })
}

/// A worker whose stack runs the applications of `services`, started at time zero.
fn node_with(mac: EthernetAddress, ip: Ipv4Addr, services: &[&str], tcp: TcpSetup) -> Node {
    let cfg = StackConfig { tcp, ..StackConfig::new(mac, vec![Ipv4Cidr { addr: ip, prefix: 24 }]) };
    let stack = Stack::new(cfg, 0, Instant::ZERO);
    let apps = services.iter().map(|s| s.parse::<ServiceSpec>().unwrap().factory()(0)).collect();
    let mut n = Node::new(stack, apps);
    n.start(Instant::ZERO);
    n
}

/// Two stacks and the frames in flight between them, with optional faults on A's side.
struct Pair {
    a: Node,
    b: Node,
    now: Instant,
    to_a: Vec<Vec<u8>>,
    to_b: Vec<Vec<u8>>,
    faults: Option<FaultInjector>,
    /// Deliver each step's frames in one pass (one receive batch), as a worker that finds
    /// them together on its ring; otherwise one pass per frame.
    batched: bool,
    /// B's TCP segments carrying data: all of them, and those shorter than `full`
    /// (the MSS less the timestamp option).
    b_data_segments: usize,
    b_short_segments: usize,
    full: usize,
}

impl Pair {
    fn new(a: Node, b: Node) -> Pair {
        Pair { a, b, now: Instant::from_secs(1), to_a: Vec::new(), to_b: Vec::new(), faults: None, batched: false, b_data_segments: 0, b_short_segments: 0, full: 1448 }
    }

    /// One turn of A's client on connection `id`: once established, sends `request` (once);
    /// reads what arrived; queues A's output for B. Returns the bytes read and whether the
    /// peer's FIN was read.
    fn client_turn(&mut self, id: ConnId, asked: &mut bool, request: &[u8]) -> (usize, bool) {
        let mut tx = VecSink::default();
        let tcb = self.a.tcp_conn(id).expect("held");
        if tcb.state() == State::Established && !*asked {
            *asked = tcb.send(request) == request.len();
        }
        let mut buf = [0u8; 8192];
        let got = tcb.recv(&mut buf);
        let done = tcb.recv_eof();
        self.a.tcp_flush(self.now, &mut tx, id);
        self.to_b.extend(tx.frames);
        (got, done)
    }

    /// Delivers everything in flight, runs due timers, and advances time to the next
    /// deadline when nothing is in flight. Returns false when nothing at all is pending.
    fn step(&mut self) -> bool {
        let now = self.now;
        let pass = |n: &mut Node, inbox: Vec<Vec<u8>>, batched: bool| {
            if batched || inbox.len() <= 1 {
                return n.pass(now, inbox);
            }
            let mut out = Vec::new();
            for f in inbox {
                out.extend(n.pass(now, [f]));
            }
            out
        };
        let mut sink_a = VecSink { frames: pass(&mut self.a, std::mem::take(&mut self.to_a), self.batched), ..VecSink::default() };
        let sink_b = VecSink { frames: pass(&mut self.b, std::mem::take(&mut self.to_b), self.batched), ..VecSink::default() };
        match self.faults.as_mut() {
            Some(inj) => {
                let now = self.now;
                for f in sink_a.frames.drain(..) {
                    inj.rx(now, &f, |g| self.to_b.push(g.to_vec()));
                }
                inj.rx_expired(now + Duration::from_secs(1), |g| self.to_b.push(g.to_vec()));
            }
            None => self.to_b.append(&mut sink_a.frames),
        }
        for f in &sink_b.frames {
            let len = tcp_payload_len(f);
            self.b_data_segments += usize::from(len > 0);
            self.b_short_segments += usize::from(len > 0 && len < self.full);
        }
        self.to_a.extend(sink_b.frames);
        if self.to_a.is_empty() && self.to_b.is_empty() {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) => self.now = t.max(self.now + Duration::from_micros(50)),
                None => return false,
            }
        } else {
            self.now += Duration::from_micros(50);
        }
        true
    }
}

/// TCP payload bytes in an Ethernet frame (0 for anything else).
fn tcp_payload_len(frame: &[u8]) -> usize {
    use crate::wire::{EthernetFrame, Ipv4Packet, TcpPacket};
    let Ok(eth) = EthernetFrame::new_checked(frame) else { return 0 };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else { return 0 };
    if ip.protocol() != crate::wire::IpProtocol::Tcp {
        return 0;
    }
    TcpPacket::new_checked(ip.payload()).map_or(0, |t| t.payload().len())
}

/// A connects to B's echo service, sends `n` bytes, reads them back, closes.
fn echo_through(mut p: Pair, n: usize) -> (Pair, Vec<u8>) {
    let mut tx = VecSink::default();
    let id = p.a.tcp_connect(p.now, &mut tx, A_IP, B_IP, 7).unwrap();
    p.to_b.extend(tx.frames);
    let data: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
    let (mut sent, mut got, mut closed) = (0, Vec::new(), false);
    let deadline = p.now + Duration::from_secs(600);
    while p.now < deadline {
        let mut tx = VecSink::default();
        if let Some(tcb) = p.a.tcp_conn(id) {
            sent += tcb.send(&data[sent..]);
            let mut buf = [0u8; 8192];
            loop {
                let k = tcb.recv(&mut buf);
                if k == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..k]);
            }
            if got.len() == n && !closed {
                closed = true;
                p.a.tcp_release(p.now, &mut tx, id);
            } else {
                p.a.tcp_flush(p.now, &mut tx, id);
            }
        }
        p.to_b.extend(tx.frames);
        if !p.step() {
            break;
        }
        if closed && p.a.tcp_conn(id).is_none() && p.b.tcp_connections().is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), n, "all bytes echoed");
    (p, got)
}

#[test]
fn engine_to_engine_echo_and_clean_close() {
    let p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["tcp-echo:7"], 1024));
    let n = 3 << 20;
    let (p, got) = echo_through(p, n);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i * 31 % 251) as u8));
    // The active closer keeps TIME-WAIT; the server side is gone.
    assert!(p.b.tcp_connections().is_empty(), "server connection reaped");
    assert_eq!(p.b.counters().tcp.accepted, 1);
    assert!(p.b.tcp_counters().bytes_out >= n as u64);
}

#[test]
fn engine_to_engine_through_faults() {
    let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["tcp-echo:7"], 1024));
    p.faults = Some(FaultInjector::new("drop=3,dup=2,reorder=5,corrupt=1,seed=5".parse::<FaultConfig>().unwrap(), 0));
    let (p, got) = echo_through(p, 1 << 20);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i * 31 % 251) as u8));
    let c = p.b.counters();
    assert!(c.tcp.bad_checksum + c.ipv4_bad_checksum > 0, "corruption was caught by checksums");
}

/// Receive batching: the same bytes arrive intact, with far fewer ACKs (one per
/// connection per batch instead of one per two segments), and still through loss,
/// duplication and reordering (out-of-order arrivals are answered at once).
#[test]
fn batched_receive_coalesces_acks() {
    let acks = |batched: bool| {
        let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["tcp-echo:7"], 1024));
        p.batched = batched;
        let (p, got) = echo_through(p, 2 << 20);
        assert!(got.iter().enumerate().all(|(i, &b)| b == (i * 31 % 251) as u8));
        p.a.tcp_counters().acks_sent + p.b.tcp_counters().acks_sent
    };
    let (plain, batched) = (acks(false), acks(true));
    assert!(batched * 4 < plain, "ACKs: {batched} batched vs {plain} one by one");

    let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["tcp-echo:7"], 1024));
    p.batched = true;
    p.faults = Some(FaultInjector::new("drop=3,dup=2,reorder=5,seed=9".parse::<FaultConfig>().unwrap(), 0));
    let (_, got) = echo_through(p, 1 << 20);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i * 31 % 251) as u8));
}

/// The echo service writes in 16 KiB chunks; autocorking sends them as full segments,
/// one short tail per pass at most, not a runt after every write (a runt in flight
/// holds the real tail back under Nagle until the peer's delayed ACK: 40 ms stalls).
#[test]
fn writes_in_one_pass_leave_as_full_segments() {
    let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["tcp-echo:7"], 1024));
    p.batched = true;
    let (p, _) = echo_through(p, 4 << 20);
    let (all, short) = (p.b_data_segments, p.b_short_segments);
    assert!(all > 2900, "{all} data segments for 4 MiB");
    // Without corking: 50 short of 2922; with it: 5 of 2901.
    assert!(short * 100 < all, "{short} short of {all} data segments");
}

/// One chargen download on a fresh connection from A to B port 19, then A's passive
/// close (B closes first and keeps TIME-WAIT). Returns the bytes received and the local
/// ports the connection was seen on.
fn chargen_then_close(p: &mut Pair, ask: &[u8]) -> (usize, Vec<u16>) {
    let mut tx = VecSink::default();
    let id = p.a.tcp_connect(p.now, &mut tx, A_IP, B_IP, 19).unwrap();
    p.to_b.extend(tx.frames);
    let (mut got, mut asked, mut ports) = (0, false, Vec::new());
    for _ in 0..10_000 {
        let (n, done) = p.client_turn(id, &mut asked, ask);
        got += n;
        ports.push(p.a.tcp_conn(id).expect("held").local().1);
        if done {
            break;
        }
        p.step();
    }
    let mut tx = VecSink::default();
    p.a.tcp_release(p.now, &mut tx, id);
    p.to_b.extend(tx.frames);
    // Our side closes passively: gone once the last ACK arrives.
    for _ in 0..100 {
        if p.a.tcp_connections().is_empty() {
            break;
        }
        p.step();
    }
    (got, ports)
}

/// Fresh connections to a server that closes first (chargen): each new connect neither
/// reuses the port whose TIME-WAIT the server holds nor, when a port does come round
/// again, gets refused by it (timestamps continue per address pair, RFC 6191). Before:
/// every few connects a SYN went unanswered and waited out its 1 s retransmission.
#[test]
fn repeated_connects_to_a_server_that_closes_first() {
    let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["chargen:19"], 1024));
    let mut ports = Vec::new();
    for _ in 0..6 {
        let (got, seen) = chargen_then_close(&mut p, b"3000\n");
        ports.extend(seen);
        assert_eq!(got, 3000);
        assert!(p.a.tcp_connections().is_empty());
    }
    ports.dedup();
    assert_eq!(ports.len(), 6, "a new port per connect: {ports:?}");
    let c = p.a.tcp_counters();
    assert_eq!(c.retransmits, 0, "{c:?}");
    assert_eq!(p.b.counters().tcp.time_wait_reused, 0);
}

/// A server that closes first keeps each connection in TIME-WAIT for 2*MSL; when they
/// fill its table, the oldest one makes room for a new connection instead of the SYN
/// being dropped (Linux: `tcp_max_tw_buckets`).
#[test]
fn time_wait_connections_make_room_in_a_full_table() {
    let server = node_with(B_MAC, B_IP, &["chargen:19"], TcpSetup { syn_backlog: 1024, max_conns: 3, ..TcpSetup::default() });
    let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), server);
    for i in 0..8 {
        let (got, _) = chargen_then_close(&mut p, b"3000\n");
        assert_eq!(got, 3000, "transfer {i}");
        assert!(p.b.tcp_connections().len() <= 3);
    }
    let c = p.b.counters().tcp;
    assert_eq!(c.syn_dropped_table_full, 0, "{c:?}");
    assert_eq!(c.time_wait_recycled, 5, "{c:?}");
    assert!(p.b.tcp_connections().iter().all(|(_, s)| *s == State::TimeWait));
}

#[test]
fn engine_to_engine_via_syn_cookies() {
    let p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["tcp-echo:7"], 0));
    let (p, _) = echo_through(p, 200_000);
    let c = p.b.counters().tcp;
    assert_eq!((c.syn_cookies_sent, c.syn_cookies_accepted), (1, 1));
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &[], 1024));
    let mut tx = VecSink::default();
    let id = p.a.tcp_connect(p.now, &mut tx, A_IP, B_IP, 9999).unwrap();
    p.to_b.extend(tx.frames);
    let mut err = None;
    for _ in 0..100 {
        let t = p.a.tcp_conn(id).expect("held until released");
        err = t.error().or(err);
        if t.state() == State::Closed {
            break;
        }
        p.step();
    }
    assert_eq!(err, Some(crate::tcp::TcpError::Refused));
    let mut tx = VecSink::default();
    p.a.tcp_release(p.now, &mut tx, id);
    assert!(p.a.tcp_conn(id).is_none(), "released and closed: reaped");
    assert_eq!(p.b.counters().tcp.rst_sent_closed, 1);
}

#[test]
fn connect_checks_the_local_address() {
    let mut a = node(A_MAC, A_IP, &[], 1024);
    let mut tx = VecSink::default();
    assert_eq!(a.tcp_connect(Instant::ZERO, &mut tx, B_IP, A_IP, 7), Err(ConnectError::NotOurAddress(B_IP)));
}

/// A fresh connection's first response leaves in one burst within the initial window
/// (RFC 6928: ten segments), not one segment per returning ACK.
#[test]
fn first_response_leaves_in_one_burst() {
    let mut p = Pair::new(node(A_MAC, A_IP, &[], 1024), node(B_MAC, B_IP, &["chargen:19"], 1024));
    p.batched = true;
    let mut tx = VecSink::default();
    let id = p.a.tcp_connect(p.now, &mut tx, A_IP, B_IP, 19).unwrap();
    p.to_b.extend(tx.frames);
    let mut asked = false;
    let mut bursts = Vec::new();
    for _ in 0..100 {
        p.client_turn(id, &mut asked, b"8000\n");
        p.step();
        let data: usize = p.to_a.iter().map(|f| tcp_payload_len(f)).sum();
        if data > 0 {
            bursts.push(data);
        }
        if bursts.iter().sum::<usize>() >= 8000 {
            break;
        }
    }
    assert_eq!(bursts.first(), Some(&8000), "bursts {bursts:?}");
}

/// With several workers, successive connects to one destination take distinct ports
/// (each hashing to the opening worker), never the port just closed: the server may
/// hold it in TIME-WAIT. Before: the search advanced by a fixed step and, with most
/// ports hashing to the other worker, often found the same port again.
#[test]
fn successive_connects_with_two_workers_take_new_ports() {
    let mut cfg = StackConfig::new(A_MAC, vec![Ipv4Cidr { addr: A_IP, prefix: 24 }]);
    cfg.workers = 2;
    let mut a = Stack::new(cfg, 0, Instant::ZERO);
    let mut ports = Vec::new();
    for i in 0..40 {
        let now = Instant::from_millis(i);
        let mut tx = VecSink::default();
        let id = a.tcp_connect(now, &mut tx, A_IP, B_IP, 19).unwrap();
        let local = a.tcp_conn(id).unwrap().local();
        let key = crate::stack::flow::FlowKey { local: A_IP, local_port: local.1, remote: B_IP, remote_port: 19 };
        assert_eq!(key.owner(2), 0);
        ports.push(local.1);
        a.tcp_release(now, &mut tx, id);
        assert!(a.tcp_connections().is_empty());
    }
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
}
