//! Command-line interface of the `bypass` binary: the arguments, and how each maps onto
//! the library's own types. The only module (with `main.rs`) that knows clap; the layers
//! below take plain values.

use std::net::Ipv4Addr;

use clap::{Args, Parser, Subcommand};

use crate::runtime::PollMode;
use crate::stack::Ipv4Cidr;
use crate::xsk::{XdpMode, ZeroCopy};

#[derive(Debug, Parser)]
#[command(name = "bypass", version, about = "Kernel-bypass TCP/IP engine over AF_XDP")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum Command {
    /// Attach to an interface and run the engine until SIGINT/SIGTERM.
    Run(RunArgs),
    /// List a running engine's sockets like netstat, or its counters.
    Stat(StatArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Interface to attach to (e.g. a veth end).
    #[arg(long)]
    pub iface: String,
    /// Engine address with prefix length; repeat for several.
    #[arg(long = "ip", value_name = "ADDR/PREFIX", required = true, value_parser = parse_cidr)]
    pub ips: Vec<Ipv4Cidr>,
    /// Next hop for destinations off the on-link subnets.
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// engine: the kernel-bypass stack. kernel: the same applications (--serve) over
    /// Linux sockets on the --ip address, for side-by-side comparison; no XDP involved.
    #[arg(long, value_enum, default_value = "engine")]
    pub backend: Backend,
    /// Rx queues to serve, from queue 0: a number or `all`. Frames for the engine that
    /// arrive on a queue not served are dropped (counted as no_socket).
    #[arg(long, default_value = "all")]
    pub queues: QueueCount,
    /// Cores to pin workers to, e.g. `1` or `0,1` or `2-5` (default: the last N cores).
    #[arg(long, value_name = "LIST")]
    pub cores: Option<CoreList>,
    /// busy: spin (lowest latency); adaptive: sleep in poll() when idle.
    #[arg(long, value_enum, default_value = "busy")]
    pub poll: PollMode,
    /// With --poll busy on a NIC: busy polling, the worker running the driver's NAPI
    /// itself, N packets per poll (e.g. 64), with the device's napi_defer_hard_irqs and
    /// gro_flush_timeout set (docs/real-nics.md). Preferred (interrupts off while polling)
    /// except on drivers that transmit zero-copy frames from a NAPI of their own
    /// (virtio_net). 0: off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub busy_poll_budget: u16,
    #[arg(long, value_enum, default_value = "auto")]
    pub xdp_mode: XdpMode,
    #[arg(long, value_enum, default_value = "auto")]
    pub zero_copy: ZeroCopy,
    /// UMEM frame size in bytes (2048 or 4096).
    #[arg(long, default_value_t = 4096)]
    pub frame_size: u32,
    /// UMEM frames per queue.
    #[arg(long, default_value_t = 4096)]
    pub frames: u32,
    /// Entries per ring (fill, completion, RX, TX).
    #[arg(long, default_value_t = 2048)]
    pub ring_size: u32,
    /// Serve a built-in service: tcp-echo:PORT, discard:PORT, chargen:PORT, udp-echo:PORT,
    /// http-echo:PORT, sockperf:PORT, iperf3:PORT. Repeat for several.
    #[arg(long = "serve", value_name = "SERVICE:PORT")]
    pub serve: Vec<crate::apps::services::ServiceSpec>,
    #[command(flatten)]
    pub tcp: TcpArgs,
    /// Inject faults between the rings and the stack, both directions, in percent of
    /// frames: e.g. `drop=3,dup=1,reorder=10,corrupt=0.1,seed=7`. For testing.
    #[arg(long, value_name = "SPEC")]
    pub fault: Option<crate::runtime::fault::FaultConfig>,
    /// Answer UDP datagrams to PORT by reflecting each frame straight from the RX ring to
    /// the TX ring (addresses and ports swapped), without the stack: the raw AF_XDP echo
    /// rate, a baseline for the benchmark's UDP echo. ARP and all else still reach the stack.
    #[arg(long, value_name = "PORT")]
    pub reflect_udp: Option<u16>,
    /// Capture every frame the engine receives and sends into this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// Stop capturing once the pcap file reaches this size.
    #[arg(long, default_value_t = 100, value_name = "MIB")]
    pub pcap_max_mb: u64,
    /// Write the final report as JSON to this file on exit.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Engine,
    Kernel,
}

