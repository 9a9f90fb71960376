//! The socket API's two faces, through the example programs (which must be built:
//! `cargo build --examples`, as scripts/test does): a fast-path echo server, a blocking
//! echo server (TCP and UDP), and a blocking client against a kernel echo server.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};

use common::*;

fn example(name: &str) -> String {
    let p = std::path::Path::new(bin()).parent().unwrap().join("examples").join(name);
    assert!(p.exists(), "{} is not built: run `cargo build --examples`", p.display());
    p.to_string_lossy().to_string()
}

/// Starts an example server in the engine namespace and waits for its line saying so.
fn start_server(net: &Net, name: &str, port: &str) -> std::process::Child {
    let ip = format!("{}/24", net.engine_ip());
    let mut child = Command::new("ip")
        .args(["netns", "exec", &net.eng_ns(), &example(name), "--iface", &net.eng_if(), "--ip", &ip, "--echo-port", port, "--poll", "adaptive"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let l = lines.next().expect("example exited before it was ready").unwrap();
        if l.starts_with(&format!("{name}: ")) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
}

fn ok(r: &serde_json::Value) {
    assert_eq!(r["ok"], true, "client failed: {r}");
}

#[test]
fn fast_face_echo_server() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt40", 110, 2);
    let server = start_server(&net, "fast_echo", "7000");
    ok(&tcp_client(&net, 7000, "echo", 16 << 20));
    ok(&tcp_client(&net, 7000, "short", 200));
    ok(&tcp_client(&net, 7000, "concurrent", 50));
    stop(server);
}

#[test]
fn blocking_face_echo_server_tcp_and_udp() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt41", 111, 2);
    let server = start_server(&net, "blocking_echo", "7001");
    ok(&tcp_client(&net, 7001, "echo", 16 << 20));
    ok(&tcp_client(&net, 7001, "concurrent", 50));
    let out = net.peer(&[
        "python3",
        "-c",
        &format!(
            "import socket,os\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)\nbad=0\nfor n in [1,100,1472,5000]:\n d=os.urandom(n); s.sendto(d,('{}',7001)); bad+=s.recvfrom(65535)[0]!=d\nprint(bad)",
            net.engine_ip()
        ),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "UDP echo via the blocking face: {}", String::from_utf8_lossy(&out.stderr));
    stop(server);
}

#[test]
fn blocking_face_client_to_kernel_server() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt42", 112, 2);
    let mut echo = Command::new("ip")
        .args(["netns", "exec", &net.peer_ns(), "python3"])
        .arg(repo().join("tests/tools/echoserver.py"))
        .args([&net.peer_ip(), "9000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut l = String::new();
    std::io::BufReader::new(echo.stdout.as_mut().unwrap()).read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "ready");
    let ip = format!("{}/24", net.engine_ip());
    let server = format!("{}:9000", net.peer_ip());
    let out = net.eng(&[&example("blocking_client"), "--iface", &net.eng_if(), "--ip", &ip, "--server", &server, "--bytes", "8000000", "--poll", "adaptive"]);
    let _ = echo.kill();
    let _ = echo.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("tcp 8000000 bytes echoed intact"), "{text}");
    assert!(text.contains("udp echo \"bypass-udp\""), "{text}");
}

/// Active opens past the ephemeral port range: `connect` fails with AddrNotAvailable
/// (no hang, no panic), the connections already open keep working, and once they are
/// closed and out of TIME-WAIT every port is free again (a second round opens as many).
#[test]
fn exhausted_ephemeral_ports_give_addr_not_available_and_come_back() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt44", 114, 1);
    let mut echo = Command::new("ip")
        .args(["netns", "exec", &net.peer_ns(), "python3"])
        .arg(repo().join("tests/tools/echoserver.py"))
        .args([&net.peer_ip(), "9001"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut l = String::new();
    std::io::BufReader::new(echo.stdout.as_mut().unwrap()).read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "ready");
    let ip = format!("{}/24", net.engine_ip());
    let server = format!("{}:9001", net.peer_ip());
    let out = net.eng(&[
        &example("port_exhaustion"), "--iface", &net.eng_if(), "--ip", &ip, "--queues", "1", "--poll", "adaptive",
        "--local-port-range", "40000-40039", "--tcp-time-wait-ms", "300", "--server", &server,
    ]);
    let _ = echo.kill();
    let _ = echo.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text.trim().lines().last().unwrap_or("")).unwrap_or_else(|_| panic!("no result: {text}"));
    let rounds = v["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2, "{v}");
    for r in rounds {
        assert_eq!(r["opened"], 40, "every port of the range once: {v}");
        assert_eq!(r["error"], "AddrNotAvailable", "{v}");
    }
    assert_eq!(v["open_after"], 0, "connections left in the table: {v}");
    println!("[port_exhaustion] {v}");
}

/// `--backend kernel` runs the very same applications over Linux sockets.
#[test]
fn kernel_backend_runs_the_same_services() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt43", 113, 1);
    let ip = format!("{}/24", net.kernel_ip());
    let mut child = Command::new("ip")
        .args(["netns", "exec", &net.eng_ns(), bin(), "run", "--backend", "kernel", "--iface", &net.eng_if(), "--ip", &ip])
        .args(["--serve", "tcp-echo:7", "--serve", "chargen:19", "--serve", "http-echo:80", "--serve", "udp-echo:7", "--poll", "adaptive"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("kernel backend"), "{line}");
    let client = |port: &str, mode: &str, n: &str| {
        let out = net.peer(&["python3", &repo().join("tests/tools/tcpclient.py").to_string_lossy(), &net.kernel_ip(), port, mode, n]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("client result");
        assert_eq!(v["ok"], true, "{v}");
    };
    client("7", "echo", "8000000");
    client("19", "chargen", "8000000");
    client("7", "concurrent", "50");
    let http = net.peer(&["curl", "-s", &format!("http://{}/same-code", net.kernel_ip())]);
    assert!(String::from_utf8_lossy(&http.stdout).starts_with("GET /same-code HTTP/1.1"));
    // Bodies larger than the overflow buffer: the echo must resume when the socket
    // drains, although the handler saw no room and never got WouldBlock from a send.
    let script = format!(
        "head -c 4194304 /dev/urandom > /tmp/bpt43-body && for i in 1 2 3 4 5 6 7 8; do \
         curl -s --max-time 20 --data-binary @/tmp/bpt43-body http://{}/ -o /tmp/bpt43-echo || exit 1; \
         cmp -s /tmp/bpt43-body /tmp/bpt43-echo || exit 2; done; echo posts-ok",
        net.kernel_ip()
    );
    let posts = net.peer(&["sh", "-c", &script]);
    assert!(String::from_utf8_lossy(&posts.stdout).contains("posts-ok"), "4 MiB POSTs to the kernel backend: {posts:?}");
    stop(child);
}
