//! Frame-level UDP reflection: the benchmark's "raw AF_XDP" baseline.
//!
//! A reflected frame is the received frame with its Ethernet and IPv4 addresses and UDP
//! ports swapped (RFC 791, RFC 768 formats). Swapping keeps both checksums valid (the
//! IPv4 header sum and the UDP pseudo-header sum are commutative), so nothing is
//! recomputed or verified: this is the least work an echo over AF_XDP can do, the rate
//! the full stack's UDP echo is measured against. It is not a protocol implementation:
//! no ARP, no validation beyond what is needed to find the fields safely.

use super::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet, UdpPacket};

/// Whether `frame` is an unfragmented IPv4/UDP datagram to `port`.
pub fn is_udp_to(frame: &[u8], port: u16) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else { return false };
    if eth.ethertype() != EtherType::Ipv4 {
        return false;
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else { return false };
    if ip.protocol() != IpProtocol::Udp || ip.more_frags() || ip.frag_offset() != 0 {
        return false;
    }
    UdpPacket::new_checked(ip.payload()).is_ok_and(|u| u.dst_port() == port)
}

/// If [`is_udp_to`] `port`, writes the reflection of `frame` into `out` and returns the
/// length written; otherwise returns 0 (`out` untouched).
pub fn reflect_udp(frame: &[u8], port: u16, out: &mut [u8]) -> usize {
    if out.len() < frame.len() || !is_udp_to(frame, port) {
        return 0;
    }
    let eth = EthernetFrame::new_unchecked(frame);
    let ip = Ipv4Packet::new_unchecked(eth.payload());
    let udp = UdpPacket::new_unchecked(ip.payload());
    let (mac_dst, mac_src, ip_src, ip_dst) = (eth.dst_addr(), eth.src_addr(), ip.src_addr(), ip.dst_addr());
    let (sport, dport) = (udp.src_port(), udp.dst_port());
    let out = &mut out[..frame.len()];
    out.copy_from_slice(frame);
    let mut e = EthernetFrame::new_unchecked(&mut *out);
    e.set_dst_addr(mac_src);
    e.set_src_addr(mac_dst);
    let mut i = Ipv4Packet::new_unchecked(e.payload_mut());
    i.set_src_addr(ip_dst);
    i.set_dst_addr(ip_src);
    let mut u = UdpPacket::new_unchecked(&mut i.payload_mut()[..]);
    u.set_src_port(dport);
    u.set_dst_port(sport);
    frame.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EthernetAddress, PseudoHeader};
    use std::net::Ipv4Addr;

    /// A 14 + 20 + 8 + 4 byte frame: 02:..:01 -> 02:..:02, 10.0.0.1:5000 -> 10.0.0.2:7, "ping".
    fn datagram(more_frags: bool) -> Vec<u8> {
        let mut f = vec![0u8; 46];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_version(4);
        ip.set_header_len(20);
        ip.set_total_len(32);
        ip.set_ttl(64);
        ip.set_more_frags(more_frags);
        ip.set_protocol(IpProtocol::Udp);
        ip.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        ip.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        ip.fill_checksum();
        let mut u = UdpPacket::new_unchecked(&mut f[34..]);
        u.set_src_port(5000);
        u.set_dst_port(7);
        u.set_len(12);
        u.payload_mut().copy_from_slice(b"ping");
        u.fill_checksum(&PseudoHeader::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)));
        f
    }

    #[test]
    fn swaps_addresses_and_ports_and_keeps_checksums_valid() {
        let f = datagram(false);
        let mut out = [0u8; 2048];
        let n = reflect_udp(&f, 7, &mut out);
        assert_eq!(n, f.len());
        let e = EthernetFrame::new_checked(&out[..n]).unwrap();
        assert_eq!(e.dst_addr(), EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(e.src_addr(), EthernetAddress([2, 0, 0, 0, 0, 2]));
        let ip = Ipv4Packet::new_checked(e.payload()).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)));
        assert!(ip.verify_checksum());
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!((u.src_port(), u.dst_port()), (7, 5000));
        assert!(u.verify_checksum(&PseudoHeader::new(ip.src_addr(), ip.dst_addr())));
        assert_eq!(u.payload(), b"ping");
    }

    #[test]
    fn leaves_other_traffic_alone() {
        let mut out = [0u8; 2048];
        assert_eq!(reflect_udp(&datagram(false), 9, &mut out), 0, "other port");
        assert_eq!(reflect_udp(&datagram(true), 7, &mut out), 0, "fragment");
        let f = datagram(false);
        for len in 0..f.len() - 4 {
            assert_eq!(reflect_udp(&f[..len], 7, &mut out), 0, "truncated to {len}");
        }
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(reflect_udp(&arp, 7, &mut out), 0, "not IPv4");
        assert_eq!(reflect_udp(&f, 7, &mut out[..10]), 0, "no room");
        assert!(out.iter().all(|&b| b == 0));
    }
}
