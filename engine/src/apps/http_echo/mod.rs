//! HTTP/1.1 echo endpoint: per-connection protocol logic, sans-IO (RFC 9112).
//!
//! One [`HttpEcho`] per connection. The service loop offers it the bytes the client sent
//! ([`HttpEcho::on_input`], or [`HttpEcho::on_input_split`] for the two slices of a
//! ring) and a bounded [`Output`] (the send buffer). It consumes input only as fast as it
//! can act on it, so back-pressure flows from the send buffer to the receive window.
//!
//! # Behaviour
//!
//! - Any method on any path. Requests are answered in order (pipelining).
//! - A request **with a body** (a `Content-Length` header, even `0`, or
//!   `Transfer-Encoding: chunked`; RFC 9112 §6.3) gets `200 OK` whose body is the request
//!   body byte for byte, with the request's `Content-Type` (`application/octet-stream` if
//!   it had none).
//!   - `Content-Length` bodies are streamed: the response head is sent at once and body
//!     bytes are consumed only as fast as the output accepts them, so memory does not
//!     depend on the body size.
//!   - Chunked bodies are decoded (extensions skipped, trailers read and dropped) into a
//!     buffer of at most `max_body_bytes`, then answered with a `Content-Length`.
//! - A request **without a body** gets `200 OK`, `Content-Type: text/plain`, whose body is
//!   the request head exactly as received minus the empty line ending it: the request
//!   line and each header line with its own line terminator (CRLF, or LF if the client
//!   used bare LF). Empty lines before the request line (which RFC 9112 §2.2 lets a
//!   server skip) are not echoed.
//! - `HEAD`: the same head a `GET` would get (the `Content-Length` of the would-be body)
//!   and no body. A request body sent with `HEAD` is read and dropped.
//! - Keep-alive is the default for HTTP/1.1; `Connection: close` is honoured (the
//!   response carries it, then the connection closes). HTTP/1.0 closes unless the request
//!   has `Connection: keep-alive`, which the response then echoes.
//! - `Expect: 100-continue` (HTTP/1.1, non-empty body): `HTTP/1.1 100 Continue` is sent
//!   before the body is read, unless the declared body is too large (413 straight away).
//!   Other expectations are ignored.
//! - Errors, each answered with `Connection: close`, a short `text/plain` body, then the
//!   connection closes and all further input is read and ignored:
//!   - 431: the head exceeds `max_header_bytes`, has more than [`MAX_HEADERS`] fields, or
//!     the chunked trailer section exceeds `max_header_bytes`;
//!   - 413: `Content-Length` or the decoded chunked body exceeds `max_body_bytes`;
//!   - 400: malformed head (any httparse error), bad or conflicting `Content-Length`,
//!     both `Content-Length` and `Transfer-Encoding`, `Transfer-Encoding` in HTTP/1.0 or
//!     not ending in `chunked`, bad chunked framing;
//!   - 501: a transfer coding other than `chunked` (e.g. `gzip, chunked`).
//! - Deliberately lenient: a HTTP/1.1 request without `Host` is answered (RFC 9112 §3.2
//!   says 400); a `Content-Length` list of identical values (`5, 5`) is accepted.
//! - Response heads: `HTTP/1.1 <code> <reason>`, `Server: bypass`, `Content-Length`,
//!   `Content-Type`, and `Connection: close` / `Connection: keep-alive` when applicable.
//!
//! # Memory
//!
//! Bounded per connection: one pending response head plus text echo (at most about
//! `2 * max_header_bytes`), a `Content-Type` copy, and for chunked requests the decoded
//! body (at most `max_body_bytes`; capacity above 256 KiB is released after the
//! response). Headers are parsed into a fixed array on the stack. In the steady state
//! (buffers grown to their working size) no request allocates, except chunked bodies
//! above 256 KiB.
//!
//! # Driving it
//!
//! Call [`HttpEcho::on_input`] whenever input arrives *or* output room frees up (with
//! whatever is unconsumed, possibly nothing); drop the consumed bytes from the receive
//! buffer. When the peer's FIN arrives, first offer all data received before it, then
//! call [`HttpEcho::on_eof`]. Close the connection (after the send buffer drains) once
//! [`HttpEcho::wants_close`] is true. The idle timer ([`HttpEchoConfig::idle_timeout`])
//! is the caller's.

