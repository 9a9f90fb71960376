//! TCP on a worker: the socket table (established flows by 4-tuple, listeners
//! replicated on every worker like SO_REUSEPORT), demux, SYN handling with a bounded SYN
//! queue and SYN cookies beyond it, RST for segments to closed ports (RFC 9293
//! §3.10.7.1), a timer wheel driving every connection's timers, and the built-in
//! services.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use serde::Serialize;

use super::flow::{FlowKey, FxBuild};
use super::syncookie::{CookieInfo, SynCookies};
use super::timer_wheel::TimerWheel;
use super::Net;
use crate::phy::FrameSink;
use crate::tcp::{IsnGenerator, State, Tcb, TcpConfig, TcpCounters, TcpError};
use crate::time::Instant;
use crate::wire::{IpProtocol, PseudoHeader, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr};

/// TCP settings for a worker.
#[derive(Debug, Clone)]
pub struct TcpSetup {
    pub cfg: TcpConfig,
    /// Half-open connections per listener before SYN cookies take over.
    pub syn_backlog: usize,
    /// Connections per worker (all states); SYNs beyond it are dropped.
    pub max_conns: usize,
    /// Keys for ISNs and SYN cookies, the same on every worker.
    pub isn_key: [u8; 16],
    pub cookie_key: [u8; 16],
    /// Ephemeral ports for active opens (Linux's default range).
    pub local_ports: std::ops::RangeInclusive<u16>,
}

impl Default for TcpSetup {
    fn default() -> Self {
        TcpSetup {
            cfg: TcpConfig::default(),
            syn_backlog: 1024,
            max_conns: 65536,
            isn_key: [0x42; 16],
            cookie_key: [0x24; 16],
            local_ports: 32768..=60999,
        }
    }
}

/// Why an active open could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("no free local port hashes to this worker (ephemeral ports exhausted)")]
    NoPort,
    #[error("{0} is not one of the engine's addresses")]
    NotOurAddress(Ipv4Addr),
    #[error("the connection table is full")]
    TableFull,
}

/// Why `tcp_listen` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListenError {
    #[error("port {0} is already listening")]
    InUse(u16),
    #[error("port 0 cannot listen")]
    BadPort,
}

/// Names a connection on its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub u32);

/// Worker-level TCP counters (per-connection ones are in [`TcpCounters`]).
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct TcpStackCounters {
    pub segments_rx: u64,
    pub bad_checksum: u64,
    pub malformed: u64,
    /// Segments to no connection and no listener, answered with RST (or dropped if RST).
    pub closed_port: u64,
    pub rst_sent_closed: u64,
    pub syn_received: u64,
    pub syn_dropped_table_full: u64,
    pub syn_cookies_sent: u64,
    pub syn_cookies_accepted: u64,
    pub syn_cookies_rejected: u64,
    pub accepted: u64,
    /// Connections reset because an application's accept queue was full.
    pub accept_queue_overflow: u64,
    pub time_wait_reused: u64,
    /// TIME-WAIT connections ended early to make room in a full table for a new one
    /// (as Linux does past `tcp_max_tw_buckets`).
    pub time_wait_recycled: u64,
    pub closed: u64,
    pub errors_reset: u64,
    pub errors_timed_out: u64,
    /// Reassembled TCP datagrams for a flow another worker owns (dropped).
    pub misrouted_fragments: u64,
    /// Times a connection had to wait for a free TX buffer.
    pub tx_blocked: u64,
    /// Connections open now.
    pub open: u64,
}

/// A listening port; its connections wait in `accept` for the application.
struct Listener {
    half_open: usize,
    /// Established connections waiting for `accept` (user listeners).
    accept: std::collections::VecDeque<u32>,
    /// Bound on `accept`.
    backlog: usize,
    /// Configuration of accepted connections (the engine's when None).
    cfg: Option<TcpConfig>,
}

/// Readiness of a user connection, for edge-triggered events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ready {
    readable: bool,
    writable: bool,
    connected: bool,
    closed: bool,
}

