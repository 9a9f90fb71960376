//! What the kernel's TCP sockets cost: `/proc/net/sockstat` (sockets in use, and the
//! pages TCP buffers hold) and the slab caches a socket lives in (`/proc/slabinfo`), so
//! the idle-connection case can report kernel memory per connection.

use std::collections::BTreeMap;
use std::io;

/// The slab caches a TCP connection held by a server on epoll takes objects from: the
/// socket itself (`TCP`), the handshake's request (`request_sock_TCP`), TIME-WAIT
/// (`tw_sock_TCP`), the socket's inode, dentry and file, and the epoll registration.
pub const TCP_SLABS: [&str; 7] = ["TCP", "request_sock_TCP", "tw_sock_TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi"];

/// The TCP line of `/proc/net/sockstat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockStat {
    /// Sockets in use (listening and established; in this network namespace).
    pub inuse: u64,
    pub orphan: u64,
    pub tw: u64,
    pub alloc: u64,
    /// Pages of TCP buffer memory (system-wide).
    pub mem_pages: u64,
}

/// Parses `/proc/net/sockstat`; None without a well-formed TCP line.
pub fn parse_sockstat(text: &str) -> Option<SockStat> {
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let field = |name: &str| words.chunks(2).find(|kv| kv[0] == name).and_then(|kv| kv.get(1)?.parse().ok());
    Some(SockStat { inuse: field("inuse")?, orphan: field("orphan")?, tw: field("tw")?, alloc: field("alloc")?, mem_pages: field("mem")? })
}

/// Bytes of slab pages each cache holds (`num_slabs * pagesperslab * page_size`), from
/// `/proc/slabinfo` (version 2.x), for the caches named in `names`.
pub fn parse_slabinfo(text: &str, names: &[&str], page_size: u64) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with("slabinfo") {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(name) = f.first() else { continue };
        if !names.contains(name) {
            continue;
        }
        // name active_objs num_objs objsize objperslab pagesperslab : tunables l b s : slabdata active_slabs num_slabs sharedavail
        let pages_per_slab: Option<u64> = f.get(5).and_then(|x| x.parse().ok());
        let slabdata = f.iter().position(|w| *w == "slabdata");
        let num_slabs: Option<u64> = slabdata.and_then(|i| f.get(i + 2)).and_then(|x| x.parse().ok());
        if let (Some(p), Some(n)) = (pages_per_slab, num_slabs) {
            out.insert(name.to_string(), p * n * page_size);
        }
    }
    out
}

/// A `TcpExt` counter from `/proc/net/netstat` (a header line of names, then a line of
/// values), e.g. `ListenOverflows`.
pub fn parse_tcpext(text: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// The soft open-files limit from `/proc/PID/limits` ("Max open files  SOFT  HARD  files").
pub fn parse_nofile_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// A process's open descriptors and its soft open-files limit.
pub fn open_files(pid: u32) -> Option<(u64, u64)> {
    let used = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    let limit = parse_nofile_limit(&std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?)?;
    Some((used, limit))
}

/// Kernel TCP memory at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelTcpMemory {
    pub sockstat: SockStat,
    /// Bytes per slab cache of [`TCP_SLABS`].
    pub slabs: BTreeMap<String, u64>,
}

