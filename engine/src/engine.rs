//! Putting the datapath together: checks, XDP program, one AF_XDP queue and pinned
//! worker per rx queue, signals, and the final report.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{QueueCount, RunArgs};
use crate::runtime::{self, Mesh, WorkerReport, WorkerSetup};
use crate::stack::{RssShared, Stack, StackConfig, TcpSetup};
use crate::time::Clock;
use crate::wire::EthernetAddress;
use crate::sys;
use crate::xsk::{QueueConfig, QueueCounters, SteerProgram, XskQueue};

/// Capacity of each worker's hand-off inbox.
const INBOX: usize = 4096;

/// A user-facing failure: one line that says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError(msg.into()))
}

/// The interface facts the engine needs, read from sysfs.
#[derive(Debug, Clone)]
pub struct IfaceInfo {
    pub name: String,
    pub index: u32,
    pub mac: EthernetAddress,
    pub mtu: usize,
    pub rx_queues: u32,
}

impl IfaceInfo {
    pub fn probe(name: &str) -> Result<IfaceInfo, EngineError> {
        let Some(index) = sys::if_index(name) else {
            return err(format!("no interface '{name}' in this network namespace (see `ip link`)"));
        };
        let dir = Path::new("/sys/class/net").join(name);
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map(|s| s.trim().to_string());
        let mac: EthernetAddress = read("address")
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| EngineError(format!("'{name}' has no Ethernet address; bypass needs an Ethernet interface")))?;
        let mtu = read("mtu").ok().and_then(|s| s.parse().ok()).unwrap_or(1500);
        let rx_queues = Self::rx_queue_count(name);
        Ok(IfaceInfo { name: name.into(), index, mac, mtu, rx_queues })
    }

    /// The interface's rx queues now (sysfs `queues/rx-*`), at least 1.
    pub fn rx_queue_count(name: &str) -> u32 {
        Self::queue_count(name, "rx-")
    }

    /// The interface's tx queues now (sysfs `queues/tx-*`), at least 1.
    pub fn tx_queue_count(name: &str) -> u32 {
        Self::queue_count(name, "tx-")
    }

    fn queue_count(name: &str, prefix: &str) -> u32 {
        std::fs::read_dir(Path::new("/sys/class/net").join(name).join("queues"))
            .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with(prefix)).count() as u32)
            .unwrap_or(1)
            .max(1)
    }
}

/// The queues a socket can serve once XDP is attached: a socket sends on the tx queue of
/// its own index, so only queues below the tx queue count can answer. virtio_net adds one
/// queue pair per CPU when XDP is attached, counts them as rx queues only, and (with the
/// RSS table not set by hand) spreads RSS over them: frames arriving there find no socket.
/// Returns the count and, when rx queues are left without a socket, the warning.
fn servable_queues(iface: &str, rx: u32, tx: u32) -> (u32, Option<String>) {
    if rx <= tx {
        return (rx, None);
    }
    let w = format!(
        "{iface} has {rx} rx queues but {tx} tx queues with XDP attached (virtio_net adds XDP-only queue pairs): sockets on queues {tx}..{} could not send, so none is bound there and frames for the engine arriving there are dropped (no_socket); pin RSS to the served queues once the engine runs: `ethtool -X {iface} equal {tx}`",
        rx - 1
    );
    (tx, Some(w))
}

/// What a running engine tells an embedding program.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub workers: usize,
    pub addrs: Vec<std::net::Ipv4Addr>,
    /// Wakes the engine's workers out of adaptive sleep (none on the kernel backend).
    pub wakers: Option<crate::runtime::Wakers>,
    /// The TCP settings in effect (also printed after the ready line).
    pub tcp: crate::tcp_settings::TcpSettings,
}

/// Everything the engine reports when it stops.
#[derive(Debug, Serialize)]
pub struct Report {
    pub iface: String,
    /// The interface's driver (`ethtool -i`).
    pub driver: String,
    pub xdp_mode: String,
    /// Where the flow-to-worker mapping comes from: the NIC's RSS, or software and why.
    pub rss: String,
    pub workers: Vec<WorkerJson>,
    /// XDP counters of the device's rx queues that no worker served.
    pub unserved: Vec<(u32, QueueCounters)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<crate::pcap::PcapStats>,
}