/// Defaults of the TCP options, shared with the kernel backend, which refuses any other
/// value of those Linux has no socket option for.
pub mod tcp_defaults {
    pub const MIN_RTO_MS: u64 = 200;
    pub const TIME_WAIT_MS: u64 = 60_000;
    pub const MAX_RETRANSMITS: u32 = 15;
    pub const SYN_BACKLOG: usize = 1024;
    pub const MAX_CONNS: usize = 65536;
    pub const LOCAL_PORTS: std::ops::RangeInclusive<u16> = 32768..=60999;
    pub const LOCAL_PORTS_ARG: &str = "32768-60999";
}

/// TCP tuning.
#[derive(Debug, Clone, Args)]
pub struct TcpArgs {
    /// Congestion control: cubic (RFC 9438) or newreno (RFC 6582).
    #[arg(long, value_enum, default_value = "cubic")]
    pub tcp_cc: CcArg,
    /// Send and receive buffer per connection, bytes (the largest window offered); 262144
    /// when not given. With --backend kernel: SO_SNDBUF/SO_RCVBUF, and Linux's autotuning
    /// when not given.
    #[arg(long)]
    pub tcp_buffer: Option<usize>,
    /// Minimum retransmission timeout, ms (RFC 6298 says 1000; Linux uses 200).
    #[arg(long, default_value_t = tcp_defaults::MIN_RTO_MS)]
    pub tcp_min_rto_ms: u64,
    /// TIME-WAIT duration (2*MSL), ms.
    #[arg(long, default_value_t = tcp_defaults::TIME_WAIT_MS)]
    pub tcp_time_wait_ms: u64,
    /// Retransmissions of the same data before a connection times out.
    #[arg(long, default_value_t = tcp_defaults::MAX_RETRANSMITS)]
    pub tcp_max_retransmits: u32,
    /// Half-open connections per listener before SYN cookies are used.
    #[arg(long, default_value_t = tcp_defaults::SYN_BACKLOG)]
    pub tcp_syn_backlog: usize,
    /// Connections per worker, all states.
    #[arg(long, default_value_t = tcp_defaults::MAX_CONNS)]
    pub tcp_max_conns: usize,
    /// Disable Nagle's algorithm on every connection.
    #[arg(long)]
    pub tcp_nodelay: bool,
    /// Do not offer SACK (RFC 2018).
    #[arg(long)]
    pub tcp_no_sack: bool,
    /// Do not offer timestamps (RFC 7323).
    #[arg(long)]
    pub tcp_no_timestamps: bool,
    /// Do not offer window scaling (RFC 7323).
    #[arg(long)]
    pub tcp_no_window_scaling: bool,
    /// Ephemeral ports for connections the engine opens, FIRST-LAST.
    #[arg(long, default_value = tcp_defaults::LOCAL_PORTS_ARG, value_parser = parse_port_range)]
    pub local_port_range: std::ops::RangeInclusive<u16>,
    /// Send keepalive probes after this many idle seconds (off by default).
    #[arg(long, value_name = "SECS")]
    pub tcp_keepalive: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CcArg {
    Cubic,
    Newreno,
}

#[derive(Debug, Clone, Args)]
pub struct StatArgs {
    /// TCP sockets only.
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// UDP sockets only.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Listening sockets only.
    #[arg(short = 'l', long)]
    pub listening: bool,
    /// Only sockets in this state (e.g. ESTABLISHED, TIME_WAIT).
    #[arg(long)]
    pub state: Option<String>,
    /// Print the engine's raw JSON.
    #[arg(long)]
    pub json: bool,
    /// Per-worker counters instead of sockets.
    #[arg(long)]
    pub counters: bool,
    /// Counters in Prometheus text format.
    #[arg(long)]
    pub prometheus: bool,
    /// The engine's process id, when several run.
    #[arg(long)]
    pub pid: Option<u32>,
}

/// `--ip ADDR/PREFIX`.
pub fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let (a, p) = s.split_once('/').ok_or_else(|| format!("'{s}' is not ADDR/PREFIX (e.g. 10.0.0.2/24)"))?;
    let addr: Ipv4Addr = a.parse().map_err(|_| format!("'{a}' is not an IPv4 address"))?;
    let prefix: u8 = p.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("'{p}' is not a prefix length 0..=32"))?;
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return Err(format!("{addr} cannot be an interface address"));
    }
    Ok(Ipv4Cidr { addr, prefix })
}

