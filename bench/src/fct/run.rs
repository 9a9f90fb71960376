//! Runs the FCT family: for every config (queues, poll, loss) the veth gets that many
//! channels, the loss rules go in, and each side runs every group against its own
//! server (started for the config, stopped after): the engine, the kernel backend, and,
//! with a client engine configured, the e2e rows (the same generator in this process on
//! a client engine against the engine, and on `--backend kernel` against the kernel).
//! The server's counters are read around each group.

use std::net::{SocketAddr, SocketAddrV4};
use std::process::Command;
use std::time::{Duration, Instant};

use super::counters::{read_engine, read_kernel, Reading};
use super::loss::{engine_fault, remove_leftovers, Loss};
use super::plan::{fmt_loss, fmt_size, Config, FctPlan, Group};
use super::summary::Outcomes;
use super::table::{FctRow, FctSide};
use crate::engine_load::fct::FctClient;
use crate::engine_load::ClientEngineOpts;
use crate::fct::plan::{Conn, Kind, Ports};
use crate::runner::{Server, Setup, Side};

/// One group's result on one side: outcomes and the counter delta.
type GroupResult = (Outcomes, Result<Reading, String>);

/// The `ethtool -l` "Current hardware settings" RX count.
pub fn parse_current_rx(ethtool_l: &str) -> Option<u32> {
    let cur = ethtool_l.split("Current hardware settings:").nth(1)?;
    cur.lines().find_map(|l| l.trim().strip_prefix("RX:")).and_then(|v| v.trim().parse().ok())
}

fn ethtool(netns: Option<&str>, args: &[&str]) -> Result<String, String> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ethtool"]);
            c
        }
        None => Command::new("ethtool"),
    };
    let out = cmd.args(args).output().map_err(|e| format!("ethtool: {e}"))?;
    if !out.status.success() {
        return Err(format!("ethtool {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Gives one end of the veth pair `n` rx and tx channels (if it has another count) and
/// checks it took.
fn set_channels(netns: Option<&str>, iface: &str, n: u32) -> Result<(), String> {
    let cur = parse_current_rx(&ethtool(netns, &["-l", iface])?);
    if cur == Some(n) {
        return Ok(());
    }
    let ns = n.to_string();
    ethtool(netns, &["-L", iface, "rx", &ns, "tx", &ns])?;
    match parse_current_rx(&ethtool(netns, &["-l", iface])?) {
        Some(c) if c == n => Ok(()),
        other => Err(format!("{iface}: asked for {n} channels, has {other:?}")),
    }
}

/// Both ends of the veth pair: the engine's (in its namespace) and the client's (here).
struct Channels<'a> {
    s: &'a Setup,
    peer_iface: Option<&'a str>,
    changed: bool,
}

impl Channels<'_> {
    fn set(&mut self, n: u32) -> Result<(), String> {
        let Some(peer) = self.peer_iface else {
            // Without the client end's name, only the setup scripts/bench makes (1 queue) works.
            return if n == 1 { Ok(()) } else { Err("no --client-iface: cannot change the client end's channels".into()) };
        };
        self.changed = true;
        set_channels(Some(&self.s.eng_ns), &self.s.iface, n)?;
        set_channels(None, peer, n)
    }
}

impl Drop for Channels<'_> {
    /// Back to one queue each, as the other cases expect.
    fn drop(&mut self) {
        if self.changed {
            if let Err(e) = self.set(1) {
                eprintln!("  warning: could not restore 1 channel on the veth pair: {e}");
            }
        }
    }
}

fn progress(head: &str, side: &str, g: &Group, o: &Outcomes, c: &Result<Reading, String>, took: Duration) {
    let t = o.stats().map_or_else(|| "no transfer completed".into(), |s| format!("p50 {:.3} p99 {:.3} max {:.3} ms", s.p50_ms, s.p99_ms, s.max_ms));
    let err = if o.errors > 0 { format!(", {} error(s) ({} ended early): {}", o.errors, o.ended_early, o.first_error.as_deref().unwrap_or("")) } else { String::new() };
    let cnt = match c {
        Ok(r) => format!(", retx {} rto {}", r.retransmits, r.rtos),
        Err(e) => format!(", COUNTERS: {e}"),
    };
    eprintln!(
        "{head} {side:<6} {:<9} {:>6} {:<6} x{:<3} {t}{err}{cnt} [{:.1} s]",
        g.kind.name(),
        fmt_size(g.size),
        g.conn.name(),
        g.transfers,
        took.as_secs_f64()
    );
}

fn failed(groups: &[Group], why: &str) -> Vec<GroupResult> {
    groups
        .iter()
        .map(|g| {
            let mut o = Outcomes::default();
            o.skipped(g.transfers, why);
            (o, Err(why.to_string()))
        })
        .collect()
}