#[derive(Debug, Serialize)]
pub struct WorkerJson {
    pub index: usize,
    pub queue: u32,
    pub core: Option<usize>,
    pub pinned: bool,
    /// The queue's socket runs in zero-copy mode (else copy mode).
    pub zero_copy: bool,
    /// Bound with XDP_USE_NEED_WAKEUP: TX kicks and fill-ring wakeups happen only when
    /// the kernel asks (`datapath.tx_kicks`, `datapath.fill_wakeups`).
    pub need_wakeup: bool,
    /// `--busy-poll-budget`: "off", "preferred" (`SO_PREFER_BUSY_POLL`: interrupts off
    /// while the worker polls) or "plain" (without it: a driver that transmits zero-copy
    /// frames from a NAPI of its own, see `xsk::zc_tx_in_own_napi`).
    pub busy_poll: &'static str,
    pub xdp: QueueCounters,
    pub stack: crate::stack::StackCounters,
    /// Per-connection TCP counters summed over the worker's connections.
    pub tcp: crate::tcp::TcpCounters,
    pub datapath: crate::xsk::QueueStats,
    pub kernel: crate::xsk::KernelStats,
    pub frames: crate::xsk::LedgerReport,
    pub handoff_out: u64,
    pub handoff_dropped: u64,
    pub handoff_in: u64,
    pub handoff_owned: u64,
    pub loops: u64,
    pub sleeps: u64,
    /// Frames answered by `--reflect-udp` (and dropped there for want of a TX frame).
    pub reflected: u64,
    pub reflect_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<crate::runtime::fault::FaultCounters>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sockets: Vec<crate::stack::SocketInfo>,
}

/// What the device and its queues run with, for the report and `bypass stat`.
struct DeviceInfo {
    driver: String,
    xdp_mode: String,
    rss: Arc<RssShared>,
    /// Per served queue: zero-copy.
    zero_copy: Vec<bool>,
    /// Per served queue: how it busy-polls (see [`WorkerJson::busy_poll`]).
    busy_poll: Vec<&'static str>,
}

fn worker_json(r: WorkerReport, program: &SteerProgram, dev: &DeviceInfo, sockets: Vec<crate::stack::SocketInfo>) -> WorkerJson {
    WorkerJson {
        index: r.index,
        queue: r.queue_id,
        core: r.core,
        pinned: r.pinned,
        zero_copy: dev.zero_copy.get(r.index).copied().unwrap_or(false),
        need_wakeup: true,
        busy_poll: dev.busy_poll.get(r.index).copied().unwrap_or("off"),
        xdp: program.counters(r.queue_id),
        stack: r.stack,
        tcp: r.tcp,
        datapath: r.queue,
        kernel: r.kernel,
        frames: r.ledger,
        handoff_out: r.handoff_out,
        handoff_dropped: r.handoff_dropped,
        handoff_in: r.handoff_in,
        handoff_owned: r.handoff_owned,
        loops: r.loops,
        sleeps: r.sleeps,
        reflected: r.reflected,
        reflect_dropped: r.reflect_dropped,
        faults: r.faults,
        sockets,
    }
}

/// The answer to `bypass stat`: every worker's counters and sockets, taken from the
/// workers themselves (each answers at its next loop; a busy worker within microseconds).
fn snapshot(iface: &str, program: &SteerProgram, dev: &DeviceInfo, workers: &[crossbeam::channel::Sender<runtime::SnapshotRequest>]) -> String {
    let mut out = Vec::new();
    for w in workers {
        let (tx, rx) = crossbeam::channel::bounded(1);
        if w.try_send(tx).is_ok() {
            if let Ok((r, sockets)) = rx.recv_timeout(Duration::from_secs(2)) {
                out.push(worker_json(r, program, dev, sockets));
            }
        }
    }
    let v = serde_json::json!({
        "iface": iface, "pid": std::process::id(), "driver": dev.driver, "xdp_mode": dev.xdp_mode,
        "rss": dev.rss.current().source, "workers": out,
    });
    v.to_string()
}

