//! The raw AF_XDP ping-pong client: the client end of the ping-pong floor when neither end
//! runs a stack. It attaches the engine's own steering program and opens one of the
//! engine's AF_XDP queues ([`bypass::xsk`], nothing else), writes one UDP frame into the TX
//! ring, spins on the RX ring until the reflection comes back, checks it byte for byte and
//! records the round trip, then sends the next. Against `bypass run --reflect-udp PORT` on
//! the other end, that is frames bounced RX ring to TX ring with no stack on either side.
//!
//! No ARP and no IP stack: the peer's MAC is given. Frames that are not the awaited
//! reflection are dropped.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bypass::phy::FrameSink;
use bypass::wire::{EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Packet, PseudoHeader, UdpPacket};
use bypass::sys;
use bypass::xsk::{QueueConfig, SteerProgram, XdpMode, XskQueue};

use crate::load::{new_histogram, record, LoadResult, OP_TIMEOUT};

/// Where the client sends from and to.
#[derive(Debug, Clone)]
pub struct RawTarget {
    /// The interface the client attaches to (its queue 0 must receive the replies).
    pub iface: String,
    /// The client's address (steered to its socket; not configured on the kernel).
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// The next hop's MAC (the reflector's interface).
    pub dst_mac: EthernetAddress,
}

const HEADERS: usize = 14 + 20 + 8;

/// The UDP frame carrying message `seq` (payload `msg_size` bytes: the sequence number,
/// then bytes derived from it), from `src_mac`/`t.src` to `t.dst_mac`/`t.dst`, with both
/// checksums filled in. Returns the frame's length, 0 if `out` is too small.
pub fn write_frame(out: &mut [u8], t: &RawTarget, src_mac: EthernetAddress, seq: u64, msg_size: usize) -> usize {
    let len = HEADERS + msg_size;
    if out.len() < len || msg_size < 8 {
        return 0;
    }
    let out = &mut out[..len];
    let mut eth = EthernetFrame::new_unchecked(&mut *out);
    eth.set_dst_addr(t.dst_mac);
    eth.set_src_addr(src_mac);
    eth.set_ethertype(EtherType::Ipv4);
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.set_version(4);
    ip.set_header_len(20);
    ip.set_dscp(0);
    ip.set_ecn(0);
    ip.set_total_len((20 + 8 + msg_size) as u16);
    ip.set_ident(seq as u16);
    ip.set_dont_frag(true);
    ip.set_more_frags(false);
    ip.set_frag_offset(0);
    ip.set_ttl(64);
    ip.set_protocol(IpProtocol::Udp);
    ip.set_src_addr(*t.src.ip());
    ip.set_dst_addr(*t.dst.ip());
    ip.fill_checksum();
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    udp.set_src_port(t.src.port());
    udp.set_dst_port(t.dst.port());
    udp.set_len((8 + msg_size) as u16);
    fill_payload(udp.payload_mut(), seq);
    udp.fill_checksum(&PseudoHeader::new(*t.src.ip(), *t.dst.ip()));
    len
}

fn fill_payload(p: &mut [u8], seq: u64) {
    p[..8].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in p[8..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8);
    }
}

/// What a received frame is to a client waiting for the reflection of message `seq`.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The reflection of `seq`, intact.
    Match,
    /// A reflection of an earlier message (arrived after its time-out).
    Stale,
    /// The reflection of `seq` with different bytes.
    Corrupt,
    /// Not a reply from the target to this client.
    Other,
}

/// Classifies `frame`: a reply is `sent` with addresses and ports swapped.
pub fn classify(frame: &[u8], sent: &[u8], t: &RawTarget, seq: u64) -> Reply {
    let Ok(eth) = EthernetFrame::new_checked(frame) else { return Reply::Other };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else { return Reply::Other };
    if eth.ethertype() != EtherType::Ipv4 || ip.protocol() != IpProtocol::Udp || ip.src_addr() != *t.dst.ip() || ip.dst_addr() != *t.src.ip() {
        return Reply::Other;
    }
    let Ok(udp) = UdpPacket::new_checked(ip.payload()) else { return Reply::Other };
    if udp.src_port() != t.dst.port() || udp.dst_port() != t.src.port() || udp.payload().len() < 8 {
        return Reply::Other;
    }
    let got = u64::from_le_bytes(udp.payload()[..8].try_into().unwrap_or([0; 8]));
    if got != seq {
        return Reply::Stale;
    }
    let sent_payload = &sent[HEADERS..];
    if udp.payload() == sent_payload {
        Reply::Match
    } else {
        Reply::Corrupt
    }
}

/// An interface's MAC, from sysfs (of this process's network namespace).
pub fn iface_mac(iface: &str) -> Result<EthernetAddress> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address")).with_context(|| format!("no interface {iface} here"))?;
    text.trim().parse().map_err(|()| anyhow::anyhow!("cannot parse the MAC of {iface}: {text:?}"))
}

