//! Harness for integration tests: veth namespaces from `scripts/netns.sh`, the real
//! `bypass` binary started inside them, and its JSON report read back on exit.
//!
//! These tests need root. Outside CI they skip (with a message) when not root; under
//! `CI=true` they fail instead, so a CI that cannot run them is noticed.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bypass")
}

/// True if the test may run; false (skip) when not root outside CI. Panics in CI.
pub fn can_run() -> bool {
    // SAFETY-free check: /proc/self/status' Uid line.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false);
    if root {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("integration tests need root (network namespaces, XDP); CI must run them as root");
    }
    eprintln!("skipping: integration tests need root");
    false
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

/// A veth pair between two namespaces, removed on drop.
pub struct Net {
    pub tag: String,
    pub net: String,
}

impl Net {
    /// Brings up `{tag}-eng` / `{tag}-peer` with subnet `10.213.{octet}.0/24`.
    pub fn up(tag: &str, octet: u8, queues: u32) -> Net {
        let net = Net { tag: tag.into(), net: format!("10.213.{octet}") };
        let out = run(net.script("up").env("BPX_QUEUES", queues.to_string()));
        assert!(out.status.success(), "netns.sh up failed: {}", String::from_utf8_lossy(&out.stderr));
        net
    }
    fn script(&self, action: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(repo().join("scripts/netns.sh")).arg(action).env("BPX_TAG", &self.tag).env("BPX_NET", &self.net);
        c
    }
    pub fn eng_ns(&self) -> String {
        format!("{}-eng", self.tag)
    }
    pub fn peer_ns(&self) -> String {
        format!("{}-peer", self.tag)
    }
    pub fn eng_if(&self) -> String {
        format!("{}-e", self.tag)
    }
    pub fn peer_if(&self) -> String {
        format!("{}-p", self.tag)
    }
    pub fn engine_ip(&self) -> String {
        format!("{}.2", self.net)
    }
    pub fn kernel_ip(&self) -> String {
        format!("{}.3", self.net)
    }
    pub fn peer_ip(&self) -> String {
        format!("{}.1", self.net)
    }
    /// Runs a command in the peer namespace.
    pub fn peer(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", &self.peer_ns()]).args(args))
    }
    /// Runs a command in the engine's namespace.
    pub fn eng(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", &self.eng_ns()]).args(args))
    }
    pub fn engine_mac(&self) -> String {
        let out = self.eng(&["cat", &format!("/sys/class/net/{}/address", self.eng_if())]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
    pub fn peer_mac(&self) -> String {
        let out = self.peer(&["cat", &format!("/sys/class/net/{}/address", self.peer_if())]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
    /// One ping from the peer; true if answered.
    pub fn ping(&self, dst: &str, size: usize) -> bool {
        self.peer(&["ping", "-c", "1", "-W", "2", "-s", &size.to_string(), dst]).status.success()
    }
    /// Whether an XDP program is attached to the engine's interface.
    pub fn xdp_attached(&self) -> bool {
        let out = self.eng(&["ip", "link", "show", "dev", &self.eng_if()]);
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }
    /// Sends raw frames from the peer side.
    pub fn inject(&self, frames: &[Vec<u8>]) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.peer_ns(), "python3"])
            .arg(repo().join("tests/tools/inject.py"))
            .arg(self.peer_if())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        {
            let stdin = child.stdin.as_mut().unwrap();
            for f in frames {
                let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(stdin, "{hex}").unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "inject.py failed");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = self.script("down").output();
    }
}

/// A running engine.
pub struct Engine {
    child: Option<Child>,
    pub report_path: PathBuf,
    pub ready_line: String,
    lines: mpsc::Receiver<String>,
}

impl Engine {
    /// Starts `bypass run` in the engine namespace with the engine's address and
    /// `extra` arguments; waits for its ready line.
    pub fn start(net: &Net, extra: &[&str]) -> Engine {
        let report_path = std::env::temp_dir().join(format!("bypass-report-{}-{}.json", net.tag, std::process::id()));
        let _ = std::fs::remove_file(&report_path);
        let ip = format!("{}/24", net.engine_ip());
        let mut child = Command::new("ip")
            .args(["netns", "exec", &net.eng_ns(), bin(), "run", "--iface", &net.eng_if(), "--ip", &ip, "--report-json"])
            .arg(&report_path)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn bypass");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[engine] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready_line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.starts_with("bypass: ready") => break l,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        panic!("engine exited before ready: {st}");
                    }
                    assert!(Instant::now() < deadline, "engine not ready after 30 s");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let st = child.wait().ok();
                    panic!("engine exited before ready: {st:?}");
                }
            }
        };
        Engine { child: Some(child), report_path, ready_line, lines: rx }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The real engine process (the child is `ip netns exec`, which execs into it, so
    /// they are the same pid).
    fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.pid().to_string()]).status();
    }

    /// SIGINT, wait for a clean exit, and return the parsed JSON report and stdout.
    pub fn stop(mut self) -> (serde_json::Value, Vec<String>) {
        self.signal("-INT");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("engine did not exit within 15 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "engine exited with {status}");
        let mut out = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            out.push(l);
        }
        let text = std::fs::read_to_string(&self.report_path).expect("report json written");
        let _ = std::fs::remove_file(&self.report_path);
        let report: serde_json::Value = serde_json::from_str(&text).expect("report is JSON");
        check_no_leak(&report);
        (report, out)
    }

    /// SIGKILL and reap.
    pub fn kill9(mut self) {
        self.signal("-KILL");
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every worker's frame ledger balanced: nothing leaked, no frame in two places.
pub fn check_no_leak(report: &serde_json::Value) {
    for w in report["workers"].as_array().expect("workers") {
        let f = &w["frames"];
        assert_eq!(f["violations"], 0, "frame accounting violation: {f}");
        assert_eq!(f["balanced"], true, "frame ledger unbalanced: {f}");
    }
}

/// Sum of a counter over workers, by JSON path (e.g. ["stack", "icmp_echo_replies"]).
pub fn total(report: &serde_json::Value, path: &[&str]) -> u64 {
    report["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| path.iter().fold(w, |v, k| &v[*k]).as_u64().unwrap_or(0))
        .sum()
}

pub fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').enumerate().take(6) {
        m[i] = u8::from_str_radix(p, 16).unwrap();
    }
    m
}

/// Runs tests/tools/tcpclient.py in the peer namespace; returns its JSON result.
pub fn tcp_client(net: &Net, port: u16, mode: &str, n: u64) -> serde_json::Value {
    let out = Command::new("ip")
        .args(["netns", "exec", &net.peer_ns(), "timeout", "600", "python3"])
        .arg(repo().join("tests/tools/tcpclient.py"))
        .args([&net.engine_ip(), &port.to_string(), mode, &n.to_string()])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("[client] {port} {mode} {n}: {}", text.trim());
    serde_json::from_str(text.trim()).unwrap_or_else(|_| panic!("client printed no result: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

impl Net {
    /// Drops `pct` percent of TCP segments each way at the kernel peer (iptables
    /// statistic match), since this kernel has no netem.
    pub fn peer_tcp_loss(&self, pct: f64) {
        let p = format!("{}", pct / 100.0);
        for chain in ["INPUT", "OUTPUT"] {
            let out = self.peer(&["iptables", "-A", chain, "-p", "tcp", "-m", "statistic", "--mode", "random", "--probability", &p, "-j", "DROP"]);
            assert!(out.status.success(), "iptables: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    pub fn peer_clear_loss(&self) {
        self.peer(&["iptables", "-F"]);
    }
}
