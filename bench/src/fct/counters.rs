//! The server's loss-recovery counters, read before and after each group.
//!
//! * Engine: `bypass stat --json --pid PID`, summed over workers: `tcp.retransmits`,
//!   `tcp.timeouts`, `tcp.dsacks_received` (optional: older engines lack it, and the
//!   column then says n/a), the kernel's AF_XDP `kernel.rx_fill_ring_empty` and
//!   `kernel.rx_dropped`, and `xdp.no_socket`.
//! * Kernel: `/proc/PID/net/snmp` `Tcp: RetransSegs` and `/proc/PID/net/netstat`
//!   `TcpExt: TCPTimeouts TCPDSACKRecv TCPSpuriousRTOs` (per network namespace: the
//!   server's).
//!
//! A counter that is read must exist: a missing one is an error, never a 0.

use serde::{Deserialize, Serialize};

/// One reading of a server's counters (totals since it started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub rtos: u64,
    /// D-SACKs received: the client got a segment twice, so the server retransmitted it
    /// spuriously. None: the server has no such counter.
    pub dsacks: Option<u64>,
    /// RTOs found spurious (kernel `TCPSpuriousRTOs`; none on the engine).
    pub spurious_rtos: Option<u64>,
    /// AF_XDP: times the kernel found the fill ring empty (engine only).
    pub fill_ring_empty: Option<u64>,
    /// AF_XDP: frames the kernel dropped on RX (engine only).
    pub rx_dropped: Option<u64>,
    /// Frames for the engine that arrived on a queue without a socket (engine only).
    pub no_socket: Option<u64>,
}

impl Reading {
    /// What happened between `self` (before) and `after`.
    pub fn delta(&self, after: &Reading) -> Reading {
        let d = |a: u64, b: u64| b.saturating_sub(a);
        let o = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
        Reading {
            retransmits: d(self.retransmits, after.retransmits),
            rtos: d(self.rtos, after.rtos),
            dsacks: o(self.dsacks, after.dsacks),
            spurious_rtos: o(self.spurious_rtos, after.spurious_rtos),
            fill_ring_empty: o(self.fill_ring_empty, after.fill_ring_empty),
            rx_dropped: o(self.rx_dropped, after.rx_dropped),
            no_socket: o(self.no_socket, after.no_socket),
        }
    }
}

/// The engine's D-SACK counter, if the engine has one (`tcp.<this>`).
pub const ENGINE_DSACK_COUNTER: &str = "dsacks_received";

/// Parses `bypass stat --json` output: every named counter summed over the workers.
/// Errors if there are no workers or any worker lacks a required counter; the D-SACK
/// counter must be on all workers or none.
pub fn parse_engine_stat(json: &str) -> Result<Reading, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("bypass stat --json: not JSON ({e})"))?;
    let workers = v["workers"].as_array().ok_or("bypass stat --json: no \"workers\" array")?;
    if workers.is_empty() {
        return Err("bypass stat --json: no workers answered".into());
    }
    let get = |w: &serde_json::Value, group: &str, name: &str| -> Result<u64, String> {
        w[group][name].as_u64().ok_or_else(|| format!("bypass stat --json: worker {} has no counter {group}.{name}", w["index"]))
    };
    let mut r = Reading { fill_ring_empty: Some(0), rx_dropped: Some(0), no_socket: Some(0), ..Reading::default() };
    let with_dsack = workers.iter().filter(|w| !w["tcp"][ENGINE_DSACK_COUNTER].is_null()).count();
    if with_dsack != 0 && with_dsack != workers.len() {
        return Err(format!("bypass stat --json: tcp.{ENGINE_DSACK_COUNTER} on {with_dsack} of {} workers", workers.len()));
    }
    if with_dsack > 0 {
        r.dsacks = Some(0);
    }
    let add = |slot: &mut Option<u64>, v: u64| *slot = slot.map(|s| s + v);
    for w in workers {
        r.retransmits += get(w, "tcp", "retransmits")?;
        r.rtos += get(w, "tcp", "timeouts")?;
        if with_dsack > 0 {
            add(&mut r.dsacks, get(w, "tcp", ENGINE_DSACK_COUNTER)?);
        }
        add(&mut r.fill_ring_empty, get(w, "kernel", "rx_fill_ring_empty")?);
        add(&mut r.rx_dropped, get(w, "kernel", "rx_dropped")?);
        add(&mut r.no_socket, get(w, "xdp", "no_socket")?);
    }
    Ok(r)
}

