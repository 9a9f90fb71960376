//! Outside references, used when installed: nginx serving a fixed response on the kernel
//! address (an HTTP server that is not ours), wrk as a second HTTP load generator, and
//! iperf3 (the client against either side; its own server as the kernel's side).

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

fn installed(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

pub fn have_nginx() -> bool {
    installed("nginx")
}

pub fn have_wrk() -> bool {
    installed("wrk")
}

pub fn have_sockperf() -> bool {
    installed("sockperf")
}

pub fn have_iperf3() -> bool {
    installed("iperf3")
}

/// The port both sides' iperf3 servers listen on.
pub const IPERF3_PORT: u16 = 5201;

/// What the iperf3 client reported (`--json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Iperf3Result {
    /// Throughput the receiving side counted (`end.sum_received`), Gbit/s.
    pub gbit_per_sec: f64,
    pub bytes_received: u64,
    pub seconds: f64,
    /// UDP: datagrams lost (`end.sum.lost_packets`).
    pub lost: u64,
    /// TCP: the sender's retransmissions, when the sender reports them.
    pub retransmits: Option<u64>,
}

/// Runs `iperf3 -c ip -p 5201 -t secs [-O omit] --json args...` (this process's CPU)
/// and reads its figures; an error when iperf3 reports one.
pub fn iperf3(ip: Ipv4Addr, secs: u64, omit: u64, args: &[&str]) -> Result<Iperf3Result> {
    let mut cmd = Command::new("timeout");
    cmd.args(["--signal=INT", &(secs + omit + 30).to_string(), "iperf3", "-c", &ip.to_string(), "-p", &IPERF3_PORT.to_string(), "-t", &secs.to_string(), "--json"]);
    if omit > 0 {
        cmd.args(["-O", &omit.to_string()]);
    }
    let out = cmd.args(args).output().context("running iperf3")?;
    parse_iperf3(&String::from_utf8_lossy(&out.stdout))
}

/// The figures in an iperf3 client's `--json` output.
pub fn parse_iperf3(text: &str) -> Result<Iperf3Result> {
    let v: serde_json::Value = serde_json::from_str(text).with_context(|| format!("iperf3 printed no JSON: {text}"))?;
    if let Some(e) = v.get("error") {
        bail!("iperf3: {}", e.as_str().unwrap_or("error"));
    }
    let end = &v["end"];
    let r = &end["sum_received"];
    let bps = r["bits_per_second"].as_f64().context("no end.sum_received.bits_per_second")?;
    Ok(Iperf3Result {
        gbit_per_sec: bps / 1e9,
        bytes_received: r["bytes"].as_u64().unwrap_or(0),
        seconds: r["seconds"].as_f64().unwrap_or(0.0),
        lost: end["sum"]["lost_packets"].as_u64().unwrap_or(0),
        retransmits: end["sum_sent"]["retransmits"].as_u64(),
    })
}

/// sockperf TCP ping-pong with 64-byte messages for `secs` seconds against `ip:port`
/// (a `--serve sockperf:PORT` on either backend); returns its median one-way latency in
/// µs (sockperf reports half the round trip).
pub fn sockperf(ip: Ipv4Addr, port: u16, secs: u64) -> Result<f64> {
    let out = Command::new("sockperf")
        .args(["ping-pong", "--tcp", "-m", "64", "-i", &ip.to_string(), "-p", &port.to_string(), "-t", &secs.to_string()])
        .output()
        .context("running sockperf")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    parse_sockperf_p50(&text).with_context(|| format!("unexpected sockperf output: {text}"))
}

/// The `percentile 50.000 = X` line of a sockperf report.
pub fn parse_sockperf_p50(text: &str) -> Option<f64> {
    text.lines().find_map(|l| l.split("percentile 50.000 =").nth(1)).and_then(|v| v.trim().parse().ok())
}

/// An nginx (one worker, pinned to `cpu`) in namespace `ns` answering every request on
/// `ip:80` with a short fixed body over keep-alive connections.
pub struct Nginx {
    child: Child,
    dir: std::path::PathBuf,
}

