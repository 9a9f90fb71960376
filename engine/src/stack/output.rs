//! Transmit path: routing, ARP resolution (or queueing behind it), and framing.

use std::net::Ipv4Addr;

use super::Net;
use crate::arp::{ArpOut, EnqueueResult, Op};
use crate::phy::FrameSink;
use crate::time::Instant;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol,
    Ipv4Packet, Ipv4Repr,
};

const ETH: usize = EthernetRepr::HEADER_LEN;
/// Minimum Ethernet frame without FCS; shorter frames are zero-padded.
const MIN_FRAME: usize = 60;
const DEFAULT_TTL: u8 = 64;

impl Net {
    /// Routes and sends one IPv4 datagram of `payload_len` bytes, whose payload `fill`
    /// writes. Queues it behind ARP when the next hop is unresolved. Returns false when
    /// it was dropped (no route, too big, no buffer, ARP queue refused it).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_ipv4<S, F>(
        &mut self,
        now: Instant,
        tx: &mut S,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
        fill: F,
    ) -> bool
    where
        S: FrameSink,
        F: FnOnce(&mut [u8]),
    {
        let total = 20 + payload_len;
        if total > u16::MAX as usize {
            self.counters.ipv4_too_big += 1;
            return false;
        }
        let Ok(next_hop) = self.router.next_hop(dst) else {
            self.counters.ipv4_no_route += 1;
            return false;
        };
        let repr = Ipv4Repr { src_addr: src, dst_addr: dst, protocol, payload_len, ttl: DEFAULT_TTL };
        let ident = self.next_ident();
        let write_ip = move |buf: &mut [u8]| {
            let mut p = Ipv4Packet::new_unchecked(&mut buf[..total]);
            repr.emit(&mut p, ident);
            fill(p.payload_mut());
        };
        if total <= self.cfg.mtu {
            return self.send_packet(now, tx, next_hop, total, write_ip);
        }
        // RFC 791 fragmentation: the datagram is built whole, then cut into fragments
        // whose data lengths are multiples of 8 (all but the last).
        let mut whole = vec![0u8; total];
        write_ip(&mut whole);
        let step = (self.cfg.mtu - 20) / 8 * 8;
        let mut ok = true;
        for (i, chunk) in whole[20..].chunks(step).enumerate() {
            let off = i * step;
            let more = off + chunk.len() < payload_len;
            let header = &whole[..20];
            let len = 20 + chunk.len();
            ok &= self.send_packet(now, tx, next_hop, len, |buf| {
                buf[..20].copy_from_slice(header);
                buf[20..len].copy_from_slice(chunk);
                let mut p = Ipv4Packet::new_unchecked(&mut buf[..len]);
                p.set_total_len(len as u16);
                p.set_dont_frag(false);
                p.set_more_frags(more);
                p.set_frag_offset(off as u16);
                p.fill_checksum();
            });
            self.counters.ipv4_fragments_sent += 1;
        }
        ok
    }

    /// Sends one IP packet of `len` bytes (written by `write`) to `next_hop`, or queues it
    /// behind ARP resolution.
    fn send_packet<S, W>(&mut self, now: Instant, tx: &mut S, next_hop: Ipv4Addr, len: usize, write: W) -> bool
    where
        S: FrameSink,
        W: FnOnce(&mut [u8]),
    {
        match self.arp.lookup(now, next_hop) {
            Some(mac) => {
                let our_mac = self.cfg.mac;
                let sent = tx.send(|buf| {
                    if buf.len() < ETH + len.max(MIN_FRAME - ETH) {
                        return 0;
                    }
                    write_eth(buf, our_mac, mac, EtherType::Ipv4);
                    write(&mut buf[ETH..ETH + len]);
                    pad(buf, ETH + len)
                });
                self.count_tx(sent)
            }
            None => {
                let mut packet = vec![0u8; len];
                write(&mut packet);
                let queued = match self.arp.enqueue(now, next_hop, packet) {
                    EnqueueResult::Resolving | EnqueueResult::Queued | EnqueueResult::Released => true,
                    EnqueueResult::QueuedDroppedOldest => {
                        self.counters.ipv4_arp_dropped += 1;
                        true
                    }
                    EnqueueResult::TableFull | EnqueueResult::Invalid => {
                        self.counters.ipv4_arp_dropped += 1;
                        false
                    }
                };
                self.flush_arp(now, tx);
                queued
            }
        }
    }

    /// Sends what the ARP resolver has for the wire: requests, retries, announcements,
    /// and IP packets released by a resolution.
    pub(super) fn flush_arp<S: FrameSink>(&mut self, now: Instant, tx: &mut S) {
        while let Some(out) = self.arp.poll_transmit(now) {
            if out.op == Op::Request {
                self.counters.arp_requests_sent += 1;
            }
            self.emit_arp(tx, &out);
        }
        while let Some((mac, packet)) = self.arp.poll_released() {
            let our_mac = self.cfg.mac;
            let sent = tx.send(|buf| {
                if buf.len() < (ETH + packet.len()).max(MIN_FRAME) {
                    return 0;
                }
                write_eth(buf, our_mac, mac, EtherType::Ipv4);
                buf[ETH..ETH + packet.len()].copy_from_slice(&packet);
                pad(buf, ETH + packet.len())
            });
            self.count_tx(sent);
        }
    }

    pub(super) fn emit_arp<S: FrameSink>(&mut self, tx: &mut S, out: &ArpOut) {
        let repr = ArpRepr {
            operation: match out.op {
                Op::Request => ArpOperation::Request,
                Op::Reply => ArpOperation::Reply,
            },
            source_hardware_addr: out.sha,
            source_protocol_addr: out.spa,
            target_hardware_addr: out.tha,
            target_protocol_addr: out.tpa,
        };
        let our_mac = self.cfg.mac;
        let sent = tx.send(|buf| {
            if buf.len() < MIN_FRAME {
                return 0;
            }
            write_eth(buf, our_mac, out.dst_mac, EtherType::Arp);
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[ETH..ETH + repr.buffer_len()]));
            pad(buf, ETH + repr.buffer_len())
        });
        if sent && out.op == Op::Reply {
            self.counters.arp_replies_sent += 1;
        }
        self.count_tx(sent);
    }

    fn count_tx(&mut self, sent: bool) -> bool {
        if sent {
            self.counters.tx_frames += 1;
        } else {
            self.counters.tx_no_buffer += 1;
        }
        sent
    }
}

fn write_eth(buf: &mut [u8], src: EthernetAddress, dst: EthernetAddress, ethertype: EtherType) {
    let repr = EthernetRepr { src_addr: src, dst_addr: dst, ethertype };
    repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..ETH]));
}

/// Zero-pads a frame of `len` bytes to the Ethernet minimum (UMEM frames are reused, so
/// stale bytes must never leave). Returns the length to send.
fn pad(buf: &mut [u8], len: usize) -> usize {
    if len < MIN_FRAME {
        buf[len..MIN_FRAME].fill(0);
        MIN_FRAME
    } else {
        len
    }
}