/// Reads the engine with pid `pid` through `bypass stat --json`.
pub fn read_engine(bypass: &str, pid: u32) -> Result<Reading, String> {
    let out = std::process::Command::new(bypass)
        .args(["stat", "--json", "--pid", &pid.to_string()])
        .output()
        .map_err(|e| format!("bypass stat: {e}"))?;
    if !out.status.success() {
        return Err(format!("bypass stat --json --pid {pid} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    parse_engine_stat(&String::from_utf8_lossy(&out.stdout))
}

/// The value of `name` in the `prefix` section of a `/proc/net/{snmp,netstat}` text (a
/// header line of names followed by a line of values, both starting with `prefix:`).
pub fn proc_counter(text: &str, prefix: &str, name: &str) -> Option<u64> {
    let tag = format!("{prefix}:");
    let mut lines = text.lines().filter(|l| l.split_whitespace().next() == Some(tag.as_str()));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if let Some((_, v)) = names.split_whitespace().zip(values.split_whitespace()).find(|(n, _)| *n == name) {
            return v.parse().ok();
        }
    }
    None
}

/// Parses the kernel's counters from the texts of `/proc/net/snmp` and `/proc/net/netstat`.
pub fn parse_kernel(snmp: &str, netstat: &str) -> Result<Reading, String> {
    let need = |text: &str, file: &str, prefix: &str, name: &str| {
        proc_counter(text, prefix, name).ok_or_else(|| format!("/proc/net/{file} has no {prefix} {name}"))
    };
    Ok(Reading {
        retransmits: need(snmp, "snmp", "Tcp", "RetransSegs")?,
        rtos: need(netstat, "netstat", "TcpExt", "TCPTimeouts")?,
        dsacks: Some(need(netstat, "netstat", "TcpExt", "TCPDSACKRecv")?),
        spurious_rtos: Some(need(netstat, "netstat", "TcpExt", "TCPSpuriousRTOs")?),
        fill_ring_empty: None,
        rx_dropped: None,
        no_socket: None,
    })
}

/// Reads the kernel's counters in the network namespace of `pid`.
pub fn read_kernel(pid: u32) -> Result<Reading, String> {
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).map_err(|e| format!("/proc/{pid}/net/{f}: {e}"));
    parse_kernel(&read("snmp")?, &read("netstat")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(i: u64, retx: u64, dsack: Option<u64>) -> serde_json::Value {
        let mut tcp = serde_json::json!({ "retransmits": retx, "timeouts": i + 1, "segments_in": 5 });
        if let Some(d) = dsack {
            tcp["dsacks_received"] = d.into();
        }
        serde_json::json!({
            "index": i, "tcp": tcp,
            "kernel": { "rx_dropped": 2 * i, "rx_fill_ring_empty": 10 + i, "rx_ring_full": 0 },
            "xdp": { "no_socket": i, "steered": 100, "passed": 0 },
        })
    }

    #[test]
    fn engine_counters_sum_over_workers() {
        let j = serde_json::json!({ "workers": [worker(0, 3, None), worker(1, 4, None)] }).to_string();
        let r = parse_engine_stat(&j).unwrap();
        assert_eq!(
            r,
            Reading { retransmits: 7, rtos: 3, dsacks: None, spurious_rtos: None, fill_ring_empty: Some(21), rx_dropped: Some(2), no_socket: Some(1) }
        );
        let j = serde_json::json!({ "workers": [worker(0, 3, Some(2)), worker(1, 4, Some(5))] }).to_string();
        assert_eq!(parse_engine_stat(&j).unwrap().dsacks, Some(7));
    }

    #[test]
    fn missing_engine_counters_are_errors_not_zero() {
        let mut w = worker(0, 1, None);
        w["tcp"].as_object_mut().unwrap().remove("timeouts");
        let e = parse_engine_stat(&serde_json::json!({ "workers": [w] }).to_string()).unwrap_err();
        assert!(e.contains("tcp.timeouts"), "{e}");
        let mut w = worker(0, 1, None);
        w["kernel"].as_object_mut().unwrap().remove("rx_fill_ring_empty");
        assert!(parse_engine_stat(&serde_json::json!({ "workers": [w] }).to_string()).unwrap_err().contains("kernel.rx_fill_ring_empty"));
        let half = serde_json::json!({ "workers": [worker(0, 1, Some(1)), worker(1, 1, None)] }).to_string();
        assert!(parse_engine_stat(&half).unwrap_err().contains("on 1 of 2 workers"));
        assert!(parse_engine_stat(r#"{"workers": []}"#).is_err());
        assert!(parse_engine_stat("{}").is_err());
        assert!(parse_engine_stat("not json").is_err());
    }

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
        Tcp: 1 200 120000 -1 10 5 0 0 2 1000 900 37 0 3 0\n\
        Udp: InDatagrams\nUdp: 5\n";
    const NETSTAT: &str = "TcpExt: SyncookiesSent TCPTimeouts TCPSpuriousRTOs TCPDSACKRecv TCPDSACKRecvSegs\n\
        TcpExt: 0 4 1 9 11\n\
        IpExt: InNoRoutes TCPTimeouts\nIpExt: 0 77\n";

    #[test]
    fn kernel_counters_from_proc() {
        assert_eq!(proc_counter(SNMP, "Tcp", "RetransSegs"), Some(37));
        assert_eq!(proc_counter(NETSTAT, "IpExt", "TCPTimeouts"), Some(77));
        assert_eq!(proc_counter(NETSTAT, "TcpExt", "Nope"), None);
        let r = parse_kernel(SNMP, NETSTAT).unwrap();
        assert_eq!(r, Reading { retransmits: 37, rtos: 4, dsacks: Some(9), spurious_rtos: Some(1), ..Reading::default() });
        assert!(parse_kernel(SNMP, "TcpExt: TCPTimeouts\nTcpExt: 4\n").unwrap_err().contains("TCPDSACKRecv"));
        assert!(parse_kernel("", NETSTAT).unwrap_err().contains("RetransSegs"));
        // This machine's own files have them all.
        assert!(read_kernel(std::process::id()).is_ok(), "{:?}", read_kernel(std::process::id()));
    }

    #[test]
    fn deltas() {
        let a = Reading { retransmits: 5, rtos: 1, dsacks: Some(2), fill_ring_empty: Some(10), ..Reading::default() };
        let b = Reading { retransmits: 9, rtos: 1, dsacks: Some(3), fill_ring_empty: Some(15), rx_dropped: Some(4), ..Reading::default() };
        let d = a.delta(&b);
        assert_eq!((d.retransmits, d.rtos, d.dsacks, d.fill_ring_empty, d.rx_dropped), (4, 0, Some(1), Some(5), None));
    }
}
