//! Tiny in-process servers on 127.0.0.1 for the load-generator tests: echo,
//! HTTP responder, discard, chargen, UDP echo, some of them misbehaving on
//! request. Each runs on detached threads for the life of the test process.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters a server keeps, for the tests to compare with the client's view.
#[derive(Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub closed_by_peer: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counters {
    pub fn get(&self, c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }
}

/// Accepts connections forever, one thread each running `handler`.
pub fn spawn_tcp<F>(handler: F) -> (SocketAddr, Arc<Counters>)
where
    F: Fn(TcpStream, &Counters) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let counters = Arc::new(Counters::default());
    let handler = Arc::new(handler);
    let c = Arc::clone(&counters);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            c.accepted.fetch_add(1, Ordering::SeqCst);
            let (h, c) = (Arc::clone(&handler), Arc::clone(&c));
            std::thread::spawn(move || h(s, &c));
        }
    });
    (addr, counters)
}

/// An address where nothing listens.
pub fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Echo server; `close_after` closes each connection after echoing that many
/// bytes; `corrupt` flips the first byte of every echo.
pub fn echo(close_after: Option<u64>, corrupt: bool) -> SocketAddr {
    spawn_tcp(move |mut s, _| {
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 65536];
        let mut total = 0u64;
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let n = close_after.map_or(n as u64, |lim| (lim - total).min(n as u64)) as usize;
            if corrupt {
                buf[0] ^= 0xff;
            }
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
            total += n as u64;
            if close_after.is_some_and(|lim| total >= lim) {
                return;
            }
        }
    })
    .0
}

/// How the HTTP test server behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Http {
    /// `200 OK` with `Content-Length: 5`, keep-alive unless asked to close.
    Ok,
    /// `500` for every request.
    Status500,
    /// Closes the connection after this many responses.
    CloseAfter(u32),
    /// No `Content-Length` header.
    NoLength,
}

pub const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// HTTP responder; counts `Connection: close` requests in `bytes`.
pub fn http(kind: Http) -> (SocketAddr, Arc<Counters>) {
    spawn_tcp(move |mut s, c| {
        s.set_nodelay(true).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut served = 0u32;
        loop {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => {
                        c.closed_by_peer.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                continue;
            };
            let req: Vec<u8> = buf.drain(..end + 4).collect();
            let close = String::from_utf8_lossy(&req).to_ascii_lowercase().contains("connection: close");
            if close {
                c.bytes.fetch_add(1, Ordering::SeqCst);
            }
            let resp: &[u8] = match kind {
                Http::Status500 => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                Http::NoLength => b"HTTP/1.1 200 OK\r\n\r\nhello",
                _ => OK_RESPONSE,
            };
            if s.write_all(resp).is_err() {
                return;
            }
            served += 1;
            if close || kind == Http::CloseAfter(served) || kind == Http::NoLength {
                let _ = s.shutdown(Shutdown::Both);
                return;
            }
        }
    })
}

/// Discard server: reads to EOF (counting bytes), then closes.
pub fn discard() -> (SocketAddr, Arc<Counters>) {
    spawn_tcp(|mut s, c| {
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            c.bytes.fetch_add(n as u64, Ordering::SeqCst);
        }
    })
}

/// Chargen server: reads `"<n>\n"`, writes `n + extra - short` pattern bytes
/// (byte `corrupt_at`, if any, is wrong), then closes.
pub fn chargen(corrupt_at: Option<u64>, short: u64) -> SocketAddr {
    spawn_tcp(move |mut s, _| {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
            line.push(b[0]);
        }
        let n: u64 = String::from_utf8_lossy(&line).trim().parse().unwrap_or(0);
        let n = n.saturating_sub(short);
        let mut off = 0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        while off < n {
            let m = (n - off).min(chunk.len() as u64) as usize;
            for (i, x) in chunk[..m].iter_mut().enumerate() {
                let pos = off + i as u64;
                *x = bypass_bench::load::chargen_byte(pos) ^ u8::from(corrupt_at == Some(pos));
            }
            if s.write_all(&chunk[..m]).is_err() {
                return;
            }
            off += m as u64;
        }
    })
    .0
}

/// UDP echo server; drops every `drop_every`-th datagram if set.
pub fn udp_echo(drop_every: Option<u64>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut k = 0u64;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            k += 1;
            if drop_every.is_some_and(|d| k.is_multiple_of(d)) {
                continue;
            }
            let _ = sock.send_to(&buf[..n], from);
        }
    });
    addr
}
