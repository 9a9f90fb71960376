//! Per-worker stack counters: every frame the stack drops is counted under a reason.

use serde::Serialize;

use crate::arp::ArpCounters;
use crate::ipv4::reassembly::ReassemblyCounters;

/// What one worker's stack saw and did.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct StackCounters {
    pub rx_frames: u64,
    /// Shorter than an Ethernet header.
    pub rx_truncated: u64,
    /// Destination MAC neither ours nor broadcast.
    pub rx_other_mac: u64,
    pub rx_unknown_ethertype: u64,

    pub arp_rx: u64,
    pub arp_malformed: u64,
    pub arp_unsupported: u64,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,

    pub ipv4_rx: u64,
    pub ipv4_truncated: u64,
    /// Bad version, IHL < 5, total length < header length.
    pub ipv4_malformed: u64,
    /// A malformed option list (RFC 791 §3.1): dropped, answered with Parameter Problem.
    pub ipv4_bad_options: u64,
    pub ipv4_bad_checksum: u64,
    pub ipv4_not_for_us: u64,
    pub ipv4_ttl_zero: u64,
    pub ipv4_fragments: u64,
    pub ipv4_reassembled: u64,
    pub ipv4_no_route: u64,
    /// Datagrams too large for IPv4 (over 65535 bytes) not sent.
    pub ipv4_too_big: u64,
    /// Fragments sent for datagrams larger than the MTU.
    pub ipv4_fragments_sent: u64,
    /// Waiting for ARP resolution, dropped (queue full, table full).
    pub ipv4_arp_dropped: u64,

    pub icmp_rx: u64,
    pub icmp_malformed: u64,
    pub icmp_bad_checksum: u64,
    pub icmp_unsupported: u64,
    pub icmp_echo_replies: u64,
    pub icmp_unreachable_sent: u64,
    pub icmp_param_problem_sent: u64,
    pub icmp_rate_limited: u64,
    /// Echo requests whose reply would exceed the IPv4 maximum.
    pub icmp_too_big: u64,

    pub udp_rx: u64,
    pub other_proto_rx: u64,

    pub tx_frames: u64,
    /// The sink had no buffer (UMEM exhausted).
    pub tx_no_buffer: u64,

    /// Times this worker took up a new flow mapping (the NIC's RSS key or table changed).
    pub rss_changes: u64,
    pub arp: ArpCounters,
    pub reassembly: ReassemblyCounters,
    pub tcp: super::tcp::TcpStackCounters,
    pub udp: super::udp::UdpCounters,
}

impl StackCounters {
    /// Frames dropped for being malformed or failing a check, over all layers.
    pub fn malformed_total(&self) -> u64 {
        self.rx_truncated
            + self.arp_malformed
            + self.ipv4_truncated
            + self.ipv4_malformed
            + self.ipv4_bad_options
            + self.ipv4_bad_checksum
            + self.icmp_malformed
            + self.icmp_bad_checksum
            + self.tcp.bad_checksum
            + self.tcp.malformed
            + self.udp.bad_checksum
            + self.udp.malformed
    }
}
