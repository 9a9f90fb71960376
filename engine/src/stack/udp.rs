//! UDP (RFC 768) on a worker: checksums verified (zero means none) and emitted, the
//! built-in `udp-echo` service, and rate-limited ICMP port unreachable for closed ports.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::flow::FxBuild;
use super::Net;
use crate::phy::FrameSink;
use crate::time::Instant;
use crate::wire::{IpProtocol, PseudoHeader, UdpPacket, UdpRepr};

/// UDP counters of one worker.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct UdpCounters {
    pub datagrams_rx: u64,
    pub bad_checksum: u64,
    pub malformed: u64,
    pub closed_port: u64,
    pub echoed: u64,
    pub echo_bytes: u64,
}

/// What a UDP port runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpService {
    Echo,
}

/// The UDP ports of one worker.
#[derive(Debug, Default)]
pub struct UdpSockets {
    services: HashMap<u16, UdpService, FxBuild>,
    pub counters: UdpCounters,
}

impl UdpSockets {
    /// Bound ports, for `bypass stat`.
    pub fn listing(&self, addrs: &[Ipv4Addr]) -> Vec<super::tcp::SocketInfo> {
        let mut ports: Vec<_> = self.services.keys().copied().collect();
        ports.sort();
        ports
            .into_iter()
            .map(|port| super::tcp::SocketInfo {
                proto: "udp".into(),
                local: if addrs.len() == 1 { format!("{}:{port}", addrs[0]) } else { format!("*:{port}") },
                remote: "*:*".into(),
                state: String::new(),
                recv_q: 0,
                send_q: 0,
                srtt_us: None,
                rto_us: None,
                cwnd: None,
                retransmits: None,
                service: Some("udp-echo".into()),
            })
            .collect()
    }

    pub fn new(services: impl IntoIterator<Item = (u16, UdpService)>) -> Self {
        UdpSockets { services: services.into_iter().collect(), counters: UdpCounters::default() }
    }
}

/// Outcome of a datagram for the caller: whether to send ICMP port unreachable.
pub(super) enum UdpVerdict {
    Done,
    PortUnreachable,
}

impl super::Stack {
    pub(super) fn receive_udp<S: FrameSink>(&mut self, now: Instant, tx: &mut S, src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> UdpVerdict {
        let udp = &mut self.udp;
        udp.counters.datagrams_rx += 1;
        let pseudo = PseudoHeader { src, dst };
        let (repr, payload) = match UdpPacket::new_checked(data).and_then(|p| UdpRepr::parse(&p, &pseudo, true)) {
            Ok(x) => x,
            Err(crate::wire::Error::Checksum) => {
                udp.counters.bad_checksum += 1;
                return UdpVerdict::Done;
            }
            Err(_) => {
                udp.counters.malformed += 1;
                return UdpVerdict::Done;
            }
        };
        match udp.services.get(&repr.dst_port) {
            Some(UdpService::Echo) => {
                let reply = UdpRepr { src_port: repr.dst_port, dst_port: repr.src_port };
                if send_udp(&mut self.net, now, tx, dst, src, &reply, payload) {
                    self.udp.counters.echoed += 1;
                    self.udp.counters.echo_bytes += payload.len() as u64;
                }
                UdpVerdict::Done
            }
            None => {
                udp.counters.closed_port += 1;
                UdpVerdict::PortUnreachable
            }
        }
    }
}

/// Sends one UDP datagram (fragmented by IPv4 if larger than the MTU).
pub(super) fn send_udp<S: FrameSink>(net: &mut Net, now: Instant, tx: &mut S, src: Ipv4Addr, dst: Ipv4Addr, repr: &UdpRepr, payload: &[u8]) -> bool {
    if payload.len() > UdpRepr::MAX_PAYLOAD_LEN - 20 {
        return false;
    }
    let pseudo = PseudoHeader { src, dst };
    net.send_ipv4(now, tx, src, dst, IpProtocol::Udp, repr.buffer_len(payload.len()), |buf| {
        repr.emit(&mut UdpPacket::new_unchecked(buf), &pseudo, payload);
    })
}