mod chunked;
mod head;
mod response;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chunked::{ChunkError, ChunkedDecoder, Progress};
use head::{Framing, Parsed};
use response::{push_head, reason, ConnHeader, CONTINUE, OCTET_STREAM, TEXT_PLAIN};

/// Header fields parsed per request; more is answered with 431.
pub const MAX_HEADERS: usize = 64;

/// Chunked-body buffer capacity kept between requests.
const BODY_BUF_RETAIN: usize = 256 * 1024;

/// Where responses go: a bounded byte sink such as a TCP send buffer.
pub trait Output {
    /// Bytes [`Output::write`] would accept now.
    fn room(&self) -> usize;
    /// Appends a prefix of `data`, returns its length (at most `room()`).
    fn write(&mut self, data: &[u8]) -> usize;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEchoConfig {
    /// Largest request head (request line, fields, final empty line) and largest chunked
    /// trailer section. Default 8192.
    pub max_header_bytes: usize,
    /// Largest request body. Default 16 MiB.
    pub max_body_bytes: usize,
    /// Close a connection idle this long. Driven by the caller. Default 30 s.
    pub idle_timeout: Duration,
}

impl Default for HttpEchoConfig {
    fn default() -> Self {
        HttpEchoConfig { max_header_bytes: 8192, max_body_bytes: 16 << 20, idle_timeout: Duration::from_secs(30) }
    }
}

/// Per-connection counters (add them up for a worker's totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpEchoCounters {
    /// Complete, syntactically valid request heads (whatever the outcome).
    pub requests: u64,
    /// 200 responses fully written.
    pub responses_ok: u64,
    /// Bytes consumed from the input, including ignored ones.
    pub bytes_in: u64,
    /// Bytes accepted by the output.
    pub bytes_out: u64,
    /// Request body bytes received (decoded, for chunked).
    pub body_bytes: u64,
    /// `100 Continue` interim responses.
    pub continues: u64,
    pub status_400: u64,
    pub status_413: u64,
    pub status_431: u64,
    pub status_501: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (more of) a request head.
    Head,
    /// Streaming a `Content-Length` body back (or dropping it, for HEAD).
    Stream { remaining: u64 },
    /// Decoding a chunked body into `body`.
    Chunked,
    /// Sending `body[off..]`.
    SendBuffered { off: usize },
    /// Done: flush what is pending, ignore input.
    Closed,
}

/// HTTP/1.1 echo state for one connection.
#[derive(Debug)]
pub struct HttpEcho {
    cfg: HttpEchoConfig,
    state: State,
    /// Current request: HEAD (no response body).
    is_head: bool,
    /// Current request: its response's `Connection` header; `Close` also means close
    /// after it.
    conn: ConnHeader,
    /// Current request's response `Content-Type`.
    ctype: Vec<u8>,
    chunked: ChunkedDecoder,
    /// Decoded chunked body.
    body: Vec<u8>,
    /// Response bytes not yet accepted by the output: `pending[pending_off..]`.
    pending: Vec<u8>,
    pending_off: usize,
    /// Holds a request head straddling the two slices given to `on_input_split`.
    scratch: Vec<u8>,
    eof: bool,
    /// The last `on_input` stopped because it needs more input.
    stalled_on_input: bool,
    /// The last `on_input` stopped because the output was full.
    blocked_on_output: bool,
    counters: HttpEchoCounters,
}

impl HttpEcho {
    pub fn new(cfg: HttpEchoConfig) -> Self {
        HttpEcho {
            cfg,
            state: State::Head,
            is_head: false,
            conn: ConnHeader::None,
            ctype: Vec::new(),
            chunked: ChunkedDecoder::new(),
            body: Vec::new(),
            pending: Vec::with_capacity(1024),
            pending_off: 0,
            scratch: Vec::new(),
            eof: false,
            stalled_on_input: true,
            blocked_on_output: false,
            counters: HttpEchoCounters::default(),
        }
    }

    pub fn config(&self) -> &HttpEchoConfig {
        &self.cfg
    }

    /// The idle timeout the caller should apply.
    pub fn idle_timeout(&self) -> Duration {
        self.cfg.idle_timeout
    }

    pub fn counters(&self) -> HttpEchoCounters {
        self.counters
    }

    /// Response bytes held inside (not yet accepted by the output).
    pub fn pending_output(&self) -> usize {
        self.pending.len() - self.pending_off
    }

    /// The last call stopped because the output was full: call again when room frees.
    pub fn blocked_on_output(&self) -> bool {
        self.blocked_on_output
    }

