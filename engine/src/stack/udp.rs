//! UDP (RFC 768) on a worker: checksums verified (zero means none) and emitted, the
//! built-in `udp-echo` service, and rate-limited ICMP port unreachable for closed ports.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};

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
    /// Datagrams queued for an application.
    pub queued: u64,
    /// Datagrams dropped because an application's receive queue was full.
    pub queue_full: u64,
    pub sent: u64,
}

/// Bound on datagrams waiting in one application socket.
const MAX_QUEUED: usize = 1024;
/// Bound on their bytes.
const MAX_QUEUED_BYTES: usize = 4 << 20;

/// A port an application bound.
#[derive(Debug, Default)]
struct Binding {
    queue: VecDeque<(SocketAddrV4, Vec<u8>)>,
    bytes: usize,
}

/// The UDP ports of one worker.
#[derive(Debug, Default)]
pub struct UdpSockets {
    bound: HashMap<u16, Binding, FxBuild>,
    pub counters: UdpCounters,
    pub(super) events: Vec<super::tcp::StackEvent>,
}

impl UdpSockets {
    /// Bound ports, for `bypass stat`.
    pub fn listing(&self, addrs: &[Ipv4Addr]) -> Vec<super::tcp::SocketInfo> {
        let mut ports: Vec<_> = self.bound.keys().copied().collect();
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
                service: None,
            })
            .collect()
    }

    pub fn new() -> Self {
        UdpSockets::default()
    }
}

/// Outcome of a datagram for the caller: whether to send ICMP port unreachable.
pub(super) enum UdpVerdict {
    Done,
    PortUnreachable,
}

impl super::Stack {
    pub(super) fn receive_udp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> UdpVerdict {
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
        match udp.bound.get_mut(&repr.dst_port) {
                Some(b) => {
                    if b.queue.len() >= MAX_QUEUED || b.bytes + payload.len() > MAX_QUEUED_BYTES {
                        udp.counters.queue_full += 1;
                    } else {
                        if b.queue.is_empty() {
                            udp.events.push(super::tcp::StackEvent::UdpReadable { port: repr.dst_port });
                        }
                        b.bytes += payload.len();
                        b.queue.push_back((SocketAddrV4::new(src, repr.src_port), payload.to_vec()));
                        udp.counters.queued += 1;
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

/// Why a UDP bind failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("UDP port {0} is in use")]
    InUse(u16),
}

impl super::Stack {
    /// Binds UDP `port` (all our addresses) for an application.
    pub fn udp_bind(&mut self, port: u16) -> Result<(), BindError> {
        if port == 0 || self.udp.bound.contains_key(&port) {
            return Err(BindError::InUse(port));
        }
        self.udp.bound.insert(port, Binding::default());
        Ok(())
    }

    pub fn udp_unbind(&mut self, port: u16) {
        self.udp.bound.remove(&port);
    }

    /// The next datagram queued on `port`, with its sender.
    pub fn udp_recv(&mut self, port: u16) -> Option<(SocketAddrV4, Vec<u8>)> {
        let b = self.udp.bound.get_mut(&port)?;
        let d = b.queue.pop_front()?;
        b.bytes -= d.1.len();
        Some(d)
    }

    /// Whether a datagram waits on `port`.
    pub fn udp_pending(&self, port: u16) -> bool {
        self.udp.bound.get(&port).is_some_and(|b| !b.queue.is_empty())
    }

    /// Sends `data` from our `local` address and `port` to `to`.
    pub fn udp_send<S: FrameSink>(&mut self, now: Instant, tx: &mut S, local: Ipv4Addr, port: u16, to: SocketAddrV4, data: &[u8]) -> bool {
        let repr = UdpRepr { src_port: port, dst_port: to.port() };
        let ok = send_udp(&mut self.net, now, tx, local, *to.ip(), &repr, data);
        if ok {
            self.udp.counters.sent += 1;
        }
        ok
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
