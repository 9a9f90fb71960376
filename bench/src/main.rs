//! `bypass-bench`: measures the engine and the Linux kernel stack side by side on the
//! same veth pair, in one run. Normally started by `scripts/bench`, which sets up the
//! namespaces and runs this inside the peer namespace, pinned to the client CPU.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bypass_bench::fct::plan::{FctArgs, FctPlan};
use bypass_bench::report::{render_markdown, Report};
use bypass_bench::runner::{self, Setup};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Engine vs kernel, side by side")]
struct Args {
    /// The bypass binary.
    #[arg(long)]
    bypass: String,
    #[arg(long)]
    eng_ns: String,
    #[arg(long)]
    iface: String,
    #[arg(long)]
    engine_ip: Ipv4Addr,
    #[arg(long)]
    kernel_ip: Ipv4Addr,
    #[arg(long, default_value_t = 1)]
    server_cpu: usize,
    /// The CPU this process (and the client-side engine) runs on.
    #[arg(long, default_value_t = 0)]
    client_cpu: usize,
    /// The peer namespace's interface, for a client-side engine (engine-to-engine cases).
    #[arg(long)]
    client_iface: Option<String>,
    /// The client-side engine's address.
    #[arg(long)]
    client_ip: Option<Ipv4Addr>,
    /// connect-rate's client threads, all on the client CPU (on 2 vCPUs the kernel's rate
    /// rose up to 8: 19.7k with 1, 28.3k with 2, 40.8k with 4, 42.5k with 8).
    #[arg(long, value_name = "N", default_value_t = 8)]
    connect_threads: usize,
    /// Seconds measured per case and side.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Short run: 1 s per case, no warm-up beyond 0.3 s, fewer idle connections.
    #[arg(long)]
    quick: bool,
    /// Measure each case this many times (sides alternating) and report each side's
    /// median round: steadier figures on a noisy machine.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Only cases whose name contains this.
    #[arg(long)]
    only: Option<String>,
    #[arg(long, default_value = "bench-results")]
    out: std::path::PathBuf,
    /// Fail (exit 1) if any case saw errors, besides cases without a figure (with the
    /// FCT family: any failed or early-ended transfer, or unreadable counters).
    #[arg(long)]
    check: bool,
    /// Idle-connection ramp: connections to open [default: 1000000; 20000 with --quick].
    #[arg(long, value_name = "N")]
    idle_target: Option<u64>,
    /// Idle-connection ramp: stop when the server's memory grew by this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = 8192)]
    idle_budget_mib: u64,
    /// Profile one case (its exact name): `perf record -g` on the server CPU while the
    /// engine side and then the kernel side run, once each; summaries go to
    /// `profile-<case>-<side>.txt` in the run directory (see scripts/profile).
    #[arg(long, value_name = "CASE")]
    profile: Option<String>,
    /// Run only the flow-completion-time family (a short version of it is part of --quick).
    #[arg(long)]
    fct: bool,
    /// FCT: transfers per (kind, size, connection use) and side [default: 20; 5 with --quick].
    #[arg(long, value_name = "N")]
    fct_transfers: Option<usize>,
    /// FCT: loss percentages each way, e.g. `0,1,5` [default: 0,1,5; 0 with --quick].
    #[arg(long, value_name = "LIST")]
    fct_loss: Option<String>,
    /// FCT: server queues (and veth channels), e.g. `1,2` [default: 1,2; 1 with --quick].
    #[arg(long, value_name = "LIST")]
    fct_queues: Option<String>,
    /// FCT: server poll modes, `busy,adaptive` [default: both; busy with --quick].
    #[arg(long, value_name = "LIST")]
    fct_poll: Option<String>,
    /// FCT: transfer sizes, e.g. `4k,64k,1m,16m` [default: those; 64k,1m with --quick].
    #[arg(long, value_name = "LIST")]
    fct_sizes: Option<String>,
    /// FCT: kinds, `echo,download,upload,http-post` [default: all].
    #[arg(long, value_name = "LIST")]
    fct_kinds: Option<String>,
    /// FCT: connection use, `fresh,reused` [default: both].
    #[arg(long, value_name = "LIST")]
    fct_conns: Option<String>,
    /// FCT: seconds a single transfer may take before it counts as an error [default: 30].
    #[arg(long, value_name = "SECS")]
    fct_timeout: Option<f64>,
    /// FCT: where loss is made: `receiver` (where each frame is received: real loss for
    /// both TCPs) or `peer` (iptables INPUT and OUTPUT in the client namespace only; OUTPUT
    /// drops are seen by the kernel client) [default: receiver].
    #[arg(long, value_name = "HOW")]
    fct_loss_via: Option<String>,
}