/// The command-line names of the library's enums (`--poll`, `--xdp-mode`, `--zero-copy`),
/// with their help lines; the enums themselves know nothing of clap.
macro_rules! value_enum {
    ($ty:ty { $($variant:ident => $name:literal: $help:literal),+ $(,)? }) => {
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$(<$ty>::$variant),+]
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(match self {
                    $(<$ty>::$variant => clap::builder::PossibleValue::new($name).help($help)),+
                })
            }
        }
    };
}

value_enum!(PollMode {
    Busy => "busy": "Spin on the rings: lowest latency, one core at 100%",
    Adaptive => "adaptive": "Spin while busy; after ~1 ms idle, sleep in poll() until traffic or a timer",
});
value_enum!(XdpMode {
    Auto => "auto": "Native if the driver supports it, generic otherwise (with a warning)",
    Native => "native": "In the driver's receive path",
    Generic => "generic": "In the generic skb path; works on every device, slower",
});
value_enum!(ZeroCopy {
    Auto => "auto": "Zero-copy if the driver supports it, copy mode otherwise",
    On => "on": "Zero-copy or fail",
    Off => "off": "Always copy mode",
});

/// `--queues N|all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueCount {
    All,
    N(u32),
}

impl std::str::FromStr for QueueCount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "all" {
            return Ok(QueueCount::All);
        }
        match s.parse::<u32>() {
            Ok(n) if n > 0 => Ok(QueueCount::N(n)),
            _ => Err(format!("'{s}' is not a queue count (a number > 0, or all)")),
        }
    }
}

/// Parses `FIRST-LAST` port ranges.
pub fn parse_port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("'{s}' is not a port range FIRST-LAST (e.g. 32768-60999)");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a == 0 || a > b {
        return Err(bad());
    }
    Ok(a..=b)
}

/// `--cores LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

impl std::str::FromStr for CoreList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_cores(s).map(CoreList)
    }
}

/// Parses `1`, `0,1`, `2-5`, `0,2-3`.
pub fn parse_cores(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let bad = || format!("'{part}' is not a core or core range (e.g. 1 or 2-5)");
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| bad())?);
        }
    }
    if out.is_empty() {
        return Err("empty core list".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists() {
        assert_eq!(parse_cores("1").unwrap(), vec![1]);
        assert_eq!(parse_cores("0,2-4").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_cores("3-1").is_err());
        assert!(parse_cores("x").is_err());
    }

    #[test]
    fn queue_counts() {
        assert_eq!("all".parse::<QueueCount>().unwrap(), QueueCount::All);
        assert_eq!("2".parse::<QueueCount>().unwrap(), QueueCount::N(2));
        assert!("0".parse::<QueueCount>().is_err());
    }

    #[test]
    fn run_args_parse() {
        let cli = Cli::try_parse_from(["bypass", "run", "--iface", "v0", "--ip", "10.0.0.2/24", "--ip", "10.0.1.2/24", "--queues", "all"]).unwrap();
        let Command::Run(r) = cli.command else { panic!("run") };
        assert_eq!(r.ips.len(), 2);
        assert_eq!(r.queues, QueueCount::All);
        assert!(Cli::try_parse_from(["bypass", "run", "--iface", "v0", "--ip", "10.0.0.2"]).is_err());
        let cli = Cli::try_parse_from(["bypass", "run", "--iface", "v0", "--ip", "10.0.0.2/24", "--cores", "0,2-3", "--local-port-range", "40000-40100"]).unwrap();
        let Command::Run(r) = cli.command else { panic!("run") };
        assert_eq!(r.cores, Some(CoreList(vec![0, 2, 3])));
        assert_eq!(r.tcp.local_port_range, 40000..=40100);
        assert_eq!((r.poll, r.xdp_mode, r.zero_copy), (PollMode::Busy, XdpMode::Auto, ZeroCopy::Auto));
        let cli = Cli::try_parse_from(["bypass", "run", "--iface", "v0", "--ip", "10.0.0.2/24", "--poll", "adaptive", "--xdp-mode", "generic", "--zero-copy", "off"]).unwrap();
        let Command::Run(r) = cli.command else { panic!("run") };
        assert_eq!((r.poll, r.xdp_mode, r.zero_copy), (PollMode::Adaptive, XdpMode::Generic, ZeroCopy::Off));
        for bad in ["10.0.0.2", "10.0.0.2/33", "0.0.0.0/24", "224.0.0.1/4", "x/24"] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cidr("10.0.0.2/24"), Ok(Ipv4Cidr { addr: Ipv4Addr::new(10, 0, 0, 2), prefix: 24 }));
    }
}