/// Picks the cores for `n` workers: the given list, or the last `n` cores.
fn pick_cores(n: usize, wanted: Option<&[usize]>) -> Result<Vec<Option<core_affinity::CoreId>>, EngineError> {
    let available = core_affinity::get_core_ids().unwrap_or_default();
    match wanted {
        Some(list) => {
            if list.len() < n {
                return err(format!("--cores lists {} cores for {n} workers; give one per queue", list.len()));
            }
            list[..n]
                .iter()
                .map(|&id| {
                    available.iter().find(|c| c.id == id).copied().map(Some).ok_or_else(|| {
                        EngineError(format!("core {id} is not available to this process (have {:?})", available.iter().map(|c| c.id).collect::<Vec<_>>()))
                    })
                })
                .collect()
        }
        None if available.is_empty() => Ok(vec![None; n]),
        None => {
            // The last n cores, wrapping when there are more workers than cores.
            let k = available.len();
            Ok((0..n).map(|i| Some(available[(k + i - n % k.max(1)) % k])).collect())
        }
    }
}

/// `--backend kernel`: the applications over Linux sockets, one pinned thread per worker.
fn run_kernel(
    args: &RunArgs,
    stop: Arc<AtomicBool>,
    install_signals: bool,
    apps: &[crate::api::AppFactory],
    ready: impl FnOnce(&EngineInfo),
) -> Result<Report, EngineError> {
    let [addr] = args.ips.as_slice() else {
        return err("--backend kernel takes exactly one --ip (a kernel-owned address to bind)");
    };
    let n = match args.queues {
        QueueCount::All => 1,
        QueueCount::N(n) => n as usize,
    };
    let cores = pick_cores(n, args.cores.as_ref().map(|c| c.0.as_slice()))?;
    let tcp = kernel_tcp(&args.tcp)?;
    let settings = crate::tcp_settings::of_kernel(&tcp).map_err(|e| EngineError(format!("--backend kernel: cannot read back the TCP settings: {e}")))?;
    check_buffers(&tcp, &settings)?;
    if install_signals {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, stop.clone()).map_err(|e| EngineError(format!("cannot install signal handler: {e}")))?;
        }
    }
    let factories: Vec<crate::api::AppFactory> = args.serve.iter().map(|s| s.factory()).chain(apps.iter().cloned()).collect();
    let mut handles = Vec::new();
    for (i, core) in cores.iter().copied().enumerate() {
        let (f, st, ip, poll) = (factories.clone(), stop.clone(), addr.addr, args.poll);
        let h = std::thread::Builder::new()
            .name(format!("bypass-k{i}"))
            .spawn(move || crate::api::kernel_worker::run(i, ip, core, poll, tcp, f, st))
            .map_err(|e| EngineError(format!("cannot start worker thread: {e}")))?;
        handles.push(h);
    }
    // For whoever started the bypass command, as on the engine; an embedding program gets
    // the `ready` callback instead.
    if install_signals {
        println!("bypass: ready on {} (kernel backend), {} worker(s), cores {:?}", addr.addr, n, cores.iter().map(|c| c.map(|c| c.id)).collect::<Vec<_>>());
        // After the ready line, which scripts wait for first.
        println!("{}", settings.line("kernel"));
    }
    ready(&EngineInfo { workers: n, addrs: vec![addr.addr], wakers: None, tcp: settings });
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        if handles.iter().any(|h| h.is_finished()) {
            stop.store(true, Ordering::Relaxed);
        }
    }
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return err(format!("kernel worker failed: {e}")),
            Err(_) => return err("kernel worker panicked"),
        }
    }
    Ok(Report {
        iface: args.iface.clone(),
        driver: crate::xsk::ethtool::driver(&args.iface).unwrap_or_else(|| "unknown".into()),
        xdp_mode: "none (kernel backend)".into(),
        rss: "none (kernel backend)".into(),
        workers: Vec::new(),
        unserved: Vec::new(),
        pcap: None,
    })
}

