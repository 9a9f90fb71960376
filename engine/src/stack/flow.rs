//! Flow identity and ownership: which worker owns a TCP/UDP flow.
//!
//! The owner is `toeplitz(flow) % workers`, the Toeplitz hash NICs use for RSS (with the
//! well-known default key), computed in software over the fields in the order a NIC
//! hashes an incoming IPv4/TCP packet: source address, destination address, source
//! port, destination port, where "source" is the remote end. On veth the kernel peer's
//! queue choice is unrelated, so frames land on any worker and are handed to the owner;
//! on a real NIC with the same key and an identity indirection table they would already
//! be there.

use std::net::Ipv4Addr;

/// The default RSS key (Microsoft's verification suite key, used by most drivers).
pub const RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// A connection's 4-tuple from our side.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct FlowKey {
    pub local: Ipv4Addr,
    pub local_port: u16,
    pub remote: Ipv4Addr,
    pub remote_port: u16,
}

impl FlowKey {
    /// The RSS hash of an incoming packet of this flow.
    pub fn rss_hash(&self) -> u32 {
        let mut input = [0u8; 12];
        input[0..4].copy_from_slice(&self.remote.octets());
        input[4..8].copy_from_slice(&self.local.octets());
        input[8..10].copy_from_slice(&self.remote_port.to_be_bytes());
        input[10..12].copy_from_slice(&self.local_port.to_be_bytes());
        toeplitz(&RSS_KEY, &input)
    }

    /// The worker that owns this flow.
    pub fn owner(&self, workers: usize) -> usize {
        if workers <= 1 { 0 } else { self.rss_hash() as usize % workers }
    }
}

/// Picks an ephemeral local port for an active open from `local` to `remote:remote_port`
/// such that the flow hashes to `worker` (so its segments come back to the worker that
/// opened it on an RSS NIC, and need no hand-off in software). Searches `range` starting
/// at `offset` (randomise it), skipping ports `in_use` says are taken. None when every
/// port in the range is taken or hashes elsewhere.
#[allow(clippy::too_many_arguments)]
pub fn pick_local_port(
    local: Ipv4Addr,
    remote: Ipv4Addr,
    remote_port: u16,
    worker: usize,
    workers: usize,
    range: std::ops::RangeInclusive<u16>,
    offset: u16,
    mut in_use: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (lo, hi) = (*range.start() as u32, *range.end() as u32);
    if lo > hi {
        return None;
    }
    let span = hi - lo + 1;
    (0..span).map(|i| (lo + (offset as u32 + i) % span) as u16).find(|&port| {
        let key = FlowKey { local, local_port: port, remote, remote_port };
        key.owner(workers) == worker && !in_use(port)
    })
}

/// The Toeplitz hash of `input` under `key` (key at least input + 4 bytes long).
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let mut result = 0u32;
    // The 32-bit window of the key starting at the current input bit.
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - bit)) & 1);
        }
    }
    result
}

/// A small, fast, deterministic hasher for flow tables (FxHash's multiply-rotate).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(i as u64)
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Microsoft's RSS verification suite, IPv4 with TCP ports.
    #[test]
    fn matches_the_rss_verification_suite() {
        let cases = [
            ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x51cc_c178u32),
            ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xc626_b0ea),
            ("24.19.198.95", 12898, "12.22.207.184", 38024, 0x5c2b_394a),
            ("38.27.205.30", 48228, "209.142.163.6", 2217, 0xafc7_327f),
            ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x10e8_28a2),
        ];
        for (src, sport, dst, dport, want) in cases {
            let f = FlowKey { remote: src.parse().unwrap(), remote_port: sport, local: dst.parse().unwrap(), local_port: dport };
            assert_eq!(f.rss_hash(), want, "{src}:{sport} -> {dst}:{dport}");
        }
    }

    #[test]
    fn picked_ports_hash_to_the_opener() {
        let (l, r) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        for workers in 1..5 {
            for worker in 0..workers {
                let mut taken = std::collections::HashSet::new();
                for k in 0..50u16 {
                    let p = pick_local_port(l, r, 80, worker, workers, 32768..=60999, k * 977, |p| taken.contains(&p)).unwrap();
                    assert!((32768..=60999).contains(&p));
                    let f = FlowKey { local: l, local_port: p, remote: r, remote_port: 80 };
                    assert_eq!(f.owner(workers), worker);
                    assert!(taken.insert(p), "never a port in use");
                }
            }
        }
        assert_eq!(pick_local_port(l, r, 80, 0, 1, 5000..=5001, 0, |_| true), None, "exhausted");
    }

    #[test]
    fn owner_is_stable_and_in_range() {
        let f = FlowKey { local: Ipv4Addr::new(10, 0, 0, 2), local_port: 7, remote: Ipv4Addr::new(10, 0, 0, 1), remote_port: 40000 };
        for w in 1..8 {
            assert!(f.owner(w) < w);
            assert_eq!(f.owner(w), f.owner(w));
        }
        assert_eq!(f.owner(1), 0);
    }
}