    /// Between requests with nothing left to send (a partial next head may be buffered
    /// by the caller).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.pending_output() == 0
    }

    /// Close the connection once everything written to the output is sent: after
    /// `Connection: close` or HTTP/1.0 without keep-alive was answered, after an error
    /// response, or after EOF once no complete request remains. Never true while this
    /// handler still has output to write.
    pub fn wants_close(&self) -> bool {
        self.pending_output() == 0 && (self.state == State::Closed || (self.eof && self.stalled_on_input))
    }

    /// The peer closed its sending side. Offer all data received before the FIN to
    /// [`HttpEcho::on_input`] first; requests still in it (say, held back by a full
    /// output) are answered on later calls. A request cut short by EOF is dropped
    /// without a response (or, for a streamed body, with its response cut short).
    pub fn on_eof(&mut self, out: &mut impl Output) {
        self.eof = true;
        self.flush(out);
    }

    /// Like [`HttpEcho::on_input`] for input held in two pieces, `first` then `second`
    /// (a ring's two slices). Returns the bytes consumed from their concatenation. A
    /// request head straddling the two is copied to an internal buffer (at most
    /// `max_header_bytes`).
    pub fn on_input_split(&mut self, first: &[u8], second: &[u8], out: &mut impl Output) -> usize {
        let n = self.on_input(first, out);
        if n == first.len() {
            return n + self.on_input(second, out);
        }
        if second.is_empty() || !self.stalled_on_input {
            return n;
        }
        // Only a head needs contiguous bytes; everything else consumes all it is offered.
        let rest = &first[n..];
        let take = second.len().min(self.cfg.max_header_bytes.saturating_sub(rest.len()).max(1));
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(rest);
        scratch.extend_from_slice(&second[..take]);
        let k = self.on_input(&scratch, out);
        self.scratch = scratch;
        if k <= rest.len() {
            // Blocked on output, or the head is still incomplete.
            return n + k;
        }
        // Past the straddling head: the rest of `second` is contiguous.
        n + k + self.on_input(&second[k - rest.len()..], out)
    }

    /// Feeds bytes the client sent; returns how many were consumed (drop them; offer the
    /// rest again with more appended). Also call it, with whatever is unconsumed, when
    /// output room frees up.
    pub fn on_input(&mut self, input: &[u8], out: &mut impl Output) -> usize {
        self.stalled_on_input = false;
        self.blocked_on_output = false;
        let mut pos = 0;
        loop {
            if self.state == State::Closed {
                self.blocked_on_output = !self.flush(out);
                pos = input.len();
                break;
            }
            if !self.flush(out) {
                self.blocked_on_output = true;
                break;
            }
            let rest = &input[pos..];
            match self.state {
                State::Head => match self.start_request(rest) {
                    Some(n) => pos += n,
                    None => {
                        self.stalled_on_input = true;
                        break;
                    }
                },
                State::Stream { remaining } => {
                    if rest.is_empty() {
                        self.stalled_on_input = true;
                        break;
                    }
                    let mut n = rest.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    if !self.is_head {
                        n = out.write(&rest[..n.min(out.room())]);
                        self.counters.bytes_out += n as u64;
                        if n == 0 {
                            self.blocked_on_output = true;
                            break;
                        }
                    }
                    pos += n;
                    self.counters.body_bytes += n as u64;
                    let remaining = remaining - n as u64;
                    self.state = State::Stream { remaining };
                    if remaining == 0 {
                        self.finish_request();
                    }
                }
                State::Chunked => {
                    if rest.is_empty() {
                        self.stalled_on_input = true;
                        break;
                    }
                    let before = self.chunked.total();
                    let store = !self.is_head;
                    let body = &mut self.body;
                    let max_body = self.cfg.max_body_bytes;
                    let (n, progress) = self.chunked.feed(rest, max_body as u64, self.cfg.max_header_bytes, |data| {
                        if store {
                            append_capped(body, data, max_body)
                        }
                    });
                    pos += n;
                    self.counters.body_bytes += self.chunked.total() - before;
                    match progress {
                        Progress::NeedMore => {
                            self.stalled_on_input = true;
                            break;
                        }
                        Progress::Done => {
                            let len = self.chunked.total();
                            push_head(&mut self.pending, 200, len, &self.ctype, self.conn);
                            if self.is_head || len == 0 {
                                self.finish_request();
                            } else {
                                self.state = State::SendBuffered { off: 0 };
                            }
                        }
                        Progress::Error(e) => {
                            let code = match e {
                                ChunkError::Malformed => 400,
                                ChunkError::TooLarge => 413,
                                ChunkError::TrailerTooLarge => 431,
                            };
                            self.fail(code);
                        }
                    }
                }
                State::SendBuffered { off } => {
                    let end = self.body.len().min(off.saturating_add(out.room()));
                    let n = out.write(&self.body[off..end]);
                    self.counters.bytes_out += n as u64;
                    if n == 0 {
                        self.blocked_on_output = true;
                        break;
                    }
                    self.state = State::SendBuffered { off: off + n };
                    if off + n == self.body.len() {
                        self.finish_request();
                    }
                }
                State::Closed => unreachable!(),
            }
        }
        self.counters.bytes_in += pos as u64;
        pos
    }

    /// Writes pending response bytes; true if none are left.
    fn flush(&mut self, out: &mut impl Output) -> bool {
        while self.pending_off < self.pending.len() {
            let end = self.pending.len().min(self.pending_off.saturating_add(out.room()));
            let n = out.write(&self.pending[self.pending_off..end]);
            if n == 0 {
                return false;
            }
            self.pending_off += n;
            self.counters.bytes_out += n as u64;
        }
        self.pending.clear();
        self.pending_off = 0;
        true
    }

    fn finish_request(&mut self) {
        self.counters.responses_ok += 1;
        self.body.clear();
        if self.body.capacity() > BODY_BUF_RETAIN {
            self.body.shrink_to(BODY_BUF_RETAIN);
        }
        self.state = if self.conn == ConnHeader::Close { State::Closed } else { State::Head };
    }

    /// Queues an error response (closing) and stops reading.
    fn fail(&mut self, code: u16) {
        match code {
            400 => self.counters.status_400 += 1,
            413 => self.counters.status_413 += 1,
            431 => self.counters.status_431 += 1,
            _ => self.counters.status_501 += 1,
        }
        let text = reason(code).as_bytes();
        let len = text.len() as u64 + 1;
        push_head(&mut self.pending, code, len, TEXT_PLAIN, ConnHeader::Close);
        if !self.is_head {
            self.pending.extend_from_slice(text);
            self.pending.push(b'\n');
        }
        self.state = State::Closed;
    }

    /// In `Head` state with no pending output: parses a request head from `input` and
    /// starts answering it. Returns the bytes consumed, or `None` for "need more".
    fn start_request(&mut self, input: &[u8]) -> Option<usize> {
        let head = match head::parse(input, self.cfg.max_header_bytes) {
            Parsed::Partial => return None,
            Parsed::Reject { code, request, is_head } => {
                self.counters.requests += u64::from(request);
                self.is_head = is_head;
                self.fail(code);
                return Some(input.len());
            }
            Parsed::Request(head) => head,
        };
        self.counters.requests += 1;
        self.is_head = head.is_head;
        self.conn = head.conn;
        let len = match head.framing {
            Framing::None => {
                push_head(&mut self.pending, 200, head.echo.len() as u64, TEXT_PLAIN, self.conn);
                if !self.is_head {
                    self.pending.extend_from_slice(head.echo);
                }
                self.finish_request();
                return Some(head.len);
            }
            Framing::Length(n) if n > self.cfg.max_body_bytes as u64 => {
                self.fail(413);
                return Some(input.len());
            }
            Framing::Length(n) => n,
            Framing::Chunked => 0,
        };
        self.ctype.clear();
        self.ctype.extend_from_slice(head.content_type.unwrap_or(OCTET_STREAM));
        if head.expect_continue && (len > 0 || head.framing == Framing::Chunked) {
            self.counters.continues += 1;
            self.pending.extend_from_slice(CONTINUE);
        }
        if head.framing == Framing::Chunked {
            self.chunked = ChunkedDecoder::new();
            self.body.clear();
            self.state = State::Chunked;
        } else {
            push_head(&mut self.pending, 200, len, &self.ctype, self.conn);
            self.state = State::Stream { remaining: len };
            if len == 0 {
                self.finish_request();
            }
        }
        Some(head.len)
    }
}

/// Appends to the chunked-body buffer, growing it geometrically but never past `max`.
fn append_capped(buf: &mut Vec<u8>, data: &[u8], max: usize) {
    let need = buf.len() + data.len();
    if need > buf.capacity() {
        let target = buf.capacity().saturating_mul(2).max(4096).min(max).max(need);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(data);
}