impl Nginx {
    pub fn start(ns: &str, ip: Ipv4Addr, cpu: usize) -> Result<Nginx> {
        let dir = std::env::temp_dir().join(format!("bypass-bench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let conf = format!(
            "worker_processes 1;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log stderr error;\n\
             events {{ worker_connections 8192; }}\n\
             http {{\n access_log off;\n keepalive_requests 100000000;\n keepalive_timeout 60s;\n\
             client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             server {{ listen {ip}:80; location / {{ default_type text/plain; return 200 \"hello from nginx\\n\"; }} }}\n}}\n",
            d = dir.display()
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf)?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "taskset", "-c", &cpu.to_string(), "nginx", "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting nginx")?;
        // Wait until it accepts connections.
        let addr = std::net::SocketAddr::from((ip, 80));
        for _ in 0..100 {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(Nginx { child, dir });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut n = Nginx { child, dir };
        n.stop_inner();
        bail!("nginx did not start listening on {addr}")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop_inner(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Runs wrk with `conns` connections for `secs` seconds (one thread, this process's CPU)
/// and returns its requests/s and its error count.
pub fn wrk(ip: Ipv4Addr, conns: usize, secs: u64) -> Result<(f64, u64)> {
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{conns}"), &format!("-d{secs}s"), &format!("http://{ip}/")])
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).with_context(|| format!("unexpected wrk output: {text}"))
}

/// Requests/s and errors (socket errors plus non-2xx) from wrk's report.
pub fn parse_wrk(text: &str) -> Option<(f64, u64)> {
    let rps = text.lines().find_map(|l| l.strip_prefix("Requests/sec:"))?.trim().parse().ok()?;
    let mut errors = 0u64;
    for l in text.lines() {
        if let Some(rest) = l.trim().strip_prefix("Socket errors:") {
            errors += rest.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum::<u64>();
        }
        if let Some(rest) = l.trim().strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Some((rps, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sockperf_reports() {
        let t = "sockperf: ---> percentile 75.000 =   11.637\nsockperf: ---> percentile 50.000 =   11.256\n";
        assert_eq!(parse_sockperf_p50(t), Some(11.256));
        assert_eq!(parse_sockperf_p50("nothing"), None);
    }

    #[test]
    fn parses_iperf3_reports() {
        let tcp = r#"{"start":{},"intervals":[],"end":{"sum_sent":{"bytes":3267493888,"bits_per_second":13069975552.0,"retransmits":0},"sum_received":{"seconds":2.0,"bytes":3267493888,"bits_per_second":13069975552.0}}}"#;
        let r = parse_iperf3(tcp).unwrap();
        assert!((r.gbit_per_sec - 13.07).abs() < 0.01);
        assert_eq!((r.bytes_received, r.lost, r.retransmits), (3267493888, 0, Some(0)));
        let udp = r#"{"end":{"sum":{"lost_packets":12,"packets":17258},"sum_sent":{"bytes":10},"sum_received":{"bytes":5,"seconds":2.0,"bits_per_second":20.0}}}"#;
        assert_eq!(parse_iperf3(udp).unwrap().lost, 12);
        let err = r#"{"start":{},"end":{},"error":"the server is busy running a test. try again later"}"#;
        assert!(format!("{:#}", parse_iperf3(err).unwrap_err()).contains("busy"));
        assert!(parse_iperf3("iperf3: error - unable to connect").is_err());
    }

    #[test]
    fn parses_wrk_reports() {
        let ok = "Running 3s test @ http://10.0.0.2/\n  1 threads and 32 connections\n  187421 requests in 3.00s, 20.73MB read\nRequests/sec:  62423.25\nTransfer/sec:      6.91MB\n";
        assert_eq!(parse_wrk(ok), Some((62423.25, 0)));
        let bad = "  Socket errors: connect 0, read 3, write 0, timeout 2\n  Non-2xx or 3xx responses: 7\nRequests/sec:  100.5\n";
        assert_eq!(parse_wrk(bad), Some((100.5, 12)));
        assert_eq!(parse_wrk("garbage"), None);
    }
}