/// A warm-up transfer before the measured ones (ARP, first connection): 1 KiB echo.
fn warm_up(addr: SocketAddr, timeout: Duration) {
    let g = Group { kind: Kind::Echo, size: 1024, conn: Conn::Fresh, transfers: 1, capped: false };
    let _ = super::client::run_group(addr, &g, timeout.min(Duration::from_secs(5)));
}

/// One side of a config with a kernel client: server up, every group, server down.
fn kernel_client_side(s: &Setup, plan: &FctPlan, cfg: &Config, side: Side, groups: &[Group], head: &str) -> Vec<GroupResult> {
    let fault: Vec<String> = match (side, engine_fault(plan.loss_via, cfg.loss_pct, false)) {
        (Side::Engine, Some(f)) => vec!["--fault".into(), f],
        _ => Vec::new(),
    };
    let server = match Server::start_with(s, side, cfg.queues, cfg.poll.name(), &fault) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{head} {}: {e:#}", side.name());
            return failed(groups, &format!("{} server did not start: {e:#}", side.name()));
        }
    };
    let ip = if side == Side::Engine { s.engine_ip } else { s.kernel_ip };
    let read = |server: &Server| if side == Side::Engine { read_engine(&s.bypass, server.pid()) } else { read_kernel(server.pid()) };
    warm_up(SocketAddr::V4(SocketAddrV4::new(ip, 7)), plan.timeout);
    let mut out = Vec::new();
    for g in groups {
        let t = Instant::now();
        let before = read(&server);
        let o = match g.kind {
            Kind::HttpPost => super::curl::run_group(SocketAddrV4::new(ip, g.kind.port()), g, plan.timeout),
            _ => super::client::run_group(SocketAddr::V4(SocketAddrV4::new(ip, g.kind.port())), g, plan.timeout),
        };
        let after = read(&server);
        let c = before.and_then(|b| after.map(|a| b.delta(&a)));
        progress(head, side.name(), g, &o, &c, t.elapsed());
        out.push((o, c));
    }
    server.stop();
    out
}

/// The same-stack side of the e2e rows: the engine's generator (an application, same
/// queues and poll mode, pinned to the client CPU) on a client engine against the engine
/// server, or with `kernel` on `bypass --backend kernel` (the peer's kernel address)
/// against the kernel server. Engine loss: the server's `--fault drop`, since iptables
/// does not see AF_XDP traffic; kernel: the iptables rules of the config.
fn e2e_side(s: &Setup, plan: &FctPlan, cfg: &Config, groups: &[Group], head: &str, kernel: bool) -> Vec<GroupResult> {
    let Some((iface, cip)) = &s.client_engine else { return failed(groups, "no client engine configured") };
    let (side, target, client_ip) = if kernel {
        let Some(k) = s.client_kernel_ip else { return failed(groups, "no IPv4 address on the client interface for the kernel-side generator") };
        (Side::Kernel, s.kernel_ip, k)
    } else {
        (Side::Engine, s.engine_ip, *cip)
    };
    let fault: Vec<String> = match engine_fault(plan.loss_via, cfg.loss_pct, true) {
        Some(f) if !kernel => vec!["--fault".into(), f],
        _ => Vec::new(),
    };
    let server = match Server::start_with(s, side, cfg.queues, cfg.poll.name(), &fault) {
        Ok(v) => v,
        Err(e) => return failed(groups, &format!("{} server did not start: {e:#}", side.name())),
    };
    let read = |server: &Server| if kernel { read_kernel(server.pid()) } else { read_engine(&s.bypass, server.pid()) };
    let warm = Group { kind: Kind::Echo, size: 1024, conn: Conn::Fresh, transfers: 1, capped: false };
    let jobs: Vec<Group> = std::iter::once(warm).chain(groups.iter().copied()).collect();
    let opts = ClientEngineOpts {
        iface: iface.clone(),
        ip: client_ip,
        cores: vec![s.client_cpu.to_string(); cfg.queues as usize].join(","),
        queues: cfg.queues,
        poll: cfg.poll.name().into(),
        fault: None,
        kernel_backend: kernel,
        extra: Vec::new(),
    };
    let mut client = match FctClient::start(&opts, target, Ports::default(), jobs, plan.timeout) {
        Ok(c) => c,
        Err(e) => {
            server.stop();
            return failed(groups, &format!("client engine did not start: {e:#}"));
        }
    };
    let _ = client.run_job(0);
    let mut out = Vec::new();
    for (j, g) in groups.iter().enumerate() {
        let t = Instant::now();
        let before = read(&server);
        let o = client.run_job(j + 1);
        let after = read(&server);
        let c = before.and_then(|b| after.map(|a| b.delta(&a)));
        progress(head, if kernel { "k2k" } else { "e2e" }, g, &o, &c, t.elapsed());
        out.push((o, c));
    }
    if let Err(e) = client.stop() {
        eprintln!("{head} client engine: {e:#}");
    }
    server.stop();
    out
}

