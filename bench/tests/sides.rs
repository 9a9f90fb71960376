//! Same work on both sides, without root: the engine's e2e generator runs on
//! `bypass --backend kernel` (what the e2e cases' kernel column runs) and describes its
//! client end; every side's `server` and `client` land in `results.json` and in one
//! settings table per end in `results.md`; the kernel backend refuses a TCP option Linux
//! has no socket option for.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::time::Duration;

use bypass_bench::engine_load::{self, ClientEngineOpts, Mode};
use bypass_bench::report::{render_markdown, CaseResult, Endpoint, Figure, Report};

/// A kernel echo server on 127.0.0.1 (what the e2e ping-pong talks to).
fn echo() -> SocketAddrV4 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let std::net::SocketAddr::V4(addr) = l.local_addr().unwrap() else { unreachable!() };
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 || s.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn kernel_opts(extra: &[&str]) -> ClientEngineOpts {
    ClientEngineOpts {
        iface: "lo".into(),
        ip: Ipv4Addr::LOCALHOST,
        cores: "0".into(),
        queues: 1,
        poll: "busy".into(),
        fault: None,
        kernel_backend: true,
        extra: extra.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn the_e2e_generator_runs_on_the_kernel_backend_and_describes_its_end() {
    let g = engine_load::run(&kernel_opts(&["--tcp-buffer", "65536"]), echo(), Mode::PingPong, 1, Duration::from_millis(300), Duration::ZERO).unwrap();
    assert_eq!(g.result.errors, 0, "{:?}", g.result.first_error);
    assert!(g.result.ops > 0 && g.result.percentiles().is_some());
    let c = &g.client;
    assert_eq!(c.stack, "kernel");
    assert!(c.program.contains("engine_load generator") && c.program.contains("ping-pong"), "{}", c.program);
    assert!(c.poll.starts_with("busy"), "{}", c.poll);
    assert!(c.command.contains("--backend kernel") && c.command.contains("--tcp-buffer 65536"), "{}", c.command);
    assert_eq!(c.cores, "0");
    assert!(c.mtu.is_some_and(|m| m > 0));
    // Read back from the kernel: Linux doubles the fixed size it was given.
    assert_eq!(c.tcp.get("buffers").map(String::as_str), Some("fixed:65536"));
    assert_eq!(c.tcp.get("sndbuf").map(String::as_str), Some("131072"));
    assert_eq!(c.tcp.get("cc").map(String::as_str), Some("cubic"));
}

#[test]
fn the_kernel_backend_refuses_an_option_linux_has_no_socket_option_for() {
    let e = engine_load::run(&kernel_opts(&["--tcp-no-sack"]), echo(), Mode::PingPong, 1, Duration::from_millis(100), Duration::ZERO).err().expect("refused");
    let msg = format!("{e:#}");
    assert!(msg.contains("--tcp-no-sack") && !msg.contains('\n'), "{msg}");
}

fn end(stack: &str, program: &str, role: &str) -> Endpoint {
    let tcp = [("cc".to_string(), "cubic".to_string()), ("sndbuf".to_string(), if stack == "engine" { "262144" } else { "16384" }.to_string())].into_iter().collect();
    Endpoint {
        stack: stack.into(),
        program: program.into(),
        poll: "busy".into(),
        command: format!("{role} {stack}"),
        cores: if role == "server" { "1" } else { "0" }.into(),
        threads: 1,
        mtu: Some(1500),
        queues: Some(1),
        tcp,
    }
}

#[test]
fn results_json_has_a_server_and_a_client_per_side_and_the_markdown_one_table_per_end() {
    let side = |stack: &str| Figure { server: Some(end(stack, "services", "server")), client: Some(end(stack, "generator", "client")), ..Figure::value(1.0) };
    let mut r = Report::new(1_735_689_600);
    r.cases.push(CaseResult::new("e2e-tcp-pingpong", "p50", "us", false, side("engine"), side("kernel")).with_reference("kernel, socket client", side("kernel")));
    r.cases.push(CaseResult::new("e2e-bulk", "rate", "Gbit/s", true, side("engine"), side("kernel")));
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    for c in v["cases"].as_array().unwrap() {
        for s in ["engine", "kernel"] {
            for role in ["server", "client"] {
                let e = &c[s][role];
                assert!(e["command"].is_string() && e["poll"].is_string() && e["cores"].is_string() && e["tcp"]["cc"] == "cubic", "{s} {role}: {e}");
                assert_eq!(e["mtu"], 1500);
                assert_eq!(e["queues"], 1);
            }
        }
    }
    assert_eq!(Report::from_json(&r.to_json().unwrap()).unwrap(), r);
    let md = render_markdown(&r);
    assert!(md.contains("## Who ran what"), "{md}");
    // Each distinct end once, with every case and side that used it.
    assert_eq!(md.matches("| engine | services |").count(), 1, "{md}");
    assert!(md.contains("e2e-tcp-pingpong (kernel), e2e-tcp-pingpong (kernel, socket client), e2e-bulk (kernel)"), "{md}");
    assert!(md.contains("`cc=cubic sndbuf=262144`") && md.contains("`cc=cubic sndbuf=16384`"), "{md}");
}
