//! The FCT family without root: transfers on kernel sockets and the engine-side generator
//! (run on the kernel backend, the same application code) against tiny in-process
//! servers, some misbehaving; and the FCT table against a golden file.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use bypass_bench::engine_load::fct::FctClient;
use bypass_bench::engine_load::ClientEngineOpts;
use bypass_bench::fct::counters::Reading;
use bypass_bench::fct::plan::{Conn, Group, Kind, Poll, Ports};
use bypass_bench::fct::{chargen_byte, client, render_fct, FctRow, FctSide, FctStats, Outcomes};

/// How the chargen test server misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Chargen {
    Good,
    /// Closes after half the bytes.
    Short,
    /// Byte 1000 of every transfer is wrong.
    Corrupt,
}

fn serve(handler: impl Fn(TcpStream) + Send + Sync + Copy + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || handler(s));
        }
    });
    addr
}

/// Echo; `stall`: reads but never answers.
fn echo(stall: bool) -> SocketAddr {
    if stall {
        return serve(|mut s| {
            let mut b = [0u8; 65536];
            while matches!(s.read(&mut b), Ok(n) if n > 0) {}
        });
    }
    serve(|mut s| {
        let mut b = [0u8; 65536];
        loop {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if s.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// Discard: reads to EOF.
fn discard() -> SocketAddr {
    serve(|mut s| {
        let mut b = [0u8; 65536];
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    })
}

/// Chargen like the engine's: `N\n` sends N pattern bytes and closes, `N+\n` sends them
/// and reads the next line.
fn chargen(mode: Chargen) -> SocketAddr {
    fn run(mut s: TcpStream, mode: Chargen) {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        loop {
            line.clear();
            loop {
                match s.read(&mut b) {
                    Ok(1) if b[0] == b'\n' => break,
                    Ok(1) => line.push(b[0]),
                    _ => return,
                }
            }
            let text = String::from_utf8_lossy(&line).to_string();
            let (digits, keep) = match text.strip_suffix('+') {
                Some(d) => (d.to_string(), true),
                None => (text.clone(), false),
            };
            let n: u64 = digits.parse().unwrap();
            let send = if mode == Chargen::Short { n / 2 } else { n };
            let mut data: Vec<u8> = (0..send).map(chargen_byte).collect();
            if mode == Chargen::Corrupt && send > 1000 {
                data[1000] ^= 1;
            }
            if s.write_all(&data).is_err() || !keep || mode == Chargen::Short {
                return;
            }
        }
    }
    match mode {
        Chargen::Good => serve(|s| run(s, Chargen::Good)),
        Chargen::Short => serve(|s| run(s, Chargen::Short)),
        Chargen::Corrupt => serve(|s| run(s, Chargen::Corrupt)),
    }
}

fn group(kind: Kind, size: u64, conn: Conn, transfers: usize) -> Group {
    Group { kind, size, conn, transfers, capped: false }
}

const T: Duration = Duration::from_secs(10);

fn assert_clean(o: &Outcomes, n: usize) {
    assert_eq!(o.errors, 0, "{:?}", o.first_error);
    assert_eq!(o.times.len(), n);
    let s = o.stats().unwrap();
    assert!(s.p50_ms > 0.0 && s.p50_ms <= s.p99_ms && s.p99_ms <= s.max_ms, "{s:?}");
}

#[test]
fn kernel_client_transfers_complete_and_verify() {
    let (e, c, d) = (echo(false), chargen(Chargen::Good), discard());
    for conn in [Conn::Fresh, Conn::Reused] {
        for size in [1u64, 4096, 300_000, 1 << 20] {
            assert_clean(&client::run_group(e, &group(Kind::Echo, size, conn, 3), T), 3);
            assert_clean(&client::run_group(c, &group(Kind::Download, size, conn, 3), T), 3);
            assert_clean(&client::run_group(d, &group(Kind::Upload, size, conn, 3), T), 3);
        }
    }
}

#[test]
fn early_ends_and_wrong_bytes_are_counted() {
    for conn in [Conn::Fresh, Conn::Reused] {
        let o = client::run_group(chargen(Chargen::Short), &group(Kind::Download, 10_000, conn, 4), T);
        assert_eq!((o.errors, o.ended_early, o.times.len()), (4, 4, 0), "{conn:?} {:?}", o.first_error);
        assert!(o.first_error.as_deref().unwrap().contains("EOF after 5000 of 10000"), "{:?}", o.first_error);
        let o = client::run_group(chargen(Chargen::Corrupt), &group(Kind::Download, 10_000, conn, 2), T);
        assert_eq!((o.errors, o.ended_early), (2, 0));
        assert!(o.first_error.as_deref().unwrap().contains("offset 1000"), "{:?}", o.first_error);
    }
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let o = client::run_group(dead, &group(Kind::Echo, 100, Conn::Fresh, 2), T);
    assert_eq!((o.errors, o.times.len()), (2, 0));
    assert!(o.first_error.as_deref().unwrap().starts_with("connect"), "{:?}", o.first_error);
}

#[test]
fn a_stalled_transfer_times_out_and_the_group_gives_up() {
    let t = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let o = client::run_group(echo(true), &group(Kind::Echo, 4096, Conn::Reused, 10), t);
    assert_eq!((o.errors, o.times.len()), (10, 0));
    assert!(o.first_error.as_deref().unwrap().starts_with("timed out after 200ms"), "{:?}", o.first_error);
    // 3 timeouts, then the rest are not run.
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

fn engine_client(jobs: Vec<Group>, ports: Ports, timeout: Duration) -> FctClient {
    let opts = ClientEngineOpts {
        iface: "lo".into(),
        ip: Ipv4Addr::LOCALHOST,
        cores: "0".into(),
        queues: 1,
        poll: "adaptive".into(),
        fault: None,
        kernel_backend: true,
        extra: Vec::new(),
    };
    FctClient::start(&opts, Ipv4Addr::LOCALHOST, ports, jobs, timeout).unwrap()
}

#[test]
fn engine_generator_runs_every_kind_on_the_kernel_backend() {
    let ports = Ports { echo: echo(false).port(), download: chargen(Chargen::Good).port(), upload: discard().port(), http: 0 };
    let mut jobs = Vec::new();
    for kind in [Kind::Echo, Kind::Download, Kind::Upload] {
        for conn in [Conn::Fresh, Conn::Reused] {
            for size in [1u64, 65536, 1 << 20] {
                jobs.push(group(kind, size, conn, 3));
            }
        }
    }
    let mut c = engine_client(jobs.clone(), ports, T);
    for (j, g) in jobs.iter().enumerate() {
        let o = c.run_job(j);
        assert_eq!(o.errors, 0, "{g:?}: {:?}", o.first_error);
        assert_eq!(o.times.len(), 3, "{g:?}");
    }
    c.stop().unwrap();
}

#[test]
fn engine_generator_reports_early_ends_corruption_and_timeouts() {
    let ports = Ports { echo: echo(true).port(), download: chargen(Chargen::Short).port(), upload: discard().port(), http: 0 };
    let jobs = vec![group(Kind::Download, 10_000, Conn::Fresh, 2), group(Kind::Download, 10_000, Conn::Reused, 2), group(Kind::Echo, 4096, Conn::Fresh, 5)];
    let mut c = engine_client(jobs, ports, Duration::from_millis(200));
    for j in 0..2 {
        let o = c.run_job(j);
        assert_eq!((o.errors, o.ended_early, o.times.len()), (2, 2, 0), "job {j}: {:?}", o.first_error);
    }
    let o = c.run_job(2);
    assert_eq!((o.errors, o.ended_early, o.times.len()), (5, 0, 0));
    assert!(o.first_error.as_deref().unwrap().starts_with("timed out"), "{:?}", o.first_error);
    c.stop().unwrap();
    let ports = Ports { download: chargen(Chargen::Corrupt).port(), ..ports };
    let mut c = engine_client(vec![group(Kind::Download, 5000, Conn::Reused, 2)], ports, T);
    let o = c.run_job(0);
    assert_eq!(o.errors, 2);
    assert!(o.first_error.as_deref().unwrap().contains("offset 1000"), "{:?}", o.first_error);
}

fn side(p50: f64, p99: f64, max: f64, errors: u64, counters: Option<Reading>) -> FctSide {
    FctSide {
        stats: Some(FctStats { count: 20, p50_ms: p50, p99_ms: p99, max_ms: max, mean_ms: p50 }),
        samples_ms: vec![p50, p99, max],
        errors,
        ended_early: 0,
        first_error: (errors > 0).then(|| "timed out after 30s (sent 65536, echoed 0 of 65536 bytes)".to_string()),
        counters,
        counters_error: None,
    }
}

#[test]
fn fct_table_matches_golden() {
    let eng = Reading { retransmits: 12, rtos: 3, dsacks: None, spurious_rtos: None, fill_ring_empty: Some(0), rx_dropped: Some(0), no_socket: Some(0) };
    let ker = Reading { retransmits: 4, rtos: 0, dsacks: Some(1), spurious_rtos: Some(0), ..Reading::default() };
    let mut early = side(0.0, 0.0, 0.0, 0, Some(eng));
    early.stats = None;
    early.errors = 20;
    early.ended_early = 20;
    early.first_error = Some("ended early: EOF after 0 of 4096 bytes".into());
    let mut unreadable = side(1.5, 2.0, 2.0, 0, None);
    unreadable.counters_error = Some("bypass stat --json: worker 0 has no counter tcp.timeouts".into());
    let rows = vec![
        FctRow::new(Kind::Echo, 65536, Conn::Fresh, 0.0, 1, Poll::Busy, false, 20, false, side(0.412, 1.2, 1.2, 0, Some(eng)), side(0.203, 0.5, 0.51, 0, Some(ker))),
        FctRow::new(Kind::Download, 16 << 20, Conn::Reused, 5.0, 2, Poll::Adaptive, false, 5, true, side(812.0, 1650.0, 1650.0, 1, Some(eng)), side(240.5, 420.0, 420.0, 0, Some(ker))),
        FctRow::new(Kind::HttpPost, 4096, Conn::Fresh, 1.0, 1, Poll::Busy, false, 20, false, early, unreadable),
        FctRow::new(Kind::Upload, 1 << 20, Conn::Reused, 0.0, 1, Poll::Busy, true, 20, false, side(3.1, 9.9, 12.0, 0, Some(eng)), side(2.9, 4.0, 4.4, 0, Some(ker))),
    ];
    let md = render_fct(&rows, &["plan: example".into()]);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fct.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &md).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("golden file (run with UPDATE_GOLDEN=1 to create)");
    assert_eq!(md, golden, "FCT Markdown differs from tests/golden/fct.md (UPDATE_GOLDEN=1 to accept)");
    assert!((rows[0].ratio_p50.unwrap() - 0.412 / 0.203).abs() < 1e-12);
    assert_eq!(rows[2].ratio_p50, None);
    // The report carries the rows through JSON.
    let mut r = bypass_bench::report::Report::new(0);
    r.fct = rows;
    let back = bypass_bench::report::Report::from_json(&r.to_json().unwrap()).unwrap();
    assert_eq!(back, r);
    let full = bypass_bench::report::render_markdown(&r);
    assert!(full.contains("## Flow completion time") && !full.contains("## Resources"), "{full}");
}

/// A small HTTP/1.1 echo: keep-alive unless `Connection: close`, `Expect: 100-continue`
/// answered; `cut`: sends only half of each response body, then closes.
fn http_echo(cut: bool) -> SocketAddr {
    fn run(mut s: TcpStream, cut: bool) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 65536];
        loop {
            let head_end = loop {
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let field = |name: &str| head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
            let len: usize = field("content-length:").and_then(|v| v.parse().ok()).unwrap_or(0);
            let close = field("connection:").is_some_and(|v| v == "close");
            if field("expect:").is_some_and(|v| v == "100-continue") && s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                return;
            }
            buf.drain(..head_end);
            while buf.len() < len {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body: Vec<u8> = buf.drain(..len).collect();
            let send = if cut { &body[..len / 2] } else { &body[..] };
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\n\r\n");
            if s.write_all(head.as_bytes()).is_err() || s.write_all(send).is_err() || close || cut {
                return;
            }
        }
    }
    if cut {
        serve(|s| run(s, true))
    } else {
        serve(|s| run(s, false))
    }
}

fn v4(a: SocketAddr) -> std::net::SocketAddrV4 {
    match a {
        SocketAddr::V4(v) => v,
        SocketAddr::V6(_) => unreachable!(),
    }
}

#[test]
fn curl_posts_fresh_and_reused_and_sees_short_responses() {
    use bypass_bench::fct::curl;
    let ok = v4(http_echo(false));
    for conn in [Conn::Fresh, Conn::Reused] {
        for size in [1u64, 4096, 2 << 20] {
            let o = curl::run_group(ok, &group(Kind::HttpPost, size, conn, 3), T);
            assert_clean(&o, 3);
        }
    }
    let cut = v4(http_echo(true));
    let o = curl::run_group(cut, &group(Kind::HttpPost, 10_000, Conn::Fresh, 2), T);
    assert_eq!((o.errors, o.ended_early, o.times.len()), (2, 2, 0), "{:?}", o.first_error);
    // Reused, against a server that closes every time: the opening transfer already ends
    // early; each later one too.
    let o = curl::run_group(cut, &group(Kind::HttpPost, 10_000, Conn::Reused, 2), T);
    assert!(o.errors >= 2 && o.times.is_empty(), "{o:?}");
}
