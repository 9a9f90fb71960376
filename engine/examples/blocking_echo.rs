//! TCP and UDP echo servers on the blocking face: ordinary threads, `Read`/`Write`.
//!
//!     sudo ip netns exec bpx-eng target/release/examples/blocking_echo \
//!         --iface bpx-e --ip 10.213.77.2/24 --echo-port 7001

use std::io::{Read, Write};

use bypass::api::blocking::{TcpListener, UdpSocket};
use bypass::background::Engine;
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: bypass::cli::RunArgs,
    #[arg(long, default_value_t = 7001)]
    echo_port: u16,
}

fn main() {
    let args = Args::parse();
    let port = args.echo_port;
    let engine = Engine::start(args.run).unwrap_or_else(|e| {
        eprintln!("blocking_echo: {e}");
        std::process::exit(1)
    });
    let udp = UdpSocket::bind(&engine, port).expect("udp bind");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(&buf[..n], from);
        }
    });
    let listener = TcpListener::bind(&engine, port).expect("tcp bind");
    println!("blocking_echo: echoing TCP and UDP on port {port} of {:?}", engine.addresses());
    while let Ok((mut stream, _peer)) = listener.accept() {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
}
