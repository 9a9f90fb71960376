//! A client on the blocking face: connects from the engine to a TCP echo server, sends
//! bytes, checks they come back, and does the same with a UDP datagram.
//!
//!     sudo ip netns exec bpx-eng target/release/examples/blocking_client \
//!         --iface bpx-e --ip 10.213.77.2/24 --server 10.213.77.1:9000 --bytes 1048576

use std::io::{Read, Write};
use std::net::SocketAddrV4;

use bypass::api::blocking::{TcpStream, UdpSocket};
use bypass::background::Engine;
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: bypass::cli::RunArgs,
    #[arg(long)]
    server: SocketAddrV4,
    #[arg(long, default_value_t = 1 << 20)]
    bytes: usize,
}

fn main() {
    let args = Args::parse();
    let engine = Engine::start(args.run.clone()).unwrap_or_else(|e| {
        eprintln!("blocking_client: {e}");
        std::process::exit(1)
    });
    let data: Vec<u8> = (0..args.bytes).map(|i| (i * 131 % 251) as u8).collect();
    let mut s = TcpStream::connect(&engine, args.server).expect("connect");
    let writer_data = data.clone();
    let mut got = vec![0u8; data.len()];
    std::thread::scope(|sc| {
        let s_ref = &mut s;
        sc.spawn(move || {
            // Write in pieces while reading, so neither side's buffers fill up.
            let mut off = 0;
            let mut read = 0;
            while read < got.len() {
                if off < writer_data.len() {
                    let end = (off + 65536).min(writer_data.len());
                    s_ref.write_all(&writer_data[off..end]).expect("write");
                    off = end;
                }
                while read < off {
                    let n = s_ref.read(&mut got[read..off]).expect("read");
                    assert!(n > 0, "server closed early");
                    read += n;
                }
            }
            assert!(got == writer_data, "echo differs");
        });
    });
    println!("blocking_client: tcp {} bytes echoed intact via {}", args.bytes, s.local_addr());
    drop(s);
    let udp = UdpSocket::bind(&engine, 40123).expect("udp bind");
    udp.send_to(b"bypass-udp", args.server).expect("send_to");
    let mut buf = [0u8; 64];
    match udp.recv_from_timeout(&mut buf, std::time::Duration::from_secs(3)) {
        Ok((n, from)) => println!("blocking_client: udp echo {:?} from {from}", std::str::from_utf8(&buf[..n]).unwrap_or("?")),
        Err(e) => println!("blocking_client: udp: {e}"),
    }
    drop(udp);
    let report = engine.stop().expect("stop");
    println!("blocking_client: engine sent {} frames", report.workers.iter().map(|w| w.datapath.tx_frames).sum::<u64>());
}
