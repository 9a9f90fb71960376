//! Kernel TCP retransmissions (`Tcp: RetransSegs`) from `/proc/net/snmp`,
//! which is per network namespace.

use std::io;

/// Parses `RetransSegs` from the text of `/proc/net/snmp` (a `Tcp:` header
/// line of names followed by a `Tcp:` line of values).
pub fn parse_tcp_retrans_segs(text: &str) -> Option<u64> {
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let names = tcp.next()?.split_whitespace();
    let values = tcp.next()?.split_whitespace();
    names.zip(values).find(|(n, _)| *n == "RetransSegs")?.1.parse().ok()
}

/// Total retransmitted TCP segments in the network namespace of `pid`, or
/// of this process for `None`. Take the difference of two readings.
pub fn read_tcp_retrans_segs(pid: Option<u32>) -> io::Result<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/net/snmp"),
        None => "/proc/net/snmp".to_string(),
    };
    let text = std::fs::read_to_string(&path)?;
    parse_tcp_retrans_segs(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no RetransSegs in {path}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_snmp() {
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
                    Tcp: 1 200 120000 -1 10 5 0 0 2 1000 900 37 0 3 0\n\
                    Udp: InDatagrams\nUdp: 5\n";
        assert_eq!(parse_tcp_retrans_segs(text), Some(37));
        assert_eq!(parse_tcp_retrans_segs("Ip: a\nIp: 1\n"), None);
        assert!(read_tcp_retrans_segs(None).is_ok());
    }
}
