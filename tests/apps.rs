//! Integration tests for what sits on top of TCP (issue 4): the `bypass stat` listing,
//! UDP echo. Run one at a time.

mod common;

use common::*;

/// `bypass stat` lists listeners and established connections with the right states,
/// `--json` parses, counters move, and without an engine it says so.
#[test]
fn stat_lists_sockets_and_counters() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt30", 100, 1);
    let e = Engine::start(&net, &["--serve", "tcp-echo:7", "--serve", "chargen:19", "--serve", "udp-echo:7"]);
    // Three connections held open by a kernel client while we look.
    let holder = std::process::Command::new("ip")
        .args(["netns", "exec", &net.peer_ns(), "python3", "-c"])
        .arg(format!(
            "import socket,time\nss=[socket.create_connection(('{}',7)) for _ in range(3)]\nfor s in ss: s.sendall(b'x'); s.recv(1)\nprint('up', flush=True)\ntime.sleep(4)",
            net.engine_ip()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut holder = holder;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "up");
    let stat = |args: &[&str]| {
        let out = std::process::Command::new(bin()).arg("stat").args(args).arg("--pid").arg(e.pid().to_string()).output().unwrap();
        assert!(out.status.success(), "stat {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let table = stat(&[]);
    println!("{table}");
    assert!(table.starts_with("Proto"));
    let listen = table.lines().filter(|l| l.contains("LISTEN")).count();
    assert_eq!(listen, 2, "two TCP listeners on one worker");
    assert_eq!(table.lines().filter(|l| l.contains("ESTABLISHED")).count(), 3, "{table}");
    assert!(table.lines().any(|l| l.starts_with("udp") && l.contains(":7")));
    let est = stat(&["-t", "--state", "established"]);
    assert_eq!(est.lines().count(), 4, "header and three connections: {est}");
    assert!(!stat(&["-l"]).contains("ESTABLISHED"));
    assert!(!stat(&["-u"]).contains("tcp "));
    let json: serde_json::Value = serde_json::from_str(&stat(&["--json"])).expect("--json parses");
    assert!(json["workers"][0]["stack"]["tcp"]["accepted"].as_u64().unwrap() >= 3);
    let prom = stat(&["--prometheus"]);
    assert!(prom.lines().any(|l| l.starts_with("bypass_stack_tcp_accepted{worker=\"0\"} ")), "{prom}");
    assert!(stat(&["--counters"]).contains("stack_tcp_accepted"));
    let _ = holder.wait();
    e.stop();
    let out = std::process::Command::new(bin()).args(["stat", "--pid", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the engine"));
}

/// UDP echo returns datagrams of every size (large ones fragmented both ways); a closed
/// UDP port gets ICMP port unreachable (ECONNREFUSED on a connected kernel socket).
#[test]
fn udp_echo_and_port_unreachable() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt31", 101, 1);
    let e = Engine::start(&net, &["--serve", "udp-echo:7"]);
    let script = format!(
        r#"
import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
bad = 0
for n in [0, 1, 100, 1472, 1473, 4000, 8000, 30000]:
    d = os.urandom(n)
    for attempt in range(3):
        s.sendto(d, ('{ip}', 7))
        try:
            got, _ = s.recvfrom(65535)
            break
        except socket.timeout:
            got = None
    bad += got != d
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(2); c.connect(('{ip}', 9999))
c.send(b'x')
try:
    c.recv(10); refused = False
except ConnectionRefusedError:
    refused = True
print(bad, refused)
"#,
        ip = net.engine_ip()
    );
    let out = net.peer(&["python3", "-c", &script]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (report, _) = e.stop();
    assert_eq!(text, "0 True", "bad echoes / refusal: {text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(total(&report, &["stack", "udp", "sent"]) >= 8);
    assert!(total(&report, &["stack", "ipv4_fragments_sent"]) > 0);
}

/// `--reflect-udp` (the benchmark's raw AF_XDP baseline) answers datagrams to its port
/// from the rings, without the stack: the echo arrives intact, the stack's UDP counters
/// stay still, and ARP (which the stack answers) still works.
#[test]
fn reflect_udp_answers_without_the_stack() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt36", 106, 1);
    let e = Engine::start(&net, &["--reflect-udp", "7"]);
    let script = format!(
        r#"
import socket, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
ok = 0
for n in [0, 1, 64, 1472]:
    d = os.urandom(n)
    s.sendto(d, ('{ip}', 7))
    try:
        got, frm = s.recvfrom(65535)
        ok += got == d and frm == ('{ip}', 7)
    except socket.timeout:
        pass
print(ok)
"#,
        ip = net.engine_ip()
    );
    let out = net.peer(&["python3", "-c", &script]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (report, _) = e.stop();
    assert_eq!(text, "4", "echoes intact: {text} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(total(&report, &["reflected"]), 4);
    assert_eq!(total(&report, &["stack", "udp", "datagrams_rx"]), 0);
}

/// `--pcap` writes what the engine receives and sends into a file tshark reads, with
/// valid checksums on the engine's frames.
#[test]
fn pcap_capture_is_readable() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt32", 102, 1);
    let pcap = std::env::temp_dir().join(format!("bypass-cap-{}.pcap", std::process::id()));
    let e = Engine::start(&net, &["--serve", "tcp-echo:7", "--pcap", pcap.to_str().unwrap()]);
    ok_client(&tcp_client(&net, 7, "echo", 200_000));
    assert!(net.ping(&net.engine_ip(), 100));
    let (report, lines) = e.stop();
    assert!(report["pcap"]["frames"].as_u64().unwrap() > 100, "{report}");
    assert!(lines.iter().any(|l| l.starts_with("pcap:")));
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-o", "tcp.check_checksum:TRUE", "-Y", &format!("ip.src == {} && tcp.checksum.status == \"Good\"", net.engine_ip())])
        .output()
        .unwrap();
    let good = String::from_utf8_lossy(&out.stdout).lines().count();
    let all = std::process::Command::new("tshark").arg("-r").arg(&pcap).output().unwrap();
    let _ = std::fs::remove_file(&pcap);
    assert!(out.status.success() && all.status.success());
    assert!(good > 50, "engine segments with good checksums in the capture: {good}");
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(text.contains("ICMP") && text.contains("ARP"), "both directions of ARP and ICMP captured");
}

fn ok_client(r: &serde_json::Value) {
    assert_eq!(r["ok"], true, "client failed: {r}");
}

fn peer_out(net: &Net, args: &[&str]) -> String {
    let out = net.peer(args);
    assert!(out.status.success(), "{args:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The HTTP echo endpoint with real clients: curl GET/POST (10 MiB, compared), HTTP/1.0,
/// pipelining over a raw socket, bad requests, and wrk, ab and h2load without errors.
#[test]
fn http_echo_with_real_clients() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt33", 103, 1);
    let e = Engine::start(&net, &["--serve", "http-echo:80"]);
    let url = format!("http://{}/path?q=1", net.engine_ip());
    let get = peer_out(&net, &["curl", "-s", "-i", &url]);
    assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
    assert!(get.contains("Content-Length: ") && get.contains("\r\n\r\nGET /path?q=1 HTTP/1.1\r\n"), "{get}");

    let body = std::env::temp_dir().join(format!("bypass-body-{}", std::process::id()));
    let back = std::env::temp_dir().join(format!("bypass-back-{}", std::process::id()));
    let data: Vec<u8> = (0..10u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&body, &data).unwrap();
    let meta = peer_out(
        &net,
        &["curl", "-s", "-X", "POST", "-H", "Content-Type: application/x-bypass", "--data-binary", &format!("@{}", body.display()), "-o", back.to_str().unwrap(), "-w", "%{http_code} %{content_type}", &url],
    );
    assert_eq!(meta, "200 application/x-bypass");
    assert!(std::fs::read(&back).unwrap() == data, "10 MiB body echoed byte for byte");
    let _ = std::fs::remove_file(&body);
    let _ = std::fs::remove_file(&back);

    let v10 = peer_out(&net, &["curl", "-s", "-i", "--http1.0", &url]);
    assert!(v10.contains("GET /path?q=1 HTTP/1.0"), "{v10}");

    let raw = format!(
        r#"
import socket
s = socket.create_connection(('{ip}', 80), timeout=5)
s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
buf = b""
while True:
    b = s.recv(65536)
    if not b: break
    buf += b
print(buf.count(b"HTTP/1.1 200 OK"), buf.index(b"GET /a") < buf.index(b"hello") < buf.index(b"GET /c"))
def status(req):
    s = socket.create_connection(('{ip}', 80), timeout=5)
    s.sendall(req)
    r = s.recv(100)
    return r.split(b" ")[1].decode()
print(status(b"BLAH\r\n\r\n"), status(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"), status(b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n"))
"#,
        ip = net.engine_ip()
    );
    let r = peer_out(&net, &["python3", "-c", &raw]);
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines[0], "3 True", "three pipelined responses in order: {r}");
    assert_eq!(lines[1], "400 431 413", "bad requests: {r}");

    let base = format!("http://{}/", net.engine_ip());
    let wrk = peer_out(&net, &["wrk", "-c32", "-d3s", "-t2", &base]);
    assert!(!wrk.contains("Socket errors") && !wrk.contains("Non-2xx"), "{wrk}");
    assert!(wrk.contains("requests in"), "{wrk}");
    let ab = peer_out(&net, &["ab", "-k", "-n", "5000", "-c", "16", &base]);
    assert!(ab.contains("Failed requests:        0") && ab.contains("Complete requests:      5000"), "{ab}");
    let h2 = peer_out(&net, &["h2load", "--h1", "-n", "5000", "-c", "16", &base]);
    assert!(h2.contains("5000 succeeded, 0 failed, 0 errored, 0 timeout"), "{h2}");
    let (report, _) = e.stop();
    assert!(total(&report, &["tcp", "bytes_out"]) > 10 << 20);
}

/// The real sockperf client runs ping-pong and throughput against `--serve sockperf:PORT`
/// over UDP and TCP (it rejects a plain echo, so this checks the protocol).
#[test]
fn sockperf_client_against_the_engine() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt34", 104, 1);
    let e = Engine::start(&net, &["--serve", "sockperf:11111"]);
    let ip = net.engine_ip();
    for proto in [&[][..], &["--tcp"][..]] {
        for mode in ["ping-pong", "throughput"] {
            let mut args = vec!["sockperf", mode, "-i", &ip, "-p", "11111", "-m", "64", "-t", "1"];
            args.extend_from_slice(proto);
            let out = net.peer(&args);
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "sockperf {mode} {proto:?}: {text}");
            if mode == "ping-pong" {
                assert!(text.contains("Summary: Latency is"), "sockperf {proto:?} got no replies: {text}");
            } else {
                assert!(text.contains("Summary: Message Rate is"), "{text}");
            }
        }
    }
    e.stop();
}