fn side(r: &GroupResult) -> FctSide {
    FctSide::from_outcomes(&r.0).with_counters(r.1.clone())
}

/// Runs the whole plan; returns the rows and notes for the report.
pub fn run_fct(s: &Setup, plan: &FctPlan) -> (Vec<FctRow>, Vec<String>) {
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut notes = vec![format!("plan: {}", plan.describe())];
    let e2e = s.client_engine.is_some() && plan.kinds.iter().any(|k| k.has_e2e());
    if plan.loss.iter().any(|l| *l > 0.0) {
        notes.push(plan.loss_via.describe().to_string());
    }
    notes.push(format!(
        "servers pinned to CPU {} (with 2 queues both workers share it), clients to CPU {}; the veth pair gets as many channels as the server has queues (`ethtool -L`)",
        s.server_cpu, s.client_cpu
    ));
    if let Err(e) = remove_leftovers(&[None, Some(&s.eng_ns)]) {
        notes.push(format!("could not check for leftover loss rules: {e}"));
    }
    let mut channels = Channels { s, peer_iface: s.client_engine.as_ref().map(|c| c.0.as_str()), changed: false };
    let configs = plan.configs();
    for (ci, cfg) in configs.iter().enumerate() {
        let head = format!("[fct {}/{}]", ci + 1, configs.len());
        eprintln!("{head} {cfg}");
        let groups = plan.groups(cfg);
        let e2e_groups: Vec<Group> = if e2e { groups.iter().copied().filter(|g| g.kind.has_e2e()).collect() } else { Vec::new() };
        let setup = channels.set(cfg.queues).map_err(|e| format!("{} queue(s): {e}", cfg.queues)).and_then(|()| {
            Loss::install(plan.loss_via, cfg.loss_pct, s.engine_ip, s.kernel_ip, &s.eng_ns).map_err(|e| format!("loss {}: {e}", fmt_loss(cfg.loss_pct)))
        });
        let (engine, kernel, ee, kk) = match setup {
            Ok(loss) => {
                let engine = kernel_client_side(s, plan, cfg, Side::Engine, &groups, &head);
                let kernel = kernel_client_side(s, plan, cfg, Side::Kernel, &groups, &head);
                let (ee, kk) = if e2e_groups.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    (e2e_side(s, plan, cfg, &e2e_groups, &head, false), e2e_side(s, plan, cfg, &e2e_groups, &head, true))
                };
                drop(loss);
                (engine, kernel, ee, kk)
            }
            Err(e) => {
                eprintln!("{head} cannot set up: {e}");
                (failed(&groups, &e), failed(&groups, &e), failed(&e2e_groups, &e), failed(&e2e_groups, &e))
            }
        };
        for ((g, e), k) in groups.iter().zip(&engine).zip(&kernel) {
            rows.push(FctRow::new(g.kind, g.size, g.conn, cfg.loss_pct, cfg.queues, cfg.poll, false, g.transfers, g.capped, side(e), side(k)));
        }
        for ((g, e), k) in e2e_groups.iter().zip(&ee).zip(&kk) {
            // Both columns run the same generator code: on a client engine, and on the
            // kernel backend against the kernel server.
            rows.push(FctRow::new(g.kind, g.size, g.conn, cfg.loss_pct, cfg.queues, cfg.poll, true, g.transfers, g.capped, side(e), side(k)));
        }
    }
    drop(channels);
    notes.push(format!("FCT family took {:.0} s", started.elapsed().as_secs_f64()));
    (rows, notes)
}

/// Whether the rows hold any failure `--check` should fail on: errors, early ends, or
/// counters that could not be read.
pub fn check_failures(rows: &[FctRow]) -> Vec<String> {
    let mut v = Vec::new();
    for r in rows {
        let what = format!("{} {} {} loss {} q{} {}", r.kind_label(), fmt_size(r.size), r.conn.name(), fmt_loss(r.loss_pct), r.queues, r.poll.name());
        for (name, s) in [("engine", &r.engine), ("kernel", &r.kernel)] {
            if s.errors > 0 {
                v.push(format!("{what} ({name}): {} error(s), {} ended early", s.errors, s.ended_early));
            }
            if let Some(e) = &s.counters_error {
                v.push(format!("{what} ({name}): counters: {e}"));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethtool_channels() {
        let text = "Channel parameters for bpbench-e:\nPre-set maximums:\nRX:\t\t2\nTX:\t\t2\nOther:\t\tn/a\nCombined:\tn/a\n\
                    Current hardware settings:\nRX:\t\t1\nTX:\t\t1\nOther:\t\tn/a\nCombined:\tn/a\n";
        assert_eq!(parse_current_rx(text), Some(1));
        assert_eq!(parse_current_rx("Pre-set maximums:\nRX: 2\n"), None);
    }
}