/// What the stack tells applications (through [`crate::api`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackEvent {
    /// A connection is waiting in listener `port`'s accept queue.
    Acceptable { port: u16 },
    /// Connection `conn` has data, EOF or an error to read. `inc`: the incarnation of the
    /// slot `conn` (see [`Stack::tcp_incarnation`]): an event still queued when its
    /// connection is gone and the slot reused must not reach the new connection.
    Readable { conn: u32, inc: u32 },
    /// Connection `conn` has room in its send buffer.
    Writable { conn: u32, inc: u32 },
    /// Active open `conn` completed its handshake.
    Connected { conn: u32, inc: u32 },
    /// Connection `conn` is closed (see its error for why).
    Closed { conn: u32, inc: u32 },
    /// A datagram is waiting on UDP port `port`.
    UdpReadable { port: u16 },
}

struct Conn {
    tcb: Tcb,
    key: FlowKey,
    /// Timer generation: entries in the wheel with another generation are stale.
    gen: u32,
    /// Which connection this slot holds: a stack-wide count of connections made.
    inc: u32,
    armed: Option<Instant>,
    /// The listener port while the connection is half-open (counted in its SYN queue).
    half_open_on: Option<u16>,
    /// An application holds this connection (active opens): it is reaped only after
    /// the application released it, so it can still read the data and the error.
    held: bool,
    /// Owned by an application: its last readiness (events fire on rising edges), and the
    /// listener whose accept queue it waits in until accepted.
    user: Option<UserConn>,
    /// Queued in [`TcpSockets::time_wait`].
    in_time_wait_queue: bool,
}

#[derive(Debug, Clone, Copy)]
struct UserConn {
    ready: Ready,
    /// Waiting for `accept` on this port (or queued there already).
    pending_on: Option<u16>,
    queued: bool,
}

/// The TCP sockets of one worker.
pub struct TcpSockets {
    conns: Vec<Option<Conn>>,
    free: Vec<u32>,
    flows: HashMap<FlowKey, u32, FxBuild>,
    listeners: HashMap<u16, Listener, FxBuild>,
    wheel: TimerWheel,
    isn: IsnGenerator,
    cookies: SynCookies,
    setup: TcpSetup,
    /// Counters of connections already gone, summed.
    closed_totals: TcpCounters,
    pub counters: TcpStackCounters,
    scratch_due: Vec<(u32, u32)>,
    /// Connections that stopped sending for want of a TX buffer; retried on `poll`.
    blocked: Vec<u32>,
    /// Where the next active open's port search starts, past the last port used.
    port_cursor: u16,
    /// Connections made so far (each slot's `inc`).
    incarnations: u32,
    /// Events for applications, drained by [`super::Stack::take_events`].
    pub(super) events: Vec<StackEvent>,
    /// Connections that entered TIME-WAIT, oldest first, as (slot, incarnation); entries
    /// whose slot moved on are skipped and pruned from the front.
    time_wait: VecDeque<(u32, u32)>,
}

impl TcpSockets {
    pub fn new(now: Instant, setup: TcpSetup) -> Self {
        let listeners = HashMap::default();
        TcpSockets {
            conns: Vec::new(),
            free: Vec::new(),
            flows: HashMap::default(),
            listeners,
            wheel: TimerWheel::new(now),
            isn: IsnGenerator::new(setup.isn_key),
            cookies: SynCookies::new(setup.cookie_key),
            setup,
            closed_totals: TcpCounters::default(),
            counters: TcpStackCounters::default(),
            scratch_due: Vec::new(),
            blocked: Vec::new(),
            port_cursor: 0,
            incarnations: 0,
            events: Vec::new(),
            time_wait: VecDeque::new(),
        }
    }

    /// Whether a new connection fits in the table, ending the oldest TIME-WAIT connection
    /// if that is what it takes. A TIME-WAIT lasts 2*MSL (a minute): without this, a
    /// server closing first at over `max_conns` per minute (1,100 connections/s per
    /// worker with the defaults) would refuse new connections for TIME-WAITs.
    fn has_room(&mut self) -> bool {
        if self.flows.len() < self.setup.max_conns {
            return true;
        }
        while let Some((id, inc)) = self.time_wait.pop_front() {
            let Some(c) = self.conns.get_mut(id as usize).and_then(Option::as_mut) else { continue };
            if c.inc != inc {
                continue;
            }
            c.in_time_wait_queue = false;
            if c.tcb.state() == State::TimeWait && !c.held {
                self.remove(id);
                self.counters.time_wait_recycled += 1;
                return true;
            }
        }
        false
    }

    /// Whether a connection of this flow lives on this worker.
    pub(super) fn has_flow(&self, key: &FlowKey) -> bool {
        self.flows.contains_key(key)
    }

