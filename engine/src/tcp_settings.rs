//! The TCP settings a running `bypass` actually uses, as `key=value` pairs: printed on
//! the line after the ready line (`bypass: engine TCP: cc=cubic sndbuf=262144 ...`,
//! `bypass: kernel TCP: ...`) and handed to an embedding program, so a comparison can
//! show both sides' settings. On the kernel backend the buffer sizes are read back from
//! a socket configured like the real ones (Linux doubles what SO_SNDBUF/SO_RCVBUF are
//! given, and starts autotuned sockets at `tcp_wmem`/`tcp_rmem`'s middle value).

use std::io;

use socket2::{Domain, Protocol, Socket, Type};

use crate::api::kernel::{kernel_cc_name, KernelTcp};
use crate::api::SocketOptions;
use crate::tcp::{CcAlgorithm, TcpConfig};

/// Ordered `key=value` pairs; values never contain spaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpSettings(pub Vec<(String, String)>);

/// The prefix of the settings line, after which comes the backend (`engine`/`kernel`).
pub const LINE_PREFIX: &str = "bypass: ";

impl TcpSettings {
    fn push(&mut self, k: &str, v: impl ToString) {
        self.0.push((k.to_string(), v.to_string().replace(' ', "_")));
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `cc=cubic sndbuf=262144 ...`.
    pub fn to_pairs(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }

    /// The line printed after the ready line: `bypass: <backend> TCP: <pairs>`.
    pub fn line(&self, backend: &str) -> String {
        format!("{LINE_PREFIX}{backend} TCP: {}", self.to_pairs())
    }

    /// Parses a line made by [`TcpSettings::line`]: the backend and the settings.
    pub fn parse_line(line: &str) -> Option<(String, TcpSettings)> {
        let rest = line.trim().strip_prefix(LINE_PREFIX)?;
        let (backend, pairs) = rest.split_once(" TCP: ")?;
        let mut s = TcpSettings::default();
        for p in pairs.split_whitespace() {
            let (k, v) = p.split_once('=')?;
            s.0.push((k.to_string(), v.to_string()));
        }
        Some((backend.to_string(), s))
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn cc_name(a: CcAlgorithm) -> &'static str {
    match a {
        CcAlgorithm::Cubic => "cubic",
        CcAlgorithm::NewReno => "newreno",
    }
}

/// The engine's settings for every connection (applications may override per socket).
pub fn of_engine(c: &TcpConfig) -> TcpSettings {
    let mut s = TcpSettings::default();
    s.push("cc", cc_name(c.congestion_control));
    s.push("sndbuf", c.send_buffer);
    s.push("rcvbuf", c.recv_buffer);
    s.push("nodelay", on_off(c.nodelay));
    s.push("keepalive", c.keepalive.map_or("off".to_string(), |k| format!("{}s", k.idle.as_secs())));
    s.push("sack", on_off(c.sack));
    s.push("timestamps", on_off(c.timestamps));
    s.push("window_scaling", on_off(c.window_scaling));
    s.push("min_rto_ms", c.min_rto.as_millis());
    s.push("mss", c.mss);
    s.push("initial_window", c.initial_window);
    s
}

/// The middle and last of a `tcp_rmem`/`tcp_wmem` triple (initial and autotuning cap).
fn sysctl_triple(name: &str) -> Option<(u64, u64)> {
    let t = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).ok()?;
    let v: Vec<u64> = t.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    Some((*v.get(1)?, *v.get(2)?))
}

/// The kernel backend's settings, read back from a TCP socket of this network namespace
/// configured the way the backend configures its own.
pub fn of_kernel(t: &KernelTcp) -> io::Result<TcpSettings> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    t.apply(socket2::SockRef::from(&sock), &SocketOptions::default())?;
    let mut s = TcpSettings::default();
    let cc = sock.tcp_congestion().map(|b| String::from_utf8_lossy(&b).trim_end_matches('\0').to_string()).unwrap_or_else(|_| kernel_cc_name(t.cc).to_string());
    s.push("cc", cc);
    s.push("sndbuf", sock.send_buffer_size()?);
    s.push("rcvbuf", sock.recv_buffer_size()?);
    match t.buffer {
        Some(b) => s.push("buffers", format!("fixed:{b}")),
        None => {
            // Autotuned: read back are the initial sizes; the caps are the sysctls'.
            s.push("buffers", "autotuned");
            if let Some((_, max)) = sysctl_triple("tcp_wmem") {
                s.push("sndbuf_max", max);
            }
            if let Some((_, max)) = sysctl_triple("tcp_rmem") {
                s.push("rcvbuf_max", max);
            }
        }
    }
    s.push("nodelay", on_off(sock.tcp_nodelay()?));
    let keepalive = if sock.keepalive()? { format!("{}s", sock.tcp_keepalive_time()?.as_secs()) } else { "off".into() };
    s.push("keepalive", keepalive);
    for (key, name) in [("sack", "tcp_sack"), ("timestamps", "tcp_timestamps"), ("window_scaling", "tcp_window_scaling")] {
        if let Ok(v) = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")) {
            s.push(key, if v.trim() == "0" { "off" } else { "on" });
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips() {
        let s = of_engine(&TcpConfig { mss: 1460, send_buffer: 131072, recv_buffer: 131072, ..TcpConfig::default() });
        assert_eq!(s.get("sndbuf"), Some("131072"));
        assert_eq!(s.get("cc"), Some("cubic"));
        let line = s.line("engine");
        assert!(line.starts_with("bypass: engine TCP: cc=cubic sndbuf=131072 rcvbuf=131072 "), "{line}");
        assert_eq!(TcpSettings::parse_line(&line), Some(("engine".to_string(), s)));
        assert_eq!(TcpSettings::parse_line("bypass: ready on x"), None);
    }

    #[test]
    fn kernel_buffers_are_read_back() {
        let fixed = of_kernel(&KernelTcp { buffer: Some(65536), nodelay: true, ..KernelTcp::default() }).unwrap();
        // Linux doubles what it is given (for its bookkeeping); read back is what it uses.
        assert_eq!(fixed.get("sndbuf"), Some("131072"));
        assert_eq!(fixed.get("rcvbuf"), Some("131072"));
        assert_eq!(fixed.get("buffers"), Some("fixed:65536"));
        assert_eq!(fixed.get("nodelay"), Some("on"));
        assert_eq!(fixed.get("cc"), Some("cubic"));
        let auto = of_kernel(&KernelTcp::default()).unwrap();
        assert_eq!(auto.get("buffers"), Some("autotuned"));
        assert!(auto.get("rcvbuf_max").is_some(), "{auto:?}");
        assert_eq!(auto.get("keepalive"), Some("off"));
        let ka = of_kernel(&KernelTcp { keepalive: Some(std::time::Duration::from_secs(30)), ..KernelTcp::default() }).unwrap();
        assert_eq!(ka.get("keepalive"), Some("30s"));
    }
}
