//! Scripted tests in the smoltcp manner: segments in at time t, segments expected out,
//! no device. The peer is played by hand; its ISN is 5000, ours 1000.

mod close;
mod data;
mod fuzz;
mod handshake;
mod loss;
mod options;
mod rack;
mod rfc5961;

use std::net::Ipv4Addr;

use super::*;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

pub(super) const LOCAL: Endpoint = (Ipv4Addr::new(10, 0, 0, 1), 49152);
pub(super) const REMOTE: Endpoint = (Ipv4Addr::new(10, 0, 0, 2), 80);
pub(super) const ISS: u32 = 1000;
pub(super) const PEER_ISS: u32 = 5000;

pub(super) fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub(super) fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}

/// Plain configuration: no options beyond MSS, NewReno, small numbers.
pub(super) fn cfg() -> TcpConfig {
    TcpConfig {
        mss: 1000,
        send_buffer: 64_000,
        recv_buffer: 64_000,
        window_scaling: false,
        timestamps: false,
        sack: false,
        congestion_control: CcAlgorithm::NewReno,
        ..TcpConfig::default()
    }
}

/// A segment from the peer.
#[derive(Clone, Debug)]
pub(super) struct Seg {
    pub seq: u32,
    pub ack: Option<u32>,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl Seg {
    pub fn new(seq: u32) -> Seg {
        Seg { seq, ack: None, flags: TcpFlags::default(), window: 64_000, options: TcpOptions::default(), payload: Vec::new() }
    }
    /// ACK `ack`.
    pub fn ack(seq: u32, ack: u32) -> Seg {
        Seg::new(seq).with_ack(ack)
    }
    pub fn with_ack(mut self, ack: u32) -> Seg {
        self.ack = Some(ack);
        self
    }
    pub fn syn(mut self) -> Seg {
        self.flags.syn = true;
        self
    }
    pub fn fin(mut self) -> Seg {
        self.flags.fin = true;
        self
    }
    pub fn rst(mut self) -> Seg {
        self.flags.rst = true;
        self
    }
    pub fn win(mut self, w: u16) -> Seg {
        self.window = w;
        self
    }
    pub fn data(mut self, d: &[u8]) -> Seg {
        self.payload = d.to_vec();
        self
    }
    pub fn mss(mut self, m: u16) -> Seg {
        self.options.mss = Some(m);
        self
    }
    pub fn ts(mut self, val: u32, ecr: u32) -> Seg {
        self.options.timestamps = Some((val, ecr));
        self
    }
    pub fn sack(mut self, blocks: &[(u32, u32)]) -> Seg {
        let b: Vec<_> = blocks.iter().map(|&(l, r)| (SeqNumber(l), SeqNumber(r))).collect();
        self.options.set_sack_blocks(&b);
        self
    }
    pub fn repr(&self) -> TcpRepr<'_> {
        let mut flags = self.flags;
        flags.ack = self.ack.is_some();
        TcpRepr {
            src_port: REMOTE.1,
            dst_port: LOCAL.1,
            seq: SeqNumber(self.seq),
            ack: SeqNumber(self.ack.unwrap_or(0)),
            flags,
            window: self.window,
            urgent: 0,
            options: self.options,
            payload: &self.payload,
        }
    }
}

/// A segment the connection sent, payload copied out.
#[derive(Clone, Debug)]
pub(super) struct Out {
    pub repr: TcpRepr<'static>,
    pub payload: Vec<u8>,
}

impl Out {
    pub fn seq(&self) -> u32 {
        self.repr.seq.0
    }
    pub fn ack(&self) -> u32 {
        self.repr.ack.0
    }
    pub fn len(&self) -> usize {
        self.payload.len()
    }
    /// Flags as letters: S, F, R, P, A (in that order).
    pub fn flags(&self) -> String {
        let f = self.repr.flags;
        let mut s = String::new();
        for (on, c) in [(f.syn, 'S'), (f.fin, 'F'), (f.rst, 'R'), (f.psh, 'P'), (f.ack, 'A')] {
            if on {
                s.push(c);
            }
        }
        s
    }
    /// (seq, ack, flags, payload length).
    pub fn brief(&self) -> (u32, u32, String, usize) {
        (self.seq(), if self.repr.flags.ack { self.ack() } else { 0 }, self.flags(), self.len())
    }
}