    /// Queues `id` as the newest TIME-WAIT connection (once), pruning stale entries.
    fn note_time_wait(&mut self, id: u32) {
        while let Some(&(old, inc)) = self.time_wait.front() {
            let live = self.conns.get(old as usize).and_then(Option::as_ref).is_some_and(|c| c.inc == inc && c.tcb.state() == State::TimeWait);
            if live {
                break;
            }
            self.time_wait.pop_front();
        }
        if let Some(c) = self.conns.get_mut(id as usize).and_then(Option::as_mut) {
            if !c.in_time_wait_queue {
                c.in_time_wait_queue = true;
                self.time_wait.push_back((id, c.inc));
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.blocked.is_empty() {
            return Some(Instant::ZERO);
        }
        self.wheel.next_deadline()
    }

    /// Cheap check for the poll loop: is anything due at `now`?
    pub fn is_due(&self, now: Instant) -> bool {
        !self.blocked.is_empty() || self.wheel.is_due(now)
    }

    /// Per-connection counters summed over live and closed connections.
    pub fn tcp_counters(&self) -> TcpCounters {
        let mut c = self.closed_totals;
        for conn in self.conns.iter().flatten() {
            c.accumulate(&conn.tcb.counters());
        }
        c
    }

    /// (local, remote, state) of every connection, for listings and tests.
    pub fn connections(&self) -> impl Iterator<Item = (FlowKey, State)> + '_ {
        self.conns.iter().flatten().map(|c| (c.key, c.tcb.state()))
    }

    fn insert(&mut self, mut conn: Conn) -> u32 {
        self.incarnations = self.incarnations.wrapping_add(1);
        conn.inc = self.incarnations;
        let key = conn.key;
        let id = match self.free.pop() {
            Some(id) => {
                self.conns[id as usize] = Some(conn);
                id
            }
            None => {
                self.conns.push(Some(conn));
                (self.conns.len() - 1) as u32
            }
        };
        self.flows.insert(key, id);
        self.counters.open += 1;
        id
    }

    fn remove(&mut self, id: u32) {
        if let Some(conn) = self.conns.get_mut(id as usize).and_then(Option::take) {
            self.flows.remove(&conn.key);
            if let Some(port) = conn.half_open_on {
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.half_open = l.half_open.saturating_sub(1);
                }
            }
            match conn.tcb.error() {
                Some(TcpError::Reset) | Some(TcpError::Refused) => self.counters.errors_reset += 1,
                Some(TcpError::TimedOut) => self.counters.errors_timed_out += 1,
                None => {}
            }
            self.closed_totals.accumulate(&conn.tcb.counters());
            self.counters.closed += 1;
            self.counters.open -= 1;
            self.free.push(id);
        }
    }
}

impl super::Stack {
    /// Active open from `local` to `remote:port`, with an ephemeral port that hashes to
    /// this worker. The SYN goes out through `tx` (after ARP, if needed). The connection
    /// runs no service: drive it through [`Stack::tcp_conn`].
    pub fn tcp_connect<S: FrameSink>(&mut self, now: Instant, tx: &mut S, local: Ipv4Addr, remote: Ipv4Addr, port: u16) -> Result<ConnId, ConnectError> {
        self.tcp_connect_with(now, tx, local, remote, port, None)
    }

