//! A `sockperf server` on the fast-path socket API: answers the real sockperf client
//! (<https://github.com/Mellanox/sockperf>, tested against 3.7) in its ping-pong,
//! under-load and throughput modes, over UDP and TCP on one port.
//!
//! # The message
//!
//! Every sockperf message starts with a 14-byte header, all fields in network byte order
//! (`MsgHeader` in `src/message.h`, packed to 2 bytes; `hton`/`ntoh` there; the server
//! calls `setHeaderToHost` after reading and `setHeaderToNetwork` before replying):
//!
//! | offset | size | field                                                            |
//! |--------|------|------------------------------------------------------------------|
//! | 0      | 8    | sequence number (`m_sequence_number`, u64)                       |
//! | 8      | 2    | flags (`m_flags`, u16): 1 client, 2 pong request, 4 warmup       |
//! | 10     | 4    | length (`length`, u32): the whole message, header included       |
//!
//! followed by `length - 14` payload bytes (random filler; the client's `-m` is the
//! whole length, minimum 14). The largest message the stock server accepts is 65507
//! bytes (`MAX_PAYLOAD_SIZE` in `src/defs.cpp`; its `--msg-size` can change that).
//!
//! Captured from sockperf 3.7 `ping-pong -m 20`: `00000000 00000001 0003 00000014`
//! and six payload bytes: sequence 1, client + pong request, 20 bytes.
//!
//! # When the server replies
//!
//! As `Server::server_receive_then_send` in `src/server.h` does: a message without the
//! client flag is ignored (a server's own reply coming back), a warmup message is
//! ignored, and a message is answered only when it carries the pong-request flag. The
//! answer is the message itself, same length and payload, with only the client flag
//! cleared (pong-request and any other bits stay). The client sets pong-request on every
//! message in ping-pong, on every `--reply-every`th (default 100, `seq % n == 0`) in
//! under-load, and on none in throughput (`PongModeNormal`/`PongModeAlways`/
//! `PongModeNever` in `src/switches.h`) — so in throughput mode nothing is sent back.
//!
//! # Framing
//!
//! UDP: one datagram, one message; its length field must equal the datagram's size.
//! Anything else is dropped and counted ([`SockperfStats::udp_malformed`]).
//!
//! TCP: the stream is a sequence of messages delimited by their length fields; a read may
//! hold part of one or several ([`Framer`]). A length below 14 or above 65507 closes the
//! connection (the stock server closes on the latter too), which bounds what one
//! connection holds to one message plus one read. Replies that do not fit the send
//! buffer wait in a per-connection queue of at most one message, and the connection is
//! not read meanwhile.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use crate::api::{AppFactory, Application, Event, Fd, Io, SockType, SocketOptions};

/// Bytes in the header: sequence (8), flags (2), length (4).
pub const HEADER_LEN: usize = 14;
/// Flag: sent by a client (cleared in the reply).
pub const FLAG_CLIENT: u16 = 1;
/// Flag: the client wants this message answered.
pub const FLAG_PONG_REQUEST: u16 = 2;
/// Flag: a warmup message, never answered.
pub const FLAG_WARMUP: u16 = 4;
/// The largest message (header included) the stock server accepts: `MAX_PAYLOAD_SIZE`.
pub const MAX_MESSAGE: usize = 65507;
/// Bytes read from a TCP connection at a time.
pub const READ_CHUNK: usize = 32 * 1024;

/// A message header, in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    pub flags: u16,
    /// The whole message's length, header included.
    pub len: u32,
}

