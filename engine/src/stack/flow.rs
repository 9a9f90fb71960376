//! Flow identity and ownership: which worker owns a TCP flow.
//!
//! A flow's owner is the worker serving the rx queue the NIC delivers it to (worker `i`
//! serves queue `i`): the Toeplitz hash (Microsoft RSS) over the fields in the order a
//! NIC hashes an incoming IPv4/TCP packet — source address, destination address, source
//! port, destination port, where "source" is the remote end — looked up in the NIC's
//! indirection table ([`RssMap::nic`], key and table read from the driver at start and
//! whenever they change). Where the driver reports neither (veth; some drivers), the
//! owner is `hash(default key) % workers` ([`RssMap::software`]) and frames that land
//! elsewhere are handed to it in software.

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
    /// The RSS hash input of an incoming packet of this flow: remote address, local
    /// address, remote port, local port.
    fn hash_input(&self) -> [u8; 12] {
        let mut input = [0u8; 12];
        input[0..4].copy_from_slice(&self.remote.octets());
        input[4..8].copy_from_slice(&self.local.octets());
        input[8..10].copy_from_slice(&self.remote_port.to_be_bytes());
        input[10..12].copy_from_slice(&self.local_port.to_be_bytes());
        input
    }

    /// The RSS hash of an incoming packet of this flow under the default key.
    pub fn rss_hash(&self) -> u32 {
        toeplitz(&RSS_KEY, &self.hash_input())
    }

    /// The worker that owns this flow under the software mapping
    /// ([`RssMap::software`]).
    pub fn owner(&self, workers: usize) -> usize {
        if workers <= 1 { 0 } else { self.rss_hash() as usize % workers }
    }
}

/// Where the frames of a flow arrive, so which worker owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssMap {
    key: Vec<u8>,
    /// Indirection table: the rx queue for `hash % len`; empty: `hash % workers`.
    table: Vec<u16>,
    /// Ports are part of the hash input (else only the two addresses).
    ports: bool,
    /// Where the mapping came from, for the ready line and `bypass stat`.
    pub source: String,
}

impl RssMap {
    /// No RSS known: the default key and `hash % workers`; frames arriving on another
    /// worker's queue are handed off.
    pub fn software(why: &str) -> RssMap {
        RssMap { key: RSS_KEY.to_vec(), table: Vec::new(), ports: true, source: format!("software ({why})") }
    }

    /// The NIC's own key and indirection table (queue numbers), hashing ports too or
    /// only the addresses. Err says why this mapping cannot be used.
    pub fn nic(key: &[u8], table: &[u32], ports: bool, source: &str) -> Result<RssMap, String> {
        // The hash input is 12 bytes (8 without ports): the key must cover it plus 4.
        if key.len() < 16 {
            return Err(format!("a {}-byte key is too short for Toeplitz over IPv4/TCP", key.len()));
        }
        if table.is_empty() || table.iter().any(|&q| q > u32::from(u16::MAX)) {
            return Err("no usable indirection table".into());
        }
        Ok(RssMap { key: key.to_vec(), table: table.iter().map(|&q| q as u16).collect(), ports, source: source.into() })
    }

    /// The hash the NIC computes for an incoming packet of `f`.
    pub fn hash(&self, f: &FlowKey) -> u32 {
        let input = f.hash_input();
        toeplitz(&self.key, if self.ports { &input } else { &input[..8] })
    }

    /// The rx queue the NIC puts `f`'s packets on, if the table is known.
    pub fn queue(&self, f: &FlowKey) -> Option<usize> {
        (!self.table.is_empty()).then(|| self.table[self.hash(f) as usize % self.table.len()] as usize)
    }

    /// The worker owning `f` among `workers` (serving queues 0..workers): the one whose
    /// queue the NIC delivers it to; a flow the table sends to a queue no worker serves
    /// (its frames are dropped there) falls back to `hash % workers`.
    pub fn owner(&self, f: &FlowKey, workers: usize) -> usize {
        if workers <= 1 {
            return 0;
        }
        match self.queue(f) {
            Some(q) if q < workers => q,
            _ => self.hash(f) as usize % workers,
        }
    }

    /// Whether the table sends traffic to queues no worker serves (`workers` of them).
    pub fn unserved_queues(&self, workers: usize) -> Vec<usize> {
        let mut q: Vec<usize> = self.table.iter().map(|&q| q as usize).filter(|&q| q >= workers).collect();
        q.sort_unstable();
        q.dedup();
        q
    }
}

/// The current [`RssMap`], shared by the thread that watches the NIC and the workers:
/// a worker compares the generation (one atomic load) and copies the map when it moved.
#[derive(Debug)]
pub struct RssShared {
    gen: std::sync::atomic::AtomicU64,
    map: std::sync::Mutex<std::sync::Arc<RssMap>>,
}