    /// [`Stack::tcp_connect`] with this connection's own configuration (buffers,
    /// congestion control, Nagle...).
    pub fn tcp_connect_with<S: FrameSink>(
        &mut self,
        now: Instant,
        tx: &mut S,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        port: u16,
        cfg: Option<&TcpConfig>,
    ) -> Result<ConnId, ConnectError> {
        if !self.net.is_ours(local) {
            return Err(ConnectError::NotOurAddress(local));
        }
        let tcp = &mut self.tcp;
        if !tcp.has_room() {
            return Err(ConnectError::TableFull);
        }
        // The search starts at a keyed, per-destination base plus a cursor that moves
        // past every port it hands out (as Linux's per-destination perturbation table),
        // so successive connects never take the port just closed, whose TIME-WAIT the
        // server may still hold. With several workers most ports hash elsewhere, and
        // a cursor moved by a fixed step would land on the same port again.
        let base = (tcp.isn.ts_offset(local, remote) as u16) ^ port.rotate_left(7);
        let offset = base.wrapping_add(tcp.port_cursor);
        let range = tcp.setup.local_ports.clone();
        let flows = &tcp.flows;
        self.net.sync_rss();
        let lport = super::flow::pick_local_port(local, remote, port, self.worker, self.net.cfg.workers, &self.net.rss, range.clone(), offset, |p| {
            flows.contains_key(&FlowKey { local, local_port: p, remote, remote_port: port })
        })
        .ok_or(ConnectError::NoPort)?;
        let (lo, span) = (*range.start() as u32, *range.end() as u32 - *range.start() as u32 + 1);
        let skipped = (lport as u32 - lo + span - offset as u32 % span) % span;
        tcp.port_cursor = tcp.port_cursor.wrapping_add((skipped as u16).wrapping_add(1));
        let iss = tcp.isn.isn(now, (local, lport), (remote, port));
        let mut tcb = Tcb::connect(now, (local, lport), (remote, port), iss, cfg.unwrap_or(&tcp.setup.cfg));
        tcb.set_ts_offset(tcp.isn.ts_offset(local, remote));
        let key = FlowKey { local, local_port: lport, remote, remote_port: port };
        let id = tcp.insert(Conn { tcb, key, gen: 0, inc: 0, armed: None, half_open_on: None, held: true, in_time_wait_queue: false, user: Some(UserConn { ready: Ready::default(), pending_on: None, queued: false }) });
        self.service(now, tx, id);
        Ok(ConnId(id))
    }

    /// The engine-wide TCP configuration (the base for per-socket options).
    pub fn tcp_config(&self) -> TcpConfig {
        self.tcp.setup.cfg
    }

    /// Starts listening on `port` (all our addresses) for an application; connections
    /// queue for [`Stack::tcp_accept`] (at most `backlog` of them).
    pub fn tcp_listen(&mut self, port: u16, backlog: usize, cfg: Option<TcpConfig>) -> Result<(), ListenError> {
        if port == 0 {
            return Err(ListenError::BadPort);
        }
        if self.tcp.listeners.contains_key(&port) {
            return Err(ListenError::InUse(port));
        }
        let l = Listener { half_open: 0, accept: Default::default(), backlog: backlog.max(1), cfg };
        self.tcp.listeners.insert(port, l);
        Ok(())
    }