impl Header {
    /// The header at the start of `b`, if `b` holds one.
    pub fn parse(b: &[u8]) -> Option<Header> {
        let h = b.get(..HEADER_LEN)?;
        Some(Header {
            seq: u64::from_be_bytes(h[0..8].try_into().ok()?),
            flags: u16::from_be_bytes([h[8], h[9]]),
            len: u32::from_be_bytes([h[10], h[11], h[12], h[13]]),
        })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `b`.
    pub fn write(&self, b: &mut [u8]) {
        b[0..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..10].copy_from_slice(&self.flags.to_be_bytes());
        b[10..14].copy_from_slice(&self.len.to_be_bytes());
    }

    /// A whole message with this header and `fill` as every payload byte (`len` bytes).
    pub fn message(&self, fill: u8) -> Vec<u8> {
        let mut m = vec![fill; (self.len as usize).max(HEADER_LEN)];
        self.write(&mut m);
        m
    }
}

/// Why input is not a valid sockperf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Fewer than [`HEADER_LEN`] bytes (a datagram).
    Short,
    /// The length field is below [`HEADER_LEN`].
    LengthTooSmall,
    /// The length field is above the maximum message size.
    TooLarge,
    /// The length field does not match the datagram's size.
    LengthMismatch,
}

/// What the server does with a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Answer it.
    Reply,
    /// Not from a client (no client flag): ignored.
    NotClient,
    /// A warmup message: ignored.
    Warmup,
    /// No pong request: counted, not answered (throughput, most of under-load).
    NoReplyRequested,
}

/// Classifies one whole message (`msg` is exactly one message, as a UDP datagram is).
pub fn inspect(msg: &[u8]) -> Result<Disposition, Malformed> {
    inspect_max(msg, MAX_MESSAGE)
}

fn inspect_max(msg: &[u8], max: usize) -> Result<Disposition, Malformed> {
    let h = Header::parse(msg).ok_or(Malformed::Short)?;
    check_len(h.len, max)?;
    if h.len as usize != msg.len() {
        return Err(Malformed::LengthMismatch);
    }
    Ok(if h.flags & FLAG_CLIENT == 0 {
        Disposition::NotClient
    } else if h.flags & FLAG_WARMUP != 0 {
        Disposition::Warmup
    } else if h.flags & FLAG_PONG_REQUEST == 0 {
        Disposition::NoReplyRequested
    } else {
        Disposition::Reply
    })
}

fn check_len(len: u32, max: usize) -> Result<(), Malformed> {
    if (len as usize) < HEADER_LEN {
        Err(Malformed::LengthTooSmall)
    } else if len as usize > max {
        Err(Malformed::TooLarge)
    } else {
        Ok(())
    }
}

/// Turns `msg` (exactly one message) into its reply in place — clears the client flag —
/// and returns the reply's length; `None`, leaving `msg` untouched, when no reply is due
/// or the message is malformed (see [`inspect`] for which).
pub fn reply_for(msg: &mut [u8]) -> Option<usize> {
    reply_for_max(msg, MAX_MESSAGE)
}

fn reply_for_max(msg: &mut [u8], max: usize) -> Option<usize> {
    match inspect_max(msg, max) {
        Ok(Disposition::Reply) => {
            let flags = u16::from_be_bytes([msg[8], msg[9]]) & !FLAG_CLIENT;
            msg[8..10].copy_from_slice(&flags.to_be_bytes());
            Some(msg.len())
        }
        _ => None,
    }
}

/// The length of the first message in `buf` (a TCP stream's unread bytes) when it is all
/// there, `None` while more bytes are needed, or an error as soon as the header shows the
/// stream is not sockperf's (the body is not waited for).
pub fn frame(buf: &[u8], max: usize) -> Result<Option<usize>, Malformed> {
    let Some(h) = Header::parse(buf) else { return Ok(None) };
    check_len(h.len, max)?;
    let n = h.len as usize;
    Ok((buf.len() >= n).then_some(n))
}

/// Reassembles a TCP stream into messages. Holds at most `max_message + READ_CHUNK`
/// bytes: a caller reads (through [`Framer::spare`]) only after taking every complete
/// message, so what is buffered then is part of one message.
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_message: usize,
}

impl Framer {
    pub fn new(max_message: usize) -> Self {
        Framer { buf: Vec::new(), start: 0, end: 0, max_message }
    }