/// Runs the ping-pong for `warmup` then `duration`, one message in flight. Round trips
/// count from just before the frame is written to the TX ring until its reflection is
/// taken off the RX ring (the same span as the socket clients: before the send call to
/// after the receive). A message unanswered within [`OP_TIMEOUT`] counts lost and the
/// next one goes out.
pub fn udp_pingpong(t: &RawTarget, msg_size: usize, duration: Duration, warmup: Duration) -> Result<LoadResult> {
    if !(8..=1400).contains(&msg_size) {
        bail!("raw ping-pong: message size {msg_size} must be 8..=1400 bytes");
    }
    sys::raise_memlock_limit().context("raising RLIMIT_MEMLOCK for the UMEM (run as root)")?;
    let ifindex = sys::if_index(&t.iface).with_context(|| format!("no interface {} here", t.iface))?;
    let src_mac = iface_mac(&t.iface)?;
    let program = SteerProgram::load()?;
    program.set_addresses(&[*t.src.ip()])?;
    let attached = program.attach(&t.iface, ifindex, XdpMode::Auto)?;
    let cfg = QueueConfig { frame_count: 1024, ring_size: 512, batch: 64, ..QueueConfig::default() };
    let mut queue = XskQueue::open(&t.iface, 0, &cfg)?;
    program.register_socket(0, queue.fd())?;
    queue.refill();
    let result = run_loop(&mut queue, t, src_mac, msg_size, duration, warmup);
    program.unregister_socket(0);
    drop(queue);
    drop(attached);
    result
}

fn run_loop(queue: &mut XskQueue, t: &RawTarget, src_mac: EthernetAddress, msg_size: usize, duration: Duration, warmup: Duration) -> Result<LoadResult> {
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let mut res = LoadResult::empty(duration.as_secs_f64());
    let mut hist = new_histogram();
    let mut sent = vec![0u8; HEADERS + msg_size];
    let mut seq = 0u64;
    while Instant::now() < end {
        seq += 1;
        let n = write_frame(&mut sent, t, src_mac, seq, msg_size);
        let t0 = Instant::now();
        let queued = queue.writer().send(|buf| {
            buf[..n].copy_from_slice(&sent[..n]);
            n
        });
        if !queued {
            res.error("no free UMEM frame to send from");
            queue.reap_completions();
            continue;
        }
        queue.flush();
        let deadline = t0 + OP_TIMEOUT;
        let mut outcome = None;
        while outcome.is_none() {
            queue.reap_completions();
            queue.refill();
            queue.recv(|frame, _| match classify(frame, &sent, t, seq) {
                Reply::Match => outcome = Some(Ok(Instant::now())),
                Reply::Corrupt => outcome = Some(Err("reflection differs from the frame sent")),
                Reply::Stale | Reply::Other => {}
            });
            if queue.tx_unsent() > 0 {
                queue.flush();
            }
            if outcome.is_none() && Instant::now() >= deadline {
                res.lost += 1;
                break;
            }
        }
        match outcome {
            Some(Ok(done)) if t0 >= measure_from && done <= end => {
                res.ops += 1;
                res.bytes += msg_size as u64;
                record(&mut hist, done - t0);
            }
            Some(Err(e)) => res.error(e),
            _ => {}
        }
    }
    res.histogram = Some(hist);
    Ok(res)
}

/// The MAC of `iface` in network namespace `ns` (the reflector's end of the veth pair).
pub fn mac_in_namespace(ns: &str, iface: &str) -> Result<EthernetAddress> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "cat", &format!("/sys/class/net/{iface}/address")])
        .output()
        .context("running ip netns exec")?;
    if !out.status.success() {
        bail!("cannot read the MAC of {iface} in namespace {ns}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().map_err(|()| anyhow::anyhow!("cannot parse the MAC of {iface}: {text:?}"))
}

/// The client's UDP port: any fixed one will do (nothing else uses the client address).
pub const CLIENT_PORT: u16 = 40_007;

/// The client address `ip` on [`CLIENT_PORT`].
pub fn client_addr(ip: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(ip, CLIENT_PORT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bypass::wire::reflect::reflect_udp;

    fn target() -> RawTarget {
        RawTarget {
            iface: "veth-test".into(),
            src: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 4), CLIENT_PORT),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 7),
            dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        }
    }

    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 4]);

    fn frame(seq: u64) -> Vec<u8> {
        let mut f = vec![0u8; 2048];
        let n = write_frame(&mut f, &target(), MAC, seq, 64);
        f.truncate(n);
        f
    }

    #[test]
    fn frames_are_valid_udp_with_the_message() {
        let f = frame(7);
        assert_eq!(f.len(), 14 + 20 + 8 + 64);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!((eth.dst_addr(), eth.src_addr(), eth.ethertype()), (target().dst_mac, MAC, EtherType::Ipv4));
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.total_len()), (Ipv4Addr::new(10, 0, 0, 4), Ipv4Addr::new(10, 0, 0, 2), 92));
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(udp.verify_checksum(&PseudoHeader::new(ip.src_addr(), ip.dst_addr())));
        assert_eq!((udp.src_port(), udp.dst_port(), udp.len()), (CLIENT_PORT, 7, 72));
        assert_eq!(udp.payload()[..8], 7u64.to_le_bytes());
        assert_eq!(write_frame(&mut [0u8; 100], &target(), MAC, 1, 64), 0, "no room");
        assert_eq!(write_frame(&mut [0u8; 2048], &target(), MAC, 1, 4), 0, "no room for the sequence number");
    }

    #[test]
    fn the_reflectors_answer_is_recognised() {
        let t = target();
        let sent = frame(9);
        let mut back = vec![0u8; 2048];
        let n = reflect_udp(&sent, 7, &mut back);
        assert_eq!(n, sent.len());
        assert_eq!(classify(&back[..n], &sent, &t, 9), Reply::Match);
        assert_eq!(classify(&back[..n], &sent, &t, 10), Reply::Stale, "the reply to an earlier message");
        let mut bad = back[..n].to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(classify(&bad, &sent, &t, 9), Reply::Corrupt);
        assert_eq!(classify(&sent, &sent, &t, 9), Reply::Other, "our own frame, not a reply");
        assert_eq!(classify(&back[..20], &sent, &t, 9), Reply::Other, "truncated");
    }
}