/// The kernel backend's TCP settings from the engine's options: those Linux has a socket
/// option for are applied; the others are refused when set to anything but their default,
/// so a comparison never silently runs with settings one side ignored.
fn kernel_tcp(t: &crate::cli::TcpArgs) -> Result<crate::api::kernel::KernelTcp, EngineError> {
    use crate::cli::tcp_defaults as d;
    let unsupported = [
        (t.tcp_min_rto_ms != d::MIN_RTO_MS, "--tcp-min-rto-ms"),
        (t.tcp_time_wait_ms != d::TIME_WAIT_MS, "--tcp-time-wait-ms"),
        (t.tcp_max_retransmits != d::MAX_RETRANSMITS, "--tcp-max-retransmits"),
        (t.tcp_syn_backlog != d::SYN_BACKLOG, "--tcp-syn-backlog"),
        (t.tcp_max_conns != d::MAX_CONNS, "--tcp-max-conns"),
        (t.tcp_no_sack, "--tcp-no-sack"),
        (t.tcp_no_timestamps, "--tcp-no-timestamps"),
        (t.tcp_no_window_scaling, "--tcp-no-window-scaling"),
        (t.local_port_range != d::LOCAL_PORTS, "--local-port-range"),
    ];
    if let Some((_, flag)) = unsupported.iter().find(|(set, _)| *set) {
        return err(format!("--backend kernel: {flag} has no per-socket equivalent in Linux (it is a sysctl or not adjustable); drop it or run the engine"));
    }
    if let Some(b) = t.tcp_buffer {
        if !(4096..=64 << 20).contains(&b) {
            return err("--tcp-buffer must be between 4096 and 67108864 bytes");
        }
    }
    let tcp = crate::api::kernel::KernelTcp {
        cc: cc_algorithm(t.tcp_cc),
        nodelay: t.tcp_nodelay,
        keepalive: t.tcp_keepalive.map(|s| Duration::from_secs(s.max(1))),
        buffer: t.tcp_buffer,
    };
    crate::api::kernel::check_cc(tcp.cc).map_err(|e| EngineError(format!("--backend kernel: {e} (load the module or pick another --tcp-cc)")))?;
    Ok(tcp)
}

/// Linux caps SO_SNDBUF/SO_RCVBUF at `net.core.wmem_max`/`rmem_max` without an error;
/// a fixed `--tcp-buffer` it would cap is refused rather than run smaller than asked.
fn check_buffers(tcp: &crate::api::kernel::KernelTcp, s: &crate::tcp_settings::TcpSettings) -> Result<(), EngineError> {
    let Some(b) = tcp.buffer else { return Ok(()) };
    for (key, sysctl) in [("sndbuf", "wmem_max"), ("rcvbuf", "rmem_max")] {
        let got: usize = s.get(key).and_then(|v| v.parse().ok()).unwrap_or(0);
        if got < 2 * b {
            return err(format!("--backend kernel: --tcp-buffer {b} is above net.core.{sysctl} (Linux gives {}): raise it with `sysctl -w net.core.{sysctl}={b}` or pick a smaller --tcp-buffer", got / 2));
        }
    }
    Ok(())
}

fn cc_algorithm(a: crate::cli::CcArg) -> crate::tcp::CcAlgorithm {
    match a {
        crate::cli::CcArg::Cubic => crate::tcp::CcAlgorithm::Cubic,
        crate::cli::CcArg::Newreno => crate::tcp::CcAlgorithm::NewReno,
    }
}

/// TCP settings from the command line; keys for ISNs and SYN cookies are random per run.
fn tcp_setup(args: &RunArgs, mtu: usize) -> Result<TcpSetup, EngineError> {
    use crate::tcp::{Keepalive, TcpConfig};
    let t = &args.tcp;
    if mtu < 576 {
        return err(format!("interface MTU {mtu} is below the IPv4 minimum of 576"));
    }
    let buffer = t.tcp_buffer.unwrap_or(256 * 1024);
    if !(4096..=64 << 20).contains(&buffer) {
        return err("--tcp-buffer must be between 4096 and 67108864 bytes");
    }
    for (i, s) in args.serve.iter().enumerate() {
        if args.serve[..i].iter().any(|o| o.port == s.port && ((o.is_udp() && s.is_udp()) || (o.is_tcp() && s.is_tcp()))) {
            return err(format!("port {} is served twice", s.port));
        }
    }
    let d = TcpConfig::default();
    let cfg = TcpConfig {
        mss: (mtu - 40).min(u16::MAX as usize) as u16,
        send_buffer: buffer,
        recv_buffer: buffer,
        window_scaling: !t.tcp_no_window_scaling,
        timestamps: !t.tcp_no_timestamps,
        sack: !t.tcp_no_sack,
        nodelay: t.tcp_nodelay,
        congestion_control: cc_algorithm(t.tcp_cc),
        min_rto: Duration::from_millis(t.tcp_min_rto_ms.max(1)),
        time_wait: Duration::from_millis(t.tcp_time_wait_ms),
        max_retransmits: t.tcp_max_retransmits.max(1),
        keepalive: t.tcp_keepalive.map(|idle| Keepalive { idle: Duration::from_secs(idle.max(1)), ..Keepalive::default() }),
        ..d
    };
    Ok(TcpSetup {
        cfg,
        syn_backlog: t.tcp_syn_backlog,
        max_conns: t.tcp_max_conns.max(1),
        isn_key: rand::random(),
        cookie_key: rand::random(),
        local_ports: t.local_port_range.clone(),
    })
}

