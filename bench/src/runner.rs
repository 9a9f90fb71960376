//! The side-by-side runner: for each case, start one server (the engine, or the same
//! services on kernel sockets via `bypass run --backend kernel`), pinned to the server
//! CPU, wait until the client CPU is quiet, run the load generator for the warm-up plus
//! the duration, sample CPU on both sides and retransmissions, stop the server, and
//! move on. Each backend runs alone, so neither disturbs the other's measurement.
//!
//! This process runs inside the peer namespace (see scripts/bench); servers are started
//! in the engine's namespace with `ip netns exec`.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::engine_load::Mode;
use crate::load::{self, BulkLimit, LoadResult};
use crate::report::{CaseResult, Endpoint, Figure, IdleRamp};
use crate::stats::{cdf, read_tcp_retrans_segs, rss_bytes, CpuSampler, Percentiles};

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct Setup {
    pub bypass: String,
    pub eng_ns: String,
    pub iface: String,
    pub engine_ip: Ipv4Addr,
    pub kernel_ip: Ipv4Addr,
    pub server_cpu: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// The idle-connection ramp's target, and the server memory growth that stops it.
    pub idle_target: u64,
    pub idle_budget: u64,
    /// The peer namespace's interface and an address for the client-side engine, for the
    /// engine-to-engine cases (None: skip them).
    pub client_engine: Option<(String, Ipv4Addr)>,
    /// The kernel's own address on the peer's interface: the e2e cases' kernel column runs
    /// the same generator on `bypass --backend kernel` bound to it.
    pub client_kernel_ip: Option<Ipv4Addr>,
    pub client_cpu: usize,
    /// `--profile`: the run directory `perf record` summaries go to; only the engine and
    /// kernel sides run.
    pub profile: Option<std::path::PathBuf>,
    /// connect-rate's client threads (all on the client CPU).
    pub connect_threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Engine,
    Kernel,
    /// The engine with `--reflect-udp 7`: UDP to port 7 answered straight from the RX
    /// ring to the TX ring, no stack (the raw AF_XDP echo rate).
    RawAfXdp,
    /// The kernel backend sleeping in epoll_wait instead of spinning: a kernel server
    /// the way one usually runs.
    KernelBlocking,
    /// e2e cases: the kernel server against this process's own socket client (the
    /// `load` generators) instead of the engine's generator on the kernel backend.
    KernelSocketClient,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Engine => "engine",
            Side::Kernel => "kernel",
            Side::RawAfXdp => "raw AF_XDP",
            Side::KernelBlocking => "kernel, blocking server",
            Side::KernelSocketClient => "kernel, socket client",
        }
    }

    fn on_engine(self) -> bool {
        matches!(self, Side::Engine | Side::RawAfXdp)
    }
}

/// The reference server measured for a case besides engine and kernel, if any.
fn reference_side(case: &str) -> Option<Side> {
    match case {
        "udp-echo" => Some(Side::RawAfXdp),
        "tcp-pingpong-blocking" => Some(Side::KernelBlocking),
        c if c.starts_with("e2e-") => Some(Side::KernelSocketClient),
        _ => None,
    }
}

const SERVICES: [&str; 12] = [
    "--serve", "http-echo:80", "--serve", "tcp-echo:7", "--serve", "discard:9", "--serve", "chargen:19", "--serve", "udp-echo:7", "--serve",
    "sockperf:11111",
];

/// The buffer both sides' TCP get in the `*-fixed-buffers` cases (`--tcp-buffer`).
pub const FIXED_BUFFER: usize = 262144;

/// TCP options a case gives every `bypass` it starts, server and client engine alike:
/// the `*-fixed-buffers` cases fix the buffers (no kernel autotuning), the rest run
/// each stack's defaults.
pub fn case_tcp_args(case: &str) -> Vec<String> {
    if case.ends_with("-fixed-buffers") {
        vec!["--tcp-buffer".into(), FIXED_BUFFER.to_string()]
    } else {
        Vec::new()
    }
}

/// A running server process.
pub(crate) struct Server {
    child: Child,
    /// The server's own pid (the child is `ip netns exec`, which execs into it).
    pid: u32,
    /// How it was started and the TCP settings it reported.
    pub(crate) endpoint: Endpoint,
}

impl Server {
    pub(crate) fn start(s: &Setup, side: Side, case: &str) -> Result<Server> {
        let poll = if side == Side::KernelBlocking { "adaptive" } else { "busy" };
        Server::start_with(s, side, 1, poll, &case_tcp_args(case))
    }