/// Runs the real iperf3 client in the peer namespace against `--serve iperf3:5201`;
/// returns its `--json` output after checking it holds no error.
fn iperf3_client(net: &Net, args: &[&str]) -> serde_json::Value {
    let ip = net.engine_ip();
    let mut cmd = vec!["timeout", "60", "iperf3", "-c", &ip, "-p", "5201", "-t", "2", "--json"];
    cmd.extend_from_slice(args);
    let out = net.peer(&cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("iperf3 {args:?} printed no JSON: {text} {}", String::from_utf8_lossy(&out.stderr)));
    assert!(v.get("error").is_none(), "iperf3 {args:?}: {}", v["error"]);
    assert!(out.status.success(), "iperf3 {args:?} exited with {}", out.status);
    let end = &v["end"];
    println!("[iperf3 {args:?}] sent {} received {} sum {}", end["sum_sent"]["bytes"], end["sum_received"]["bytes"], end["sum"]);
    v
}

fn bytes(v: &serde_json::Value, sum: &str) -> u64 {
    v["end"][sum]["bytes"].as_u64().unwrap_or_else(|| panic!("no end.{sum}.bytes: {}", v["end"]))
}

/// TCP, `-R`, `-P 4`, UDP at 100 Mbit/s and reverse UDP from the real iperf3 client,
/// error-free, with the server's figures in the client's results.
fn iperf3_modes(net: &Net) {
    // TCP: what the server counted (sum_received) is what the client sent, less at
    // most what was still in flight when the client said TEST_END (its send buffer and
    // the network: a few MiB, a small share at these rates).
    let agree = |sent: u64, recv: u64| recv > 0 && recv <= sent && sent - recv <= (sent / 20).max(16 << 20);
    let tcp = iperf3_client(net, &["--get-server-output"]);
    let (sent, recv) = (bytes(&tcp, "sum_sent"), bytes(&tcp, "sum_received"));
    assert!(agree(sent, recv), "sent {sent}, server received {recv}");
    let srv = &tcp["server_output_json"]["end"]["sum_received"];
    assert_eq!(srv["bytes"].as_u64(), Some(recv), "server_output_json: {}", tcp["server_output_json"]);

    // Reverse: the server sends; the client receives less than or what it sent.
    let rev = iperf3_client(net, &["-R"]);
    let (sent, recv) = (bytes(&rev, "sum_sent"), bytes(&rev, "sum_received"));
    assert!(recv > 0 && recv <= sent, "server sent {sent}, client received {recv}");

    let par = iperf3_client(net, &["-P", "4"]);
    let (sent, recv) = (bytes(&par, "sum_sent"), bytes(&par, "sum_received"));
    assert!(agree(sent, recv), "sent {sent}, server received {recv}");
    let streams = par["end"]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 4);
    for s in streams {
        assert!(s["receiver"]["bytes"].as_u64().unwrap() > 0, "every stream carried data: {s}");
    }

    // UDP: the server's receiver figures (packets, loss, jitter) come back in end.sum.
    let udp = iperf3_client(net, &["-u", "-b", "100M", "--get-server-output"]);
    let s = &udp["end"]["sum"];
    assert!(s["bytes"].as_u64().unwrap() > 0 && s["packets"].as_u64().unwrap() > 1000, "{s}");
    assert!(s["lost_packets"].as_u64().is_some() && s["jitter_ms"].as_f64().is_some(), "{s}");
    assert!(udp["server_output_json"]["end"]["sum_received"]["out_of_order"].as_u64().is_some(), "{}", udp["server_output_json"]);

    // Reverse UDP: the server sends at the rate asked.
    let rudp = iperf3_client(net, &["-u", "-b", "50M", "-R"]);
    let s = &rudp["end"]["sum"];
    assert!(s["packets"].as_u64().unwrap() > 1000, "{s}");
}