impl KernelTcpMemory {
    /// Reads the sockstat of `pid`'s network namespace (`/proc/PID/net/sockstat`) and
    /// the system's slabinfo (root only).
    pub fn read(pid: u32) -> io::Result<Self> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse {what}"));
        let sockstat = parse_sockstat(&std::fs::read_to_string(format!("/proc/{pid}/net/sockstat"))?).ok_or_else(|| bad("sockstat"))?;
        let slabs = parse_slabinfo(&std::fs::read_to_string("/proc/slabinfo")?, &TCP_SLABS, 4096);
        Ok(KernelTcpMemory { sockstat, slabs })
    }

    /// Buffer pages and slab bytes.
    pub fn total_bytes(&self) -> u64 {
        self.sockstat.mem_pages * 4096 + self.slabs.values().sum::<u64>()
    }

    /// The change from `before` per slab cache (and `sockstat mem` as bytes), signed.
    pub fn delta(&self, before: &KernelTcpMemory) -> BTreeMap<String, i64> {
        let mut d = BTreeMap::new();
        d.insert("sockstat mem".to_string(), (self.sockstat.mem_pages as i64 - before.sockstat.mem_pages as i64) * 4096);
        for (k, v) in &self.slabs {
            d.insert(k.clone(), *v as i64 - before.slabs.get(k).copied().unwrap_or(0) as i64);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKSTAT: &str = "sockets: used 20033\nTCP: inuse 20004 orphan 0 tw 3 alloc 20006 mem 12\nUDP: inuse 0 mem 144\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";

    const SLABINFO: &str = "slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
tw_sock_TCP           48    128    256   16    1 : tunables    0    0    0 : slabdata      8      8      0
request_sock_TCP     132    132    320   12    1 : tunables    0    0    0 : slabdata     11     11      0
TCP                   91     91   2368   13    8 : tunables    0    0    0 : slabdata      7      7      0
TCPv6                 26     26   2496   13    8 : tunables    0    0    0 : slabdata      2      2      0
filp                 772    840    192   21    1 : tunables    0    0    0 : slabdata     40     40      0
broken line
";

    #[test]
    fn parses_the_tcp_line_of_sockstat() {
        let s = parse_sockstat(SOCKSTAT).unwrap();
        assert_eq!(s, SockStat { inuse: 20004, orphan: 0, tw: 3, alloc: 20006, mem_pages: 12 });
        assert_eq!(parse_sockstat("sockets: used 1\nUDP: inuse 0 mem 0\n"), None);
        assert_eq!(parse_sockstat("TCP: inuse x orphan 0 tw 0 alloc 0 mem 0\n"), None);
    }

    #[test]
    fn parses_slab_pages_of_the_named_caches() {
        let s = parse_slabinfo(SLABINFO, &TCP_SLABS, 4096);
        assert_eq!(s.get("TCP"), Some(&(7 * 8 * 4096)));
        assert_eq!(s.get("tw_sock_TCP"), Some(&(8 * 4096)));
        assert_eq!(s.get("request_sock_TCP"), Some(&(11 * 4096)));
        assert_eq!(s.get("filp"), Some(&(40 * 4096)));
        assert_eq!(s.get("TCPv6"), None, "not asked for");
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn parses_tcpext_counters() {
        let t = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 17 19\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(parse_tcpext(t, "ListenOverflows"), Some(17));
        assert_eq!(parse_tcpext(t, "ListenDrops"), Some(19));
        assert_eq!(parse_tcpext(t, "Nope"), None);
        assert_eq!(parse_tcpext("TcpExt: A\n", "A"), None);
    }

    #[test]
    fn parses_the_open_files_limit() {
        let t = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            20000                20000                files     \n";
        assert_eq!(parse_nofile_limit(t), Some(20000));
        assert_eq!(parse_nofile_limit("Max open files unlimited unlimited files\n"), None);
    }

    #[test]
    fn delta_and_total() {
        let before = KernelTcpMemory { sockstat: parse_sockstat(SOCKSTAT).unwrap(), slabs: parse_slabinfo(SLABINFO, &TCP_SLABS, 4096) };
        let mut after = before.clone();
        after.sockstat.mem_pages += 2;
        *after.slabs.get_mut("TCP").unwrap() += 10 * 32768;
        assert_eq!(after.total_bytes() - before.total_bytes(), 2 * 4096 + 10 * 32768);
        let d = after.delta(&before);
        assert_eq!(d["TCP"], 10 * 32768);
        assert_eq!(d["sockstat mem"], 8192);
        assert_eq!(d["filp"], 0);
    }
}
