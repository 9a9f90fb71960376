//! What each end of a case runs, described for `results.json` ([`Endpoint`]): the
//! interface's MTU and queues, how each kind of process polls, the TCP settings a
//! `bypass` server printed after its ready line, and the settings of the plain kernel
//! sockets this process's own load generators open.

use std::collections::BTreeMap;
use std::process::Command;

use bypass::tcp_settings::TcpSettings;

use crate::report::Endpoint;

/// `ip [-n NS] -o link show dev IF`: the MTU.
pub fn link_mtu(ns: Option<&str>, iface: &str) -> Option<u32> {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["-n", ns]);
    }
    let out = c.args(["-o", "link", "show", "dev", iface]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().skip_while(|w| *w != "mtu").nth(1)?.parse().ok()
}

/// The interface's current rx channels (`ethtool -l`), in namespace `ns` if given.
pub fn link_queues(ns: Option<&str>, iface: &str) -> Option<u32> {
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ethtool"]);
            c
        }
        None => Command::new("ethtool"),
    };
    let out = c.args(["-l", iface]).output().ok()?;
    crate::fct::run::parse_current_rx(&String::from_utf8_lossy(&out.stdout))
}

/// The first IPv4 address on `iface` in this namespace (`ip -o -4 addr show dev IF`).
pub fn link_ipv4(iface: &str) -> Option<std::net::Ipv4Addr> {
    let out = Command::new("ip").args(["-o", "-4", "addr", "show", "dev", iface]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().skip_while(|w| *w != "inet").nth(1)?.split('/').next()?.parse().ok()
}

/// How a `bypass run --poll MODE` process waits for work, on either backend.
pub fn bypass_poll(kernel: bool, poll: &str) -> String {
    match (kernel, poll) {
        (false, "busy") => "busy: spins on the AF_XDP rings".into(),
        (false, _) => "adaptive: spins, sleeps in poll() after ~1 ms idle".into(),
        (true, "busy") => "busy: epoll_wait with zero timeout, spins".into(),
        (true, _) => "adaptive: epoll_wait with a 5 ms timeout, sleeps".into(),
    }
}

/// Settings as `results.json` keeps them.
pub fn tcp_map(s: &TcpSettings) -> BTreeMap<String, String> {
    s.0.iter().cloned().collect()
}

/// The TCP settings of a plain kernel socket in this namespace, as this process's load
/// generators open them: the namespace's buffers (read back; autotuned), the congestion
/// control of the test network's route (`congctl`, which applies at connect) or the
/// namespace default, and TCP_NODELAY (set on every connection; see `load::connect`).
pub fn plain_socket_tcp() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let probe = bypass::tcp_settings::of_kernel(&bypass::api::kernel::KernelTcp { cc: bypass::tcp::CcAlgorithm::Cubic, nodelay: true, keepalive: None, buffer: None });
    if let Ok(s) = probe {
        m = tcp_map(&s);
    }
    let default = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").unwrap_or_default().trim().to_string();
    let routes = Command::new("ip").args(["route", "show"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let cc = routes.split_whitespace().skip_while(|w| *w != "congctl").nth(1).map(str::to_string).unwrap_or(default);
    m.insert("cc".into(), cc);
    m
}

/// The client this process runs for a case that is not engine-to-engine: which
/// generator, how it polls, how many threads (`connect_threads` for connect-rate).
pub fn plain_client(case: &str, connect_threads: usize) -> (String, String, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let conns = |c: &str| c.rsplit('-').next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(1);
    let (program, poll, threads) = if case.starts_with("iperf3-") {
        ("iperf3 -c (Debian's iperf3)".to_string(), "select() with timeouts, sleeps".to_string(), 1)
    } else if case.contains("http-keepalive") {
        let n = conns(case);
        (format!("load::http_keepalive, {n} connections (mio)"), "epoll_wait, sleeps".into(), n.min(cores).clamp(1, 4))
    } else if case.contains("pingpong-blocking") {
        ("load::tcp_pingpong, 64 B, 1 connection".into(), "blocking reads, sleeps".into(), 1)
    } else if case.contains("pingpong") {
        ("load::tcp_pingpong, 64 B, 1 connection".into(), "busy: non-blocking reads, spins".into(), 1)
    } else if case.starts_with("connect-rate") {
        (format!("load::connect_rate, connect + request + close, {connect_threads} threads"), "blocking sockets, sleeps".into(), connect_threads)
    } else if case.contains("bulk-from") {
        ("load::bulk_recv, 1 connection".into(), "blocking reads, sleeps".into(), 1)
    } else if case.contains("bulk") {
        ("load::bulk_send, 1 connection".into(), "blocking writes, sleeps".into(), 1)
    } else if case.starts_with("udp-echo") {
        ("load::udp_echo, 64 B, 32 in flight".into(), "blocking reads with a 5 ms timeout".into(), 1)
    } else if case.starts_with("idle-connections") {
        ("load::idle_connections".into(), "blocking connects".into(), 1)
    } else {
        (format!("load generator for {case}"), "-".into(), 1)
    };
    (program, poll, threads)
}

/// A client endpoint on plain kernel sockets of this process (pinned to `cpu`).
pub fn plain_client_endpoint(case: &str, connect_threads: usize, cpu: usize, iface: Option<&str>) -> Endpoint {
    let (program, poll, threads) = plain_client(case, connect_threads);
    Endpoint {
        stack: "kernel".into(),
        program,
        poll,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cores: cpu.to_string(),
        threads,
        mtu: iface.and_then(|i| link_mtu(None, i)),
        queues: iface.and_then(|i| link_queues(None, i)),
        tcp: plain_socket_tcp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_clients_say_how_they_poll() {
        let (p, poll, t) = plain_client("http-keepalive-32", 8);
        assert!(p.contains("32 connections") && poll.contains("epoll") && (1..=4).contains(&t), "{p} {poll} {t}");
        assert_eq!(plain_client("connect-rate", 8).2, 8);
        assert!(plain_client("tcp-pingpong-spin", 1).1.starts_with("busy"));
        assert!(plain_client("tcp-pingpong-blocking", 1).1.starts_with("blocking"));
        assert!(plain_client("bulk-from-server", 1).0.contains("bulk_recv"));
        assert!(bypass_poll(true, "busy").contains("zero timeout"));
    }
}
