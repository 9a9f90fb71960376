//! The kernel backend's event loop over loopback sockets.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration as StdDuration;

use super::fast::{Event, SockType};
use super::kernel::{KernelIo, KernelNet};
use crate::time::Instant;

/// An application that saw no room never called `send`, so never got WouldBlock: when
/// the overflow buffer drains it must still hear `Writable`, or a large HTTP response
/// stalls for good (seen as curl timeouts on 1 MiB POSTs).
#[test]
fn writable_after_the_buffer_drains_without_a_would_block() {
    let lo = Ipv4Addr::LOCALHOST;
    let mut net = KernelNet::new(lo, 0, crate::api::kernel::KernelTcp::default()).unwrap();
    let mut io = KernelIo::new(&mut net, 0, Instant::ZERO);
    let l = io.socket(SockType::Stream);
    io.bind(l, SocketAddrV4::new(lo, 0)).unwrap();
    io.listen(l, 8).unwrap();
    let port = io.local_addr(l).unwrap().port();
    let mut client = std::net::TcpStream::connect((lo, port)).unwrap();
    let mut events = Vec::new();
    let mut fd = None;
    for _ in 0..100 {
        net.poll_events(Some(StdDuration::from_millis(10)), &mut events).unwrap();
        let mut io = KernelIo::new(&mut net, 0, Instant::ZERO);
        if let Ok((f, _)) = io.accept(l) {
            fd = Some(f);
            break;
        }
    }
    let fd = fd.expect("accepted");
    // Fill the socket and the overflow buffer, as the HTTP handler does: write only
    // what `send_room` says fits, so `send` never returns WouldBlock.
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    let mut io = KernelIo::new(&mut net, 0, Instant::ZERO);
    while io.send_room(fd) > 0 {
        let n = io.send(fd, &chunk[..io.send_room(fd).min(chunk.len())]).unwrap();
        sent += n;
    }
    assert_eq!(io.send(fd, &[]).unwrap(), 0);
    // The client reads it all; the loop must say Writable while the buffer drains.
    client.set_read_timeout(Some(StdDuration::from_millis(20))).unwrap();
    let mut got = 0;
    let mut writable = false;
    let mut buf = vec![0u8; 256 * 1024];
    for _ in 0..500 {
        if let Ok(n) = client.read(&mut buf) {
            got += n;
        }
        events.clear();
        net.poll_events(Some(StdDuration::ZERO), &mut events).unwrap();
        writable |= events.iter().any(|&(_, e)| e == Event::Writable(fd));
        if writable || got >= sent {
            break;
        }
    }
    assert!(writable, "no Writable event after {got} of {sent} bytes were read");
}

/// `--backend kernel` applies the engine's TCP options through socket options: accepted
/// connections inherit the listener's congestion control, TCP_NODELAY, keepalive and
/// buffers (before: the host's default algorithm, bbr here, and none of the rest).
#[test]
fn accepted_connections_carry_the_configured_tcp_settings() {
    let lo = Ipv4Addr::LOCALHOST;
    let tcp = crate::api::kernel::KernelTcp {
        cc: crate::tcp::CcAlgorithm::NewReno,
        nodelay: true,
        keepalive: Some(StdDuration::from_secs(30)),
        buffer: Some(96 * 1024),
    };
    let mut net = KernelNet::new(lo, 0, tcp).unwrap();
    let mut io = KernelIo::new(&mut net, 0, Instant::ZERO);
    let l = io.socket(SockType::Stream);
    io.bind(l, SocketAddrV4::new(lo, 0)).unwrap();
    io.listen(l, 8).unwrap();
    let port = io.local_addr(l).unwrap().port();
    let _client = std::net::TcpStream::connect((lo, port)).unwrap();
    let mut events = Vec::new();
    let mut fd = None;
    for _ in 0..100 {
        net.poll_events(Some(StdDuration::from_millis(10)), &mut events).unwrap();
        if let Ok((f, _)) = KernelIo::new(&mut net, 0, Instant::ZERO).accept(l) {
            fd = Some(f);
            break;
        }
    }
    let fd = fd.expect("accepted");
    let (cc, nodelay, keepalive, rcvbuf) = KernelIo::new(&mut net, 0, Instant::ZERO).stream_settings(fd).unwrap();
    assert_eq!(cc, "reno");
    assert!(nodelay && keepalive, "nodelay {nodelay} keepalive {keepalive}");
    // Linux doubles the value set (for its bookkeeping) and reports that.
    assert!((96 * 1024..=2 * 96 * 1024 + 4096).contains(&rcvbuf), "SO_RCVBUF {rcvbuf}");
}