fn main() {
    let a = Args::parse();
    let fct_args = FctArgs {
        kinds: a.fct_kinds.clone(),
        sizes: a.fct_sizes.clone(),
        conns: a.fct_conns.clone(),
        loss: a.fct_loss.clone(),
        queues: a.fct_queues.clone(),
        poll: a.fct_poll.clone(),
        transfers: a.fct_transfers,
        timeout_s: a.fct_timeout,
        loss_via: a.fct_loss_via.clone(),
    };
    // The short FCT family is part of --quick (unless --only names other cases).
    let run_fct = a.profile.is_none() && (a.fct || (a.quick && a.only.as_deref().is_none_or(|o| "fct".contains(o))));
    let fct_plan = match FctPlan::from_args(a.quick, &fct_args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bypass-bench: {e}");
            std::process::exit(2);
        }
    };
    let (duration, warmup) = if a.quick { (1.0, 0.3) } else { (a.duration, a.warmup) };
    let setup = Setup {
        bypass: a.bypass,
        eng_ns: a.eng_ns,
        iface: a.iface,
        engine_ip: a.engine_ip,
        kernel_ip: a.kernel_ip,
        server_cpu: a.server_cpu,
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        idle_target: a.idle_target.unwrap_or(if a.quick { 20_000 } else { 1_000_000 }).max(1),
        idle_budget: a.idle_budget_mib << 20,
        client_engine: a.client_iface.clone().zip(a.client_ip),
        // The e2e cases' kernel-side generator binds the kernel's own address there.
        client_kernel_ip: a.client_iface.as_deref().and_then(bypass_bench::sides::link_ipv4),
        client_cpu: a.client_cpu,
        profile: None,
        connect_threads: a.connect_threads.max(1),
    };
    let mut cases = if a.fct { Vec::new() } else { runner::cases(a.quick) };
    if setup.client_engine.is_none() {
        cases.retain(|c| c.e2e.is_none());
    }
    if let Some(o) = &a.only {
        cases.retain(|c| c.name.contains(o.as_str()));
    }
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut report = Report::new(started);
    let mut setup = setup;
    let mut rounds = a.rounds;
    if let Some(name) = &a.profile {
        let all = runner::cases(false);
        let names: Vec<&str> = all.iter().filter(|c| c.name != runner::IDLE_CASE && (c.e2e.is_none() || setup.client_engine.is_some())).map(|c| c.name).collect();
        if !names.contains(&name.as_str()) {
            eprintln!("bypass-bench: --profile {name}: not a case that can be profiled; pick one of: {}", names.join(", "));
            std::process::exit(2);
        }
        if let Err(e) = bypass_bench::profile::check_perf() {
            eprintln!("bypass-bench: --profile: {e}");
            std::process::exit(2);
        }
        cases = all.into_iter().filter(|c| c.name == name.as_str()).collect();
        rounds = 1;
        let dir = a.out.join(&report.run);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("bypass-bench: cannot create {}: {e}", dir.display());
            std::process::exit(1);
        }
        report.meta.insert("profile".into(), format!("{name}: perf record -g on the server CPU, one round per side; figures measured under perf (see profile-*.txt)"));
        setup.profile = Some(dir);
    }
    // scripts/bench passes its own command line; by hand, this process's.
    let command = std::env::var("BYPASS_BENCH_COMMAND").unwrap_or_else(|_| std::env::args().collect::<Vec<_>>().join(" "));
    report.meta.insert("command".into(), command);
    if !cases.is_empty() {
        report.meta.insert("duration_s".into(), format!("{duration}"));
        report.meta.insert("warmup_s".into(), format!("{warmup}"));
        report.meta.insert("rounds".into(), rounds.max(1).to_string());
    }
    report.meta.insert("server_cpu".into(), setup.server_cpu.to_string());
    report.meta.insert("kernel".into(), std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string());
    report.meta.insert("setup".into(), "veth pair, AF_XDP copy mode; server pinned to server_cpu, load generator to the other".into());
    report.meta.insert("tcp_cc".into(), tcp_cc_note());
    report.cases = runner::run_all(&setup, &cases, rounds);
    if run_fct {
        let (rows, notes) = bypass_bench::fct::run::run_fct(&setup, &fct_plan);
        report.fct = rows;
        report.fct_notes = notes;
    }
    match report.write_under(&a.out) {
        Ok(dir) => {
            println!("{}", render_markdown(&report));
            println!("results: {}", dir.display());
        }
        Err(e) => {
            eprintln!("bypass-bench: cannot write results: {e:#}");
            std::process::exit(1);
        }
    }
    let no_floor = |c: &bypass_bench::report::CaseResult| c.floor.as_ref().is_some_and(|f| f.figure.value.is_nan());
    let failed = report.cases.iter().filter(|c| c.engine.value.is_nan() || c.kernel.value.is_nan() || no_floor(c)).count();
    if failed > 0 {
        eprintln!("bypass-bench: {failed} case(s) produced no figure");
        std::process::exit(1);
    }
    let fct_failures = bypass_bench::fct::run::check_failures(&report.fct);
    for f in &fct_failures {
        eprintln!("bypass-bench: FCT {f}");
    }
    let errors: u64 = report.cases.iter().map(|c| c.engine.errors + c.kernel.errors + c.floor.as_ref().map_or(0, |f| f.figure.errors)).sum();
    if a.check && errors > 0 {
        eprintln!("bypass-bench: {errors} error(s) during the run");
        std::process::exit(1);
    }
    if a.check && !fct_failures.is_empty() {
        eprintln!("bypass-bench: {} FCT row side(s) with errors, early ends or unreadable counters", fct_failures.len());
        std::process::exit(1);
    }
    if a.check {
        println!("bench check: {} passed, 0 failed{}", report.cases.len(), if report.fct.is_empty() { String::new() } else { format!("; FCT: {} rows, no errors", report.fct.len()) });
    }
}

/// Which congestion control each side's TCP runs: the engine's (`--tcp-cc`, cubic by
/// default), and the kernel's on the test network (the subnet route's `congctl`, which
/// scripts/netns.sh sets to the engine's; otherwise this namespace's default).
fn tcp_cc_note() -> String {
    let default = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control").unwrap_or_default().trim().to_string();
    let routes = std::process::Command::new("ip").args(["route", "show"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let route_cc = routes.split_whitespace().skip_while(|w| *w != "congctl").nth(1).map(str::to_string);
    match route_cc {
        Some(cc) => format!("engine cubic; kernel {cc} (route congctl on the test network; this namespace's default is {default})"),
        None => format!("engine cubic; kernel {default} (this namespace's default)"),
    }
}