/// Runs the engine until `stop` is set (by SIGINT/SIGTERM when `install_signals`).
pub fn run(args: &RunArgs, stop: Arc<AtomicBool>, install_signals: bool) -> Result<Report, EngineError> {
    run_with(args, stop, install_signals, &[], |_| {})
}

/// [`run`] with applications on every worker (one instance each, from `apps`), calling
/// `ready` once the datapath is up.
pub fn run_with(
    args: &RunArgs,
    stop: Arc<AtomicBool>,
    install_signals: bool,
    apps: &[crate::api::AppFactory],
    ready: impl FnOnce(&EngineInfo),
) -> Result<Report, EngineError> {
    if args.backend == crate::cli::Backend::Kernel {
        return run_kernel(args, stop, install_signals, apps, ready);
    }
    if !sys::is_root() {
        return err("must run as root (it loads XDP programs and creates AF_XDP sockets): try sudo");
    }
    let mut iface = IfaceInfo::probe(&args.iface)?;
    check_args(args, &iface)?;
    if let Err(e) = sys::raise_memlock_limit() {
        return err(format!("cannot raise RLIMIT_MEMLOCK ({e}): run as root or set `ulimit -l unlimited`"));
    }

    let program = SteerProgram::load().map_err(|e| EngineError(e.to_string()))?;
    let addrs: Vec<_> = args.ips.iter().map(|c| c.addr).collect();
    program.set_addresses(&addrs).map_err(|e| EngineError(e.to_string()))?;

    let (attached, xdp_mode, queues, cores, xsks) = open_datapath(args, &mut iface, &program)?;

    if install_signals {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, stop.clone()).map_err(|e| EngineError(format!("cannot install signal handler: {e}")))?;
        }
    }

    let clock = Clock::new();
    let mesh = Mesh::new(queues as usize, INBOX);
    // Read after the sockets are bound (binding can reset a driver's queues), and again
    // every second while running.
    let rss = read_rss(&iface.name, queues);
    let stack_cfg = StackConfig {
        mac: iface.mac,
        addrs: args.ips.clone(),
        gateway: args.gateway,
        mtu: iface.mtu,
        arp: Default::default(),
        reassembly: Default::default(),
        tcp: tcp_setup(args, iface.mtu)?,
        workers: queues as usize,
        rss: Some(rss.clone()),
    };
    let tcp_settings = crate::tcp_settings::of_engine(&stack_cfg.tcp.cfg);
    let dev = DeviceInfo {
        driver: crate::xsk::ethtool::driver(&iface.name).unwrap_or_else(|| "unknown".into()),
        xdp_mode: xdp_mode.clone(),
        rss: rss.clone(),
        zero_copy: xsks.iter().map(|x| x.is_zero_copy()).collect(),
        busy_poll: xsks
            .iter()
            .map(|x| match (x.is_busy_polling(), x.is_busy_poll_preferred()) {
                (false, _) => "off",
                (true, true) => "preferred",
                (true, false) => "plain",
            })
            .collect(),
    };
    let pcap = match &args.pcap {
        Some(path) => Some(
            crate::pcap::PcapWriter::start(path, args.pcap_max_mb << 20)
                .map_err(|e| EngineError(format!("cannot write pcap file {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let control = match crate::control::ControlSocket::bind() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("no control socket under {} ({e}): `bypass stat` will not reach this engine", crate::control::DIR);
            None
        }
    };
    let mut control_tx = Vec::new();
    let mut handles = Vec::new();
    // One factory per service for all workers: a service may share state between its
    // per-worker instances through what the factory captures (the iperf3 server does).
    let factories: Vec<crate::api::AppFactory> = args.serve.iter().map(|s| s.factory()).chain(apps.iter().cloned()).collect();
    for (i, (queue, core)) in xsks.into_iter().zip(cores.iter().copied()).enumerate() {
        let setup = WorkerSetup {
            index: i,
            queue,
            body: crate::worker_core::WorkerCore::new(Stack::new(stack_cfg.clone(), i, clock.now()), factories.iter().map(|f| f(i)).collect()),
            core,
            shares_core: core.is_some() && cores.iter().filter(|&&c| c == core).count() > 1,
            poll: args.poll,
            mesh: mesh.clone(),
            stop: stop.clone(),
            clock,
            fault: args.fault,
            reflect_udp: args.reflect_udp,
            pcap: pcap.as_ref().map(|p| p.tap()),
            control: control.as_ref().map(|_| {
                let (tx, rx) = crossbeam::channel::bounded(4);
                control_tx.push(tx);
                rx
            }),
        };
        match runtime::spawn(setup) {
            Ok(h) => handles.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return err(format!("cannot start worker thread: {e}"));
            }
        }
    }
    // The ready line is for whoever started the bypass command; an embedding program
    // (install_signals false) gets the `ready` callback instead.
    if install_signals {
        print_ready(args, &iface, &dev, queues, &cores);
        // After the ready line, which scripts wait for first.
        println!("{}", tcp_settings.line("engine"));
    }
    ready(&EngineInfo { workers: queues as usize, addrs: args.ips.iter().map(|c| c.addr).collect(), wakers: Some(mesh.wakers()), tcp: tcp_settings });
    supervise(&iface.name, &stop, &program, &dev, control.as_ref(), &control_tx, &rss, queues, &handles);
    drop(control);

    let report = final_report(handles, &program, dev, iface, queues, xdp_mode, pcap);
    drop(attached);
    report
}

/// `bypass: ready on ...`, the line scripts wait for.
fn print_ready(args: &RunArgs, iface: &IfaceInfo, dev: &DeviceInfo, queues: u32, cores: &[Option<core_affinity::CoreId>]) {
    let ips: Vec<String> = args.ips.iter().map(|c| c.to_string()).collect();
    let zero_copy = dev.zero_copy.iter().all(|z| *z);
    println!(
        "bypass: ready on {} ({} XDP, {} mode), mac {}, mtu {}, {} queue(s), cores {:?}, addresses {}, driver {}, rss {}",
        iface.name,
        dev.xdp_mode,
        if zero_copy { "zero-copy" } else { "copy" },
        iface.mac,
        iface.mtu,
        queues,
        cores.iter().map(|c| c.map(|c| c.id)).collect::<Vec<_>>(),
        ips.join(" "),
        dev.driver,
        dev.rss.current().source
    );
}

/// Joins the workers and puts the run's report together (the capture file is closed).
fn final_report(
    handles: Vec<runtime::WorkerHandle>,
    program: &SteerProgram,
    dev: DeviceInfo,
    iface: IfaceInfo,
    queues: u32,
    xdp_mode: String,
    pcap: Option<crate::pcap::PcapWriter>,
) -> Result<Report, EngineError> {
    let mut reports: Vec<WorkerReport> = Vec::new();
    let mut failure = None;
    for h in handles {
        match h.join() {
            Ok(r) => reports.push(r),
            Err(e) => failure = Some(e),
        }
    }
    let workers = reports.into_iter().map(|r| worker_json(r, program, &dev, Vec::new())).collect();
    let device_queues = iface.rx_queues.max(IfaceInfo::rx_queue_count(&iface.name));
    let unserved = (queues..device_queues.min(crate::xsk::MAX_QUEUES)).map(|q| (q, program.counters(q))).collect();
    let pcap = match pcap.map(|p| p.finish()) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tracing::error!("pcap: {e}");
            None
        }
        None => None,
    };
    if let Some(e) = failure {
        return err(e);
    }
    Ok(Report { iface: iface.name, driver: dev.driver, xdp_mode, rss: dev.rss.current().source.clone(), workers, unserved, pcap })
}