    /// Stops listening on `port`: connections not yet accepted are reset.
    pub fn tcp_unlisten<S: FrameSink>(&mut self, now: Instant, tx: &mut S, port: u16) {
        if self.tcp.listeners.remove(&port).is_none() {
            return;
        }
        let orphans: Vec<u32> = self
            .tcp
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().filter(|c| c.user.is_some_and(|u| u.pending_on == Some(port))).map(|_| i as u32))
            .collect();
        for id in orphans {
            if let Some(c) = self.tcp.conns[id as usize].as_mut() {
                c.held = false;
                c.user = None;
                c.tcb.abort();
            }
            self.service(now, tx, id);
        }
    }

    /// Takes the next established connection from listener `port`'s queue.
    pub fn tcp_accept<S: FrameSink>(&mut self, now: Instant, tx: &mut S, port: u16) -> Option<ConnId> {
        let id = self.tcp.listeners.get_mut(&port)?.accept.pop_front()?;
        if let Some(c) = self.tcp.conns.get_mut(id as usize).and_then(Option::as_mut) {
            if let Some(u) = c.user.as_mut() {
                u.pending_on = None;
                // Report the current state afresh to whoever accepted it.
                u.ready = Ready::default();
            }
        }
        self.service(now, tx, id);
        Some(ConnId(id))
    }

    /// The connection `id`, read-only.
    pub fn tcp_conn_ref(&self, id: ConnId) -> Option<&Tcb> {
        self.tcp.conns.get(id.0 as usize).and_then(Option::as_ref).map(|c| &c.tcb)
    }

    /// The connection `id`, if it still exists (closed connections are reaped).
    pub fn tcp_conn(&mut self, id: ConnId) -> Option<&mut Tcb> {
        self.tcp.conns.get_mut(id.0 as usize).and_then(Option::as_mut).map(|c| &mut c.tcb)
    }

    /// The application is done with `id`: close it (a FIN after queued data) and let the
    /// stack reap it once the close completes.
    pub fn tcp_release<S: FrameSink>(&mut self, now: Instant, tx: &mut S, id: ConnId) {
        if let Some(c) = self.tcp.conns.get_mut(id.0 as usize).and_then(Option::as_mut) {
            c.held = false;
            c.tcb.close();
        }
        self.service(now, tx, id.0);
    }

    /// The incarnation of connection slot `id` (None when empty): events carry it.
    pub fn tcp_incarnation(&self, id: ConnId) -> Option<u32> {
        self.tcp.conns.get(id.0 as usize).and_then(Option::as_ref).map(|c| c.inc)
    }

    /// After the application queued data: send the full segments now and hold a short
    /// tail until [`Stack::tcp_uncork`] at the end of the application pass, so a loop of
    /// writes sends full segments rather than a runt after each write (Linux
    /// autocorking). A runt mid-stream also holds back the real tail under Nagle
    /// (Minshall) until the peer's delayed ACK.
    pub fn tcp_flush_corked<S: FrameSink>(&mut self, now: Instant, tx: &mut S, id: ConnId) {
        if let Some(c) = self.tcp.conns.get_mut(id.0 as usize).and_then(Option::as_mut) {
            if !c.tcb.corked() {
                c.tcb.set_cork(true);
                self.corked.push(id.0);
            }
        }
        self.service(now, tx, id.0);
    }

    /// The application pass is over: send what corked connections hold.
    pub fn tcp_uncork<S: FrameSink>(&mut self, now: Instant, tx: &mut S) {
        let mut ids = std::mem::take(&mut self.corked);
        for &id in &ids {
            if let Some(c) = self.tcp.conns.get_mut(id as usize).and_then(Option::as_mut) {
                c.tcb.set_cork(false);
                self.service(now, tx, id);
            }
        }
        ids.clear();
        self.corked = ids;
    }

    /// After the application used [`Stack::tcp_conn`]: send what it queued, re-arm timers.
    pub fn tcp_flush<S: FrameSink>(&mut self, now: Instant, tx: &mut S, id: ConnId) {
        self.service(now, tx, id.0);
    }

    /// A TCP segment for one of our addresses (`data` is the IP payload).
    pub(super) fn receive_tcp<S: FrameSink>(&mut self, now: Instant, tx: &mut S, src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) {
        let tcp = &mut self.tcp;
        tcp.counters.segments_rx += 1;
        let pseudo = PseudoHeader { src, dst };
        let pkt = match TcpPacket::new_checked(data) {
            Ok(p) => p,
            Err(_) => {
                tcp.counters.malformed += 1;
                return;
            }
        };
        let seg = match TcpRepr::parse(&pkt, &pseudo, true) {
            Ok(s) => s,
            Err(crate::wire::Error::Checksum) => {
                tcp.counters.bad_checksum += 1;
                return;
            }
            Err(_) => {
                tcp.counters.malformed += 1;
                return;
            }
        };
        let key = FlowKey { local: dst, local_port: seg.dst_port, remote: src, remote_port: seg.src_port };

        if let Some(&id) = tcp.flows.get(&key) {
            let conn = tcp.conns[id as usize].as_mut().expect("flow maps to a live slot");
            if conn.tcb.time_wait_accepts_syn(&seg) {
                tcp.counters.time_wait_reused += 1;
                tcp.remove(id);
            } else {
                conn.tcb.handle_segment(now, &seg);
                if self.batching && !conn.tcb.recv_has_gap() {
                    if !self.deferred.contains(&id) {
                        self.deferred.push(id);
                    }
                } else {
                    self.service(now, tx, id);
                }
                return;
            }
        }

        let flags = seg.flags;
        if let Some(listener) = tcp.listeners.get(&seg.dst_port) {
            let conn_cfg = listener.cfg.unwrap_or(tcp.setup.cfg);
            if flags.syn && !flags.ack && !flags.rst {
                tcp.counters.syn_received += 1;
                if listener.half_open >= tcp.setup.syn_backlog {
                    self.send_syn_cookie(now, tx, key, &seg);
                    return;
                }
                if !tcp.has_room() {
                    tcp.counters.syn_dropped_table_full += 1;
                    return;
                }
                let iss = tcp.isn.isn(now, (dst, seg.dst_port), (src, seg.src_port));
                let mut tcb = Tcb::accept_syn(now, (dst, seg.dst_port), (src, seg.src_port), &seg, iss, &conn_cfg);
                tcb.set_ts_offset(tcp.isn.ts_offset(dst, src));
                if let Some(l) = tcp.listeners.get_mut(&seg.dst_port) {
                    l.half_open += 1;
                }
                tcp.counters.accepted += 1;
                let id = tcp.insert(Conn {
                    tcb,
                    key,
                    gen: 0,
                    inc: 0,
                    armed: None,
                    half_open_on: Some(seg.dst_port),
                    held: true,
                    in_time_wait_queue: false,
                    user: Some(waiting_on(seg.dst_port)),
                });
                self.service(now, tx, id);
                return;
            }
            if flags.ack && !flags.syn && !flags.rst {
                if let Some(info) = tcp.cookies.check(now, &key, seg.seq, seg.ack) {
                    tcp.counters.syn_cookies_accepted += 1;
                    self.accept_cookie(now, tx, key, &seg, info);
                    return;
                }
                tcp.counters.syn_cookies_rejected += 1;
            }
        }
        tcp.counters.closed_port += 1;
        self.reset_closed(now, tx, key, &seg);
    }

    /// RFC 9293 §3.10.7.1: answer a segment for no connection with a RST.
    fn reset_closed<S: FrameSink>(&mut self, now: Instant, tx: &mut S, key: FlowKey, seg: &TcpRepr) {
        if seg.flags.rst {
            return;
        }
        let (seq, ack, flags) = if seg.flags.ack {
            (seg.ack, SeqNumber(0), TcpFlags { rst: true, ..TcpFlags::default() })
        } else {
            (SeqNumber(0), seg.seq + seg.segment_len(), TcpFlags { rst: true, ack: true, ..TcpFlags::default() })
        };
        let repr = TcpRepr {
            src_port: key.local_port,
            dst_port: key.remote_port,
            seq,
            ack,
            flags,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        };
        if send_tcp(&mut self.net, now, tx, key.local, key.remote, &repr, (&[], &[])) {
            self.tcp.counters.rst_sent_closed += 1;
        }
    }

    /// SYN queue full: answer statelessly with a SYN-ACK whose ISN is a cookie.
    fn send_syn_cookie<S: FrameSink>(&mut self, now: Instant, tx: &mut S, key: FlowKey, syn: &TcpRepr) {
        let tcp = &mut self.tcp;
        let info = CookieInfo {
            mss: syn.options.mss.unwrap_or(536),
            window_scale: syn.options.window_scale,
            sack: syn.options.sack_permitted,
        };
        let iss = tcp.cookies.make(now, &key, syn.seq, info);
        // A throwaway connection builds exactly the SYN-ACK the real one would.
        let mut tcb = Tcb::accept_syn(now, (key.local, key.local_port), (key.remote, key.remote_port), syn, iss, &tcp.setup.cfg);
        tcb.set_ts_offset(tcp.isn.ts_offset(key.local, key.remote));
        if let Some(seg) = tcb.poll_transmit(now, usize::MAX) {
            if send_tcp(&mut self.net, now, tx, seg.src, seg.dst, &seg.repr, (&[], &[])) {
                self.tcp.counters.syn_cookies_sent += 1;
            }
        }
    }

    /// The ACK completing a cookie handshake: rebuild the connection from the cookie.
    fn accept_cookie<S: FrameSink>(&mut self, now: Instant, tx: &mut S, key: FlowKey, ack: &TcpRepr, info: CookieInfo) {
        let tcp = &mut self.tcp;
        if !tcp.has_room() {
            tcp.counters.syn_dropped_table_full += 1;
            return;
        }
        let syn = TcpRepr {
            src_port: ack.src_port,
            dst_port: ack.dst_port,
            seq: SeqNumber(ack.seq.0.wrapping_sub(1)),
            ack: SeqNumber(0),
            flags: TcpFlags { syn: true, ..TcpFlags::default() },
            window: ack.window,
            urgent: 0,
            options: TcpOptions {
                mss: Some(info.mss),
                window_scale: info.window_scale,
                sack_permitted: info.sack,
                timestamps: ack.options.timestamps.map(|(tsval, _)| (tsval, 0)),
                ..TcpOptions::default()
            },
            payload: &[],
        };
        let iss = SeqNumber(ack.ack.0.wrapping_sub(1));
        let mut tcb = Tcb::accept_syn(now, (key.local, key.local_port), (key.remote, key.remote_port), &syn, iss, &tcp.setup.cfg);
        tcb.set_ts_offset(tcp.isn.ts_offset(key.local, key.remote));
        tcb.handle_segment(now, ack);
        tcp.counters.accepted += 1;
        let id = tcp.insert(Conn { tcb, key, gen: 0, inc: 0, armed: None, half_open_on: None, held: true, in_time_wait_queue: false, user: Some(waiting_on(key.local_port)) });
        self.service(now, tx, id);
    }

    /// After any event on connection `id`: run its service, send what it has, re-arm
    /// its timer, and reap it once closed.
    pub(super) fn service<S: FrameSink>(&mut self, now: Instant, tx: &mut S, id: u32) {
        let tcp = &mut self.tcp;
        let Some(conn) = tcp.conns.get_mut(id as usize).and_then(Option::as_mut) else { return };
        if conn.half_open_on.is_some() && conn.tcb.state() != State::SynReceived {
            let port = conn.half_open_on.take().unwrap_or(0);
            if let Some(l) = tcp.listeners.get_mut(&port) {
                l.half_open = l.half_open.saturating_sub(1);
            }
        }
        loop {
            if !tx.ready() {
                // Out of TX buffers (in copy mode on veth a sent frame returns only when
                // the peer has consumed it): keep the data, try again on the next poll.
                self.tcp.counters.tx_blocked += 1;
                if !self.tcp.blocked.contains(&id) {
                    self.tcp.blocked.push(id);
                }
                break;
            }
            let conn = self.tcp.conns[id as usize].as_mut().expect("live");
            let Some(seg) = conn.tcb.poll_transmit(now, usize::MAX) else { break };
            let payload = conn.tcb.payload_for(&seg);
            if !send_tcp(&mut self.net, now, tx, seg.src, seg.dst, &seg.repr, payload) {
                break;
            }
        }
        let tcp = &mut self.tcp;
        let conn = tcp.conns[id as usize].as_mut().expect("live");
        if let Some(u) = conn.user.as_mut() {
            let t = &conn.tcb;
            let synced = t.is_established() || matches!(t.state(), State::CloseWait | State::FinWait1 | State::FinWait2 | State::Closing | State::LastAck | State::TimeWait);
            if let Some(port) = u.pending_on {
                if synced && !u.queued {
                    u.queued = true;
                    match tcp.listeners.get_mut(&port) {
                        Some(l) if l.accept.len() < l.backlog => {
                            l.accept.push_back(id);
                            tcp.events.push(StackEvent::Acceptable { port });
                        }
                        _ => {
                            tcp.counters.accept_queue_overflow += 1;
                            conn.held = false;
                            conn.user = None;
                            conn.tcb.abort();
                            return self.service(now, tx, id);
                        }
                    }
                }
            } else {
                let now_ready = Ready {
                    readable: t.recv_available() > 0 || t.recv_eof() || t.error().is_some(),
                    writable: synced && t.send_capacity() > 0,
                    connected: synced,
                    closed: t.is_closed(),
                };
                let was = u.ready;
                if now_ready.connected && !was.connected {
                    tcp.events.push(StackEvent::Connected { conn: id, inc: conn.inc });
                }
                if now_ready.readable && !was.readable {
                    tcp.events.push(StackEvent::Readable { conn: id, inc: conn.inc });
                }
                if now_ready.writable && !was.writable {
                    tcp.events.push(StackEvent::Writable { conn: id, inc: conn.inc });
                }
                if now_ready.closed && !was.closed {
                    tcp.events.push(StackEvent::Closed { conn: id, inc: conn.inc });
                }
                u.ready = now_ready;
            }
        }
        if conn.tcb.is_closed() {
            // A passive connection that closed before it reached an accept queue (reset
            // or timed out in SYN-RECEIVED) was never an application's: nobody will
            // release it. Kept, it blocked its 4-tuple for good: the peer's next SYN
            // from that port met a closed connection and went unanswered.
            if conn.user.is_some_and(|u| u.pending_on.is_some() && !u.queued) {
                conn.held = false;
            }
            if !conn.held {
                tcp.remove(id);
            }
            return;
        }
        if conn.tcb.state() == State::TimeWait && !conn.in_time_wait_queue {
            tcp.note_time_wait(id);
        }
        let conn = tcp.conns[id as usize].as_mut().expect("live");
        let deadline = conn.tcb.poll_timeout();
        if deadline != conn.armed {
            conn.gen = conn.gen.wrapping_add(1);
            conn.armed = deadline;
            if let Some(at) = deadline {
                tcp.wheel.arm(id, conn.gen, at);
            }
        }
    }

    /// Runs the timers of connections due at `now`.
    pub(super) fn poll_tcp<S: FrameSink>(&mut self, now: Instant, tx: &mut S) {
        if !self.tcp.blocked.is_empty() && tx.ready() {
            let blocked = std::mem::take(&mut self.tcp.blocked);
            for id in blocked {
                self.service(now, tx, id);
            }
        }
        let mut due = std::mem::take(&mut self.tcp.scratch_due);
        self.tcp.wheel.expire(now, |id, gen| due.push((id, gen)));
        for &(id, gen) in &due {
            let Some(conn) = self.tcp.conns.get_mut(id as usize).and_then(Option::as_mut) else { continue };
            if conn.gen != gen {
                continue;
            }
            conn.armed = None;
            if conn.tcb.poll_timeout().is_some_and(|t| t <= now) {
                conn.tcb.handle_timeout(now);
            }
            self.service(now, tx, id);
        }
        due.clear();
        self.tcp.scratch_due = due;
    }
}

