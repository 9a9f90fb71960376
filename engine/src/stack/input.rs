//! Receive path: Ethernet demux, ARP, IPv4 validation and reassembly, ICMP and the
//! unreachables for what the engine does not serve.

use std::net::Ipv4Addr;

use super::{Stack, Verdict};
use crate::arp::Op;
use crate::icmp::quote_len;
use crate::ipv4::reassembly::ReassemblyKey;
use crate::phy::FrameSink;
use crate::time::Instant;
use crate::wire::{
    icmpv4, ArpOperation, ArpPacket, ArpRepr, Error as WireError, EtherType, EthernetFrame,
    check_options, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet,
};

impl Stack {
    /// Takes one received Ethernet frame. Replies go to `tx`.
    pub fn receive<S: FrameSink>(&mut self, now: Instant, frame: &[u8], tx: &mut S) -> Verdict {
        self.net.counters.rx_frames += 1;
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.net.counters.rx_truncated += 1;
            return Verdict::Consumed;
        };
        let dst = eth.dst_addr();
        if dst != self.net.cfg.mac && !dst.is_broadcast() {
            self.net.counters.rx_other_mac += 1;
            return Verdict::Consumed;
        }
        match eth.ethertype() {
            EtherType::Arp => self.receive_arp(now, eth.payload(), false, tx),
            EtherType::Ipv4 => self.receive_ipv4(now, eth.payload(), tx),
            EtherType::Unknown(_) => {
                self.net.counters.rx_unknown_ethertype += 1;
                Verdict::Consumed
            }
        }
    }

    /// Takes a frame another worker handed over. With `learn_only` (a shared ARP frame)
    /// the ARP cache learns from it but nothing is answered.
    pub fn receive_handoff<S: FrameSink>(&mut self, now: Instant, frame: &[u8], learn_only: bool, tx: &mut S) {
        if !learn_only {
            self.receive(now, frame, tx);
            return;
        }
        if let Ok(eth) = EthernetFrame::new_checked(frame) {
            if eth.ethertype() == EtherType::Arp {
                self.receive_arp(now, eth.payload(), true, tx);
            }
        }
    }

    fn receive_arp<S: FrameSink>(&mut self, now: Instant, payload: &[u8], learn_only: bool, tx: &mut S) -> Verdict {
        if !learn_only {
            self.net.counters.arp_rx += 1;
        }
        let repr = match ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Unsupported) => {
                self.net.counters.arp_unsupported += 1;
                return Verdict::Consumed;
            }
            Err(_) => {
                self.net.counters.arp_malformed += 1;
                return Verdict::Consumed;
            }
        };
        let op = match repr.operation {
            ArpOperation::Request => Op::Request,
            ArpOperation::Reply => Op::Reply,
            ArpOperation::Unknown(_) => {
                self.net.counters.arp_unsupported += 1;
                return Verdict::Consumed;
            }
        };
        let (sha, spa, tha, tpa) =
            (repr.source_hardware_addr, repr.source_protocol_addr, repr.target_hardware_addr, repr.target_protocol_addr);
        let reply = if learn_only {
            self.net.arp.learn_shared(now, op, sha, spa, tpa);
            None
        } else {
            self.net.arp.handle_packet(now, op, sha, spa, tha, tpa)
        };
        if let Some(out) = reply {
            self.net.emit_arp(tx, &out);
        }
        self.net.flush_arp(now, tx);
        // Replies may answer another worker's request; requests aimed at us teach every
        // worker the sender's address.
        let worth_sharing = op == Op::Reply || self.net.is_ours(tpa);
        if worth_sharing && !learn_only { Verdict::ShareArp } else { Verdict::Consumed }
    }

    fn receive_ipv4<S: FrameSink>(&mut self, now: Instant, payload: &[u8], tx: &mut S) -> Verdict {
        self.net.counters.ipv4_rx += 1;
        let ip = match Ipv4Packet::new_checked(payload) {
            Ok(p) => p,
            Err(WireError::Truncated) => {
                self.net.counters.ipv4_truncated += 1;
                return Verdict::Consumed;
            }
            Err(_) => {
                self.net.counters.ipv4_malformed += 1;
                return Verdict::Consumed;
            }
        };
        if !ip.verify_checksum() {
            self.net.counters.ipv4_bad_checksum += 1;
            return Verdict::Consumed;
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if !self.net.is_ours(dst) {
            self.net.counters.ipv4_not_for_us += 1;
            return Verdict::Consumed;
        }
        if ip.ttl() == 0 {
            self.net.counters.ipv4_ttl_zero += 1;
            return Verdict::Consumed;
        }
        if let Err(bad) = check_options(ip.options()) {
            // RFC 1122 §3.2.1.8 / §3.2.2.5: a datagram whose header cannot be parsed is
            // discarded, with a Parameter Problem (as Linux answers it).
            self.net.counters.ipv4_bad_options += 1;
            if ip.frag_offset() == 0 && !is_icmp_error(ip.protocol(), ip.payload()) {
                let quote = &payload[..quote_len(ip.header_len(), ip.total_len() as usize)];
                self.send_param_problem(now, tx, dst, src, bad.pointer, quote);
            }
            return Verdict::Consumed;
        }
        let protocol = ip.protocol();
        if ip.more_frags() || ip.frag_offset() != 0 {
            self.net.counters.ipv4_fragments += 1;
            let key = ReassemblyKey { src, dst, ident: ip.ident(), protocol: protocol.into() };
            let whole = self.reasm.insert(now, key, ip.frag_offset() as usize, ip.more_frags(), ip.payload());
            if let Ok(Some(data)) = whole {
                self.net.counters.ipv4_reassembled += 1;
                let owner = tcp_key(src, dst, &data).map(|k| self.net.rss.owner(&k, self.net.cfg.workers));
                if protocol == IpProtocol::Tcp && owner.is_some_and(|o| o != self.worker) {
                    self.tcp.counters.misrouted_fragments += 1;
                } else {
                    self.deliver(now, tx, src, dst, protocol, &data, None);
                }
            }
            return Verdict::Consumed;
        }
        let total = ip.total_len() as usize;
        if protocol == IpProtocol::Tcp && self.net.cfg.workers > 1 {
            if let Some(owner) = self.tcp_handoff(ip.payload(), src, dst) {
                return Verdict::Handoff(owner);
            }
        }
        let quote = &payload[..quote_len(ip.header_len(), total)];
        self.deliver(now, tx, src, dst, protocol, ip.payload(), Some(quote));
        Verdict::Consumed
    }

    /// Hands a whole datagram's payload to its protocol. `quote` is the start of the
    /// datagram for ICMP errors (absent for reassembled datagrams, which get none).
    #[allow(clippy::too_many_arguments)]
    fn deliver<S: FrameSink>(
        &mut self,
        now: Instant,
        tx: &mut S,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        data: &[u8],
        quote: Option<&[u8]>,
    ) {
        match protocol {
            IpProtocol::Icmp => self.receive_icmp(now, tx, src, dst, data),
            IpProtocol::Tcp => self.receive_tcp(now, tx, src, dst, data),
            IpProtocol::Udp => {
                self.net.counters.udp_rx += 1;
                if let super::udp::UdpVerdict::PortUnreachable = self.receive_udp(src, dst, data) {
                    if let Some(q) = quote {
                        self.send_unreachable(now, tx, dst, src, icmpv4::unreachable::PORT, q);
                    }
                }
            }
            _ => {
                self.net.counters.other_proto_rx += 1;
                if let Some(q) = quote {
                    self.send_unreachable(now, tx, dst, src, icmpv4::unreachable::PROTOCOL, q);
                }
            }
        }
    }

    fn receive_icmp<S: FrameSink>(&mut self, now: Instant, tx: &mut S, src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) {
        self.net.counters.icmp_rx += 1;
        let pkt = match Icmpv4Packet::new_checked(data) {
            Ok(p) => p,
            Err(_) => {
                self.net.counters.icmp_malformed += 1;
                return;
            }
        };
        match Icmpv4Repr::parse(&pkt, true) {
            Ok(Icmpv4Repr::EchoRequest { ident, seq_no, data }) => {
                let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
                let len = reply.buffer_len();
                if 20 + len > u16::MAX as usize {
                    self.net.counters.icmp_too_big += 1;
                    return;
                }
                if self.net.send_ipv4(now, tx, dst, src, IpProtocol::Icmp, len, |buf| {
                    reply.emit(&mut Icmpv4Packet::new_unchecked(buf));
                }) {
                    self.net.counters.icmp_echo_replies += 1;
                }
            }
            Ok(_) => self.net.counters.icmp_unsupported += 1,
            Err(WireError::Checksum) => self.net.counters.icmp_bad_checksum += 1,
            Err(WireError::Unsupported) => self.net.counters.icmp_unsupported += 1,
            Err(_) => self.net.counters.icmp_malformed += 1,
        }
    }

    /// Sends a rate-limited Destination Unreachable quoting the offending datagram.
    fn send_unreachable<S: FrameSink>(&mut self, now: Instant, tx: &mut S, from: Ipv4Addr, to: Ipv4Addr, code: u8, quote: &[u8]) {
        if self.send_icmp_error(now, tx, from, to, &Icmpv4Repr::DstUnreachable { code, invoking: quote }) {
            self.net.counters.icmp_unreachable_sent += 1;
        }
    }

    fn send_param_problem<S: FrameSink>(&mut self, now: Instant, tx: &mut S, from: Ipv4Addr, to: Ipv4Addr, pointer: u8, quote: &[u8]) {
        if self.send_icmp_error(now, tx, from, to, &Icmpv4Repr::ParameterProblem { pointer, invoking: quote }) {
            self.net.counters.icmp_param_problem_sent += 1;
        }
    }

    /// Sends an ICMP error, rate-limited, never to a broadcast, multicast, unspecified or
    /// loopback source (RFC 1122 §3.2.2). True if it left.
    fn send_icmp_error<S: FrameSink>(&mut self, now: Instant, tx: &mut S, from: Ipv4Addr, to: Ipv4Addr, msg: &Icmpv4Repr<'_>) -> bool {
        if to.is_broadcast() || to.is_multicast() || to.is_unspecified() || to.is_loopback() {
            return false;
        }
        if !self.icmp_errors.allow(now) {
            self.net.counters.icmp_rate_limited += 1;
            return false;
        }
        let len = msg.buffer_len();
        self.net.send_ipv4(now, tx, from, to, IpProtocol::Icmp, len, |buf| msg.emit(&mut Icmpv4Packet::new_unchecked(buf)))
    }
}