/// The device's RSS table as the stack's flow map; warns about queues it sends flows to
/// that no worker serves.
fn read_rss(iface: &str, queues: u32) -> Arc<RssShared> {
    let rss = RssShared::new(crate::rss::read_map(iface));
    let unserved = rss.current().unserved_queues(queues as usize);
    if !unserved.is_empty() {
        tracing::warn!(
            "{}'s RSS table sends flows to queues {unserved:?}, which no worker serves (their frames are dropped): `ethtool -X {} equal {queues}`",
            iface,
            iface
        );
    }
    rss
}

/// The checks of `bypass run`'s arguments that need the interface, before anything is set up.
fn check_args(args: &RunArgs, iface: &IfaceInfo) -> Result<(), EngineError> {
    for c in &args.ips {
        if args.ips.iter().filter(|o| o.addr == c.addr).count() > 1 {
            return err(format!("--ip {} given twice", c.addr));
        }
    }
    if let Some(gw) = args.gateway {
        if !args.ips.iter().any(|c| c.prefix > 0 && crate::stack::Ipv4Cidr { addr: gw, prefix: c.prefix }.network() == c.network()) {
            return err(format!("--gateway {gw} is not on any --ip subnet"));
        }
    }
    if args.busy_poll_budget > 0 && args.poll != runtime::PollMode::Busy {
        return err("--busy-poll-budget needs --poll busy (a sleeping worker cannot drive the NIC's NAPI)");
    }
    if let QueueCount::N(n) = args.queues {
        if n > iface.rx_queues {
            return err(format!("--queues {n} exceeds the {} rx queue(s) of {}", iface.rx_queues, iface.name));
        }
    }
    Ok(())
}