    /// Bytes received and not yet taken as messages.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn limit(&self) -> usize {
        self.max_message + READ_CHUNK
    }

    /// Room for up to `want` more bytes after the buffered ones, to read into; follow
    /// with [`Framer::filled`]. Smaller than `want` only near the memory bound.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let want = want.min(self.limit() - self.buffered());
        if self.buf.len() - self.end < want {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < want {
                let grown = (self.buf.len() * 2).min(self.limit()).max(self.end + want);
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..self.end + want]
    }

    /// `n` bytes were written at the start of the last [`Framer::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Appends as much of `data` as fits; returns how much did.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let room = self.spare(data.len());
        let n = room.len();
        room.copy_from_slice(&data[..n]);
        self.filled(n);
        n
    }

    /// Takes the next complete message out of the buffer: `None` while more input is
    /// needed. The slice is the caller's to rewrite until the next call.
    pub fn next_message(&mut self) -> Result<Option<&mut [u8]>, Malformed> {
        let Some(n) = frame(&self.buf[self.start..self.end], self.max_message)? else { return Ok(None) };
        let s = self.start;
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(Some(&mut self.buf[s..s + n]))
    }
}

/// What one server instance has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockperfStats {
    /// Valid datagrams.
    pub udp_messages: u64,
    pub udp_replies: u64,
    /// Datagrams dropped as malformed.
    pub udp_malformed: u64,
    /// Replies the stack would not take (no route or buffer).
    pub udp_send_failed: u64,
    pub tcp_connections: u64,
    pub tcp_messages: u64,
    pub tcp_replies: u64,
    /// Replies that did not fit the send buffer whole: the rest waited for `Writable`
    /// and the connection was not read meanwhile.
    pub tcp_reply_stalls: u64,
    /// Connections closed for malformed input.
    pub tcp_malformed: u64,
}

/// One TCP connection.
struct Conn {
    framer: Framer,
    /// The unsent tail of a reply (at most one message).
    out: Vec<u8>,
    out_pos: usize,
}

enum Step {
    Wait,
    Close,
}

/// The sockperf server on one worker: UDP and TCP on `port`.
pub struct SockperfServer {
    port: u16,
    max_message: usize,
    udp: Option<Fd>,
    listener: Option<Fd>,
    conns: HashMap<Fd, Conn>,
    dgram: Vec<u8>,
    stats: SockperfStats,
}

/// The application factory: a [`SockperfServer`] on `port` on every worker.
pub fn factory(port: u16) -> AppFactory {
    Arc::new(move |_worker| -> Box<dyn Application> { Box::new(SockperfServer::new(port)) })
}

impl SockperfServer {
    pub fn new(port: u16) -> Self {
        Self::with_max_message(port, MAX_MESSAGE)
    }

    /// Accepting messages up to `max` bytes (sockperf server's `--msg-size`), at least
    /// [`HEADER_LEN`].
    pub fn with_max_message(port: u16, max: usize) -> Self {
        let max_message = max.max(HEADER_LEN);
        SockperfServer { port, max_message, udp: None, listener: None, conns: HashMap::new(), dgram: vec![0; 65536], stats: SockperfStats::default() }
    }

    pub fn stats(&self) -> SockperfStats {
        self.stats
    }

    /// Open TCP connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    fn on_datagrams(&mut self, io: &mut Io<'_>, fd: Fd) {
        while let Ok((n, from)) = io.recvfrom(fd, &mut self.dgram) {
            let msg = &mut self.dgram[..n];
            match inspect_max(msg, self.max_message) {
                Err(_) => self.stats.udp_malformed += 1,
                Ok(d) => {
                    self.stats.udp_messages += 1;
                    if d == Disposition::Reply {
                        let n = reply_for_max(msg, self.max_message).unwrap_or(0);
                        match io.sendto(fd, &msg[..n], from) {
                            Ok(_) => self.stats.udp_replies += 1,
                            Err(_) => self.stats.udp_send_failed += 1,
                        }
                    }
                }
            }
        }
    }

    fn run(&mut self, io: &mut Io<'_>, fd: Fd) {
        let Some(c) = self.conns.get_mut(&fd) else { return };
        if let Step::Close = serve(c, io, fd, self.max_message, &mut self.stats) {
            self.conns.remove(&fd);
            let _ = io.close(fd);
        }
    }
}

