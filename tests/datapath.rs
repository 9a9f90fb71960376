//! Datapath integration tests (issue 2): the real engine on a veth pair between network
//! namespaces, with the Linux kernel as the peer. Run one at a time (`--test-threads=1`):
//! busy-polling workers on a 2-core machine distort each other.

mod common;

use common::*;

/// 100 pings with sizes spread over 0..=1472 (a full 1500-byte MTU frame), all answered.
#[test]
fn ping_every_size_up_to_mtu() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt1", 71, 1);
    let engine = Engine::start(&net, &[]);
    let mut failed = Vec::new();
    for i in 0..100usize {
        let size = i * 1472 / 99;
        if !net.ping(&net.engine_ip(), size) {
            failed.push(size);
        }
    }
    let (report, _) = engine.stop();
    assert!(failed.is_empty(), "unanswered ping sizes: {failed:?}");
    assert!(total(&report, &["stack", "icmp_echo_replies"]) >= 100);
    assert_eq!(total(&report, &["stack", "ipv4_bad_checksum"]), 0, "the peer sends full checksums");
}

/// arping from the peer resolves the engine's address to the interface's MAC.
#[test]
fn arping_resolves_engine_mac() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt2", 72, 1);
    let engine = Engine::start(&net, &[]);
    let out = net.peer(&["arping", "-c", "3", "-w", "5", "-I", &net.peer_if(), &net.engine_ip()]);
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let (report, _) = engine.stop();
    assert!(out.status.success(), "arping failed: {text}");
    let mac = net.engine_mac().to_lowercase();
    assert!(text.contains(&mac), "arping did not see {mac}: {text}");
    assert!(total(&report, &["stack", "arp_replies_sent"]) >= 3);
}

/// The kernel keeps its own address on the same interface, and frames for other hosts
/// still reach it: the program passes them and the engine never sees them.
#[test]
fn kernel_traffic_passes_through() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt3", 73, 1);
    let engine = Engine::start(&net, &[]);
    for _ in 0..5 {
        assert!(net.ping(&net.kernel_ip(), 100), "the kernel's own address must still answer");
    }
    assert!(net.ping(&net.engine_ip(), 100));
    // Frames for a host that does not exist: ARP broadcasts for it go to the kernel.
    let other = format!("{}.99", net.net);
    let _ = net.peer(&["ping", "-c", "2", "-W", "1", &other]);
    // A UDP datagram to the kernel's address reaches a kernel socket.
    let rx = std::process::Command::new("ip")
        .args(["netns", "exec", &net.eng_ns(), "python3", "-c"])
        .arg(format!(
            "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('{}', 9123)); s.settimeout(5); print(s.recv(100).decode())",
            net.kernel_ip()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    net.peer(&["python3", "-c", &format!("import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'through-the-kernel', ('{}', 9123))", net.kernel_ip())]);
    let got = rx.wait_with_output().unwrap();
    let (report, _) = engine.stop();
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), "through-the-kernel");
    assert!(total(&report, &["xdp", "passed"]) >= 12, "kernel frames were passed: {report}");
    assert_eq!(total(&report, &["stack", "ipv4_not_for_us"]), 0, "the engine saw none of them");
    assert!(total(&report, &["xdp", "steered"]) >= 2);
}

/// With two queues, both workers receive traffic, and ARP learned by one is shared.
#[test]
fn two_queues_both_workers_handle_traffic() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt4", 74, 2);
    let engine = Engine::start(&net, &["--queues", "2", "--poll", "adaptive"]);
    // Different source addresses hash to different queues on the peer's side.
    for i in 10..40 {
        let src = format!("{}.{}", net.net, i);
        net.peer(&["ip", "addr", "add", &format!("{src}/24"), "dev", &net.peer_if()]);
        let ok = net.peer(&["ping", "-c", "2", "-i", "0.05", "-W", "2", "-w", "5", "-I", &src, &net.engine_ip()]).status.success();
        assert!(ok, "ping from {src} unanswered");
    }
    let (report, _) = engine.stop();
    let workers = report["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    for w in workers {
        assert!(w["stack"]["icmp_echo_replies"].as_u64().unwrap() > 0, "worker {} answered no ping: {w}", w["index"]);
        assert!(w["xdp"]["steered"].as_u64().unwrap() > 0);
    }
    assert!(total(&report, &["handoff_out"]) > 0, "ARP was shared between workers");
    assert_eq!(total(&report, &["handoff_out"]), total(&report, &["handoff_in"]) + total(&report, &["handoff_dropped"]));
}

