//! A TCP echo server on the fast-path face: runs on every worker core inside the poll
//! loop, non-blocking calls, readiness events.
//!
//!     sudo ip netns exec bpx-eng target/release/examples/fast_echo \
//!         --iface bpx-e --ip 10.213.77.2/24 --echo-port 7000

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bypass::api::{AppFactory, Application, Event, Io, SockType};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: bypass::cli::RunArgs,
    #[arg(long, default_value_t = 7000)]
    echo_port: u16,
}

struct Echo {
    port: u16,
}

impl Application for Echo {
    fn on_start(&mut self, io: &mut Io<'_>) {
        let l = io.socket(SockType::Stream);
        io.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, self.port)).expect("bind");
        io.listen(l, 1024).expect("listen");
    }

    fn on_event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Acceptable(l) => while io.accept(l).is_ok() {},
            Event::Readable(s) | Event::Writable(s) => {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    // Take only what fits in the send buffer now; when it is full, the
                    // Writable event brings us back.
                    let room = io.send_capacity(s).unwrap_or(0).min(buf.len());
                    if room == 0 {
                        return;
                    }
                    match io.recv(s, &mut buf[..room]) {
                        Ok(0) => return drop(io.close(s)),
                        Ok(n) => drop(io.send(s, &buf[..n])),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Err(_) => return drop(io.close(s)),
                    }
                }
            }
            Event::Closed(s) | Event::Error(s, _) => drop(io.close(s)),
            Event::Connected(_) => {}
        }
    }
}

fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).init();
    let args = Args::parse();
    let port = args.echo_port;
    let factory: AppFactory = Arc::new(move |_worker| Box::new(Echo { port }) as Box<dyn Application>);
    let stop = Arc::new(AtomicBool::new(false));
    let result = bypass::engine::run_with(&args.run, stop, true, &[factory], |info| {
        println!("fast_echo: echoing on port {port} of {:?} with {} worker(s)", info.addrs, info.workers);
    });
    match result {
        Ok(report) => print!("{}", bypass::report::render(&report)),
        Err(e) => {
            eprintln!("fast_echo: {e}");
            std::process::exit(1);
        }
    }
}
