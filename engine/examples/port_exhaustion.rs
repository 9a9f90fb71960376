//! Active opens until the ephemeral ports run out, twice: each round connects to
//! `--server` from the engine, holding every connection, until `connect` fails; then
//! closes them all (the engine closes first, so each port sits in TIME-WAIT) and waits
//! out TIME-WAIT. A correct engine fails the connect with `AddrNotAvailable` (not a hang,
//! a panic or another error) and gets every port back: the second round opens as many
//! connections as the first. Prints one JSON line, e.g.
//! `{"rounds":[{"opened":64,"error":"AddrNotAvailable"},...],"open_after":0}`.
//!
//!     ip netns exec bpx-eng target/release/examples/port_exhaustion --iface bpx-e \
//!         --ip 10.213.77.2/24 --queues 1 --local-port-range 40000-40063 \
//!         --tcp-time-wait-ms 500 --server 10.213.77.1:9000

use std::io::{ErrorKind, Read};
use std::net::SocketAddrV4;
use std::time::Duration;

use bypass::api::blocking::TcpStream;
use bypass::background::Engine;
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: bypass::cli::RunArgs,
    #[arg(long)]
    server: SocketAddrV4,
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Give up on a round after this many connections (a range larger than this is a
    /// usage mistake: the test is meant for a small --local-port-range).
    #[arg(long, default_value_t = 5000)]
    max: usize,
}

fn main() {
    let args = Args::parse();
    let time_wait = Duration::from_millis(args.run.tcp.tcp_time_wait_ms);
    let engine = Engine::start(args.run.clone()).unwrap_or_else(|e| {
        eprintln!("port_exhaustion: {e}");
        std::process::exit(1)
    });
    let mut rounds = Vec::new();
    for _ in 0..args.rounds {
        let mut held = Vec::new();
        let error = loop {
            if held.len() >= args.max {
                break "no error".to_string();
            }
            match TcpStream::connect(&engine, args.server) {
                Ok(s) => held.push(s),
                Err(e) if e.kind() == ErrorKind::AddrNotAvailable => break "AddrNotAvailable".to_string(),
                Err(e) => break format!("{:?}: {e}", e.kind()),
            }
        };
        rounds.push(serde_json::json!({ "opened": held.len(), "error": error }));
        // Every held connection still works: the server's close reaches each one as EOF
        // after ours (read returns 0), which also proves none was torn down by the failure.
        for s in &held {
            s.shutdown_write().expect("shutdown");
        }
        for mut s in held {
            s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut b = [0u8; 1];
            if !matches!(s.read(&mut b), Ok(0)) {
                rounds.push(serde_json::json!({ "error": "a held connection did not see the server's close" }));
            }
        }
        // Out of TIME-WAIT (and a margin for the timer wheel).
        std::thread::sleep(time_wait + Duration::from_millis(500));
    }
    let report = engine.stop().expect("stop");
    let open_after: u64 = report.workers.iter().map(|w| w.stack.tcp.open).sum();
    println!("{}", serde_json::json!({ "rounds": rounds, "open_after": open_after }));
}