/// A new passive connection, waiting to be accepted on `port`.
fn waiting_on(port: u16) -> UserConn {
    UserConn { ready: Ready::default(), pending_on: Some(port), queued: false }
}

/// Sends one TCP segment: header from `repr` (its payload ignored), payload from the
/// two slices (a ring buffer's halves), checksum over the IPv4 pseudo-header.
fn send_tcp<S: FrameSink>(net: &mut Net, now: Instant, tx: &mut S, src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr, payload: (&[u8], &[u8])) -> bool {
    let hlen = repr.header_len();
    let plen = payload.0.len() + payload.1.len();
    let pseudo = PseudoHeader { src, dst };
    net.send_ipv4(now, tx, src, dst, IpProtocol::Tcp, hlen + plen, |buf| {
        let mut pkt = TcpPacket::new_unchecked(&mut buf[..hlen + plen]);
        repr.emit_header(&mut pkt);
        let body = pkt.payload_mut();
        body[..payload.0.len()].copy_from_slice(payload.0);
        body[payload.0.len()..].copy_from_slice(payload.1);
        pkt.fill_checksum(&pseudo);
    })
}

/// One row of the socket listing.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SocketInfo {
    pub proto: String,
    pub local: String,
    pub remote: String,
    pub state: String,
    pub recv_q: usize,
    pub send_q: usize,
    pub srtt_us: Option<u64>,
    pub rto_us: Option<u64>,
    pub cwnd: Option<usize>,
    pub retransmits: Option<u64>,
    /// The service behind it, if any.
    pub service: Option<String>,
}