impl RssShared {
    pub fn new(map: RssMap) -> std::sync::Arc<RssShared> {
        std::sync::Arc::new(RssShared { gen: std::sync::atomic::AtomicU64::new(0), map: std::sync::Mutex::new(std::sync::Arc::new(map)) })
    }
    pub fn generation(&self) -> u64 {
        self.gen.load(std::sync::atomic::Ordering::Acquire)
    }
    pub fn current(&self) -> std::sync::Arc<RssMap> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Publishes a new mapping (the NIC's table or key changed).
    pub fn set(&self, map: RssMap) {
        *self.map.lock().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(map);
        self.gen.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// Picks an ephemeral local port for an active open from `local` to `remote:remote_port`
/// such that `rss` delivers the flow to `worker` (so its segments come back to the
/// worker that opened it, and need no hand-off in software). Searches `range` starting
/// at `offset` (randomise it), skipping ports `in_use` says are taken. None when every
/// port in the range is taken or maps elsewhere.
#[allow(clippy::too_many_arguments)]
pub fn pick_local_port(
    local: Ipv4Addr,
    remote: Ipv4Addr,
    remote_port: u16,
    worker: usize,
    workers: usize,
    rss: &RssMap,
    range: std::ops::RangeInclusive<u16>,
    offset: u16,
    mut in_use: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (lo, hi) = (*range.start() as u32, *range.end() as u32);
    if lo > hi {
        return None;
    }
    let span = hi - lo + 1;
    let ports = || (0..span).map(|i| (lo + (offset as u32 + i) % span) as u16);
    let key = |port| FlowKey { local, local_port: port, remote, remote_port };
    // A port this worker owns, and never one whose replies the NIC's table sends to a
    // queue no worker serves (they would be dropped there).
    ports().find(|&p| rss.owner(&key(p), workers) == worker && rss.queue(&key(p)).is_none_or(|q| q < workers) && !in_use(p))
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
                    let p = pick_local_port(l, r, 80, worker, workers, &RssMap::software("test"), 32768..=60999, k * 977, |p| taken.contains(&p)).unwrap();
                    assert!((32768..=60999).contains(&p));
                    let f = FlowKey { local: l, local_port: p, remote: r, remote_port: 80 };
                    assert_eq!(f.owner(workers), worker);
                    assert!(taken.insert(p), "never a port in use");
                }
            }
        }
        assert_eq!(pick_local_port(l, r, 80, 0, 1, &RssMap::software("test"), 5000..=5001, 0, |_| true), None, "exhausted");
    }

    /// The NIC's table decides, as the driver reads it: entry `hash % len`, over ports
    /// or addresses only (Microsoft's suite gives both hashes).
    #[test]
    fn nic_mapping_follows_the_indirection_table() {
        let cases = [
            ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x51cc_c178u32, 0x323e_8fc2u32),
            ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xc626_b0ea, 0xd718_262a),
            ("24.19.198.95", 12898, "12.22.207.184", 38024, 0x5c2b_394a, 0xd2d0_a5de),
            ("38.27.205.30", 48228, "209.142.163.6", 2217, 0xafc7_327f, 0x8298_9176),
            ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x10e8_28a2, 0x5d18_09c5),
        ];
        // A table that is not the identity: entry i names queue (i * 3 + 1) % 4.
        let table: Vec<u32> = (0..128).map(|i| (i * 3 + 1) % 4).collect();
        let four = RssMap::nic(&RSS_KEY, &table, true, "t").unwrap();
        let two = RssMap::nic(&RSS_KEY, &table, false, "t").unwrap();
        for (src, sport, dst, dport, h4, h2) in cases {
            let f = FlowKey { remote: src.parse().unwrap(), remote_port: sport, local: dst.parse().unwrap(), local_port: dport };
            assert_eq!(four.hash(&f), h4);
            assert_eq!(two.hash(&f), h2);
            assert_eq!(four.owner(&f, 4), table[h4 as usize % 128] as usize);
            assert_eq!(two.owner(&f, 4), table[h2 as usize % 128] as usize);
            // A queue no worker serves: hash % workers.
            assert_eq!(four.owner(&f, 1), 0);
            let far = RssMap::nic(&RSS_KEY, &[7; 8], true, "t").unwrap();
            assert_eq!(far.owner(&f, 4), h4 as usize % 4);
            assert_eq!(far.unserved_queues(4), vec![7]);
        }
        assert!(RssMap::nic(&[1; 8], &table, true, "t").is_err(), "a key too short for the input");
        assert!(RssMap::nic(&RSS_KEY, &[], true, "t").is_err());
    }

    #[test]
    fn picked_ports_come_back_through_the_nics_table() {
        let (l, r) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        let key: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        let table: Vec<u32> = (0..64).map(|i| (i / 3) % 4).collect();
        let rss = RssMap::nic(&key, &table, true, "t").unwrap();
        for worker in 0..4 {
            for k in 0..20u16 {
                let p = pick_local_port(l, r, 80, worker, 4, &rss, 32768..=60999, k * 977, |_| false).unwrap();
                assert_eq!(rss.queue(&FlowKey { local: l, local_port: p, remote: r, remote_port: 80 }), Some(worker));
            }
        }
    }

    /// A table that also names queues no worker serves (virtio_net's XDP queue pairs
    /// before `ethtool -X`): active opens take only ports whose replies reach their queue.
    #[test]
    fn picked_ports_avoid_queues_no_worker_serves() {
        let (l, r) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        let table: Vec<u32> = (0..128).map(|i| i % 6).collect();
        let rss = RssMap::nic(&RSS_KEY, &table, true, "t").unwrap();
        for worker in 0..4 {
            for k in 0..50u16 {
                let p = pick_local_port(l, r, 80, worker, 4, &rss, 32768..=60999, k * 613, |_| false).unwrap();
                assert_eq!(rss.queue(&FlowKey { local: l, local_port: p, remote: r, remote_port: 80 }), Some(worker));
            }
        }
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
