//! What the workers share: the one test that may run at a time, its parameters, state
//! and streams, and the server's counters.
//!
//! The control connection and each stream may be owned by a different worker (RSS
//! picks the queue per flow). The worker that owns the control connection drives the
//! test's state; a worker that owns a stream reads or writes it and counts into the
//! stream's atomics, checking the test's state (one atomic load) as it goes. The locks
//! are taken only when a connection or UDP flow joins, and when the results are built.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicI8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::proto::{self, Cookie, Params, StreamResult, UdpRecv};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counters over the server's life (every worker adds to them).
#[derive(Debug, Default)]
pub struct Counters {
    pub tests_started: AtomicU64,
    pub tests_completed: AtomicU64,
    /// Tests that ended early: the client went away or terminated, or a time limit hit.
    pub tests_aborted: AtomicU64,
    /// Connections answered ACCESS_DENIED: a test was running, or a stream's cookie did
    /// not belong to it.
    pub access_denied: AtomicU64,
    /// Connections whose first 37 bytes were not a cookie, or that sent none in time.
    pub bad_cookie: AtomicU64,
    /// JSON over the length cap, or not parseable.
    pub bad_json: AtomicU64,
    /// State bytes the server does not expect.
    pub bad_state: AtomicU64,
    /// Tests refused with SERVER_ERROR (unsupported parameters).
    pub refused: AtomicU64,
    /// UDP datagrams belonging to no stream of the running test.
    pub udp_unknown: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `name=value` for each counter, for the log.
    pub fn summary(&self) -> String {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "tests_started={} tests_completed={} tests_aborted={} access_denied={} bad_cookie={} bad_json={} bad_state={} refused={} udp_unknown={}",
            l(&self.tests_started),
            l(&self.tests_completed),
            l(&self.tests_aborted),
            l(&self.access_denied),
            l(&self.bad_cookie),
            l(&self.bad_json),
            l(&self.bad_state),
            l(&self.refused),
            l(&self.udp_unknown)
        )
    }
}

/// One stream of a test.
#[derive(Debug)]
pub struct Stream {
    pub id: u32,
    /// The server sends on it.
    pub sender: bool,
    /// A UDP stream's client address.
    pub peer: Option<SocketAddrV4>,
    /// Bytes received, or sent, while the test ran.
    pub bytes: AtomicU64,
    /// UDP datagrams sent.
    pub packets: AtomicU64,
    /// A UDP receiver's statistics (only its owner records; the lock is uncontended).
    pub udp: Mutex<UdpRecv>,
    /// `bytes` when the omitted seconds ended, taken off the result.
    pub omit_base: AtomicU64,
    /// The owner has counted its last byte.
    pub finished: AtomicBool,
}

impl Stream {
    fn new(id: u32, sender: bool, peer: Option<SocketAddrV4>) -> Stream {
        Stream { id, sender, peer, bytes: AtomicU64::new(0), packets: AtomicU64::new(0), udp: Mutex::new(UdpRecv::default()), omit_base: AtomicU64::new(0), finished: AtomicBool::new(false) }
    }

    /// Counts `n` bytes.
    #[inline]
    pub fn count(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }
}

/// The state a stream's owner acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Streams are connecting; nothing is counted yet.
    Setup,
    /// Count (receivers) or send (senders).
    Running,
    /// The client sent TEST_END: count what has arrived, then finish and close.
    Ending,
    /// The test is over or given up: close.
    Over,
}

/// A test, from the control connection's cookie to IPERF_DONE.
#[derive(Debug)]
pub struct Test {
    pub cookie: Cookie,
    params: OnceLock<Params>,
    /// The iperf3 state (`proto::PARAM_EXCHANGE`...); `proto::IPERF_DONE` once over.
    state: AtomicI8,
    streams: Mutex<Vec<Arc<Stream>>>,
    udp_flows: Mutex<HashMap<SocketAddrV4, Arc<Stream>>>,
    connected: AtomicU32,
}

impl Test {
    pub fn new(cookie: Cookie) -> Test {
        Test { cookie, params: OnceLock::new(), state: AtomicI8::new(proto::PARAM_EXCHANGE), streams: Mutex::new(Vec::new()), udp_flows: Mutex::new(HashMap::new()), connected: AtomicU32::new(0) }
    }

    pub fn params(&self) -> Option<&Params> {
        self.params.get()
    }

    pub fn set_params(&self, p: Params) {
        let _ = self.params.set(p);
    }

    pub fn state(&self) -> i8 {
        self.state.load(Ordering::Acquire)
    }

    pub fn set_state(&self, s: i8) {
        self.state.store(s, Ordering::Release);
    }

    /// What a stream's owner should do now.
    #[inline]
    pub fn phase(&self) -> Phase {
        match self.state() {
            proto::TEST_RUNNING => Phase::Running,
            proto::TEST_END | proto::EXCHANGE_RESULTS => Phase::Ending,
            proto::PARAM_EXCHANGE | proto::CREATE_STREAMS | proto::TEST_START => Phase::Setup,
            _ => Phase::Over,
        }
    }