    /// Starts a server with `queues` workers (all pinned to the server CPU) polling the
    /// `poll` way (`busy` or `adaptive`), with `extra` arguments.
    pub(crate) fn start_with(s: &Setup, side: Side, queues: u32, poll: &str, extra: &[String]) -> Result<Server> {
        let cpu = s.server_cpu.to_string();
        let cores = vec![cpu.as_str(); queues.max(1) as usize].join(",");
        let nq = queues.max(1);
        let queues = nq.to_string();
        let mut argv: Vec<String> = ["netns", "exec", &s.eng_ns, "taskset", "-c", &cpu, &s.bypass, "run", "--iface", &s.iface, "--queues", &queues, "--cores", &cores, "--poll", poll].map(String::from).to_vec();
        let engine_ip = format!("{}/24", s.engine_ip);
        let kernel_ip = format!("{}/24", s.kernel_ip);
        let kernel = !side.on_engine();
        // taskset resets the CPU mask this (client-pinned) process would pass on.
        argv.extend(
            match side {
                Side::Engine => vec!["--ip", &engine_ip],
                Side::RawAfXdp => vec!["--ip", &engine_ip, "--reflect-udp", "7"],
                Side::Kernel | Side::KernelBlocking | Side::KernelSocketClient => vec!["--backend", "kernel", "--ip", &kernel_ip],
            }
            .into_iter()
            .map(String::from),
        );
        argv.extend(SERVICES.iter().map(|a| a.to_string()));
        argv.extend(extra.iter().cloned());
        let mut cmd = Command::new("ip");
        cmd.args(&argv).env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().context("starting the server")?;
        let out = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(out).lines();
        match lines.next() {
            Some(Ok(l)) if l.starts_with("bypass: ready") => {}
            other => {
                let _ = child.kill();
                bail!("{} server did not start: {other:?}", side.name());
            }
        }
        // The TCP settings line follows the ready line.
        let tcp = match lines.next() {
            Some(Ok(l)) => bypass::tcp_settings::TcpSettings::parse_line(&l).map(|(_, t)| crate::sides::tcp_map(&t)).unwrap_or_default(),
            _ => Default::default(),
        };
        std::thread::spawn(move || for _ in lines {});
        let pid = child.id();
        let services: Vec<&str> = argv.windows(2).filter(|w| w[0] == "--serve").map(|w| w[1].as_str()).collect();
        let endpoint = Endpoint {
            stack: if kernel { "kernel" } else { "engine" }.into(),
            program: format!("bypass run{} --serve {}", if kernel { " --backend kernel" } else { "" }, services.join(",")),
            poll: crate::sides::bypass_poll(kernel, poll),
            command: format!("ip {}", argv.join(" ")),
            cores,
            threads: nq as usize,
            mtu: crate::sides::link_mtu(Some(&s.eng_ns), &s.iface),
            queues: if kernel { crate::sides::link_queues(Some(&s.eng_ns), &s.iface) } else { Some(nq) },
            tcp,
        };
        // Let ARP and the listeners settle.
        std::thread::sleep(Duration::from_millis(300));
        Ok(Server { child, pid, endpoint })
    }