/// Sends what it can of `data`: bytes taken, or `None` when the connection is broken.
fn send_some(io: &mut Io<'_>, fd: Fd, data: &[u8]) -> Option<usize> {
    match io.send(fd, data) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Some(0),
        Err(_) => None,
    }
}

/// Flushes, answers every complete message, reads; until the connection has nothing to
/// read (`Readable` returns us) or its send buffer is full (`Writable` does).
fn serve(c: &mut Conn, io: &mut Io<'_>, fd: Fd, max: usize, stats: &mut SockperfStats) -> Step {
    loop {
        if c.out_pos < c.out.len() {
            let Some(n) = send_some(io, fd, &c.out[c.out_pos..]) else { return Step::Close };
            c.out_pos += n;
            if c.out_pos < c.out.len() {
                return Step::Wait;
            }
            c.out.clear();
            c.out_pos = 0;
        }
        loop {
            let msg = match c.framer.next_message() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => {
                    stats.tcp_malformed += 1;
                    tracing::debug!("sockperf: closing a TCP connection: {e:?}");
                    return Step::Close;
                }
            };
            stats.tcp_messages += 1;
            if let Some(n) = reply_for_max(msg, max) {
                stats.tcp_replies += 1;
                let Some(sent) = send_some(io, fd, &msg[..n]) else { return Step::Close };
                if sent < n {
                    stats.tcp_reply_stalls += 1;
                    c.out.extend_from_slice(&msg[sent..n]);
                    return Step::Wait;
                }
            }
        }
        // Every complete message is taken, so what is buffered is part of one message and
        // there is room for a whole chunk (an empty buffer would read as EOF).
        let room = c.framer.spare(READ_CHUNK);
        debug_assert!(!room.is_empty());
        match io.recv(fd, room) {
            Ok(0) => return Step::Close,
            Ok(n) => c.framer.filled(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Wait,
            Err(_) => return Step::Close,
        }
    }
}

impl Application for SockperfServer {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.port);
        let u = io.socket(SockType::Datagram);
        match io.bind(u, any) {
            Ok(()) => self.udp = Some(u),
            Err(e) => {
                tracing::error!("sockperf on UDP port {}: {e}", self.port);
                let _ = io.close(u);
            }
        }
        let l = io.socket(SockType::Stream);
        // Replies go out at once, as the stock server's TCP_NODELAY does.
        let _ = io.set_options(l, SocketOptions { nodelay: Some(true), ..Default::default() });
        match io.bind(l, any).and_then(|_| io.listen(l, 4096)) {
            Ok(()) => self.listener = Some(l),
            Err(e) => {
                tracing::error!("sockperf on TCP port {}: {e}", self.port);
                let _ = io.close(l);
            }
        }
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Acceptable(l) => {
                while let Ok((fd, _)) = io.accept(l) {
                    let _ = io.set_options(fd, SocketOptions { nodelay: Some(true), ..Default::default() });
                    self.stats.tcp_connections += 1;
                    self.conns.insert(fd, Conn { framer: Framer::new(self.max_message), out: Vec::new(), out_pos: 0 });
                }
            }
            Event::Readable(fd) if Some(fd) == self.udp => self.on_datagrams(io, fd),
            Event::Readable(fd) | Event::Writable(fd) => self.run(io, fd),
            Event::Closed(fd) | Event::Error(fd, _) => {
                if self.conns.remove(&fd).is_some() {
                    let _ = io.close(fd);
                }
            }
            Event::Connected(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
