//! The per-worker stack: Ethernet demux (IEEE 802.3), ARP (RFC 826), IPv4 input
//! validation, reassembly and routing (RFC 791, RFC 1122 §3.2.1), ICMP echo and
//! rate-limited unreachables (RFC 792).
//!
//! One `Stack` per worker, owned by it alone. Frames come in as byte slices with the
//! time; replies go out through a [`FrameSink`]; timers are driven by `poll_timeout` /
//! `poll`. Nothing here reads a clock or touches a ring, so the whole stack runs in unit
//! tests over [`crate::phy::VecSink`].

mod counters;
pub mod flow;
mod input;
mod output;
mod syncookie;
pub mod tcp;
mod timer_wheel;
pub mod udp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tcp;

use std::net::Ipv4Addr;

pub use counters::StackCounters;
pub use flow::{RssMap, RssShared};
pub use tcp::{ConnId, ConnectError, ListenError, SocketInfo, StackEvent, TcpSetup, TcpStackCounters};

use crate::arp::{ArpConfig, ArpResolver};
use crate::icmp::RateLimiter;
use crate::ipv4::reassembly::{Reassembler, ReassemblyConfig};
use crate::ipv4::route::Router;
use crate::phy::FrameSink;
use crate::time::Instant;
use crate::wire::EthernetAddress;

/// An address with its prefix length, as given by `--ip 10.0.0.2/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    pub fn network(&self) -> Ipv4Addr {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix as u32) };
        Ipv4Addr::from(u32::from(self.addr) & mask)
    }
}

impl std::fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl StackConfig {
    /// One worker on a 1500-byte MTU with these addresses, everything else default.
    pub fn new(mac: EthernetAddress, addrs: Vec<Ipv4Cidr>) -> Self {
        StackConfig {
            mac,
            addrs,
            gateway: None,
            mtu: 1500,
            arp: ArpConfig::default(),
            reassembly: ReassemblyConfig::default(),
            tcp: TcpSetup::default(),
            workers: 1,
            rss: None,
        }
    }
}

/// What a stack is configured with.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub mac: EthernetAddress,
    pub addrs: Vec<Ipv4Cidr>,
    pub gateway: Option<Ipv4Addr>,
    /// IP MTU of the interface (bytes of IP packet per frame).
    pub mtu: usize,
    pub arp: ArpConfig,
    pub reassembly: ReassemblyConfig,
    pub tcp: TcpSetup,
    /// Workers in the engine; worker `i` serves rx queue `i`.
    pub workers: usize,
    /// Which queue the NIC delivers a flow to, so which worker owns it; None: the
    /// software mapping ([`flow::RssMap::software`]).
    pub rss: Option<std::sync::Arc<flow::RssShared>>,
}

/// What the caller should do with a frame after the stack took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done with it.
    Consumed,
    /// An ARP frame the other workers' caches should see too.
    ShareArp,
    /// A frame of a flow this worker does not own: hand it to that worker.
    Handoff(usize),
}

/// Addressing, ARP and IPv4 output: the part of the stack every protocol sends through.
pub(crate) struct Net {
    cfg: StackConfig,
    our_ips: Vec<Ipv4Addr>,
    arp: ArpResolver,
    router: Router,
    ident: u16,
    counters: StackCounters,
    /// The flow-to-worker mapping in use, the one before it (flows opened under it stay
    /// where they are), and the generation of [`StackConfig::rss`] it came from.
    rss: std::sync::Arc<flow::RssMap>,
    rss_prev: Option<std::sync::Arc<flow::RssMap>>,
    rss_gen: u64,
}

impl Net {
    /// Takes up a new flow mapping if the NIC's changed (one atomic load otherwise).
    fn sync_rss(&mut self) {
        if let Some(shared) = &self.cfg.rss {
            let gen = shared.generation();
            if gen != self.rss_gen {
                self.rss_prev = Some(std::mem::replace(&mut self.rss, shared.current()));
                self.rss_gen = gen;
                self.counters.rss_changes += 1;
            }
        }
    }

    fn is_ours(&self, ip: Ipv4Addr) -> bool {
        self.our_ips.contains(&ip)
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }
}

/// One worker's protocol stack.
pub struct Stack {
    net: Net,
    reasm: Reassembler,
    icmp_errors: RateLimiter,
    tcp: tcp::TcpSockets,
    udp: udp::UdpSockets,
    worker: usize,
    /// Receive batching (see [`Stack::begin_rx_batch`]): connections with in-order
    /// segments this batch, serviced once at its end.
    batching: bool,
    deferred: Vec<u32>,
    /// Connections corked during the application pass (see [`Stack::tcp_flush_corked`]).
    corked: Vec<u32>,
}

