//! Built-in TCP services run on the worker, for testing and use (RFC 862 echo, RFC 863
//! discard, and a chargen variant for bulk transfer towards the client):
//!
//! - `tcp-echo:PORT` returns every byte; closes after the client closes and everything
//!   was echoed.
//! - `discard:PORT` reads and drops, counting; closes when the client closes.
//! - `chargen:PORT` reads one line holding a decimal byte count (at most 20 digits,
//!   ended by `\n`, an optional `\r` before it), then sends that many bytes of the
//!   pattern [`chargen_byte`] and closes. A malformed line resets the connection.
//!   Unlike RFC 864's endless stream this one ends, so a client can check the total.

use crate::apps::http_echo::{HttpEcho, HttpEchoConfig, Output};
use crate::tcp::Tcb;
use crate::time::Duration;

/// Which service a listener runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Echo,
    Discard,
    Chargen,
    /// UDP: every datagram is sent back to its sender.
    UdpEcho,
    /// HTTP/1.1 echo ([`crate::apps::http_echo`]).
    HttpEcho,
}

/// `--serve KIND:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    pub kind: ServiceKind,
    pub port: u16,
}

impl std::str::FromStr for ServiceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, p) = s.split_once(':').ok_or_else(|| format!("'{s}' is not SERVICE:PORT (e.g. tcp-echo:7)"))?;
        let kind = match k {
            "tcp-echo" | "echo" => ServiceKind::Echo,
            "discard" => ServiceKind::Discard,
            "chargen" => ServiceKind::Chargen,
            "udp-echo" => ServiceKind::UdpEcho,
            "http-echo" => ServiceKind::HttpEcho,
            _ => return Err(format!("unknown service '{k}' (tcp-echo, discard, chargen, udp-echo, http-echo)")),
        };
        let port = p.parse().ok().filter(|p| *p != 0).ok_or_else(|| format!("'{p}' is not a port 1..65535"))?;
        Ok(ServiceSpec { kind, port })
    }
}

/// Byte `i` (from 0) of a chargen stream: printable ASCII from space to tilde, repeating
/// every 95 bytes.
pub fn chargen_byte(i: u64) -> u8 {
    b' ' + (i % 95) as u8
}

const MAX_LINE: usize = 24;

/// Per-connection service state.
#[derive(Debug)]
pub enum App {
    Echo,
    Discard { bytes: u64 },
    Chargen { line: Vec<u8>, total: Option<u64>, sent: u64 },
    /// HTTP echo; `draining`: the response is out and our side half-closed, input is
    /// read and dropped until the client closes (a lingering close, so a client still
    /// sending a refused body reads the error instead of a reset).
    Http { h: Box<HttpEcho>, draining: bool },
}

/// What running a service did.
#[derive(Debug, Default, Clone, Copy)]
pub struct AppProgress {
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The service is done: close the connection (once).
    pub close: bool,
    /// The service has said everything: send FIN after the queued data but keep reading.
    pub half_close: bool,
}