/// The datapath's sockets, their queues and cores, and the attachment that keeps the
/// program on the device (dropping it detaches).
type Datapath = (crate::xsk::Attached, String, u32, Vec<Option<core_affinity::CoreId>>, Vec<XskQueue>);

/// Attaches the program, decides the queues to serve and opens an AF_XDP socket on each.
fn open_datapath(args: &RunArgs, iface: &mut IfaceInfo, program: &SteerProgram) -> Result<Datapath, EngineError> {
    // The program is attached before any socket is bound: attaching can change the
    // device's queues (virtio_net adds a queue pair per CPU for XDP and spreads RSS over
    // them), and the sockets must be bound knowing the queues that exist then. Until a
    // queue's socket is registered, frames for the engine there count as no_socket.
    // An error return below drops `attached`, which detaches the program.
    let attached = program.attach(&iface.name, iface.index, args.xdp_mode).map_err(|e| EngineError(e.to_string()))?;
    let xdp_mode = format!("{:?}", attached.mode).to_lowercase();
    iface.rx_queues = IfaceInfo::rx_queue_count(&iface.name).max(iface.rx_queues);
    let (servable, warning) = servable_queues(&iface.name, iface.rx_queues, IfaceInfo::tx_queue_count(&iface.name));
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    let queues = match args.queues {
        QueueCount::All => servable,
        QueueCount::N(n) if n > servable => {
            return err(format!("--queues {n} exceeds the {servable} queue(s) of {} that can send", iface.name));
        }
        QueueCount::N(n) => n,
    };
    if queues < servable {
        tracing::warn!(
            "serving {queues} of {}'s {} rx queues: frames for the engine arriving on queues {}..{} are dropped (use --queues all, or `ethtool -L` to reduce the device's queues)",
            iface.name,
            iface.rx_queues,
            queues,
            iface.rx_queues - 1
        );
    }
    let cores = pick_cores(queues as usize, args.cores.as_ref().map(|c| c.0.as_slice()))?;

    let qcfg = QueueConfig {
        frame_size: args.frame_size,
        frame_count: args.frames,
        ring_size: args.ring_size,
        zero_copy: args.zero_copy,
        busy_poll_budget: args.busy_poll_budget,
        ..QueueConfig::default()
    };
    let mut xsks: Vec<XskQueue> = Vec::new();
    for q in 0..queues {
        let x = XskQueue::open(&iface.name, q, &qcfg).map_err(|e| EngineError(e.to_string()))?;
        program.register_socket(q, x.fd()).map_err(|e| EngineError(e.to_string()))?;
        xsks.push(x);
    }
    // One line for the whole device, not one per queue.
    let refused: Vec<&str> = xsks.iter().filter_map(|x| x.zero_copy_refusal()).collect();
    if let Some(reason) = refused.first() {
        tracing::info!("zero-copy unavailable on {} of {} queue(s) of {} ({reason}); using copy mode", refused.len(), xsks.len(), iface.name);
    }
    Ok((attached, xdp_mode, queues, cores, xsks))
}

