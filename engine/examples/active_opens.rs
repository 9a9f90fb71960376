//! Active opens from every worker: `--conns N` concurrent connections from the engine to
//! an echo server, each sending 4 KiB and reading it back, then closing. The NIC lab runs
//! it on a multi-queue NIC to measure how many of the replies reach the worker that opened
//! the connection (the engine picks ports whose replies the NIC's RSS delivers to it): the
//! final report (`--report-json`, as `bypass run` writes it) counts hand-offs.
//!
//!     ip netns exec bpx-eng target/release/examples/active_opens --iface bpx-e \
//!         --ip 10.213.77.2/24 --server 10.213.77.1:9000 --conns 200 --report-json r.json

use std::io::{Read, Write};
use std::net::SocketAddrV4;

use bypass::api::blocking::TcpStream;
use bypass::background::Engine;
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: bypass::cli::RunArgs,
    #[arg(long)]
    server: SocketAddrV4,
    #[arg(long, default_value_t = 200)]
    conns: usize,
    /// Wait this long after the ready line before connecting (the NIC lab pins RSS to the
    /// served queues meanwhile, and the engine takes the change up within a second).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let engine = Engine::start(args.run.clone()).unwrap_or_else(|e| {
        eprintln!("active_opens: {e}");
        std::process::exit(1)
    });
    println!("active_opens: ready, {} connections to {}", args.conns, args.server);
    std::thread::sleep(std::time::Duration::from_millis(args.delay_ms));
    let ok = std::sync::atomic::AtomicUsize::new(0);
    let ids: Vec<usize> = (0..args.conns).collect();
    std::thread::scope(|sc| {
        for chunk in ids.chunks(args.conns.div_ceil(16).max(1)) {
            let (engine, ok, server) = (&engine, &ok, args.server);
            sc.spawn(move || {
                for &i in chunk {
                    let msg: Vec<u8> = format!("connection {i:05} ").into_bytes().into_iter().cycle().take(4096).collect();
                    let r = TcpStream::connect(engine, server).and_then(|mut s| {
                        s.set_read_timeout(Some(std::time::Duration::from_secs(20)));
                        s.write_all(&msg)?;
                        let mut got = vec![0u8; msg.len()];
                        s.read_exact(&mut got)?;
                        Ok(got == msg)
                    });
                    match r {
                        Ok(true) => drop(ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
                        Ok(false) => eprintln!("active_opens: connection {i}: echo differs"),
                        Err(e) => eprintln!("active_opens: connection {i}: {e}"),
                    }
                }
            });
        }
    });
    let done = ok.load(std::sync::atomic::Ordering::Relaxed);
    let report = engine.stop().expect("stop");
    if let Some(path) = &args.run.report_json {
        std::fs::write(path, serde_json::to_string_pretty(&report).expect("report serializes")).expect("write the report");
    }
    println!("active_opens: {done} of {} connections echoed intact", args.conns);
    std::process::exit(if done == args.conns { 0 } else { 1 });
}