    /// Streams joined so far.
    pub fn connected(&self) -> u32 {
        self.connected.load(Ordering::Acquire)
    }

    /// Streams the test needs.
    pub fn expected(&self) -> u32 {
        self.params().map_or(0, |p| p.streams_to_receive() + p.streams_to_send())
    }

    /// A connection (TCP: `peer` None) or UDP flow presenting this test's cookie joins:
    /// its stream, or None when the test is not taking streams of that kind or has all
    /// it needs. Receivers are handed out first, then senders, ids as iperf3 numbers
    /// them.
    pub fn join(&self, peer: Option<SocketAddrV4>) -> Option<Arc<Stream>> {
        let p = self.params()?;
        if self.state() != proto::CREATE_STREAMS || (p.protocol == proto::Protocol::Udp) != peer.is_some() {
            return None;
        }
        let mut streams = lock(&self.streams);
        let n = streams.len() as u32;
        let sender = p.nth_stream_sends(n)?;
        if let Some(a) = peer {
            let mut flows = lock(&self.udp_flows);
            if flows.contains_key(&a) {
                return None;
            }
            let s = Arc::new(Stream::new(proto::stream_id(n), sender, peer));
            flows.insert(a, s.clone());
            streams.push(s.clone());
            self.connected.store(n + 1, Ordering::Release);
            return Some(s);
        }
        let s = Arc::new(Stream::new(proto::stream_id(n), sender, None));
        streams.push(s.clone());
        self.connected.store(n + 1, Ordering::Release);
        Some(s)
    }

    /// The UDP stream of a client address (for a worker that did not see the flow's
    /// first datagram).
    pub fn udp_stream(&self, from: SocketAddrV4) -> Option<Arc<Stream>> {
        lock(&self.udp_flows).get(&from).cloned()
    }

    pub fn streams(&self) -> Vec<Arc<Stream>> {
        lock(&self.streams).clone()
    }

    /// Whether every stream's owner has counted its last byte.
    pub fn all_finished(&self) -> bool {
        lock(&self.streams).iter().all(|s| s.finished.load(Ordering::Acquire))
    }

    /// Marks the end of the omitted seconds: what was counted so far is not reported.
    pub fn omit_done(&self) {
        for s in lock(&self.streams).iter() {
            s.omit_base.store(s.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// The streams' results over `seconds` of counted test time.
    pub fn results(&self, seconds: f64) -> Vec<StreamResult> {
        lock(&self.streams)
            .iter()
            .map(|s| {
                let bytes = s.bytes.load(Ordering::Acquire).saturating_sub(s.omit_base.load(Ordering::Relaxed));
                let (jitter, errors, mut packets, out_of_order) = if s.peer.is_some() && !s.sender {
                    let u = *lock(&s.udp);
                    (u.jitter, u.errors, u.packets, u.out_of_order)
                } else {
                    (0.0, 0, 0, 0)
                };
                if s.sender && s.peer.is_some() {
                    packets = s.packets.load(Ordering::Relaxed);
                }
                StreamResult { id: s.id, sender: s.sender, bytes, jitter, errors, packets, out_of_order, seconds }
            })
            .collect()
    }
}

/// The server's shared state: created by the factory, one clone per worker.
#[derive(Debug, Default)]
pub struct Registry {
    active: Mutex<Option<Arc<Test>>>,
    pub counters: Counters,
}

/// What a connection's cookie makes it.
pub enum Role {
    /// The control connection of a new test.
    Control(Arc<Test>),
    /// A stream of the running test.
    Stream(Arc<Test>, Arc<Stream>),
    /// Turned away with ACCESS_DENIED.
    Denied,
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    /// The running test, if any.
    pub fn active(&self) -> Option<Arc<Test>> {
        lock(&self.active).clone()
    }

    /// Decides what a TCP connection that sent `cookie` is: a stream of the running
    /// test when the cookie is its and it is taking streams, a new test's control
    /// connection when none runs, otherwise denied (`iperf_accept`, `iperf_tcp_accept`).
    pub fn classify(&self, cookie: Cookie) -> Role {
        let mut active = lock(&self.active);
        match active.as_ref() {
            Some(t) if t.cookie == cookie => match t.join(None) {
                Some(s) => Role::Stream(t.clone(), s),
                None => Role::Denied,
            },
            Some(_) => Role::Denied,
            None => {
                let t = Arc::new(Test::new(cookie));
                *active = Some(t.clone());
                Counters::add(&self.counters.tests_started);
                Role::Control(t)
            }
        }
    }

    /// Ends `test` (its streams' owners close them) and frees the server for the next.
    pub fn end(&self, test: &Arc<Test>, completed: bool) {
        test.set_state(proto::IPERF_DONE);
        let mut active = lock(&self.active);
        if active.as_ref().is_some_and(|t| Arc::ptr_eq(t, test)) {
            *active = None;
            Counters::add(if completed { &self.counters.tests_completed } else { &self.counters.tests_aborted });
        }
    }
}