/// SIGKILL cannot leave the program attached (it hangs off a BPF link), and a restart
/// works right away.
#[test]
fn sigkill_leaves_nothing_attached_and_restart_works() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt5", 75, 1);
    let engine = Engine::start(&net, &[]);
    assert!(net.xdp_attached());
    assert!(net.ping(&net.engine_ip(), 56));
    engine.kill9();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while net.xdp_attached() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!net.xdp_attached(), "XDP program left attached after SIGKILL");
    let engine = Engine::start(&net, &[]);
    assert!(net.ping(&net.engine_ip(), 56), "restarted engine answers");
    engine.stop();
    assert!(!net.xdp_attached(), "clean stop detaches");
}

fn ipv4_frame(dst_mac: [u8; 6], src_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], icmp: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 1, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(icmp);
    f
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn echo(seq: u16) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0x12, 0x34, (seq >> 8) as u8, seq as u8];
    m.extend_from_slice(b"bypass-test-payload");
    let c = csum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Malformed frames are counted and dropped; the engine keeps answering.
#[test]
fn malformed_frames_are_counted_and_dropped() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt6", 76, 1);
    let engine = Engine::start(&net, &[]);
    assert!(net.ping(&net.engine_ip(), 56));
    let (dmac, smac) = (parse_mac(&net.engine_mac()), parse_mac(&net.peer_mac()));
    let ip = |s: String| -> [u8; 4] { s.parse::<std::net::Ipv4Addr>().unwrap().octets() };
    let (src, dst) = (ip(net.peer_ip()), ip(net.engine_ip()));
    let good = ipv4_frame(dmac, smac, src, dst, &echo(1));

    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x43; // IHL 3
    let mut bad_ip_csum = good.clone();
    bad_ip_csum[24] ^= 0x5a;
    let mut bad_icmp_csum = good.clone();
    bad_icmp_csum[36] ^= 0x5a;
    let mut long_total = good.clone();
    long_total[16] = 0x05; // total length 1280+ > frame
    let mut frames = Vec::new();
    for _ in 0..10 {
        frames.extend([bad_ihl.clone(), bad_ip_csum.clone(), bad_icmp_csum.clone(), long_total.clone()]);
    }
    // Only an IPv4 header, total length 20: no room for an ICMP header.
    let mut ip_only = good[..14 + 20].to_vec();
    ip_only[16..18].copy_from_slice(&20u16.to_be_bytes());
    ip_only[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&ip_only[14..34]);
    ip_only[24..26].copy_from_slice(&c.to_be_bytes());
    frames.push(ip_only);
    // Cut inside the IPv4 header: the program cannot read the destination, so the
    // kernel gets it; it must not upset anything.
    frames.push(good[..14 + 12].to_vec());
    // Just an Ethernet header (the kernel refuses to send anything shorter).
    frames.push(good[..14].to_vec());
    net.inject(&frames);
    std::thread::sleep(std::time::Duration::from_millis(200));
    for _ in 0..3 {
        assert!(net.ping(&net.engine_ip(), 56), "the engine still answers after bad input");
    }
    let (report, _) = engine.stop();
    assert!(total(&report, &["stack", "ipv4_malformed"]) >= 10, "bad IHL counted: {report}");
    assert!(total(&report, &["stack", "ipv4_bad_checksum"]) >= 10);
    assert!(total(&report, &["stack", "icmp_bad_checksum"]) >= 10);
    assert!(total(&report, &["stack", "ipv4_truncated"]) >= 10, "total length beyond the frame");
    assert!(total(&report, &["stack", "icmp_malformed"]) >= 1, "IP header with no ICMP");
    assert!(total(&report, &["stack", "icmp_echo_replies"]) >= 4);
}