/// Until `stop`: serves the control socket, re-reads the RSS table every second, and stops
/// everything when a worker ends on its own.
#[allow(clippy::too_many_arguments)]
fn supervise(
    iface: &str,
    stop: &AtomicBool,
    program: &SteerProgram,
    dev: &DeviceInfo,
    control: Option<&crate::control::ControlSocket>,
    control_tx: &[crossbeam::channel::Sender<runtime::SnapshotRequest>],
    rss: &Arc<RssShared>,
    queues: u32,
    handles: &[runtime::WorkerHandle],
) {
    std::thread::scope(|scope| {
        if let Some(c) = control {
            scope.spawn(move || c.serve(stop, |_req| snapshot(iface, program, dev, control_tx)));
        }
        let mut ticks = 0u32;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            ticks += 1;
            if ticks % 50 == 0 {
                crate::rss::refresh(iface, rss, queues as usize);
            }
            if !stop.load(Ordering::Relaxed) && handles.iter().any(|h| h.is_finished()) {
                tracing::error!("a worker stopped unexpectedly; shutting down");
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
}

#[cfg(test)]
mod servable_queues_tests {
    use super::servable_queues;

    #[test]
    fn only_queues_that_can_send_are_served() {
        assert_eq!(servable_queues("eth0", 4, 4), (4, None));
        assert_eq!(servable_queues("veth", 2, 8), (2, None));
        let (n, w) = servable_queues("eth1", 6, 4);
        assert_eq!(n, 4);
        let w = w.expect("warning");
        assert!(w.contains("queues 4..5") && w.contains("ethtool -X eth1 equal 4"), "{w}");
    }
}

#[cfg(test)]
mod kernel_tcp_tests {
    use super::kernel_tcp;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn tcp_args(extra: &[&str]) -> crate::cli::TcpArgs {
        let mut argv = vec!["bypass", "run", "--iface", "v0", "--ip", "10.0.0.2/24", "--backend", "kernel"];
        argv.extend_from_slice(extra);
        let Command::Run(r) = Cli::try_parse_from(argv).unwrap().command else { panic!("run") };
        r.tcp
    }

    /// The kernel backend takes what Linux has a socket option for and refuses the rest
    /// with a line naming the flag, rather than running with it silently ignored.
    #[test]
    fn kernel_backend_applies_or_refuses_tcp_options() {
        let t = kernel_tcp(&tcp_args(&["--tcp-nodelay", "--tcp-buffer", "131072", "--tcp-keepalive", "30", "--tcp-cc", "newreno"])).unwrap();
        assert!(t.nodelay);
        assert_eq!(t.buffer, Some(131072));
        assert_eq!(t.keepalive, Some(std::time::Duration::from_secs(30)));
        assert_eq!(t.cc, crate::tcp::CcAlgorithm::NewReno);
        assert_eq!(kernel_tcp(&tcp_args(&[])).unwrap().buffer, None, "autotuning unless --tcp-buffer");
        for flag in [&["--tcp-no-sack"][..], &["--tcp-min-rto-ms", "50"], &["--tcp-time-wait-ms", "10"], &["--local-port-range", "40000-40100"]] {
            let e = kernel_tcp(&tcp_args(flag)).unwrap_err().0;
            assert!(e.contains(flag[0]) && !e.contains('\n'), "{e}");
        }
    }

    /// A fixed buffer Linux would cap at net.core.wmem_max/rmem_max is refused with the
    /// sysctl to raise; one it takes passes, its read-back size doubled.
    #[test]
    fn kernel_backend_refuses_a_buffer_linux_would_cap() {
        let max = |f: &str| std::fs::read_to_string(format!("/proc/sys/net/core/{f}")).unwrap().trim().parse::<usize>().unwrap();
        let small = 16384;
        let t = kernel_tcp(&tcp_args(&["--tcp-buffer", "16384"])).unwrap();
        let s = crate::tcp_settings::of_kernel(&t).unwrap();
        assert!(super::check_buffers(&t, &s).is_ok());
        assert_eq!(s.get("sndbuf"), Some((2 * small).to_string().as_str()));
        let big = max("wmem_max").min(max("rmem_max")) + 4096;
        if big > 64 << 20 {
            return; // the host allows any buffer the engine does
        }
        let t = kernel_tcp(&tcp_args(&["--tcp-buffer", &big.to_string()])).unwrap();
        let s = crate::tcp_settings::of_kernel(&t).unwrap();
        let e = super::check_buffers(&t, &s).unwrap_err().0;
        assert!(e.contains("net.core.") && e.contains("sysctl -w") && !e.contains('\n'), "{e}");
    }
}