impl App {
    pub fn new(kind: ServiceKind) -> App {
        match kind {
            ServiceKind::Echo => App::Echo,
            ServiceKind::Discard => App::Discard { bytes: 0 },
            ServiceKind::Chargen => App::Chargen { line: Vec::new(), total: None, sent: 0 },
            ServiceKind::HttpEcho => App::Http { h: Box::new(HttpEcho::new(HttpEchoConfig::default())), draining: false },
            ServiceKind::UdpEcho => unreachable!("UDP services have no TCP connections"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            App::Echo => "tcp-echo",
            App::Discard { .. } => "discard",
            App::Chargen { .. } => "chargen",
            App::Http { .. } => "http-echo",
        }
    }

    /// How long the connection may sit without traffic before the service closes it.
    pub fn idle_timeout(&self) -> Option<Duration> {
        match self {
            App::Http { h, .. } => Some(h.idle_timeout()),
            _ => None,
        }
    }

    /// Moves data between the connection and the service until neither can progress.
    pub fn run(&mut self, tcb: &mut Tcb) -> AppProgress {
        let mut p = AppProgress::default();
        match self {
            App::Echo => {
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    let room = tcb.send_capacity().min(chunk.len());
                    if room == 0 || tcb.recv_available() == 0 {
                        break;
                    }
                    let n = tcb.recv(&mut chunk[..room]);
                    if n == 0 {
                        break;
                    }
                    let sent = tcb.send(&chunk[..n]);
                    debug_assert_eq!(sent, n, "send_capacity promised room");
                    p.bytes_in += n as u64;
                    p.bytes_out += sent as u64;
                }
                p.close = tcb.recv_eof() && tcb.recv_available() == 0;
            }
            App::Http { h, draining } => {
                if *draining {
                    let n = tcb.recv_available();
                    tcb.recv_consume(n);
                    p.bytes_in += n as u64;
                    p.close = tcb.recv_eof();
                    return p;
                }
                let mut scratch = [0u8; 16 * 1024];
                loop {
                    let n = {
                        let (a, b) = tcb.recv_slices();
                        let n1 = a.len().min(scratch.len());
                        scratch[..n1].copy_from_slice(&a[..n1]);
                        let n2 = b.len().min(scratch.len() - n1);
                        scratch[n1..n1 + n2].copy_from_slice(&b[..n2]);
                        n1 + n2
                    };
                    let mut out = TcbOut { tcb, written: 0 };
                    let used = h.on_input(&scratch[..n], &mut out);
                    out.tcb.recv_consume(used);
                    let eof = out.tcb.recv_eof();
                    if eof {
                        h.on_eof(&mut out);
                    }
                    p.bytes_in += used as u64;
                    p.bytes_out += out.written as u64;
                    if h.wants_close() {
                        *draining = true;
                        p.half_close = true;
                        let rest = tcb.recv_available();
                        tcb.recv_consume(rest);
                        p.close = tcb.recv_eof();
                        break;
                    }
                    if eof {
                        // The client closed with nothing more to answer.
                        p.close = h.pending_output() == 0;
                        break;
                    }
                    if used == 0 {
                        break;
                    }
                }
            }
            App::Discard { bytes } => {
                let n = tcb.recv_available();
                tcb.recv_consume(n);
                *bytes += n as u64;
                p.bytes_in += n as u64;
                p.close = tcb.recv_eof();
            }
            App::Chargen { line, total, sent } => {
                if total.is_none() {
                    let mut buf = [0u8; MAX_LINE];
                    while total.is_none() && tcb.recv_available() > 0 {
                        let n = tcb.recv(&mut buf[..1]);
                        if n == 0 {
                            break;
                        }
                        p.bytes_in += 1;
                        match buf[0] {
                            b'\n' => {
                                let text = std::str::from_utf8(line).unwrap_or("").trim_end_matches('\r');
                                match text.parse::<u64>() {
                                    Ok(v) => *total = Some(v),
                                    Err(_) => {
                                        tcb.abort();
                                        return p;
                                    }
                                }
                            }
                            c if line.len() < MAX_LINE => line.push(c),
                            _ => {
                                tcb.abort();
                                return p;
                            }
                        }
                    }
                    if total.is_none() && tcb.recv_eof() {
                        p.close = true;
                        return p;
                    }
                }
                if let Some(t) = *total {
                    // Anything after the line is read and ignored.
                    let extra = tcb.recv_available();
                    tcb.recv_consume(extra);
                    let mut chunk = [0u8; 4096];
                    while *sent < t {
                        let room = tcb.send_capacity().min(chunk.len()).min((t - *sent) as usize);
                        if room == 0 {
                            break;
                        }
                        for (i, c) in chunk[..room].iter_mut().enumerate() {
                            *c = chargen_byte(*sent + i as u64);
                        }
                        let n = tcb.send(&chunk[..room]);
                        *sent += n as u64;
                        p.bytes_out += n as u64;
                        if n < room {
                            break;
                        }
                    }
                    p.close = *sent == t;
                }
            }
        }
        p
    }
}

/// The HTTP handler's output: the connection's send buffer.
struct TcbOut<'a> {
    tcb: &'a mut Tcb,
    written: usize,
}

impl Output for TcbOut<'_> {
    fn room(&self) -> usize {
        self.tcb.send_capacity()
    }
    fn write(&mut self, data: &[u8]) -> usize {
        let n = self.tcb.send(data);
        self.written += n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!("tcp-echo:7".parse::<ServiceSpec>().unwrap(), ServiceSpec { kind: ServiceKind::Echo, port: 7 });
        assert_eq!("chargen:19".parse::<ServiceSpec>().unwrap().kind, ServiceKind::Chargen);
        assert!("echo".parse::<ServiceSpec>().is_err());
        assert!("ftp:21".parse::<ServiceSpec>().is_err());
        assert!("discard:0".parse::<ServiceSpec>().is_err());
    }

    #[test]
    fn chargen_pattern() {
        assert_eq!(chargen_byte(0), b' ');
        assert_eq!(chargen_byte(94), b'~');
        assert_eq!(chargen_byte(95), b' ');
    }
}