/// The real iperf3 client (Debian's 3.12) against `--serve iperf3:5201` on one worker.
#[test]
fn iperf3_client_against_the_engine() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt37", 107, 1);
    let e = Engine::start(&net, &["--serve", "iperf3:5201"]);
    iperf3_modes(&net);
    // A second client while a test runs is turned away, and the first completes.
    let ip = net.engine_ip();
    let first = std::process::Command::new("ip")
        .args(["netns", "exec", &net.peer_ns(), "iperf3", "-c", &ip, "-p", "5201", "-t", "3", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let busy = net.peer(&["timeout", "20", "iperf3", "-c", &ip, "-p", "5201", "-t", "1", "--json"]);
    let busy: serde_json::Value = serde_json::from_slice(&busy.stdout).expect("JSON");
    assert!(busy["error"].as_str().unwrap_or("").contains("busy"), "{}", busy["error"]);
    let first = first.wait_with_output().unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON");
    assert!(first.get("error").is_none(), "{}", first["error"]);
    // Garbage instead of a cookie is reset, and the server still serves.
    let junk = format!("import socket\ns=socket.create_connection(('{ip}',5201),timeout=5)\ns.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' + b'x'*40)\ntry:\n    print(len(s.recv(10)))\nexcept ConnectionResetError:\n    print('reset')");
    let r = peer_out(&net, &["python3", "-c", &junk]);
    assert!(r.trim() == "reset" || r.trim() == "0", "{r}");
    iperf3_client(&net, &["-t", "1"]);
    e.stop();
}

/// The same on two workers: RSS may give the control connection and the streams to
/// different workers, which share the test through the registry. Adaptive polling, so
/// the workers also sleep between passes (and leave the client CPU on this 2-core box).
#[test]
fn iperf3_client_against_the_engine_on_two_queues() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt38", 108, 2);
    let e = Engine::start(&net, &["--serve", "iperf3:5201", "--queues", "2", "--poll", "adaptive"]);
    iperf3_modes(&net);
    let (report, _) = e.stop();
    let per: Vec<u64> = report["workers"].as_array().unwrap().iter().map(|w| w["stack"]["tcp"]["accepted"].as_u64().unwrap_or(0)).collect();
    println!("connections accepted per worker: {per:?}");
    assert_eq!(per.len(), 2);
}