    /// The kernel's own `iperf3 -s` on the kernel address, in the engine's namespace,
    /// pinned to the server CPU (the reference for the engine's `--serve iperf3`).
    fn start_iperf3_kernel(s: &Setup) -> Result<Server> {
        let cpu = s.server_cpu.to_string();
        let port = crate::outside::IPERF3_PORT.to_string();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &s.eng_ns, "taskset", "-c", &cpu, "iperf3", "-s", "-B", &s.kernel_ip.to_string(), "-p", &port, "--forceflush"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting iperf3 -s")?;
        let out = child.stdout.take().context("iperf3 stdout")?;
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("Server listening") => break,
                Some(Ok(_)) => {}
                other => {
                    let _ = child.kill();
                    bail!("iperf3 -s did not start: {other:?}");
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let pid = child.id();
        let endpoint = Endpoint {
            stack: "kernel".into(),
            program: "iperf3 -s (Debian's iperf3)".into(),
            poll: "select() with timeouts, sleeps".into(),
            command: format!("ip netns exec {} taskset -c {cpu} iperf3 -s -B {} -p {port} --forceflush", s.eng_ns, s.kernel_ip),
            cores: cpu.clone(),
            threads: 1,
            mtu: crate::sides::link_mtu(Some(&s.eng_ns), &s.iface),
            queues: crate::sides::link_queues(Some(&s.eng_ns), &s.iface),
            tcp: Default::default(),
        };
        Ok(Server { child, pid, endpoint })
    }

    /// The server's pid (not the `ip netns exec` wrapper's: it execs into the server).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The engine's TCP retransmissions so far (from `bypass stat`).
    fn engine_retransmits(&self, bypass: &str) -> Option<u64> {
        let out = Command::new(bypass).args(["stat", "--json", "--pid", &self.pid.to_string()]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v["workers"].as_array()?.iter().filter_map(|w| w["tcp"]["retransmits"].as_u64()).sum())
    }

    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill").args(["-INT", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to 3 s) until this CPU's load from others is low, so a case does not start
/// while something else is busy. Returns the busy fraction seen last.
pub(crate) fn wait_quiet() -> f64 {
    let mut busy = 1.0;
    for _ in 0..15 {
        busy = system_busy(Duration::from_millis(200));
        if busy < 0.15 {
            break;
        }
    }
    busy
}

/// Fraction of all CPUs busy over `d`, minus the server core that busy-polls by design.
fn system_busy(d: Duration) -> f64 {
    let read = || -> Option<(u64, u64)> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let f: Vec<u64> = text.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let idle = f.get(3)? + f.get(4).copied().unwrap_or(0);
        Some((f.iter().sum(), idle))
    };
    let (Some(a), _) = (read(), std::thread::sleep(d)) else { return 0.0 };
    let Some(b) = read() else { return 0.0 };
    let total = (b.0 - a.0).max(1) as f64;
    let idle = (b.1 - a.1) as f64;
    1.0 - idle / total
}

/// What a case measured: its figure, the load result behind it, and a marker that the
/// server's memory should be recorded.
pub type Measured = (f64, LoadResult, Option<u64>);

/// One case: a name, a metric, and how to measure it against an address.
pub struct Case {
    pub name: &'static str,
    pub metric: &'static str,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub run: fn(&Setup, Ipv4Addr) -> Result<Measured>,
    /// Engine-to-engine: the engine side runs this generator on a client engine
    /// (`(mode, connections)`); the kernel side runs `run` (kernel client to kernel server).
    pub e2e: Option<(Mode, usize)>,
}

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

fn rate(r: LoadResult) -> Result<Measured> {
    Ok((r.ops_per_sec(), r, None))
}

fn latency_p50(r: LoadResult) -> Result<Measured> {
    let p50 = r.percentiles().map(|p| p.p50).unwrap_or(f64::NAN);
    Ok((p50, r, None))
}

/// The cases, in run order.
pub fn cases(quick: bool) -> Vec<Case> {
    let mut v = vec![
        Case { name: "http-keepalive-1", metric: "requests/s, 1 connection", unit: "req/s", higher_is_better: true, run: |s, ip| rate(load::http_keepalive(addr(ip, 80), 1, s.duration, s.warmup)?), e2e: None },
        Case { name: "http-keepalive-32", metric: "requests/s, 32 connections", unit: "req/s", higher_is_better: true, run: |s, ip| rate(load::http_keepalive(addr(ip, 80), 32, s.duration, s.warmup)?), e2e: None },
        Case { name: "http-keepalive-256", metric: "requests/s, 256 connections", unit: "req/s", higher_is_better: true, run: |s, ip| rate(load::http_keepalive(addr(ip, 80), 256, s.duration, s.warmup)?), e2e: None },
        Case { name: "tcp-pingpong-spin", metric: "64 B round trip p50, spinning client", unit: "us", higher_is_better: false, run: |s, ip| latency_p50(load::tcp_pingpong(addr(ip, 7), 64, s.duration, s.warmup, true)?), e2e: None },
        Case { name: "tcp-pingpong-blocking", metric: "64 B round trip p50, blocking client", unit: "us", higher_is_better: false, run: |s, ip| latency_p50(load::tcp_pingpong(addr(ip, 7), 64, s.duration, s.warmup, false)?), e2e: None },
        Case { name: "connect-rate", metric: "connections/s (connect, request, close)", unit: "conn/s", higher_is_better: true, run: |s, ip| rate(load::connect_rate(addr(ip, 80), s.duration, s.warmup, s.connect_threads)?), e2e: None },
        Case { name: "bulk-to-server", metric: "one stream to discard", unit: "Gbit/s", higher_is_better: true, run: |s, ip| {
            let r = load::bulk_send(addr(ip, 9), BulkLimit::Duration(s.duration))?;
            Ok((r.gbit_per_sec(), r, None))
        }, e2e: None },
        Case { name: "bulk-to-server-fixed-buffers", metric: "one stream to discard, server buffers fixed at 256 KiB on both stacks", unit: "Gbit/s", higher_is_better: true, run: |s, ip| {
            let r = load::bulk_send(addr(ip, 9), BulkLimit::Duration(s.duration))?;
            Ok((r.gbit_per_sec(), r, None))
        }, e2e: None },
        Case { name: "bulk-from-server", metric: "one stream from chargen", unit: "Gbit/s", higher_is_better: true, run: |s, ip| {
            let bytes = (s.duration.as_secs_f64() * 250e6) as u64;
            let r = load::bulk_recv(addr(ip, 19), bytes.max(16 << 20))?;
            Ok((r.gbit_per_sec(), r, None))
        }, e2e: None },
        Case { name: "udp-echo", metric: "64 B datagrams echoed/s, 32 in flight", unit: "pkt/s", higher_is_better: true, run: |s, ip| rate(load::udp_echo(addr(ip, 7), 64, s.duration, s.warmup, 32)?), e2e: None },
        Case { name: "e2e-http-keepalive-32", metric: "requests/s, 32 connections, client and server on the same stack", unit: "req/s", higher_is_better: true, run: |s, ip| rate(load::http_keepalive(addr(ip, 80), 32, s.duration, s.warmup)?), e2e: Some((Mode::Http, 32)) },
        Case { name: "e2e-tcp-pingpong", metric: "64 B round trip p50, spinning client, client and server on the same stack", unit: "us", higher_is_better: false, run: |s, ip| latency_p50(load::tcp_pingpong(addr(ip, 7), 64, s.duration, s.warmup, true)?), e2e: Some((Mode::PingPong, 1)) },
        Case { name: "e2e-bulk", metric: "one stream to discard, client and server on the same stack", unit: "Gbit/s", higher_is_better: true, run: |s, ip| {
            let r = load::bulk_send(addr(ip, 9), BulkLimit::Duration(s.duration))?;
            Ok((r.gbit_per_sec(), r, None))
        }, e2e: Some((Mode::Bulk, 1)) },
        Case { name: "e2e-bulk-fixed-buffers", metric: "one stream to discard, client and server on the same stack, buffers fixed at 256 KiB on both ends", unit: "Gbit/s", higher_is_better: true, run: |s, ip| {
            let r = load::bulk_send(addr(ip, 9), BulkLimit::Duration(s.duration))?;
            Ok((r.gbit_per_sec(), r, None))
        }, e2e: Some((Mode::Bulk, 1)) },
        // With a client engine this is the ramp (see `measure_idle`); without one, kernel
        // sockets from this process, as many as its descriptor limit allows.
        Case { name: IDLE_CASE, metric: "idle connections held (ramp to the target)", unit: "conns", higher_is_better: true, run: |s, ip| {
            let idle = load::idle_connections(addr(ip, 7), s.idle_target.min(10_000) as usize);
            std::thread::sleep(Duration::from_millis(500));
            let mut r = LoadResult::empty(0.0);
            r.ops = idle.still_open() as u64;
            r.errors = idle.errors;
            r.first_error = idle.first_error.clone();
            Ok((idle.still_open() as f64, r, Some(0)))
        }, e2e: None },
    ];
    if quick {
        v.retain(|c| c.name != "http-keepalive-256");
    } else if crate::outside::have_iperf3() {
        // About duration + warm-up each per side; not in --quick.
        v.extend(iperf3_cases());
    }
    v
}

/// The iperf3 rows: the stock client against the engine's `--serve iperf3:5201` and
/// against the kernel's own `iperf3 -s` (see [`measure`]), Gbit/s as the receiving side
/// counted it.
pub fn iperf3_cases() -> Vec<Case> {
    fn run(s: &Setup, ip: Ipv4Addr, args: &[&str]) -> Result<Measured> {
        let secs = s.duration.as_secs().max(1);
        let r = crate::outside::iperf3(ip, secs, s.warmup.as_secs(), args)?;
        let mut l = LoadResult::empty(r.seconds);
        l.ops = 1;
        l.bytes = r.bytes_received;
        l.lost = r.lost;
        Ok((r.gbit_per_sec, l, None))
    }
    vec![
        Case { name: "iperf3-tcp", metric: "iperf3 -c, one TCP stream to the server", unit: "Gbit/s", higher_is_better: true, run: |s, ip| run(s, ip, &[]), e2e: None },
        Case { name: "iperf3-reverse", metric: "iperf3 -c -R, one TCP stream from the server", unit: "Gbit/s", higher_is_better: true, run: |s, ip| run(s, ip, &["-R"]), e2e: None },
        Case { name: "iperf3-parallel-4", metric: "iperf3 -c -P 4, four TCP streams to the server", unit: "Gbit/s", higher_is_better: true, run: |s, ip| run(s, ip, &["-P", "4"]), e2e: None },
        Case { name: "iperf3-udp", metric: "iperf3 -c -u -b 0, UDP to the server, unpaced (received rate)", unit: "Gbit/s", higher_is_better: true, run: |s, ip| run(s, ip, &["-u", "-b", "0"]), e2e: None },
    ]
}

/// Runs `case` on one side: server up, quiet check, measure, server down.
/// What an outside tool measured alongside a case.
pub enum CrossCheck {
    /// wrk: requests/s and errors.
    Wrk(f64, u64),
    /// sockperf TCP ping-pong: median one-way latency, µs.
    Sockperf(f64),
}

/// `cross_check`: also run the outside tool (wrk, sockperf) for this case, if it has one.
pub fn measure(s: &Setup, case: &Case, side: Side, cross_check: bool) -> Result<(Figure, Option<CrossCheck>)> {
    if case.name == IDLE_CASE && s.client_engine.is_some() && matches!(side, Side::Engine | Side::Kernel) {
        return measure_idle(s, side).map(|f| (f, None));
    }
    let server = match (case.name.starts_with("iperf3-"), side) {
        // iperf3: the engine's service against the kernel's own iperf3 server.
        (true, Side::Kernel) => Server::start_iperf3_kernel(s)?,
        (true, _) => Server::start_with(s, side, 1, "busy", &["--serve".into(), format!("iperf3:{}", crate::outside::IPERF3_PORT)])?,
        (false, _) => Server::start(s, side, case.name)?,
    };
    let server_end = server.endpoint.clone();
    let busy = wait_quiet();
    if busy > 0.6 {
        eprintln!("  warning: the machine is busy ({:.0}% of CPU) before {} on {}", busy * 100.0, case.name, side.name());
    }
    let ip = if side.on_engine() { s.engine_ip } else { s.kernel_ip };
    let retransmits = |server: &Server| if side.on_engine() { server.engine_retransmits(&s.bypass) } else { read_tcp_retrans_segs(Some(server.pid)).ok() };
    // Described before the measurement (it runs `ip` and `ethtool`).
    let plain_client = crate::sides::plain_client_endpoint(case.name, s.connect_threads, s.client_cpu, s.client_engine.as_ref().map(|c| c.0.as_str()));
    let retrans_before = retransmits(&server);
    let perf = match &s.profile {
        Some(dir) => match crate::profile::Recording::start(dir, case.name, side.name(), s.server_cpu) {
            Ok(p) => Some(p),
            Err(e) => {
                server.stop();
                return Err(e);
            }
        },
        None => None,
    };
    let cpu_server = CpuSampler::for_pid(server.pid).ok();
    let cpu_client = CpuSampler::this_process().ok();
    let (result, client) = match (case.e2e, side, &s.client_engine) {
        // Engine-to-engine, and kernel-to-kernel with the very same generator hosted by
        // `bypass --backend kernel` on the peer's kernel address, polling the same way.
        (Some((mode, conns)), Side::Engine | Side::Kernel, Some((iface, cip))) => e2e_generator(s, case, side == Side::Kernel, mode, conns, ip, iface, *cip),
        (Some(_), Side::Engine | Side::Kernel, None) => (Err(anyhow::anyhow!("no client engine configured")), None),
        _ => ((case.run)(s, ip), Some(plain_client)),
    };
    let cpu_server = cpu_server.and_then(|c| c.finish().ok()).map(|u| u.cores);
    let cpu_client = cpu_client.and_then(|c| c.finish().ok()).map(|u| u.cores);
    if let Some(p) = perf {
        match p.finish() {
            Ok(path) => eprint!("(profile: {}) ", path.display()),
            Err(e) => eprint!("(profile failed: {e:#}) "),
        }
    }
    let memory = rss_bytes(server.pid).ok();
    let retrans_after = retransmits(&server);
    // wrk as an outside cross-check of the HTTP figure, against the same server.
    let secs = s.duration.as_secs().max(1);
    let outside_check = cross_check && matches!(side, Side::Engine | Side::Kernel);
    let wrk = if !outside_check {
        None
    } else if case.name == "http-keepalive-32" && crate::outside::have_wrk() {
        crate::outside::wrk(ip, 32, secs).ok().map(|(r, e)| CrossCheck::Wrk(r, e))
    } else if case.name == "tcp-pingpong-spin" && crate::outside::have_sockperf() {
        crate::outside::sockperf(ip, 11111, secs).ok().map(CrossCheck::Sockperf)
    } else {
        None
    };
    server.stop();
    let (value, r, mem_flag) = result?;
    let mut f = Figure::from_load(value, &r);
    f.server = Some(server_end);
    f.client = client;
    f.cpu_server = cpu_server;
    f.cpu_client = cpu_client;
    f.retransmits = match (retrans_before, retrans_after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    if mem_flag.is_some() {
        f.memory_bytes = memory;
    }
    Ok((f, wrk))
}

/// An e2e case's client: the engine's generator on a client `bypass` in this process,
/// on the engine (`kernel` false) or on `--backend kernel` bound to the peer's kernel
/// address — the same code, busy-polling either way, with the case's TCP options.
#[allow(clippy::too_many_arguments)]
fn e2e_generator(s: &Setup, case: &Case, kernel: bool, mode: Mode, conns: usize, ip: Ipv4Addr, iface: &str, cip: Ipv4Addr) -> (Result<Measured>, Option<Endpoint>) {
    let port = match mode {
        Mode::Http => 80,
        Mode::PingPong => 7,
        Mode::Bulk => 9,
    };
    let client_ip = match (kernel, s.client_kernel_ip) {
        (false, _) => cip,
        (true, Some(k)) => k,
        (true, None) => return (Err(anyhow::anyhow!("no IPv4 address on the client interface {iface} for the kernel-side generator")), None),
    };
    let opts = crate::engine_load::ClientEngineOpts {
        iface: iface.to_string(),
        ip: client_ip,
        cores: s.client_cpu.to_string(),
        queues: 1,
        poll: "busy".into(),
        fault: None,
        kernel_backend: kernel,
        extra: case_tcp_args(case.name),
    };
    match crate::engine_load::run(&opts, SocketAddrV4::new(ip, port), mode, conns, s.duration, s.warmup) {
        Ok(g) => {
            let r = g.result;
            let m = match mode {
                Mode::Http => rate(r),
                Mode::PingPong => latency_p50(r),
                Mode::Bulk => Ok((r.gbit_per_sec(), r, None)),
            };
            (m, Some(g.client))
        }
        Err(e) => (Err(e), None),
    }
}

/// The idle-connection case.
pub const IDLE_CASE: &str = "idle-connections";

/// The idle-connection ramp against one side: a client engine with enough source
/// addresses opens connections to the server's discard port until the target, a failure,
/// a stall or the memory budget (see [`crate::engine_load::idle_ramp`]). Memory per
/// connection: the engine server's RSS growth; for the kernel, the growth of the TCP
/// slab caches, of sockstat's TCP pages and of the server process's RSS.
fn measure_idle(s: &Setup, side: Side) -> Result<Figure> {
    use crate::engine_load::idle_ramp::{self, RampOpts};
    use crate::stats::{open_files, parse_tcpext, KernelTcpMemory};
    let Some((iface, cip)) = &s.client_engine else { bail!("no client engine configured") };
    let kernel = side == Side::Kernel;
    // The engine's table holds every connection; the kernel backend has no such option.
    let extra = if kernel { vec![] } else { vec!["--tcp-max-conns".to_string(), (s.idle_target + 4096).to_string()] };
    let server = Server::start_with(s, side, 1, "busy", &extra)?;
    let server_end = server.endpoint.clone();
    wait_quiet();
    let pid = server.pid;
    let ports = 1024..=65535u16;
    let n = idle_ramp::sources_needed(s.idle_target, ports.len() as u64, 150);
    let o = cip.octets();
    let opts = RampOpts {
        iface: iface.clone(),
        client_ip: *cip,
        sources: (0..n).map(|k| Ipv4Addr::new(o[0], o[1], o[2], 100 + k as u8)).collect(),
        core: s.client_cpu,
        server: if kernel { s.kernel_ip } else { s.engine_ip },
        target: s.idle_target,
        window: 512,
        stall: Duration::from_secs(3),
        duration: s.duration,
        warmup: s.warmup,
        ports,
    };
    let sample = || (rss_bytes(pid).ok().map(|b| b as i64), kernel.then(|| KernelTcpMemory::read(pid).ok()).flatten());
    let growth = |a: &(Option<i64>, Option<KernelTcpMemory>), b: &(Option<i64>, Option<KernelTcpMemory>)| -> Option<i64> {
        let rss = a.0? - b.0?;
        match (kernel, &a.1, &b.1) {
            (false, _, _) => Some(rss),
            (true, Some(x), Some(y)) => Some(rss + x.total_bytes() as i64 - y.total_bytes() as i64),
            _ => None,
        }
    };
    let overflows = || std::fs::read_to_string(format!("/proc/{pid}/net/netstat")).ok().and_then(|t| parse_tcpext(&t, "ListenOverflows"));
    let retransmits = || if kernel { read_tcp_retrans_segs(Some(pid)).ok() } else { server.engine_retransmits(&s.bypass) };
    let retrans_before = retransmits();
    let before = sample();
    let overflows_before = overflows();
    let cpu_server = CpuSampler::for_pid(pid).ok();
    let cpu_client = CpuSampler::this_process().ok();
    let started = Instant::now();
    let mut after = None;
    let mut files = None;
    let outcome = idle_ramp::run(&opts, |sh| {
        use std::sync::atomic::Ordering::Relaxed;
        if sh.settled.load(Relaxed) {
            if !sh.go.load(Relaxed) {
                // Let the server take in the last handshakes before measuring.
                std::thread::sleep(Duration::from_millis(300));
                after = Some(sample());
                files = open_files(pid);
                sh.go.store(true, Relaxed);
            }
            return;
        }
        let why = match growth(&sample(), &before) {
            Some(g) if g > s.idle_budget as i64 => Some(format!("memory budget: the server grew by {} MiB, the budget is {} MiB", g >> 20, s.idle_budget >> 20)),
            _ if started.elapsed() > Duration::from_secs(900) => Some("time limit (900 s)".to_string()),
            _ => None,
        };
        if let (Some(w), Ok(mut stop)) = (why, sh.stop.lock()) {
            stop.get_or_insert(w);
        }
    });
    let cpu_server = cpu_server.and_then(|c| c.finish().ok()).map(|u| u.cores);
    let cpu_client = cpu_client.and_then(|c| c.finish().ok()).map(|u| u.cores);
    let overflows_after = overflows();
    let retrans_after = retransmits();
    server.stop();
    let out = outcome?;
    let held = out.held;
    let delta = after.as_ref().and_then(|a| growth(a, &before));
    let mut parts = std::collections::BTreeMap::new();
    if let Some(a) = &after {
        if let (Some(x), Some(y)) = (a.0, before.0) {
            parts.insert("server RSS".to_string(), x - y);
        }
        if let (Some(x), Some(y)) = (&a.1, &before.1) {
            parts.extend(x.delta(y));
        }
    }
    let mut stopped = out.stop.to_string();
    if kernel {
        // What the kernel server measured at the end: its descriptors against its limit
        // (accept(2) fails with EMFILE there), and SYNs dropped for a full accept queue.
        if let Some((used, limit)) = files {
            stopped += &format!("; the server held {used} descriptors, its open-files limit is {limit}{}", if used + 16 >= limit { " (accept fails with EMFILE)" } else { "" });
        }
        if let (Some(a), Some(b)) = (overflows_before, overflows_after) {
            stopped += &format!("; listen queue overflows: {}", a.abs_diff(b));
        }
    }
    let pp_held = Percentiles::from_histogram(&out.with_held);
    let idle = IdleRamp {
        target: s.idle_target,
        held,
        failed: out.failed,
        lost: out.lost,
        open_seconds: out.open_seconds,
        open_per_second: if out.open_seconds > 0.0 { held as f64 / out.open_seconds } else { f64::NAN },
        stopped,
        memory_method: if kernel { "TCP slabs + sockstat pages + server RSS".into() } else { "server RSS".into() },
        memory_delta_bytes: delta,
        bytes_per_connection: delta.filter(|_| held > 0).map(|d| d as f64 / held as f64),
        memory_parts: parts,
        server_accepted: if kernel { files.map(|f| f.0) } else { None },
        pingpong_alone: Percentiles::from_histogram(&out.alone),
        pingpong_held: pp_held,
    };
    Ok(Figure {
        value: held as f64,
        latency: pp_held,
        cdf: cdf(&out.with_held),
        cpu_server,
        cpu_client,
        errors: out.failed + out.lost,
        retransmits: retrans_before.zip(retrans_after).map(|(a, b)| b.saturating_sub(a)),
        memory_bytes: after.and_then(|a| a.0).map(|b| b as u64),
        first_error: out.first_error,
        idle: Some(idle),
        server: Some(server_end),
        client: Some(Endpoint {
            stack: "engine".into(),
            program: format!("engine_load idle ramp (an Application): {} source addresses, 512 connects in flight, then a 64 B ping-pong", opts.sources.len()),
            poll: crate::sides::bypass_poll(false, "busy"),
            command: format!("bypass run --iface {} --ip {}/24 (+ {} source addresses) --cores {} --poll busy", opts.iface, opts.client_ip, opts.sources.len(), opts.core),
            cores: opts.core.to_string(),
            threads: 1,
            mtu: crate::sides::link_mtu(None, &opts.iface),
            queues: Some(1),
            tcp: Default::default(),
        }),
        ..Figure::default()
    })
}

/// The same HTTP case against nginx on the kernel address (an outside reference).
fn measure_nginx(s: &Setup, case: &Case) -> Result<Figure> {
    let nginx = crate::outside::Nginx::start(&s.eng_ns, s.kernel_ip, s.server_cpu)?;
    wait_quiet();
    let cpu = CpuSampler::for_pid(nginx.pid()).ok();
    let (value, r, _) = (case.run)(s, s.kernel_ip)?;
    let mut f = Figure::from_load(value, &r);
    f.cpu_server = cpu.and_then(|c| c.finish().ok()).map(|u| u.cores);
    drop(nginx);
    // Let its connections drain before the next server starts on the same address.
    std::thread::sleep(Duration::from_secs(1));
    Ok(f)
}

/// Who answers one side of a case.
#[derive(Clone, Copy)]
enum Who {
    Server(Side),
    Nginx,
    /// The no-stack floor under a ping-pong case (see [`crate::floor`]).
    Floor(crate::floor::FloorClient),
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Server(side) => side.name(),
            Who::Nginx => "nginx",
            Who::Floor(_) => "floor",
        }
    }
}