/// Echo requests with a malformed IPv4 option list get a Parameter Problem pointing at
/// the bad option and no echo reply (RFC 1122 §3.2.1.8, as Linux answers); a well-formed
/// list is skipped and the request answered.
#[test]
fn malformed_ip_options_get_parameter_problem() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt9", 79, 1);
    let engine = Engine::start(&net, &[]);
    assert!(net.ping(&net.engine_ip(), 56));
    let out = net.peer(&[
        "python3",
        &repo().join("tests/tools/badopts.py").to_string_lossy(),
        &net.peer_if(),
        &net.peer_mac(),
        &net.engine_mac(),
        &net.peer_ip(),
        &net.engine_ip(),
    ]);
    assert!(out.status.success(), "badopts.py: {}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    got.sort();
    // Type 12 code 0 with pointers 20, 20, 21; one echo reply (type 0) for the good list.
    assert_eq!(got, vec!["0 0 -", "12 0 20", "12 0 20", "12 0 21"], "ICMP answers");
    let (report, _) = engine.stop();
    assert_eq!(total(&report, &["stack", "ipv4_bad_options"]), 3, "{report}");
    assert_eq!(total(&report, &["stack", "icmp_param_problem_sent"]), 3, "{report}");
}

/// User mistakes get a one-line error and a non-zero exit, never a panic.
#[test]
fn user_errors_are_one_line() {
    if !can_run() {
        return;
    }
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin()).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).trim().to_string())
    };
    let (code, err) = run(&["run", "--iface", "no-such-if0", "--ip", "10.213.99.2/24"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no interface 'no-such-if0'") && err.lines().count() == 1, "{err}");

    let (code, err) = run(&["run", "--iface", "lo", "--ip", "10.213.99.300/24"]);
    assert_eq!(code, Some(2), "clap usage error");
    assert!(err.contains("not an IPv4 address"), "{err}");

    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin(), "run", "--iface", "lo", "--ip", "10.213.99.2/24"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("must run as root") && err.trim().lines().count() == 1, "{err}");

    let net = Net::up("bpt7", 77, 1);
    let out = net.eng(&[bin(), "run", "--iface", "lo", "--ip", "10.213.77.2/24", "--xdp-mode", "native"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("cannot attach XDP to lo in native mode") && err.contains("--xdp-mode generic"), "{err}");

    let out = net.eng(&[bin(), "run", "--iface", &net.eng_if(), "--ip", "10.213.77.2/24", "--queues", "4"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("--queues 4 exceeds the 1 rx queue(s)"), "{err}");
}

/// The engine's fault injector drops, duplicates, reorders and corrupts in both
/// directions; checksums catch the corruption, and nothing leaks.
#[test]
fn fault_injection_is_applied_and_counted() {
    if !can_run() {
        return;
    }
    let net = Net::up("bpt8", 78, 1);
    assert!(net.ping(&net.kernel_ip(), 56), "warm the peer's view of the link");
    let engine = Engine::start(&net, &["--fault", "drop=10,dup=10,reorder=20,corrupt=10,seed=7"]);
    let out = net.peer(&["ping", "-c", "300", "-i", "0.005", "-W", "1", "-w", "20", &net.engine_ip()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let (report, lines) = engine.stop();
    let f = |k: &str| total(&report, &["faults", k]);
    for k in ["rx_dropped", "rx_duplicated", "rx_reordered", "rx_corrupted", "tx_dropped", "tx_duplicated", "tx_reordered", "tx_corrupted"] {
        assert!(f(k) > 0, "{k} never happened: {report}");
    }
    let caught = total(&report, &["stack", "ipv4_bad_checksum"]) + total(&report, &["stack", "icmp_bad_checksum"]);
    assert!(caught > 0, "corrupted frames must fail checksums: {report}");
    assert!(text.contains("received"), "{text}");
    assert!(!text.contains(" 0 received"), "some pings survive 10% loss each way: {text}");
    assert!(lines.iter().any(|l| l.contains("faults injected")), "the report shows the faults");
}
