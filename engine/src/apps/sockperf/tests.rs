//! The sockperf server's tests: message framing, then both protocols end to end on two
//! workers in virtual time and over the kernel backend.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Sent by sockperf 3.7 `ping-pong -i 127.0.0.1 -m 20` (UDP), captured on loopback.
const PING_PONG_20: &str = "0000000000000001 0003 00000014 b73158a35a25";
/// The first 16 bytes of sockperf 3.7 messages with `-m 32`, per mode: throughput
/// (client only), under-load (seq 100: client + pong request), ping-pong.
const THROUGHPUT_32: &str = "0000000000000001 0001 00000020 d4ab";
const PING_PONG_32: &str = "0000000000000001 0003 00000020 d4ab";

fn msg(seq: u64, flags: u16, len: usize) -> Vec<u8> {
    let mut m = Header { seq, flags, len: len as u32 }.message(0);
    for (i, b) in m.iter_mut().enumerate().skip(HEADER_LEN) {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seq as u8);
    }
    m
}

#[test]
fn golden_header_layout() {
    let m = hex(PING_PONG_20);
    assert_eq!(m.len(), 20);
    assert_eq!(Header::parse(&m), Some(Header { seq: 1, flags: FLAG_CLIENT | FLAG_PONG_REQUEST, len: 20 }));
    assert_eq!(Header::parse(&hex(THROUGHPUT_32)), Some(Header { seq: 1, flags: FLAG_CLIENT, len: 32 }));
    let mut w = [0u8; HEADER_LEN];
    Header { seq: 0x0102030405060708, flags: 0x0a0b, len: 0x0c0d0e0f }.write(&mut w);
    assert_eq!(w, [1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
    assert_eq!(Header::parse(&w[..13]), None);
}

#[test]
fn golden_ping_pong_reply_clears_only_the_client_flag() {
    let mut m = hex(PING_PONG_20);
    assert_eq!(inspect(&m), Ok(Disposition::Reply));
    assert_eq!(reply_for(&mut m), Some(20));
    assert_eq!(m, hex("0000000000000001 0002 00000014 b73158a35a25"));
    // The reply is a server's message: sent back again, it is ignored.
    assert_eq!(inspect(&m), Ok(Disposition::NotClient));
    assert_eq!(reply_for(&mut m), None);
}

#[test]
fn reply_keeps_sequence_payload_and_other_flags() {
    let orig = msg(0xdead_beef_0123, FLAG_CLIENT | FLAG_PONG_REQUEST | 0x0100, 300);
    let mut m = orig.clone();
    assert_eq!(reply_for(&mut m), Some(300));
    assert_eq!(Header::parse(&m), Some(Header { seq: 0xdead_beef_0123, flags: FLAG_PONG_REQUEST | 0x0100, len: 300 }));
    assert_eq!(m[HEADER_LEN..], orig[HEADER_LEN..]);
    assert_eq!(m[..8], orig[..8]);
}

#[test]
fn throughput_messages_get_no_reply() {
    let mut m = hex(THROUGHPUT_32);
    m.resize(32, 0xab);
    assert_eq!(inspect(&m), Ok(Disposition::NoReplyRequested));
    let before = m.clone();
    assert_eq!(reply_for(&mut m), None);
    assert_eq!(m, before, "untouched");
    let mut p = hex(PING_PONG_32);
    p.resize(32, 0xab);
    assert_eq!(reply_for(&mut p), Some(32));
}

#[test]
fn under_load_only_flagged_messages_are_answered() {
    // --reply-every 100: pong request on seq % 100 == 0.
    let replies = (1..=1000u64)
        .filter(|&seq| {
            let flags = if seq % 100 == 0 { FLAG_CLIENT | FLAG_PONG_REQUEST } else { FLAG_CLIENT };
            reply_for(&mut msg(seq, flags, 64)).is_some()
        })
        .count();
    assert_eq!(replies, 10);
}

#[test]
fn warmup_and_server_messages_are_ignored() {
    assert_eq!(inspect(&msg(1, FLAG_CLIENT | FLAG_PONG_REQUEST | FLAG_WARMUP, 14)), Ok(Disposition::Warmup));
    assert_eq!(reply_for(&mut msg(1, FLAG_CLIENT | FLAG_PONG_REQUEST | FLAG_WARMUP, 14)), None);
    assert_eq!(reply_for(&mut msg(1, FLAG_PONG_REQUEST, 14)), None);
    assert_eq!(reply_for(&mut msg(1, 0, 14)), None);
}

#[test]
fn smallest_and_largest_messages() {
    assert_eq!(reply_for(&mut msg(7, 3, HEADER_LEN)), Some(HEADER_LEN));
    assert_eq!(reply_for(&mut msg(7, 3, MAX_MESSAGE)), Some(MAX_MESSAGE));
}

#[test]
fn malformed_messages() {
    assert_eq!(inspect(&[]), Err(Malformed::Short));
    assert_eq!(inspect(&hex(PING_PONG_20)[..13]), Err(Malformed::Short));
    // Length field says 32, datagram has 20.
    let mut m = hex(PING_PONG_20);
    m[13] = 32;
    assert_eq!(inspect(&m), Err(Malformed::LengthMismatch));
    assert_eq!(reply_for(&mut m), None);
    // ... or 16 with 20.
    m[13] = 16;
    assert_eq!(inspect(&m), Err(Malformed::LengthMismatch));
    m[13] = 13;
    assert_eq!(inspect(&m), Err(Malformed::LengthTooSmall));
    let mut z = msg(1, 3, 14);
    z[10..14].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(inspect(&z), Err(Malformed::LengthTooSmall));
    let big = msg(1, 3, MAX_MESSAGE + 1);
    assert_eq!(inspect(&big), Err(Malformed::TooLarge));
    // Little-endian length (not sockperf's byte order) is far too large.
    let mut le = hex(PING_PONG_20);
    le[10..14].copy_from_slice(&20u32.to_le_bytes());
    assert_eq!(inspect(&le), Err(Malformed::TooLarge));
    let before = le.clone();
    assert_eq!(reply_for(&mut le), None);
    assert_eq!(le, before);
}

#[test]
fn frame_waits_for_header_and_body() {
    let m = msg(5, 3, 100);
    assert_eq!(frame(&m[..0], MAX_MESSAGE), Ok(None));
    assert_eq!(frame(&m[..13], MAX_MESSAGE), Ok(None));
    assert_eq!(frame(&m[..14], MAX_MESSAGE), Ok(None));
    assert_eq!(frame(&m[..99], MAX_MESSAGE), Ok(None));
    assert_eq!(frame(&m, MAX_MESSAGE), Ok(Some(100)));
    let mut two = m.clone();
    two.extend_from_slice(&msg(6, 3, 20));
    assert_eq!(frame(&two, MAX_MESSAGE), Ok(Some(100)));
    // Too large is known from the header alone.
    assert_eq!(frame(&msg(5, 3, 70_000)[..14], MAX_MESSAGE), Err(Malformed::TooLarge));
    assert_eq!(frame(&msg(5, 3, 200)[..14], 100), Err(Malformed::TooLarge));
}

fn drain(f: &mut Framer) -> Result<Vec<Vec<u8>>, Malformed> {
    let mut out = Vec::new();
    while let Some(m) = f.next_message()? {
        out.push(m.to_vec());
    }
    Ok(out)
}

#[test]
fn framer_splits_coalesced_messages() {
    let a = msg(1, 3, 14);
    let b = msg(2, 1, 40);
    let c = msg(3, 3, 1000);
    let mut f = Framer::new(MAX_MESSAGE);
    assert_eq!(f.push(&[a.clone(), b.clone(), c.clone()].concat()), a.len() + b.len() + c.len());
    assert_eq!(drain(&mut f).unwrap(), vec![a, b, c]);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn framer_joins_split_messages() {
    let m = msg(9, 3, 500);
    let mut f = Framer::new(MAX_MESSAGE);
    // Byte by byte, header included: nothing until the last byte.
    for (i, b) in m.iter().enumerate() {
        assert!(f.next_message().unwrap().is_none(), "complete after {i} bytes?");
        f.push(&[*b]);
    }
    let got = f.next_message().unwrap().unwrap();
    assert_eq!(got, &m[..]);
    assert!(f.next_message().unwrap().is_none());
}

#[test]
fn framer_reply_rewrites_in_the_buffer() {
    let mut f = Framer::new(MAX_MESSAGE);
    f.push(&[msg(1, 3, 30), msg(2, 1, 30)].concat());
    let m = f.next_message().unwrap().unwrap();
    assert_eq!(reply_for(m), Some(30));
    assert_eq!(Header::parse(m).unwrap().flags, FLAG_PONG_REQUEST);
    let m = f.next_message().unwrap().unwrap();
    assert_eq!(reply_for(m), None);
}

/// A deterministic generator for chunk sizes.
fn lcg(x: &mut u64) -> u64 {
    *x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *x >> 33
}

#[test]
fn framer_recovers_any_chunking_of_a_stream() {
    let mut r = 42u64;
    let msgs: Vec<Vec<u8>> = (0..300u64).map(|i| msg(i, if i % 3 == 0 { 3 } else { 1 }, HEADER_LEN + (lcg(&mut r) % 3000) as usize)).collect();
    let mut big = msgs.clone();
    big.push(msg(300, 3, MAX_MESSAGE));
    big.push(msg(301, 3, 15));
    let stream = big.concat();
    for max_chunk in [1usize, 7, 13, 14, 15, 100, 1460, 9000, READ_CHUNK] {
        let mut f = Framer::new(MAX_MESSAGE);
        let mut got = Vec::new();
        let mut pos = 0;
        while pos < stream.len() {
            // As the server does: take every message, then read at most one chunk.
            got.extend(drain(&mut f).unwrap());
            let want = 1 + (lcg(&mut r) as usize % max_chunk);
            let room = f.spare(want.min(READ_CHUNK));
            let n = room.len().min(stream.len() - pos);
            room[..n].copy_from_slice(&stream[pos..pos + n]);
            f.filled(n);
            pos += n;
            assert!(f.capacity() <= MAX_MESSAGE + READ_CHUNK, "bounded memory");
        }
        got.extend(drain(&mut f).unwrap());
        assert_eq!(got.len(), big.len(), "chunks up to {max_chunk}");
        assert!(got == big, "chunks up to {max_chunk}: messages intact and in order");
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn framer_rejects_bad_lengths_before_buffering_the_body() {
    let mut f = Framer::new(MAX_MESSAGE);
    f.push(&msg(1, 3, 20));
    f.push(&Header { seq: 2, flags: 3, len: 1 << 20 }.message(0)[..HEADER_LEN]);
    assert_eq!(f.next_message().unwrap().map(|m| m.len()), Some(20), "the good one first");
    assert_eq!(f.next_message(), Err(Malformed::TooLarge));
    let mut g = Framer::new(MAX_MESSAGE);
    g.push(&[0u8; HEADER_LEN]);
    assert_eq!(g.next_message(), Err(Malformed::LengthTooSmall));
    // A header split across reads is judged once whole.
    let mut h = Framer::new(MAX_MESSAGE);
    let bad = Header { seq: 2, flags: 3, len: 13 }.message(0);
    h.push(&bad[..10]);
    assert_eq!(h.next_message(), Ok(None));
    h.push(&bad[10..14]);
    assert_eq!(h.next_message(), Err(Malformed::LengthTooSmall));
}

#[test]
fn framer_memory_is_bounded() {
    let mut f = Framer::new(MAX_MESSAGE);
    let m = msg(1, 3, MAX_MESSAGE);
    for _ in 0..5 {
        let mut pos = 0;
        while pos < m.len() {
            pos += f.push(&m[pos..(pos + READ_CHUNK).min(m.len())]);
        }
        assert_eq!(f.next_message().unwrap().unwrap().len(), MAX_MESSAGE);
    }
    assert!(f.capacity() <= MAX_MESSAGE + READ_CHUNK);
    // Without taking messages, a push stops at the bound.
    let mut g = Framer::new(100);
    assert_eq!(g.push(&vec![0u8; 200_000]), 100 + READ_CHUNK);
    assert_eq!(g.spare(10).len(), 0);
}

// ---- End to end on the engine: two stacks in virtual time. ----

use crate::stack::{Ipv4Cidr, Stack, StackConfig};
use crate::testkit::{Node, Wire};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;
use std::sync::Mutex;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 2);
const PORT: u16 = 11111;

fn node(last: u8) -> Stack {
    let addr = Ipv4Cidr { addr: Ipv4Addr::new(10, 9, 9, last), prefix: 24 };
    Stack::new(StackConfig::new(EthernetAddress([2, 0, 0, 0, 9, last]), vec![addr]), 0, Instant::ZERO)
}

/// Runs both nodes (starting their applications) for at most `steps` steps of 50 µs
/// or until `done`; returns whether `done` became true.
fn run(a: &mut Node, b: &mut Node, steps: usize, done: impl Fn() -> bool) -> bool {
    let mut wire = Wire::start(a, b, Instant::from_secs(1));
    wire.run(a, b, Duration::from_micros(50), steps, |_, _| done())
}

/// The server, shared with the test to read its counters.
struct Shared(Arc<Mutex<SockperfServer>>);

impl Application for Shared {
    fn on_start(&mut self, io: &mut Io<'_>) {
        self.0.lock().unwrap().on_start(io)
    }
    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        self.0.lock().unwrap().on_event(io, ev)
    }
}

#[derive(Default)]
struct Seen {
    bytes: Vec<u8>,
    datagrams: Vec<Vec<u8>>,
    closed: bool,
    connected: bool,
}

/// A client application: sends `script` (TCP: as one stream, written as the send
/// buffer allows; UDP: one datagram per entry) and records what comes back.
struct Client {
    tcp: bool,
    script: Vec<Vec<u8>>,
    stream: Vec<u8>,
    sent: usize,
    fd: Option<Fd>,
    seen: Arc<Mutex<Seen>>,
    /// Poll passes to wait before reading anything (to fill the server's buffers).
    hold: usize,
}

impl Client {
    fn new(tcp: bool, script: Vec<Vec<u8>>) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stream = script.concat();
        (Client { tcp, script, stream, sent: 0, fd: None, seen: seen.clone(), hold: 0 }, seen)
    }

    fn pump(&mut self, io: &mut Io<'_>) {
        let fd = self.fd.unwrap();
        while self.sent < self.stream.len() {
            // Odd-sized writes, so messages straddle writes and segments.
            let end = (self.sent + 777).min(self.stream.len());
            match io.send(fd, &self.stream[self.sent..end]) {
                Ok(n) if n > 0 => self.sent += n,
                _ => return,
            }
        }
    }

    fn read(&mut self, io: &mut Io<'_>, fd: Fd) {
        let mut buf = vec![0u8; 70_000];
        loop {
            match io.recvfrom(fd, &mut buf) {
                Ok((n, _)) => {
                    self.seen.lock().unwrap().datagrams.push(buf[..n].to_vec());
                    if self.sent == 0 {
                        self.sent = self.script.len();
                        let to = SocketAddrV4::new(SERVER_IP, PORT);
                        for d in &self.script[1..] {
                            io.sendto(fd, d, to).unwrap();
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::InvalidInput => break,
                Err(_) => return,
            }
        }
        loop {
            match io.recv(fd, &mut buf) {
                Ok(0) => {
                    self.seen.lock().unwrap().closed = true;
                    return;
                }
                Ok(n) => self.seen.lock().unwrap().bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.seen.lock().unwrap().closed = true;
                    return;
                }
            }
        }
    }
}

impl Application for Client {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let to = SocketAddrV4::new(SERVER_IP, PORT);
        if self.tcp {
            let fd = io.socket(SockType::Stream);
            io.connect(fd, to).unwrap();
            self.fd = Some(fd);
        } else {
            let fd = io.socket(SockType::Datagram);
            io.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 40000)).unwrap();
            self.fd = Some(fd);
            // One first, the rest once it is answered (ARP is resolved by then).
            io.sendto(fd, &self.script[0], to).unwrap();
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Connected(_) => {
                self.seen.lock().unwrap().connected = true;
                self.pump(io);
            }
            Event::Writable(_) => self.pump(io),
            Event::Readable(fd) if self.hold == 0 => self.read(io, fd),
            Event::Closed(_) | Event::Error(..) => self.seen.lock().unwrap().closed = true,
            Event::Readable(_) | Event::Acceptable(_) => {}
        }
    }

    fn on_poll(&mut self, io: &mut Io<'_>) {
        if self.hold > 0 {
            self.hold -= 1;
            if self.hold == 0 {
                // Edges seen while holding are gone: read now.
                if let Some(fd) = self.fd {
                    self.read(io, fd);
                }
            }
        }
    }
}

fn pair(client: Client) -> (Node, Node, Arc<Mutex<SockperfServer>>) {
    let server = Arc::new(Mutex::new(SockperfServer::new(PORT)));
    let a = Node::new(node(1), vec![Box::new(client)]);
    let b = Node::new(node(2), vec![Box::new(Shared(server.clone()))]);
    (a, b, server)
}

fn expected_reply(m: &[u8]) -> Option<Vec<u8>> {
    let mut r = m.to_vec();
    reply_for(&mut r).map(|_| r)
}

#[test]
fn engine_tcp_ping_pong_under_load_and_large_messages() {
    let mut r = 7u64;
    let mut script = Vec::new();
    for seq in 1..=400u64 {
        // Small ones that coalesce, large ones that span segments, some unanswered.
        let len = match seq % 5 {
            0 => 3000 + (lcg(&mut r) % 4000) as usize,
            _ => HEADER_LEN + (lcg(&mut r) % 200) as usize,
        };
        let flags = if seq % 3 == 0 { FLAG_CLIENT } else { FLAG_CLIENT | FLAG_PONG_REQUEST };
        script.push(msg(seq, flags, len));
    }
    script.push(msg(401, FLAG_CLIENT | FLAG_PONG_REQUEST, MAX_MESSAGE));
    let want: Vec<u8> = script.iter().filter_map(|m| expected_reply(m)).collect::<Vec<_>>().concat();
    let (client, seen) = Client::new(true, script);
    let (mut a, mut b, server) = pair(client);
    let s = seen.clone();
    let n = want.len();
    assert!(run(&mut a, &mut b, 100_000, move || s.lock().unwrap().bytes.len() >= n));
    let got = seen.lock().unwrap();
    assert!(got.connected);
    assert_eq!(got.bytes.len(), want.len());
    assert!(got.bytes == want, "replies byte for byte, in order");
    let st = server.lock().unwrap().stats();
    assert_eq!(st.tcp_connections, 1);
    assert_eq!(st.tcp_messages, 401);
    assert_eq!(st.tcp_replies, 401 - 133);
    assert_eq!(st.tcp_malformed, 0);
}

#[test]
fn engine_tcp_slow_reader_back_pressure() {
    // 2.6 MB of replies against a client that reads nothing for 100 ms: the server's
    // send buffer fills, replies wait, reading stops; then everything arrives intact.
    let script: Vec<Vec<u8>> = (1..=40u64).map(|seq| msg(seq, FLAG_CLIENT | FLAG_PONG_REQUEST, MAX_MESSAGE - seq as usize)).collect();
    let want: Vec<u8> = script.iter().filter_map(|m| expected_reply(m)).collect::<Vec<_>>().concat();
    let (mut client, seen) = Client::new(true, script);
    client.hold = 2000;
    let (mut a, mut b, server) = pair(client);
    let s = seen.clone();
    let n = want.len();
    assert!(run(&mut a, &mut b, 200_000, move || s.lock().unwrap().bytes.len() >= n));
    assert!(seen.lock().unwrap().bytes == want, "replies intact");
    let st = server.lock().unwrap().stats();
    assert_eq!(st.tcp_replies, 40);
    assert!(st.tcp_reply_stalls > 0, "the send buffer filled: {st:?}");
}

#[test]
fn engine_tcp_malformed_stream_is_closed() {
    let mut bad = msg(2, 3, 40);
    bad[10..14].copy_from_slice(&(MAX_MESSAGE as u32 + 1).to_be_bytes());
    let (client, seen) = Client::new(true, vec![msg(1, 3, 40), bad]);
    let (mut a, mut b, server) = pair(client);
    let s = seen.clone();
    assert!(run(&mut a, &mut b, 100_000, move || s.lock().unwrap().closed));
    assert_eq!(seen.lock().unwrap().bytes, expected_reply(&msg(1, 3, 40)).unwrap(), "the good message was answered");
    let srv = server.lock().unwrap();
    assert_eq!(srv.stats().tcp_malformed, 1);
    assert_eq!(srv.connections(), 0);
}

#[test]
fn engine_udp_answers_and_drops() {
    let mut mismatch = msg(3, 3, 100);
    mismatch[13] = 99;
    let script = vec![
        msg(1, 3, 20),
        msg(2, 1, 20),                 // throughput: no reply
        mismatch,                      // malformed
        vec![1, 2, 3],                 // malformed
        msg(4, 7, 20),                 // warmup
        msg(5, 3, 1400),
        msg(6, 3, 9000),               // fragmented datagram
        msg(7, 2, 20),                 // not a client
    ];
    let want: Vec<Vec<u8>> = script.iter().filter_map(|m| expected_reply(m)).collect();
    assert_eq!(want.len(), 3);
    let (client, seen) = Client::new(false, script);
    let (mut a, mut b, server) = pair(client);
    let s = seen.clone();
    // Runs on after the three replies, so that anything unexpected arrives too.
    assert!(!run(&mut a, &mut b, 5_000, move || s.lock().unwrap().datagrams.len() > 3));
    assert_eq!(seen.lock().unwrap().datagrams, want);
    let st = server.lock().unwrap().stats();
    assert_eq!((st.udp_messages, st.udp_replies, st.udp_malformed), (6, 3, 2));
}

// ---- The kernel backend, over loopback, with a plain std client. ----

#[test]
fn kernel_backend_udp_and_tcp_on_loopback() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let port = {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        drop(t);
        p
    };
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let worker = std::thread::spawn(move || {
        crate::api::kernel_worker::run(0, Ipv4Addr::LOCALHOST, None, crate::runtime::PollMode::Adaptive, crate::api::kernel::KernelTcp::default(), vec![factory(port)], st)
    });
    let to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    // UDP: retried until the server is up.
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(std::time::Duration::from_millis(100))).unwrap();
    let ping = msg(1, 3, 64);
    let mut buf = vec![0u8; 70_000];
    let mut got = None;
    for _ in 0..50 {
        u.send_to(&ping, to).unwrap();
        if let Ok(n) = u.recv(&mut buf) {
            got = Some(buf[..n].to_vec());
            break;
        }
    }
    assert_eq!(got, expected_reply(&ping));
    // TCP: a stream of messages written in awkward pieces.
    let mut t = std::net::TcpStream::connect(to).unwrap();
    t.set_nodelay(true).unwrap();
    t.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let script: Vec<Vec<u8>> = (1..=200u64).map(|s| msg(s, if s % 4 == 0 { 1 } else { 3 }, 14 + (s as usize * 37) % 2000)).collect();
    let want: Vec<u8> = script.iter().filter_map(|m| expected_reply(m)).collect::<Vec<_>>().concat();
    let stream = script.concat();
    for c in stream.chunks(1001) {
        t.write_all(c).unwrap();
    }
    let mut back = vec![0u8; want.len()];
    t.read_exact(&mut back).unwrap();
    assert!(back == want, "TCP replies intact");
    // A malformed header: the server closes.
    t.write_all(&[0u8; HEADER_LEN]).unwrap();
    let mut rest = Vec::new();
    let r = t.read_to_end(&mut rest);
    assert!(r.is_ok() || r.unwrap_err().kind() == ErrorKind::ConnectionReset);
    assert!(rest.is_empty());
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap().unwrap();
}