/// The figure of the median round (by value; failed rounds count as worst), carrying
/// the errors of every round so a failure in any round still shows.
pub fn median_figure(mut runs: Vec<Figure>, higher_is_better: bool) -> Figure {
    let errors: u64 = runs.iter().map(|f| f.errors).sum();
    let first_error = runs.iter().find_map(|f| f.first_error.clone());
    let key = |f: &Figure| match (f.value.is_nan(), higher_is_better) {
        (true, _) => f64::NEG_INFINITY,
        (false, true) => f.value,
        (false, false) => -f.value,
    };
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mut f = runs.swap_remove(runs.len() / 2);
    f.errors = errors;
    f.first_error = first_error;
    f
}

/// Runs every case on both sides (and its reference, if any), `rounds` times each,
/// alternating sides, and keeps each side's median round.
pub fn run_all(s: &Setup, cases: &[Case], rounds: usize) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let nginx = crate::outside::have_nginx();
    let rounds = rounds.max(1);
    let servers = |c: &Case| {
        let mut v = vec![Who::Server(Side::Engine), Who::Server(Side::Kernel)];
        if s.profile.is_some() {
            return v;
        }
        if nginx && c.name.starts_with("http-keepalive") {
            v.push(Who::Nginx);
        }
        if let Some(side) = reference_side(c.name) {
            v.push(Who::Server(side));
        }
        if let Some(f) = crate::floor::floor_for(c.name) {
            v.push(Who::Floor(f));
        }
        v
    };
    let total: usize = cases.iter().map(|c| servers(c).len() * rounds).sum();
    let mut n = 0;
    for c in cases {
        let who = servers(c);
        let mut runs: Vec<Vec<Figure>> = vec![Vec::new(); who.len()];
        let mut notes = Vec::new();
        for round in 0..rounds {
            for (k, w) in who.iter().enumerate() {
                n += 1;
                eprint!("[{n:>2}/{total}] {:<22} {:<7} ", c.name, w.name());
                let result = match w {
                    Who::Server(side) => measure(s, c, *side, round == 0 && s.profile.is_none()),
                    Who::Nginx => measure_nginx(s, c).map(|f| (f, None)),
                    Who::Floor(client) => crate::floor::measure_floor(s, *client).map(|f| (f, None)),
                };
                let f = match result {
                    Ok((f, check)) => {
                        match check {
                            Some(CrossCheck::Wrk(rps, errs)) => {
                                notes.push(format!("wrk -c32 against the {}: {} req/s, {errs} errors", w.name(), crate::report::fmt_number(rps)))
                            }
                            Some(CrossCheck::Sockperf(p50)) => {
                                notes.push(format!("sockperf TCP ping-pong against the {}: median one-way {} us", w.name(), crate::report::fmt_number(p50)))
                            }
                            None => {}
                        }
                        f
                    }
                    Err(e) => {
                        eprint!("failed: {e:#} ");
                        Figure { value: f64::NAN, errors: 1, first_error: Some(format!("{e:#}")), ..Figure::default() }
                    }
                };
                eprintln!("{} {}{}", crate::report::fmt_number(f.value), c.unit, if f.errors > 0 { format!(" ({} errors)", f.errors) } else { String::new() });
                runs[k].push(f);
            }
        }
        if rounds > 1 {
            let each: Vec<String> = who
                .iter()
                .zip(&runs)
                .map(|(w, r)| format!("{} {}", w.name(), r.iter().map(|f| crate::report::fmt_number(f.value)).collect::<Vec<_>>().join(" / ")))
                .collect();
            notes.insert(0, format!("{rounds} rounds, median shown ({})", each.join("; ")));
        }
        let mut picked = runs.into_iter().map(|r| median_figure(r, c.higher_is_better));
        let engine = picked.next().unwrap_or_default();
        let kernel = picked.next().unwrap_or_default();
        let mut r = CaseResult::new(c.name, c.metric, c.unit, c.higher_is_better, engine, kernel);
        // A ramp that stopped short of the target on one side stopped at a limit of that
        // side's setup (the kernel server's open-files limit), not a figure to divide by.
        let short = |f: &Figure| f.idle.as_ref().is_some_and(|i| i.held < i.target);
        if short(&r.engine) || short(&r.kernel) {
            r.ratio = None;
            notes.push("no ratio: a side stopped short of the target, see why in the idle-connections table".into());
        }
        for (w, f) in who[2..].iter().zip(picked) {
            r = match w {
                Who::Floor(fc) => r.with_floor(fc.client(), fc.server(), fc.compares(), f),
                _ => r.with_reference(w.name(), f),
            };
        }
        if c.name == "connect-rate" {
            // Whether the client could have been the limit: its threads share one CPU.
            let cpu = |f: &Figure| crate::report::fmt_cores(f.cpu_client);
            notes.push(format!("client: {} threads on CPU {}, using {} (engine side) / {} (kernel side) cores of it", s.connect_threads, s.client_cpu, cpu(&r.engine), cpu(&r.kernel)));
        }
        if !notes.is_empty() {
            r = r.with_note(notes.join("; "));
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(value: f64, errors: u64) -> Figure {
        Figure { value, errors, first_error: (errors > 0).then(|| format!("e{value}")), ..Figure::default() }
    }

    #[test]
    fn median_round_by_direction_and_failures_count_as_worst() {
        let runs = || vec![fig(5.0, 0), fig(9.0, 0), fig(7.0, 0)];
        assert_eq!(median_figure(runs(), true).value, 7.0);
        assert_eq!(median_figure(runs(), false).value, 7.0);
        assert_eq!(median_figure(vec![fig(4.0, 0), fig(f64::NAN, 1), fig(8.0, 0)], true).value, 4.0);
        assert_eq!(median_figure(vec![fig(4.0, 0), fig(f64::NAN, 1), fig(8.0, 0)], false).value, 8.0);
        // Errors of every round are kept on the chosen one.
        let m = median_figure(vec![fig(1.0, 2), fig(2.0, 0), fig(3.0, 0)], true);
        assert_eq!((m.value, m.errors, m.first_error.as_deref()), (2.0, 2, Some("e1")));
        assert_eq!(median_figure(vec![fig(6.0, 0)], true).value, 6.0);
    }
}