/// An ICMP error message (RFC 1122 §3.2.2: never answered with another one); echo and
/// unknown types are not errors.
fn is_icmp_error(protocol: IpProtocol, payload: &[u8]) -> bool {
    protocol == IpProtocol::Icmp && payload.first().is_some_and(|&t| matches!(t, 3 | 4 | 5 | 11 | 12))
}

/// The flow of a TCP segment from `src` to our `dst` (None if too short to tell).
fn tcp_key(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> Option<super::flow::FlowKey> {
    if segment.len() < 4 {
        return None;
    }
    Some(super::flow::FlowKey {
        local: dst,
        local_port: u16::from_be_bytes([segment[2], segment[3]]),
        remote: src,
        remote_port: u16::from_be_bytes([segment[0], segment[1]]),
    })
}

impl Stack {
    /// Which worker a TCP segment arriving here must go to, if not this one: the flow's
    /// owner under the current mapping, unless the connection lives here (opened before
    /// the NIC's table changed); and a segment of no connection here that the mapping
    /// before the last change gave to another worker goes there (a new SYN stays).
    fn tcp_handoff(&mut self, segment: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Option<usize> {
        self.net.sync_rss();
        let key = tcp_key(src, dst, segment)?;
        let workers = self.net.cfg.workers;
        let owner = self.net.rss.owner(&key, workers);
        if owner != self.worker {
            return (!self.tcp.has_flow(&key)).then_some(owner);
        }
        let prev = self.net.rss_prev.as_ref()?.owner(&key, workers);
        let syn = segment.get(13).is_some_and(|f| f & 0x12 == 0x02);
        (prev != self.worker && !syn && !self.tcp.has_flow(&key)).then_some(prev)
    }
}