pub(super) fn b(seq: u32, ack: u32, flags: &str, len: usize) -> (u32, u32, String, usize) {
    (seq, ack, flags.to_string(), len)
}

pub(super) fn send(tcb: &mut Tcb, now: Instant, seg: &Seg) {
    tcb.handle_segment(now, &seg.repr());
}

pub(super) fn recv(tcb: &mut Tcb, now: Instant) -> Option<Out> {
    let s = tcb.poll_transmit(now, usize::MAX)?;
    assert_eq!((s.src, s.dst), (LOCAL.0, REMOTE.0));
    assert_eq!((s.repr.src_port, s.repr.dst_port), (LOCAL.1, REMOTE.1));
    let (a, b) = tcb.payload_for(&s);
    assert_eq!(a.len() + b.len(), s.payload_len, "payload_for returns the whole payload");
    let mut payload = a.to_vec();
    payload.extend_from_slice(b);
    Some(Out { repr: s.repr, payload })
}

pub(super) fn recv_all(tcb: &mut Tcb, now: Instant) -> Vec<Out> {
    let mut v = Vec::new();
    while let Some(o) = recv(tcb, now) {
        v.push(o);
        assert!(v.len() < 10_000, "poll_transmit never stops");
    }
    v
}

/// Expects exactly one segment and returns it.
pub(super) fn recv_one(tcb: &mut Tcb, now: Instant) -> Out {
    let v = recv_all(tcb, now);
    assert_eq!(v.len(), 1, "expected one segment, got {:?}", v.iter().map(Out::brief).collect::<Vec<_>>());
    v.into_iter().next().unwrap()
}

pub(super) fn recv_nothing(tcb: &mut Tcb, now: Instant) {
    let v = recv_all(tcb, now);
    assert!(v.is_empty(), "expected nothing, got {:?}", v.iter().map(Out::brief).collect::<Vec<_>>());
}

/// Runs the timers due at `now`.
pub(super) fn tick(tcb: &mut Tcb, now: Instant) {
    if tcb.poll_timeout().is_some_and(|t| t <= now) {
        tcb.handle_timeout(now);
    }
}

/// Active open completed with a plain SYN-ACK (window 64000, MSS 1000) at t = 0.
pub(super) fn established_with(c: &TcpConfig) -> Tcb {
    let mut t = Tcb::connect(ms(0), LOCAL, REMOTE, SeqNumber(ISS), c);
    let syn = recv_one(&mut t, ms(0));
    assert_eq!(syn.brief(), b(ISS, 0, "S", 0));
    send(&mut t, ms(0), &Seg::ack(PEER_ISS, ISS + 1).syn().mss(1000));
    let ack = recv_one(&mut t, ms(0));
    assert_eq!(ack.brief(), b(ISS + 1, PEER_ISS + 1, "A", 0));
    assert_eq!(t.state(), State::Established);
    t
}

pub(super) fn established() -> Tcb {
    established_with(&cfg())
}

/// Passive open completed at t = 0.
pub(super) fn accepted_with(c: &TcpConfig) -> Tcb {
    let syn = Seg::new(PEER_ISS).syn().mss(1000);
    let mut t = Tcb::accept_syn(ms(0), LOCAL, REMOTE, &syn.repr(), SeqNumber(ISS), c);
    let sa = recv_one(&mut t, ms(0));
    assert_eq!(sa.brief(), b(ISS, PEER_ISS + 1, "SA", 0));
    send(&mut t, ms(0), &Seg::ack(PEER_ISS + 1, ISS + 1));
    assert_eq!(t.state(), State::Established);
    recv_nothing(&mut t, ms(0));
    t
}

pub(super) fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

pub(super) fn read_all(t: &mut Tcb) -> Vec<u8> {
    let mut out = vec![0; t.recv_available()];
    let n = t.recv(&mut out);
    out.truncate(n);
    out
}