impl Stack {
    pub fn new(cfg: StackConfig, worker: usize, now: Instant) -> Stack {
        let our_ips: Vec<Ipv4Addr> = cfg.addrs.iter().map(|c| c.addr).collect();
        let arp = ArpResolver::new(cfg.mac, &our_ips, cfg.arp);
        let reasm = Reassembler::new(cfg.reassembly);
        let router = Router { on_link: cfg.addrs.iter().map(|c| (c.network(), c.prefix)).collect(), gateway: cfg.gateway };
        let tcp = tcp::TcpSockets::new(now, cfg.tcp.clone());
        let udp = udp::UdpSockets::new();
        let net = Net {
            our_ips,
            arp,
            router,
            // Spread the IP ident space over workers so their datagrams do not collide.
            ident: (worker as u16).wrapping_mul(0x1000),
            counters: StackCounters::default(),
            rss: cfg.rss.as_ref().map(|r| r.current()).unwrap_or_else(|| std::sync::Arc::new(flow::RssMap::software("no RSS configured"))),
            rss_prev: None,
            rss_gen: cfg.rss.as_ref().map_or(0, |r| r.generation()),
            cfg,
        };
        Stack { net, reasm, icmp_errors: RateLimiter::icmp_default(), tcp, udp, worker, batching: false, deferred: Vec::new(), corked: Vec::new() }
    }

    /// Announces our addresses (gratuitous ARP). Call once when the datapath is up.
    pub fn start<S: FrameSink>(&mut self, now: Instant, tx: &mut S) {
        self.net.arp.announce(now);
        self.net.flush_arp(now, tx);
    }

    /// The earliest time `poll` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.net.arp.poll_timeout(), self.reasm.poll_timeout(), self.tcp.poll_timeout()].into_iter().flatten().min()
    }

    /// Whether `poll` has work at `now`. Cheap enough to ask on every pass of the poll
    /// loop (unlike `poll_timeout`, which may scan the timer wheel).
    pub fn needs_poll(&self, now: Instant) -> bool {
        self.tcp.is_due(now)
            || self.net.arp.poll_timeout().is_some_and(|t| t <= now)
            || self.reasm.poll_timeout().is_some_and(|t| t <= now)
    }

    /// Starts a receive batch: until [`Stack::end_rx_batch`], an in-order TCP segment
    /// is processed at once but its connection sends (ACKs, data the ACK clocks out) only
    /// at the end of the batch, so a burst of segments gets one cumulative ACK, as a
    /// kernel receiver gets with GRO. Out-of-order arrivals are still answered at once.
    pub fn begin_rx_batch(&mut self) {
        self.batching = true;
    }

    /// Ends a receive batch: services every connection that had segments in it.
    pub fn end_rx_batch<S: FrameSink>(&mut self, now: Instant, tx: &mut S) {
        self.batching = false;
        let mut ids = std::mem::take(&mut self.deferred);
        for &id in &ids {
            self.service(now, tx, id);
        }
        ids.clear();
        self.deferred = ids;
    }

    /// Runs timers due at `now`: ARP retries and expiry, reassembly timeouts.
    pub fn poll<S: FrameSink>(&mut self, now: Instant, tx: &mut S) {
        self.net.arp.handle_timeout(now);
        self.reasm.handle_timeout(now);
        self.net.flush_arp(now, tx);
        self.poll_tcp(now, tx);
    }

    pub fn counters(&self) -> StackCounters {
        let mut c = self.net.counters;
        c.arp = self.net.arp.counters();
        c.reassembly = self.reasm.counters();
        c.tcp = self.tcp.counters;
        c.udp = self.udp.counters;
        c
    }

    /// Per-connection TCP counters summed over this worker's connections, live and gone.
    pub fn tcp_counters(&self) -> crate::tcp::TcpCounters {
        self.tcp.tcp_counters()
    }

    /// Events for applications since the last call.
    pub fn take_events(&mut self, out: &mut Vec<StackEvent>) {
        out.append(&mut self.tcp.events);
        out.append(&mut self.udp.events);
    }

    /// The engine's addresses.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        &self.net.our_ips
    }

    /// Which worker owns a TCP flow arriving from `remote` to our `local` address.
    pub fn flow_owner(&self, local: std::net::SocketAddrV4, remote: std::net::SocketAddrV4) -> usize {
        self.net.rss.owner(&flow::FlowKey { local: *local.ip(), local_port: local.port(), remote: *remote.ip(), remote_port: remote.port() }, self.net.cfg.workers)
    }

    /// Where flows' frames arrive: the NIC's RSS or the software mapping, and from where.
    pub fn rss_source(&self) -> &str {
        &self.net.rss.source
    }

    /// This worker's index.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Every socket of this worker: TCP listeners and connections, UDP ports.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        let mut v = self.tcp.listing(&self.net.our_ips);
        v.extend(self.udp.listing(&self.net.our_ips));
        v
    }

    /// This worker's TCP connections and their states.
    pub fn tcp_connections(&self) -> Vec<(flow::FlowKey, crate::tcp::State)> {
        self.tcp.connections().collect()
    }

    pub fn arp(&self) -> &ArpResolver {
        &self.net.arp
    }

    pub fn config(&self) -> &StackConfig {
        &self.net.cfg
    }
}