impl TcpSockets {
    /// Listeners and connections, for `bypass stat`.
    pub fn listing(&self, addrs: &[Ipv4Addr]) -> Vec<SocketInfo> {
        let mut out = Vec::new();
        let mut ports: Vec<_> = self.listeners.iter().collect();
        ports.sort_by_key(|(p, _)| **p);
        for (port, l) in ports {
            let local = if addrs.len() == 1 { format!("{}:{port}", addrs[0]) } else { format!("*:{port}") };
            out.push(SocketInfo {
                proto: "tcp".into(),
                local,
                remote: "*:*".into(),
                state: "LISTEN".into(),
                recv_q: l.half_open,
                send_q: self.setup.syn_backlog,
                srtt_us: None,
                rto_us: None,
                cwnd: None,
                retransmits: None,
                service: None,
            });
        }
        for c in self.conns.iter().flatten() {
            let t = &c.tcb;
            out.push(SocketInfo {
                proto: "tcp".into(),
                local: format!("{}:{}", c.key.local, c.key.local_port),
                remote: format!("{}:{}", c.key.remote, c.key.remote_port),
                state: state_name(t.state()).into(),
                recv_q: t.recv_available(),
                send_q: t.send_queued(),
                srtt_us: t.srtt().map(|d| d.as_micros() as u64),
                rto_us: Some(t.rto().as_micros() as u64),
                cwnd: Some(t.cwnd()),
                retransmits: Some(t.counters().retransmits),
                service: None,
            });
        }
        out
    }
}

/// netstat's names for TCP states.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Closed => "CLOSED",
        State::SynSent => "SYN_SENT",
        State::SynReceived => "SYN_RECV",
        State::Established => "ESTABLISHED",
        State::FinWait1 => "FIN_WAIT1",
        State::FinWait2 => "FIN_WAIT2",
        State::CloseWait => "CLOSE_WAIT",
        State::Closing => "CLOSING",
        State::LastAck => "LAST_ACK",
        State::TimeWait => "TIME_WAIT",
    }
}
